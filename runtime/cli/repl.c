/*
** repl.c -- tide's interactive prompt: libedit line editing, history in
** ~/.tide_history, multi-line statements, printed values, completion of
** globals and fields, and Ctrl-C that clears the line or interrupts the
** running code while keeping the state.
*/
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <editline/readline.h>

#include <lauxlib.h>
#include <lua.h>

#include "cli.h"
#include "tide.h"

#define HIST_MAX 1000 /* entries kept in ~/.tide_history */

/* ---- reading a line ------------------------------------------------------ */

/* Ctrl-C at the prompt.  While the prompt runs, SIGINT only sets a flag
** (cli_docall swaps in its own handler while code runs): a Ctrl-C typed
** between two statements never kills the session.  libedit is told not to
** catch signals; the blocked read() returns EINTR (no SA_RESTART) and
** edit_getc turns it into "kill line, then Enter", and the REPL drops that
** line. */
static volatile sig_atomic_t prompt_intr;
static int line_cancelled; /* the line readline returns was cut by Ctrl-C */
static int queued_char;    /* the Enter that follows the kill-line */

static volatile sig_atomic_t winch; /* the terminal was resized */

static void on_prompt_sigint(int sig) {
  (void)sig;
  prompt_intr = 1;
}

/* libedit handles no signal of its own (rl_catch_signals = 0), window
** changes included: the next key read applies them.  SA_RESTART, so that
** a resize never fails a read of the running Lua code. */
static void on_winch(int sig) {
  (void)sig;
  winch = 1;
}

static void set_handler(int sig, void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = sig == SIGWINCH ? SA_RESTART : 0;
  sigaction(sig, &sa, NULL);
}

static int cancel_line(void) {
  prompt_intr = 0;
  line_cancelled = 1;
  queued_char = '\n';
  return 0x15; /* ^U: kill the whole line (emacs and vi insert modes) */
}

static int edit_getc(FILE *f) {
  if (queued_char) {
    int c = queued_char;
    queued_char = 0;
    return c;
  }
  if (winch) {
    winch = 0;
    rl_resize_terminal();
  }
  for (;;) {
    if (prompt_intr) return cancel_line();
    unsigned char c;
    ssize_t n = read(fileno(f), &c, 1);
    if (n == 1) return c == 0x03 ? cancel_line() : c; /* ^C as a byte: no ISIG */
    if (n == 0 || errno != EINTR) return EOF;
  }
}

static int p_tolstring(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* The prompt: _PROMPT / _PROMPT2 converted as tostring would (a value
** with __tostring too), at each prompt; "> " and ">> " when nil. */
static char *get_prompt(lua_State *L, int first) {
  /* Raw: a raising __index on _G must not end the session. */
  lua_pushglobaltable(L);
  lua_pushstring(L, first ? "_PROMPT" : "_PROMPT2");
  lua_rawget(L, -2);
  lua_remove(L, -2);
  const char *p = NULL;
  if (!lua_isnil(L, -1)) { /* protected: a raising __tostring keeps the session */
    lua_pushcfunction(L, p_tolstring);
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) p = lua_tostring(L, -1);
  }
  char *s = strdup(p ? p : first ? "> " : ">> ");
  lua_pop(L, 1);
  return s;
}

/* One line, without its newline; NULL at end of input.  *cancel is set
** when Ctrl-C cut the line (the text is then meaningless). */
static char *read_line(lua_State *L, int tty, int first, int *cancel) {
  *cancel = 0;
  char *prompt = get_prompt(L, first);
  if (!prompt) return NULL;
  if (!tty) { /* plain lines, no history; the prompt, and the line echoed
              ** after it, where Debian's lua5.4 (readline) prints them */
    fputs(prompt, stdout);
    fflush(stdout);
    free(prompt);
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = getline(&buf, &cap, stdin);
    if (n < 0) {
      free(buf);
      return NULL;
    }
    if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = '\0';
    fputs(buf, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    return buf;
  }
  line_cancelled = 0;
  queued_char = 0;
  prompt_intr = 0; /* a Ctrl-C while results printed does not cut this line */
  char *line = readline(prompt);
  free(prompt);
  if (line_cancelled) {
    *cancel = 1;
    if (!line) line = strdup("");
  }
  return line;
}

/* ---- history ------------------------------------------------------------- */

/* One entry per line of the file; a multi-line statement is one entry, so
** newlines are written as \n and backslashes as \\. */
static char *hist_path;
static char *hist_last;

static void encode_line(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '\\') fputs("\\\\", f);
    else if (*s == '\n') fputs("\\n", f);
    else fputc(*s, f);
  }
  fputc('\n', f);
}

