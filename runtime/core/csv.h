/*
** csv.h -- reading delimited text (RFC 4180 CSV, TSV, ...) into a 2-D array.
**
** The parser works over a memory buffer (a mapped file or bytes handed in by
** a caller or a fuzzer) in two passes: the first finds the records and checks
** that every row has as many fields as the first, the second parses each
** selected field straight into the array, with no allocation per field.  A
** third pass, over the columns that held text only, runs when there are
** such columns (see text below).
**
** Text rules:
**   - fields are split by one delimiter byte (default ','); a field that
**     starts with '"' is quoted: it may hold the delimiter and line ends, and
**     "" inside it is one quote.  Only spaces/tabs may follow the closing
**     quote before the next delimiter.  A '"' inside an unquoted field is an
**     ordinary character.
**   - line ends are LF, CRLF or a lone CR, mixed freely; the last line needs
**     no line end.  Empty lines are skipped wherever they are.  A UTF-8 BOM
**     at the very start is skipped.
**   - comment (a byte, 0 for none): the rest of the line from it is ignored
**     outside quotes, as pandas' comment; a line holding only a comment
**     (spaces/tabs before it allowed) is skipped like an empty line.
**   - UTF-16 input (a UTF-16 byte order mark) is refused with a message
**     saying so; an embedded NUL byte anywhere is an error.
**   - "row N" in messages is the line of the file where the record starts,
**     counted from 1 as an editor does (the header is row 1 when present);
**     "column N" counts fields from 1.
** Values:
**   - floats (f64, f32): what numpy's float() accepts, without '_': optional
**     sign, digits with an optional decimal point ('.', or the decimal
**     option's byte), an optional exponent, or nan, inf, infinity (any
**     case); surrounding spaces/tabs are ignored.  Results are correctly
**     rounded, as numpy's float() gives them (exact fast paths in double
**     and x87 extended precision, else strtod_l in the C locale, so
**     LC_NUMERIC never matters).  An overflow such as 1e999 gives +-inf, as
**     numpy does; an underflow gives 0 or a subnormal.  f32 rounds the
**     double.
**   - integers (i64, i32, u8): optional sign and decimal digits only, parsed
**     as integers (exact past 2^53); a value outside the dtype's range or a
**     number with a fraction is an error naming the cell.
**   - bool: true/false/1/0 in any case.
**   - missing values: a field whose text is one of the missing markers
**     (pandas' defaults: '', '#N/A', '#N/A N/A', '#NA', '-1.#IND',
**     '-1.#QNAN', '-NaN', '-nan', '1.#IND', '1.#QNAN', '<NA>', 'N/A', 'NA',
**     'NULL', 'NaN', 'None', 'n/a', 'nan', 'null', unless keep_default_na
**     is 0; plus the na_values given) is NaN in a float array, and an error
**     naming the cell in an integer or bool one (they have no NaN).  A
**     marker that reads as a number (na_values = {"-999"}) makes every
**     field be looked up before it is parsed; the defaults never do.
**   - text: a field of a float or integer column that is neither a number
**     nor missing makes its column a text column.  With categorical CODES
**     (the default) the column holds codes 1..k, k its distinct strings in
**     byte order (Python's sorted(); pandas' factorize(sort=True) gives the
**     same order, 0-based), every non-missing field of the column taken as
**     a string (a "75001" among "Paris"es is a level too), and info->levels
**     lists the strings; SKIP leaves text columns out of the result; ERROR
**     makes the first text field an error naming its cell.  A string is an
**     unquoted field trimmed of spaces/tabs or a quoted one as written (""
**     undone).  Numeric columns are parsed optimistically: a column is
**     turned into codes by a third pass over the records, reading that
**     column only, when text was met, so an all-numeric file pays nothing.
**     Text in a bool column is an error unless categorical is SKIP; codes
**     must fit the dtype (u8: 255 levels, f32: 2^24).
** Header: TIDE_CSV_HEADER_AUTO takes the first record as a header when one
** of its non-empty fields is neither a number nor true/false.  Header names
** have their quotes undone; unquoted ones are trimmed of spaces/tabs.
** Limits: a field longer than max_field bytes or a record of more than
** max_columns fields is an error naming the row (an unterminated quote is
** reported at the quote's row as soon as it runs past the field cap).
** Memory besides the result: O(input) at most (names, a table of field
** positions of at most min(input, max_columns) entries, two field copies,
** the distinct strings of text columns and a hash table of them).
*/
#ifndef TIDE_CSV_H
#define TIDE_CSV_H

