/*
** cli.h -- what main.c and repl.c share inside the tide program.
** Like lua.c, the program is a client of the public API only: tide.h and
** Lua's own headers, never the runtime's internal ones.
*/
#ifndef TIDE_CLI_H
#define TIDE_CLI_H

#include <lauxlib.h>
#include <lua.h>

#include "tide.h"

/* The program's name as invoked (argv[0], as lua.c's progname); NULL at
** the prompt, whose messages have no prefix. */
extern const char *cli_progname;

/* Prints "progname: msg" on stderr (msg may be NULL). */
void cli_message(const char *msg);

/* Calls the function below the top nargs values with tide_pcall while a
** SIGINT handler turns Ctrl-C into the Lua error "interrupted!".  Returns
** TIDE_OK or TIDE_ELUA (message in tide_errmsg). */
int cli_docall(tide_State *T, int nargs, int nresults);

/* Prints the error of a failed call (rc != TIDE_OK); returns rc. */
int cli_report(tide_State *T, int rc);

/* Prints the version line ("tide 0.1.0 (Lua 5.4.x, OpenBLAS x.y.z)"). */
void cli_print_version(void);

/* The interactive prompt, until end of input.  With a terminal on stdin it
** uses libedit (history, completion, Ctrl-C); otherwise it prints the
** prompts and reads plain lines, echoing each as Debian's lua5.4 does.
** Runs inside the program's protected main function. */
void cli_repl(tide_State *T);

#endif /* TIDE_CLI_H */