static void decode_line(char *s) {
  char *w = s;
  for (char *r = s; *r; r++) {
    if (*r == '\\' && (r[1] == 'n' || r[1] == '\\')) {
      *w++ = r[1] == 'n' ? '\n' : '\\';
      r++;
    } else if (*r != '\n') {
      *w++ = *r;
    }
  }
  *w = '\0';
}

static void hist_load(void) {
  const char *home = getenv("HOME");
  if (!home || !home[0]) return;
  size_t n = strlen(home) + sizeof "/.tide_history";
  hist_path = malloc(n);
  if (!hist_path) return;
  snprintf(hist_path, n, "%s/.tide_history", home);
  using_history();
  stifle_history(HIST_MAX);
  FILE *f = fopen(hist_path, "r");
  if (!f) return;
  char *ring[HIST_MAX] = {0}; /* the last HIST_MAX entries of the file */
  size_t total = 0, cap = 0;
  char *line = NULL;
  while (getline(&line, &cap, f) >= 0) {
    decode_line(line);
    free(ring[total % HIST_MAX]);
    ring[total % HIST_MAX] = line;
    line = NULL;
    cap = 0;
    total++;
  }
  free(line);
  fclose(f);
  size_t keep = total < HIST_MAX ? total : HIST_MAX;
  /* Past the cap the file is rewritten with its newest entries only. */
  FILE *out = NULL;
  char *tmp = NULL;
  if (total > HIST_MAX) {
    tmp = malloc(strlen(hist_path) + 8);
    if (tmp) {
      sprintf(tmp, "%s.tmp", hist_path);
      int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      out = fd >= 0 ? fdopen(fd, "w") : NULL;
      if (!out && fd >= 0) close(fd);
    }
  }
  for (size_t i = total - keep; i < total; i++) {
    char *e = ring[i % HIST_MAX];
    if (e[0]) add_history(e);
    if (out) encode_line(out, e);
    if (i == total - 1) hist_last = strdup(e);
  }
  if (out) {
    if (fclose(out) == 0) rename(tmp, hist_path);
    else unlink(tmp);
  }
  free(tmp);
  for (size_t i = 0; i < HIST_MAX; i++) free(ring[i]);
}

/* Adds an entry in memory and appends it to the file at once, so that
** history survives a crash or a kill. */
static void hist_add(const char *entry) {
  if (!entry[0] || (hist_last && strcmp(hist_last, entry) == 0)) return;
  add_history(entry);
  free(hist_last);
  hist_last = strdup(entry);
  if (!hist_path) return;
  int fd = open(hist_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  FILE *f = fdopen(fd, "a");
  if (!f) {
    close(fd);
    return;
  }
  encode_line(f, entry);
  fclose(f);
}

/* ---- completion ----------------------------------------------------------- */

static lua_State *comp_L;
static char **comp_list;
static size_t comp_n, comp_next;

static int ident_char(char c, int first) {
  return c == '_' || ((c | 32) >= 'a' && (c | 32) <= 'z') || (!first && c >= '0' && c <= '9');
}

static int is_ident(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!ident_char(s[i], i == 0)) return 0;
  return 1;
}