#include "core.h"

#define TIDE_CSV_MAX_FIELD ((size_t)1 << 20) /* bytes in one field (1 MiB) */
#define TIDE_CSV_MAX_COLUMNS 100000          /* fields in one record */

enum { TIDE_CSV_HEADER_AUTO = -1, TIDE_CSV_HEADER_NO = 0, TIDE_CSV_HEADER_YES = 1 };
/* What becomes of a text column (see Values above). */
enum { TIDE_CSV_CODES = 0, TIDE_CSV_SKIP = 1, TIDE_CSV_ERROR = 2 };

/* One selected column: by header name when name is non-NULL, else by
** 0-based index (negative counts from the end: -1 is the last column). */
typedef struct tide_CsvColumn {
  const char *name;
  int64_t index;
} tide_CsvColumn;

typedef struct tide_CsvOptions {
  int header;                    /* TIDE_CSV_HEADER_*; default AUTO */
  char delimiter;                /* default ',' */
  int dtype;                     /* a tide_dtype; default TIDE_F64 */
  const tide_CsvColumn *columns; /* selection and order; NULL: every column */
  int ncolumns;                  /* entries in columns */
  const char *mmap_path;         /* non-NULL: write a new .npy there, map it */
  int where;                     /* TIDE_WHERE_* for the array without mmap */
  size_t max_field;              /* 0: TIDE_CSV_MAX_FIELD */
  int max_columns;               /* 0: TIDE_CSV_MAX_COLUMNS */
  const char *source;            /* prefix of messages ("data.csv"); may be NULL */
  int categorical;               /* TIDE_CSV_CODES (default), _SKIP or _ERROR */
  const char *const *na_values;  /* more missing markers, n_na_values of them */
  int n_na_values;
  int keep_default_na;           /* default 1: pandas' markers count too */
  char comment;                  /* 0 (default): none; else e.g. '#' */
  char decimal;                  /* default '.'; ',' for 1,5 (then delimiter ';') */
} tide_CsvOptions;

/* What the parse found besides the values. */
typedef struct tide_CsvInfo {
  char **names;      /* names of the result's columns (one malloc block:
                        free(names) frees the strings too); header names, or
                        the 1-based file column numbers "1", "2", ... */
  int64_t ncols;     /* entries in names (= columns of the result) */
  int64_t nrows;     /* data rows (= rows of the result) */
  int has_header;    /* whether the first record was taken as the header */
  int64_t ntext;     /* text columns met (coded, or left out with SKIP) */
  char ***levels;    /* NULL when the result has no coded column; else
                        levels[j] is NULL for a numeric column j and the
                        nlevels[j] sorted strings of a coded one (code c is
                        levels[j][c - 1]); one malloc block holding nlevels
                        and the strings too: free(levels) frees them all */
  int64_t *nlevels;  /* ncols entries, inside the levels block */
} tide_CsvInfo;

/* Fills *o with the defaults above. */
void tide_csv_options_init(tide_CsvOptions *o);

/* Frees info->names and info->levels and clears them (NULL is a no-op). */
void tide_csv_info_free(tide_CsvInfo *info);

/* Parses len bytes at buf.  On success *out is a new C-ordered rows x cols
** array (an empty or header-only input gives 0 x cols) and, when info is
** non-NULL, *info holds the names and levels (the caller frees them with
** tide_csv_info_free).  On failure *out is closed, info->names and
** info->levels are NULL, and the message names the row and column of the
** fault.  opt NULL: defaults. */
int tide_csv_parse(const void *buf, size_t len, const tide_CsvOptions *opt,
                   tide_Array *out, tide_CsvInfo *info);

/* Same over a file: maps a regular file (reads other kinds, e.g. pipes).
** Messages start with the path unless opt->source says otherwise. */
int tide_csv_read(const char *path, const tide_CsvOptions *opt,
                  tide_Array *out, tide_CsvInfo *info);

#endif /* TIDE_CSV_H */
