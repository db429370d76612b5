/* db: MySQL/MariaDB/Aurora connections over MariaDB Connector/C (SPEC §3 db,
 * rds), plain C (no Lua). The RDS IAM token is minted here too, so the
 * credentials and the token never leave the services layer except as the
 * token string rds.token returns.
 *
 * Every call that may wait on the network runs on Connector/C's non-blocking
 * API and polls the socket in short slices, so a connect is bounded by its
 * timeout and SIGTERM / --timeout (bq_cancelled) end any wait at once, a long
 * query included. An operation abandoned that way leaves the connection
 * unusable ("interrupted"); bq_db_close still frees it without waiting.
 * There are no read/write timeouts: a batch query may run for hours, and
 * what ends a wait is the script's own --timeout or SIGTERM.
 *
 * A connection has at most one open result. Results are always read
 * unbuffered (streamed): C never holds more than the current row. */
#ifndef BQ_DB_H
#define BQ_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum bq_db_err_kind {
    BQ_DB_ERR_NONE = 0,
    BQ_DB_ERR_SQL,          /* the server or the client library said no: sqlstate/errnum set */
    BQ_DB_ERR_USAGE,        /* the caller's mistake (parameter count, busy connection, closed) */
    BQ_DB_ERR_CREDENTIALS,  /* no AWS credentials for an IAM token */
    BQ_DB_ERR_CANCELLED,    /* bq_cancelled() became true during a wait */
};

struct bq_db_error {
    enum bq_db_err_kind kind;
    char sqlstate[6];       /* "42000"; "HY000" for client-side errors */
    unsigned errnum;        /* MySQL errno (1064) or client error (2003); 0 if none */
    bool retryable;         /* deadlock, lock wait timeout, lost connection, refused... */
    char message[512];      /* never holds a password or a token */
};

struct bq_db_config {
    const char *host;           /* required */
    unsigned port;              /* 0 = 3306 */
    const char *user;           /* required */
    const char *password;       /* NULL = none; ignored when iam */
    const char *database;       /* NULL = none */
    const char *charset;        /* NULL = "utf8mb4" */
    bool iam;                   /* mint an RDS IAM token and send it with mysql_clear_password */
    const char *region;         /* for iam: required */
    const char *ssl_ca;         /* PEM CA file; NULL = the system store when TLS is required */
    bool ssl_verify;            /* require TLS and verify the server's certificate and name */
    double connect_timeout;     /* seconds for TCP + TLS + authentication; <= 0 = 10 */
};

/* The RDS IAM token for host:port/user in region, from the default credential
 * chain's credentials valid for at least 15 minutes. Appends to *out (free it
 * with bq_buf_free_secure). 0, or -1 with err (kind CREDENTIALS or USAGE). */
int bq_db_rds_token(const char *host, unsigned port, const char *user, const char *region,
                    struct bq_buf *out, struct bq_db_error *err);

struct bq_db;
struct bq_db_result;

/* Connects (initialising the client library on first use). With iam or
 * ssl_verify, TLS is required and verified before any secret is sent: a
 * server without TLS, or whose certificate does not verify, is refused.
 * NULL with err on failure. */
struct bq_db *bq_db_connect(const struct bq_db_config *cfg, struct bq_db_error *err);
/* Frees the connection. An open result is abandoned without reading the rest
 * (the server sees the connection close). NULL is fine. */
void bq_db_close(struct bq_db *db);

enum bq_db_type { BQ_DB_NULL = 0, BQ_DB_INT, BQ_DB_DOUBLE, BQ_DB_STRING };

/* A parameter or a value. For strings, s[0..len) (binary-safe, not owned). */
struct bq_db_value {
    enum bq_db_type type;
    long long i;
    double d;
    const char *s;
    size_t len;
};

/* Runs sql. Without parameters the text protocol is used; with them (n > 0)
 * a prepared statement with bound parameters (never pasted into the SQL).
 * Returns the result (owned by db, freed with bq_db_result_free), which has
 * 0 columns for a statement without a result set. Fails (USAGE) when another
 * result is still open, or when n differs from the statement's placeholders.
 * NULL with err on failure. */
struct bq_db_result *bq_db_run(struct bq_db *db, const char *sql, size_t len,
                               const struct bq_db_value *params, size_t n, struct bq_db_error *err);

unsigned bq_db_result_columns(const struct bq_db_result *r);
const char *bq_db_result_column_name(const struct bq_db_result *r, unsigned i, size_t *len);
/* For export (outfile.h): whether the server treats column i as a string
 * (MySQL's STRING_RESULT: text, binary, temporal, ENUM, SET, JSON, GEOMETRY;
 * not integers, YEAR, BIT, DECIMAL, FLOAT, DOUBLE), and its maximum length in
 * bytes as the server reports it. */
bool bq_db_result_column_is_string(const struct bq_db_result *r, unsigned i);
unsigned long bq_db_result_column_length(const struct bq_db_result *r, unsigned i);
/* For statements without a result set. */
uint64_t bq_db_result_affected_rows(const struct bq_db_result *r);
uint64_t bq_db_result_insert_id(const struct bq_db_result *r);

/* The next row: 1 with *row pointing at bq_db_result_columns() values (valid
 * until the next call), 0 at the end, -1 with err. The same column types give
 * the same values from either protocol: integers (and YEAR) as INT,
 * BIGINT UNSIGNED beyond 2^63-1 as STRING, FLOAT/DOUBLE as DOUBLE, DECIMAL as
 * STRING, temporal types as the server prints them, everything else as
 * binary-safe STRING. From the text protocol (no parameters), s/len hold
 * the server's text for every non-NULL value, whatever its type. */
int bq_db_result_fetch(struct bq_db_result *r, const struct bq_db_value **row, struct bq_db_error *err);
/* From now on every non-NULL value comes as STRING with the server's text,
 * numbers unparsed (for export, which writes that text as is). Text
 * protocol only: false, and no change, for a prepared statement's result. */
bool bq_db_result_text_only(struct bq_db_result *r);

/* Reads what is left of the result (so the connection can be used again) and
 * frees it. When cancelled while reading, the connection is left interrupted. */
void bq_db_result_free(struct bq_db_result *r);
/* The same, but reads for at most `seconds`: a result that is not over by
 * then is abandoned, and the connection with it (later calls on it fail:
 * "connection was interrupted and cannot be used"). True when this call gave
 * the connection up. For a caller that failed mid-result and must not wait
 * for the rest of a long query. */
bool bq_db_result_discard(struct bq_db_result *r, double seconds);

#endif