/* Adds to the set at index `set` every identifier key of the value at
** `v` that starts with `part`, as prefix..key; then the keys of its
** metatable's __methods table (tide arrays keep methods there) and of a
** table __index, recursively (bounded, as __index chains may loop). */
static void add_keys(lua_State *L, int set, int v, const char *prefix, const char *part,
                     int funcs_only, int depth) {
  if (depth > 8) return;
  luaL_checkstack(L, 12, "completion");
  v = lua_absindex(L, v);
  size_t plen = strlen(part);
  if (lua_type(L, v) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, v)) {
      size_t n;
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &n) : NULL;
      int t = lua_type(L, -1);
      if (k && is_ident(k, n) && strncmp(k, part, plen) == 0 &&
          (!funcs_only || t == LUA_TFUNCTION || t == LUA_TTABLE || t == LUA_TUSERDATA)) {
        lua_pushfstring(L, "%s%s", prefix, k);
        lua_pushboolean(L, 1);
        lua_rawset(L, set);
      }
      lua_pop(L, 1);
    }
  }
  int pt = luaL_getmetafield(L, v, "__pairs"); /* pushes nothing when absent */
  if (pt == LUA_TFUNCTION) {
    /* Tables that compute their fields (tide.config) list them here. */
    lua_pushvalue(L, v);
    lua_call(L, 1, 3); /* next, state, control */
    for (int count = 0; count < 1000; count++) {
      lua_pushvalue(L, -3);
      lua_pushvalue(L, -3);
      lua_pushvalue(L, -3);
      lua_call(L, 2, 2);
      if (lua_isnil(L, -2)) {
        lua_pop(L, 2);
        break;
      }
      size_t n;
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &n) : NULL;
      if (k && is_ident(k, n) && strncmp(k, part, plen) == 0) {
        lua_pushfstring(L, "%s%s", prefix, k);
        lua_pushboolean(L, 1);
        lua_rawset(L, set);
      }
      lua_pop(L, 1);   /* the value; the key is the next control */
      lua_replace(L, -2);
    }
    lua_pop(L, 3);
  } else if (pt != LUA_TNIL) {
    lua_pop(L, 1);
  }
  if (lua_getmetatable(L, v)) {
    /* __lazy: names an __index function supplies without their being in
    ** the table yet (tide's modules loaded on first use). */
    lua_pushliteral(L, "__lazy");
    if (lua_rawget(L, -2) == LUA_TTABLE) {
      for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TSTRING; i++) {
        size_t n;
        const char *k = lua_tolstring(L, -1, &n);
        if (is_ident(k, n) && strncmp(k, part, plen) == 0) {
          lua_pushfstring(L, "%s%s", prefix, k);
          lua_pushboolean(L, 1);
          lua_rawset(L, set);
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_pushliteral(L, "__methods");
    if (lua_rawget(L, -2) == LUA_TTABLE) add_keys(L, set, -1, prefix, part, funcs_only, depth + 1);
    lua_pop(L, 1);
    lua_pushliteral(L, "__index");
    if (lua_rawget(L, -2) == LUA_TTABLE) add_keys(L, set, -1, prefix, part, funcs_only, depth + 1);
    lua_pop(L, 2);
  }
}

static const char *const keywords[] = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
  "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
  NULL};

