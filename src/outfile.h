/* outfile: the row formats of `SELECT ... INTO OUTFILE` (and Aurora's INTO
 * OUTFILE S3), plain C, no Lua, no I/O (SPEC §3 db, conn:export).
 *
 * TEXT is MariaDB/MySQL's select_export::send_data, rule for rule, so that a
 * row the server prints as text comes out byte-identical to the server's own
 * INTO OUTFILE (with the default CHARACTER SET binary: no conversion):
 *   - every line starts with LINES STARTING BY and ends with LINES TERMINATED
 *     BY (which, when empty, is FIELDS TERMINATED BY); fields are separated by
 *     FIELDS TERMINATED BY;
 *   - NULL is ESCAPED BY + 'N' (\N), or the four letters NULL when ESCAPED BY
 *     is empty; a NULL is never enclosed;
 *   - ENCLOSED BY wraps every non-NULL field, or with OPTIONALLY only the
 *     string-typed ones (MySQL's STRING_RESULT: text, binary, temporal, ENUM,
 *     SET, JSON; not integers, YEAR, BIT, DECIMAL, FLOAT, DOUBLE);
 *   - string-typed fields (all fields when the enclosing/terminating char is
 *     one of ".0123456789e+-") are escaped, unless ESCAPED BY is empty: the
 *     escape char goes before the escape char itself, the enclosing char (in
 *     an enclosed field) or else the field terminator's first char, the line
 *     terminator's first char, and NUL, which is written '0'. When the
 *     separator is one of "ntrb0ZN" the separator is doubled instead. CR and
 *     everything else is left alone; numbers are written unescaped.
 * Escaping is byte-wise, which equals the server's for UTF-8, single-byte
 * character sets and binary data with ASCII separators. Fixed-width rows
 * (empty FIELDS TERMINATED BY and ENCLOSED BY) are not supported.
 *
 * CSV is RFC 4180 as written by Aurora's FORMAT CSV: fields separated by
 * ',' (FIELDS TERMINATED BY), rows ended by '\n' (LINES TERMINATED BY); a
 * field holding the separator's first char, '"', CR or LF is quoted with
 * '"' doubled; an empty string is "", NULL an empty unquoted field. */
#ifndef BQ_OUTFILE_H
#define BQ_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "util.h"

enum bq_outfile_format { BQ_OUTFILE_TEXT = 0, BQ_OUTFILE_CSV };

/* Bytes; s == NULL means "not given": the format's default. */
struct bq_outfile_str {
    const char *s;
    size_t len;
};

struct bq_outfile_opts {
    enum bq_outfile_format format;
    struct bq_outfile_str fields_terminated_by;  /* text "\t", csv "," */
    struct bq_outfile_str fields_enclosed_by;    /* text only: "" (0 or 1 byte) */
    bool optionally;                             /* OPTIONALLY ENCLOSED BY */
    struct bq_outfile_str fields_escaped_by;     /* text only: "\\" (0 or 1 byte) */
    struct bq_outfile_str lines_starting_by;     /* text only: "" */
    struct bq_outfile_str lines_terminated_by;   /* "\n" */
};

struct bq_outfile_column {
    bool is_string;         /* STRING_RESULT (bq_db_result_column_is_string) */
    bool is_blob;           /* max length >= 16 MiB (LONGTEXT, LONGBLOB, JSON) */
};

struct bq_outfile;

/* Checks the options and copies them. NULL with a message in err on a usage
 * error (two-byte ENCLOSED BY, fixed-width rows, a text-only option with csv). */
struct bq_outfile *bq_outfile_new(const struct bq_outfile_opts *o, char *err, size_t errlen);
void bq_outfile_free(struct bq_outfile *f);

/* The result's columns (copied). Must be called before formatting. 0 or -1 (OOM). */
int bq_outfile_set_columns(struct bq_outfile *f, const struct bq_outfile_column *cols, unsigned n);

/* Appends one row of the n columns given to set_columns (values as the
 * server's text; BQ_DB_NULL for NULL, any other type uses s/len). 0 or -1 (OOM). */
int bq_outfile_row(const struct bq_outfile *f, const struct bq_db_value *row, struct bq_buf *out);

/* Appends a header line: the names formatted as string fields. 0 or -1. */
int bq_outfile_header(const struct bq_outfile *f, const char *const *names, const size_t *lens,
                      struct bq_buf *out);

#endif
