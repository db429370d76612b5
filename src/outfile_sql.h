/* outfile_sql: recognises Aurora MySQL's trailing
 *
 *   SELECT ... INTO OUTFILE S3 's3[-REGION]://bucket/prefix'
 *     [CHARACTER SET name] [FORMAT {TEXT|CSV} [HEADER]]
 *     [{FIELDS|COLUMNS} [TERMINATED BY 's'] [[OPTIONALLY] ENCLOSED BY 'c'] [ESCAPED BY 'c']]
 *     [LINES [STARTING BY 's'] [TERMINATED BY 's']]
 *     [MANIFEST {ON|OFF}] [OVERWRITE {ON|OFF}]
 *     [ENCRYPTION {ON|OFF|SSE_S3|SSE_KMS ['key']}]
 *
 * so that conn:exec can run it client-side (SPEC §3 db, conn:export) on a
 * server that is not Aurora. Plain C, no Lua, no I/O.
 *
 * The statement is scanned with MySQL's lexical rules (default sql_mode):
 * '...' and "..." strings with backslash escapes and doubled quotes,
 * `...` identifiers with doubled backquotes, and -- (followed by a space or
 * control character), # and C comments. Only a clause outside all of those,
 * at parenthesis depth 0, in a statement whose first word is SELECT or WITH
 * (or that starts with '('), counts. The clause must end the statement (a
 * trailing ';' and comments are allowed). Keywords are case-insensitive; the
 * clauses after the URI may come in any order, each at most once. String
 * values are unescaped as MySQL does (\0 \' \" \b \n \r \t \Z \\, \% and \_
 * kept as two characters, any other \x is x; '' inside '...' is '), and
 * adjacent literals are concatenated. MySQL's executable comments
 * (slash-star-bang ... star-slash) are treated as comments. */
#ifndef BQ_OUTFILE_SQL_H
#define BQ_OUTFILE_SQL_H

#include <stdbool.h>
#include <stddef.h>

enum bq_osql_encryption {
    BQ_OSQL_ENC_DEFAULT = 0,    /* not given */
    BQ_OSQL_ENC_OFF,
    BQ_OSQL_ENC_SSE_S3,         /* ON or SSE_S3 */
    BQ_OSQL_ENC_SSE_KMS,
};

/* A parsed byte string (malloc'd, NUL-terminated, may hold NULs); s == NULL
 * means "not given". */
struct bq_osql_str {
    char *s;
    size_t len;
};

struct bq_osql {
    size_t sql_len;             /* the statement without the clause: sql[0..sql_len) */
    char *uri;                  /* "s3://bucket/prefix" (an s3-REGION:// URI rewritten) */
    char *region;               /* REGION from s3-REGION://, or NULL */
    char *charset;              /* CHARACTER SET / CHARSET name as written, or NULL */
    bool csv;                   /* FORMAT CSV */
    bool format_given;          /* FORMAT present */
    bool header;                /* FORMAT ... HEADER */
    struct bq_osql_str fields_terminated_by, fields_enclosed_by, fields_escaped_by;
    bool optionally;
    struct bq_osql_str lines_starting_by, lines_terminated_by;
    int manifest;               /* -1 not given, 0 OFF, 1 ON */
    int overwrite;              /* -1 not given, 0 OFF, 1 ON */
    enum bq_osql_encryption encryption;
    char *kms_key_id;           /* SSE_KMS 'key', or NULL */
};

/* Looks for the clause in sql[0..len). 1: found, *o filled (free it with
 * bq_osql_free); 0: not such a statement (*o zeroed); -1: the clause is
 * there but malformed, with a one-line message in err (*o zeroed). */
int bq_osql_parse(const char *sql, size_t len, struct bq_osql *o, char *err, size_t errlen);
void bq_osql_free(struct bq_osql *o);

#endif