/* Protected: text at 1; returns the set of candidate completions.  Field
** lookups along "a.b.c" go through __index, like the code would. */
static int p_candidates(lua_State *L) {
  const char *text = luaL_checkstring(L, 1);
  lua_newtable(L); /* 2: the set */
  const char *dot = strrchr(text, '.'), *colon = strrchr(text, ':');
  const char *sep = dot > colon ? dot : colon;
  lua_pushglobaltable(L);
  if (!sep) {
    add_keys(L, 2, -1, "", text, 0, 0);
    size_t n = strlen(text);
    for (int i = 0; keywords[i]; i++)
      if (strncmp(keywords[i], text, n) == 0) {
        lua_pushboolean(L, 1);
        lua_setfield(L, 2, keywords[i]);
      }
    lua_settop(L, 2);
    return 1;
  }
  if (colon && colon != sep) return 1; /* ':' can only come last */
  const char *p = text;
  while (p < sep) {
    const char *q = memchr(p, '.', (size_t)(sep - p));
    if (!q) q = sep;
    if (!is_ident(p, (size_t)(q - p))) return 1;
    int t = lua_type(L, -1);
    if (t != LUA_TTABLE && !luaL_getmetafield(L, -1, "__index")) return 1;
    if (t != LUA_TTABLE) lua_pop(L, 1);
    lua_pushlstring(L, p, (size_t)(q - p));
    lua_gettable(L, -2);
    lua_remove(L, -2);
    p = q + 1;
  }
  lua_pushlstring(L, text, (size_t)(sep - text) + 1); /* "tide." */
  add_keys(L, 2, -2, lua_tostring(L, -1), sep + 1, *sep == ':', 0);
  lua_settop(L, 2);
  return 1;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void comp_clear(void) {
  for (size_t i = 0; i < comp_n; i++) free(comp_list[i]);
  free(comp_list);
  comp_list = NULL;
  comp_n = comp_next = 0;
}

static void comp_build(const char *text) {
  lua_State *L = comp_L;
  comp_clear();
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 4)) return;
  lua_pushcfunction(L, p_candidates);
  lua_pushstring(L, text);
  /* A raising __index must not unwind through libedit: plain pcall. */
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
    size_t cap = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pop(L, 1);
      if (comp_n == cap) {
        cap = cap ? cap * 2 : 32;
        char **nl = realloc(comp_list, cap * sizeof *nl);
        if (!nl) break;
        comp_list = nl;
      }
      char *s = strdup(lua_tostring(L, -1));
      if (s) comp_list[comp_n++] = s;
    }
    if (comp_n) qsort(comp_list, comp_n, sizeof *comp_list, cmp_str);
  }
  lua_settop(L, top);
}

static char *comp_gen(const char *text, int state) {
  (void)text;
  if (state == 0) comp_next = 0;
  return comp_next < comp_n ? strdup(comp_list[comp_next++]) : NULL;
}

static char **comp_attempt(const char *text, int start, int end) {
  (void)start;
  (void)end;
  rl_attempted_completion_over = 1; /* never fall back to file names */
  comp_build(text);
  if (comp_n == 0) return NULL;
  return rl_completion_matches(text, comp_gen);
}

static void edit_init(lua_State *L) {
  comp_L = L;
  rl_readline_name = "tide"; /* "tide:" lines in ~/.editrc apply */
  rl_catch_signals = 0;      /* Ctrl-C is ours (see edit_getc) */
  rl_getc_function = edit_getc;
  rl_attempted_completion_function = comp_attempt;
  /* '.' and ':' are part of a word: "tide.ze" completes as one. */
  rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{}()[]+-*/%^~#,";
  rl_completion_append_character = '\0'; /* "tide.config" may go on with "." */
  hist_load();
}

/* ---- the loop -------------------------------------------------------------- */

/* "<eof>" at the end of a syntax error means the chunk is unfinished. */
static int incomplete(lua_State *L, int status) {
  if (status != LUA_ERRSYNTAX) return 0;
  size_t n;
  const char *msg = lua_tolstring(L, -1, &n);
  return msg && n >= 5 && strcmp(msg + n - 5, "<eof>") == 0;
}

enum { ENTRY_EOF = -1, ENTRY_NONE = 0, ENTRY_CHUNK = 1 };

/* Reads one statement or expression and leaves the compiled chunk on the
** stack (ENTRY_CHUNK).  An expression is tried first as "return <line>;",
** so its values get printed; otherwise lines are joined until the chunk is
** no longer incomplete. */
static int read_entry(tide_State *T, int tty) {
  lua_State *L = tide_lua(T);
  int cancel;
  char *line = read_line(L, tty, 1, &cancel);
  if (!line) return ENTRY_EOF;
  if (cancel) {
    free(line);
    return ENTRY_NONE;
  }
  /* "=expr" means "return expr" (lua.c keeps it from Lua 5.2) */
  if (line[0] == '=') lua_pushfstring(L, "return %s", line + 1);
  else lua_pushstring(L, line); /* 1: the text so far */
  free(line);
  const char *ret = lua_pushfstring(L, "return %s;", lua_tostring(L, 1));
  if (luaL_loadbufferx(L, ret, strlen(ret), "=stdin", "t") == LUA_OK) {
    if (tty) hist_add(lua_tostring(L, 1));
    lua_replace(L, 1);
    lua_settop(L, 1);
    return ENTRY_CHUNK;
  }
  lua_settop(L, 1);
  for (;;) {
    size_t len;
    const char *buf = lua_tolstring(L, 1, &len);
    int st = luaL_loadbufferx(L, buf, len, "=stdin", "t");
    if (!incomplete(L, st)) {
      if (tty) hist_add(lua_tostring(L, 1));
      if (st == LUA_OK) {
        lua_replace(L, 1);
        return ENTRY_CHUNK;
      }
      cli_message(lua_tostring(L, -1));
      lua_settop(L, 0);
      return ENTRY_NONE;
    }
    char *more = read_line(L, tty, 0, &cancel);
    if (!more) { /* end of input inside a statement: report it */
      cli_message(lua_tostring(L, -1));
      lua_settop(L, 0);
      return ENTRY_NONE;
    }
    if (cancel) {
      free(more);
      lua_settop(L, 0);
      return ENTRY_NONE;
    }
    lua_pop(L, 1);
    lua_pushliteral(L, "\n");
    lua_pushstring(L, more);
    free(more);
    lua_concat(L, 3);
  }
}

/* Prints the values on the stack: tables as their contents, through
** tide.repl's print (which ends in the global print); the global print
** alone when that module cannot be had. */
static int p_require_printer(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "tide.repl");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "print");
  return 1;
}

static int p_print(lua_State *L) {
  lua_pushcfunction(L, p_require_printer);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    lua_getglobal(L, "print");
  }
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 0);
  return 0;
}

/* The global `help` of the prompt (tide.help; typed alone it shows the
** overview), unless the user has a `help` of their own. */
static int p_set_help(lua_State *L) {
  if (lua_getglobal(L, "help") != LUA_TNIL) return 0;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "tide.help");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "global");
  lua_setglobal(L, "help");
  return 0;
}

void cli_repl(tide_State *T) {
  lua_State *L = tide_lua(T);
  int tty = isatty(STDIN_FILENO);
  lua_pushcfunction(L, p_set_help);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) lua_pop(L, 1); /* a bare state: no help */
  const char *progname = cli_progname;
  cli_progname = NULL; /* messages at the prompt have no prefix, as in lua.c */
  if (tty) {
    edit_init(L);
    set_handler(SIGINT, on_prompt_sigint);
    set_handler(SIGWINCH, on_winch);
  }
  for (;;) {
    lua_settop(L, 0);
    int e = read_entry(T, tty);
    if (e == ENTRY_EOF) break;
    if (e != ENTRY_CHUNK) continue;
    if (cli_report(T, cli_docall(T, 0, LUA_MULTRET)) != TIDE_OK) continue;
    int n = lua_gettop(L);
    if (n > 0 && !lua_checkstack(L, LUA_MINSTACK)) {
      cli_message("too many results to print");
    } else if (n > 0) {
      lua_pushcfunction(L, p_print);
      lua_insert(L, 1);
      if (cli_docall(T, n, 0) != TIDE_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "error calling 'print' (%s)", tide_errmsg(T));
        cli_message(msg);
      }
    }
  }
  lua_settop(L, 0);
  cli_progname = progname;
  fputc('\n', stdout);
  fflush(stdout);
  if (tty) {
    set_handler(SIGINT, SIG_DFL);
    set_handler(SIGWINCH, SIG_DFL);
    comp_clear();
    free(hist_last);
    free(hist_path);
    hist_last = hist_path = NULL;
  }
}
