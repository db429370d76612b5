/* db: connections, statements and streamed results over MariaDB Connector/C.
 * See db.h for the contract; the why of the less obvious parts is here. */
#include "db.h"
#include "credentials.h"
#include "sigv4.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <errmsg.h>
#include <mysql.h>

#define DEFAULT_CONNECT_TIMEOUT 10.0
/* Non-blocking calls run on a coroutine stack: the TLS handshake needs more
 * than Connector/C's 60 KiB default leaves to spare. */
#define ASYNC_STACK_SIZE ((size_t)256 * 1024)
/* The poll slice: how soon a cancellation is noticed during a wait. */
#define POLL_SLICE_MS 100
/* The system CA store, used to verify when TLS is required without ssl_ca. */
#define SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
/* Columns whose `decimals` is at least this are not fixed-point (MariaDB's
 * NOT_FIXED_DEC is 39, MySQL's 31). */
#define NOT_FIXED_DEC 31

struct bq_db {
    MYSQL *m;
    struct bq_db_result *cur;   /* the open result */
    MYSQL_STMT *dead_stmt;      /* an abandoned statement: freed after mysql_close */
    bool broken;                /* an operation was abandoned mid-way */
};

enum col_kind { K_INT, K_FLOAT, K_DOUBLE, K_TEMPORAL, K_NULL, K_STRING };

struct col {
    enum col_kind kind;
    bool is_unsigned;
    unsigned decimals;
    enum enum_field_types type;
    /* binary protocol buffers */
    union {
        long long i;
        double d;
        float f;
        MYSQL_TIME t;
    } n;
    char *buf;
    unsigned long cap;
    unsigned long len;
    my_bool is_null, error;
    char text[80];              /* formatted temporal / unsigned values */
};

struct bq_db_result {
    struct bq_db *db;
    MYSQL_RES *res;             /* text protocol result, or a statement's metadata */
    MYSQL_STMT *stmt;           /* NULL for the text protocol */
    unsigned ncols;
    MYSQL_FIELD *fields;
    struct col *cols;
    MYSQL_BIND *bind;
    struct bq_db_value *row;
    uint64_t affected, insert_id;
    bool done;
    bool text_only;             /* bq_db_result_text_only */
};

/* --- errors -------------------------------------------------------------------- */

static int set_err(struct bq_db_error *err, enum bq_db_err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_err(struct bq_db_error *err, enum bq_db_err_kind kind, const char *fmt, ...)
{
    memset(err, 0, sizeof *err);
    err->kind = kind;
    strcpy(err->sqlstate, "HY000");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static bool errnum_retryable(unsigned n)
{
    switch (n) {
    case 1040:              /* ER_CON_COUNT_ERROR: too many connections */
    case 1205:              /* ER_LOCK_WAIT_TIMEOUT */
    case 1213:              /* ER_LOCK_DEADLOCK */
    case 1927:              /* ER_CONNECTION_KILLED */
    case 4031:              /* MySQL 8: disconnected by the server (idle) */
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
        return true;
    default:
        return false;
    }
}

static int sql_err(struct bq_db_error *err, unsigned errnum, const char *state, const char *msg)
{
    memset(err, 0, sizeof *err);
    err->kind = BQ_DB_ERR_SQL;
    err->errnum = errnum;
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s", state && *state ? state : "HY000");
    snprintf(err->message, sizeof err->message, "%s", msg && *msg ? msg : "unknown error");
    err->retryable = errnum_retryable(errnum);
    return -1;
}

static int conn_err(struct bq_db_error *err, MYSQL *m)
{
    return sql_err(err, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
}

static int stmt_err(struct bq_db_error *err, MYSQL *m, MYSQL_STMT *s)
{
    /* An error packet met while fetching unbuffered rows is recorded on the
     * connection, not on the statement. */
    if (mysql_stmt_errno(s) == 0 && mysql_errno(m) != 0)
        return conn_err(err, m);
    return sql_err(err, mysql_stmt_errno(s), mysql_stmt_sqlstate(s), mysql_stmt_error(s));
}

/* --- waiting on the socket ----------------------------------------------------------
 * Returns the ready status for the _cont call, -1 when cancelled, -2 when
 * the deadline (0 = none) passed. */
static int await_io(MYSQL *m, int status, double deadline)
{
    struct pollfd p = { .fd = mysql_get_socket(m), .events = 0 };
    if (status & MYSQL_WAIT_READ)
        p.events |= POLLIN;
    if (status & MYSQL_WAIT_WRITE)
        p.events |= POLLOUT;
    if (status & MYSQL_WAIT_EXCEPT)
        p.events |= POLLPRI;
    double lib_deadline = 0;
    if (status & MYSQL_WAIT_TIMEOUT)
        lib_deadline = bq_monotonic() + mysql_get_timeout_value_ms(m) / 1000.0;
    for (;;) {
        if (bq_cancelled())
            return -1;
        double now = bq_monotonic();
        if (deadline > 0 && now >= deadline)
            return -2;
        if (lib_deadline > 0 && now >= lib_deadline)
            return MYSQL_WAIT_TIMEOUT;
        int ms = POLL_SLICE_MS;
        if (deadline > 0 && (deadline - now) * 1000 < ms)
            ms = (int)((deadline - now) * 1000) + 1;
        if (lib_deadline > 0 && (lib_deadline - now) * 1000 < ms)
            ms = (int)((lib_deadline - now) * 1000) + 1;
        int rc = poll(&p, 1, ms);
        if (rc > 0) {
            int ready = 0;
            if (p.revents & (POLLIN | POLLHUP | POLLERR))
                ready |= MYSQL_WAIT_READ;
            if (p.revents & (POLLOUT | POLLHUP | POLLERR))
                ready |= MYSQL_WAIT_WRITE;
            if (p.revents & POLLPRI)
                ready |= MYSQL_WAIT_EXCEPT;
            return ready ? ready : status;
        }
        if (rc < 0 && errno != EINTR && errno != EAGAIN)
            return status;      /* let the library see the socket's error */
    }
}

/* Runs a non-blocking call to completion. START and CONT are expressions;
 * CONT uses `st_` as the ready status. Leaves `st_` < 0 when abandoned. */
#define RUN_ASYNC(m, deadline, START, CONT)             \
    int st_ = (START);                                  \
    while (st_ > 0) {                                   \
        st_ = await_io((m), st_, (deadline));           \
        if (st_ < 0)                                    \
            break;                                      \
        st_ = (CONT);                                   \
    }

/* After an abandoned wait: the connection is in the middle of a protocol
 * exchange and is given up (shut down, so closing it never blocks). */
static int abandon(struct bq_db *db, struct bq_db_error *err, int why)
{
    db->broken = true;
    if (db->m && mysql_get_socket(db->m) >= 0)
        shutdown(mysql_get_socket(db->m), SHUT_RDWR);
    if (why == -2)
        return set_err(err, BQ_DB_ERR_SQL, "timed out");
    return set_err(err, BQ_DB_ERR_CANCELLED, "interrupted (the script is being stopped)");
}

/* --- library and token ------------------------------------------------------------ */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_rc;

static void lib_init(void)
{
    lib_rc = mysql_library_init(0, NULL, NULL);
}

int bq_db_rds_token(const char *host, unsigned port, const char *user, const char *region,
                    struct bq_buf *out, struct bq_db_error *err)
{
    if (!host || !*host || !user || !*user || !region || !*region)
        return set_err(err, BQ_DB_ERR_USAGE, "host, user and region are required");
    struct bq_creds c;
    memset(&c, 0, sizeof c);
    struct bq_http_error he;
    memset(&he, 0, sizeof he);
    /* 15 minutes: a token dies with the credentials that signed it. */
    if (bq_creds_get(bq_creds_default(), 900, &c, &he) != 0) {
        set_err(err, BQ_DB_ERR_CREDENTIALS, "no AWS credentials for the RDS IAM token: %s",
                he.message[0] ? he.message : "not found");
        return -1;
    }
    struct bq_sigv4_creds sc = {
        .access_key_id = c.access_key_id,
        .secret_access_key = c.secret_access_key,
        .session_token = c.session_token,
    };
    int rc = bq_sigv4_rds_token(host, port ? port : 3306, user, region, &sc, time(NULL), out);
    bq_creds_clear(&c);
    if (rc != 0)
        return set_err(err, BQ_DB_ERR_USAGE, "cannot make an RDS IAM token for these inputs");
    return 0;
}

/* --- connect ------------------------------------------------------------------------ */

static const char *plugin_dir(MYSQL *m)
{
    const char *d = getenv("MARIADB_PLUGIN_DIR");
    if (d && *d)
        return d;
    const char *opt = NULL;
    if (mysql_get_optionv(m, MYSQL_PLUGIN_DIR, &opt) == 0 && opt && *opt)
        return opt;
    return MARIADB_PLUGINDIR;
}

struct bq_db *bq_db_connect(const struct bq_db_config *cfg, struct bq_db_error *err)
{
    if (!cfg->host || !*cfg->host || !cfg->user)
        return set_err(err, BQ_DB_ERR_USAGE, "host and user are required"), NULL;
    if (cfg->iam && !cfg->ssl_verify)
        return set_err(err, BQ_DB_ERR_USAGE, "iam=true requires a verified TLS connection"), NULL;
    pthread_once(&lib_once, lib_init);
    if (lib_rc != 0)
        return set_err(err, BQ_DB_ERR_SQL, "cannot initialise the MariaDB client library"), NULL;

    MYSQL *m = mysql_init(NULL);
    if (!m)
        return set_err(err, BQ_DB_ERR_SQL, "out of memory"), NULL;
    struct bq_db *db = calloc(1, sizeof *db);
    if (!db) {
        mysql_close(m);
        return set_err(err, BQ_DB_ERR_SQL, "out of memory"), NULL;
    }
    db->m = m;

    size_t stack = ASYNC_STACK_SIZE;
    my_bool on = 1;
    unsigned int off = 0;
    int bad = mysql_options(m, MYSQL_OPT_NONBLOCK, &stack);
    bad |= mysql_options(m, MYSQL_SET_CHARSET_NAME, cfg->charset ? cfg->charset : "utf8mb4");
    /* A server must never read the client's files (LOAD DATA LOCAL). */
    bad |= mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &off);
    if (cfg->ssl_verify) {
        /* Enforce: Connector/C then refuses a server without TLS during the
         * handshake, before any authentication data is sent. */
        const char *ca = cfg->ssl_ca;
        if (!ca && access(SYSTEM_CA_FILE, R_OK) == 0)
            ca = SYSTEM_CA_FILE;
        bad |= mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &on);
        bad |= mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
        if (ca)
            bad |= mysql_options(m, MYSQL_OPT_SSL_CA, ca);
    }
    if (cfg->iam)
        bad |= mysql_options(m, MYSQL_ENABLE_CLEARTEXT_PLUGIN, &on);
    if (bad) {
        set_err(err, BQ_DB_ERR_SQL, "cannot set connection options: %s", mysql_error(m));
        bq_db_close(db);
        return NULL;
    }

    unsigned port = cfg->port ? cfg->port : 3306;
    struct bq_buf token = { 0 };
    const char *secret = cfg->password;
    if (cfg->iam) {
        if (bq_db_rds_token(cfg->host, port, cfg->user, cfg->region, &token, err) != 0) {
            bq_db_close(db);
            return NULL;
        }
        secret = bq_buf_cstr(&token);
    }

    double timeout = cfg->connect_timeout > 0 ? cfg->connect_timeout : DEFAULT_CONNECT_TIMEOUT;
    double deadline = bq_monotonic() + timeout;
    MYSQL *ret = NULL;
    RUN_ASYNC(m, deadline,
              mysql_real_connect_start(&ret, m, cfg->host, cfg->user, secret, cfg->database, port,
                                       NULL, 0),
              mysql_real_connect_cont(&ret, m, st_));
    bq_buf_free_secure(&token);
    if (st_ < 0) {
        if (st_ == -2) {
            set_err(err, BQ_DB_ERR_SQL, "cannot connect to %s:%u: timed out after %g s (connect_timeout)",
                    cfg->host, port, timeout);
            err->errnum = CR_CONN_HOST_ERROR;
            err->retryable = true;
        } else {
            abandon(db, err, st_);
        }
        db->broken = true;
        bq_db_close(db);
        return NULL;
    }
    if (!ret) {
        conn_err(err, m);
        /* Connector/C reports a missing plugin as 2059, or (3.3) as 1045 with
         * "Plugin ... could not be loaded": name the directory either way. */
        if (err->errnum == CR_AUTH_PLUGIN_CANNOT_LOAD ||
            (strstr(err->message, "lugin") && strstr(err->message, "be loaded"))) {
            err->errnum = CR_AUTH_PLUGIN_CANNOT_LOAD;
            strcpy(err->sqlstate, "HY000");
            err->retryable = false;
            size_t n = strlen(err->message);
            snprintf(err->message + n, sizeof err->message - n,
                     " (client plugin directory: %s; set MARIADB_PLUGIN_DIR)", plugin_dir(m));
        }
        bq_db_close(db);
        return NULL;
    }
    return db;
}

/* --- results ------------------------------------------------------------------------ */

unsigned bq_db_result_columns(const struct bq_db_result *r) { return r->ncols; }
uint64_t bq_db_result_affected_rows(const struct bq_db_result *r) { return r->affected; }
uint64_t bq_db_result_insert_id(const struct bq_db_result *r) { return r->insert_id; }

const char *bq_db_result_column_name(const struct bq_db_result *r, unsigned i, size_t *len)
{
    *len = r->fields[i].name_length;
    return r->fields[i].name;
}

bool bq_db_result_column_is_string(const struct bq_db_result *r, unsigned i)
{
    switch (r->fields[i].type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
    case MYSQL_TYPE_BIT:
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
        return false;
    default:
        return true;
    }
}

unsigned long bq_db_result_column_length(const struct bq_db_result *r, unsigned i)
{
    return r->fields[i].length;
}

static enum col_kind kind_of(enum enum_field_types t)
{
    switch (t) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
        return K_INT;
    case MYSQL_TYPE_FLOAT:
        return K_FLOAT;
    case MYSQL_TYPE_DOUBLE:
        return K_DOUBLE;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
    case MYSQL_TYPE_TIME:
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP:
        return K_TEMPORAL;
    case MYSQL_TYPE_NULL:
        return K_NULL;
    default:
        return K_STRING;
    }
}

static void free_result_memory(struct bq_db_result *r)
{
    if (r->cols)
        for (unsigned i = 0; i < r->ncols; i++)
            free(r->cols[i].buf);
    free(r->cols);
    free(r->bind);
    free(r->row);
    free(r);
}

static int setup_columns(struct bq_db_result *r, struct bq_db_error *err)
{
    r->ncols = mysql_num_fields(r->res);
    r->fields = mysql_fetch_fields(r->res);
    r->cols = calloc(r->ncols ? r->ncols : 1, sizeof *r->cols);
    r->row = calloc(r->ncols ? r->ncols : 1, sizeof *r->row);
    if (!r->cols || !r->row)
        return set_err(err, BQ_DB_ERR_SQL, "out of memory");
    for (unsigned i = 0; i < r->ncols; i++) {
        struct col *c = &r->cols[i];
        c->type = r->fields[i].type;
        c->kind = kind_of(c->type);
        c->is_unsigned = (r->fields[i].flags & UNSIGNED_FLAG) != 0;
        c->decimals = r->fields[i].decimals;
    }
    if (!r->stmt)
        return 0;
    r->bind = calloc(r->ncols ? r->ncols : 1, sizeof *r->bind);
    if (!r->bind)
        return set_err(err, BQ_DB_ERR_SQL, "out of memory");
    for (unsigned i = 0; i < r->ncols; i++) {
        struct col *c = &r->cols[i];
        MYSQL_BIND *b = &r->bind[i];
        b->is_null = &c->is_null;
        b->error = &c->error;
        b->length = &c->len;
        switch (c->kind) {
        case K_INT:
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &c->n.i;
            b->is_unsigned = c->is_unsigned;
            break;
        case K_FLOAT:
            b->buffer_type = MYSQL_TYPE_FLOAT;
            b->buffer = &c->n.f;
            break;
        case K_DOUBLE:
            b->buffer_type = MYSQL_TYPE_DOUBLE;
            b->buffer = &c->n.d;
            break;
        case K_TEMPORAL:
            b->buffer_type = c->type == MYSQL_TYPE_NEWDATE ? MYSQL_TYPE_DATE : c->type;
            b->buffer = &c->n.t;
            b->buffer_length = sizeof c->n.t;
            break;
        case K_NULL:
        case K_STRING:
            c->cap = 256;
            c->buf = malloc(c->cap);
            if (!c->buf)
                return set_err(err, BQ_DB_ERR_SQL, "out of memory");
            b->buffer_type = MYSQL_TYPE_BLOB;   /* raw bytes: BIT and binary data unchanged */
            b->buffer = c->buf;
            b->buffer_length = c->cap;
            break;
        }
    }
    if (mysql_stmt_bind_result(r->stmt, r->bind))
        return stmt_err(err, r->db->m, r->stmt);
    return 0;
}

struct bq_db_result *bq_db_run(struct bq_db *db, const char *sql, size_t len,
                               const struct bq_db_value *params, size_t n, struct bq_db_error *err)
{
    if (!db)
        return set_err(err, BQ_DB_ERR_USAGE, "connection is closed"), NULL;
    if (db->broken)
        return set_err(err, BQ_DB_ERR_USAGE, "connection was interrupted and cannot be used"), NULL;
    if (db->cur)
        return set_err(err, BQ_DB_ERR_USAGE,
                       "connection is busy: a rows() iterator on it is still open "
                       "(finish or close it first, or use another connection)"), NULL;
    struct bq_db_result *r = calloc(1, sizeof *r);
    if (!r)
        return set_err(err, BQ_DB_ERR_SQL, "out of memory"), NULL;
    r->db = db;
    MYSQL *m = db->m;

    if (n == 0) {
        int ret = 0;
        RUN_ASYNC(m, 0, mysql_real_query_start(&ret, m, sql, (unsigned long)len),
                  mysql_real_query_cont(&ret, m, st_));
        if (st_ < 0) {
            abandon(db, err, st_);
            goto fail;
        }
        if (ret != 0) {
            conn_err(err, m);
            goto fail;
        }
        if (mysql_field_count(m) == 0) {
            r->affected = mysql_affected_rows(m);
            r->insert_id = mysql_insert_id(m);
            r->done = true;
            return r;
        }
        r->res = mysql_use_result(m);
        if (!r->res) {
            conn_err(err, m);
            goto fail;
        }
        db->cur = r;
        if (setup_columns(r, err) != 0) {
            bq_db_result_free(r);
            return NULL;
        }
        return r;
    }

    MYSQL_STMT *s = mysql_stmt_init(m);
    if (!s) {
        conn_err(err, m);
        goto fail;
    }
    r->stmt = s;
    db->cur = r;    /* from here the statement is freed with the result */
    int ret = 0;
    {
        RUN_ASYNC(m, 0, mysql_stmt_prepare_start(&ret, s, sql, (unsigned long)len),
                  mysql_stmt_prepare_cont(&ret, s, st_));
        if (st_ < 0) {
            abandon(db, err, st_);
            goto fail_stmt;
        }
    }
    if (ret != 0) {
        stmt_err(err, r->db->m, s);
        goto fail_stmt;
    }
    unsigned long want = mysql_stmt_param_count(s);
    if (want != n) {
        set_err(err, BQ_DB_ERR_USAGE, "the statement has %lu placeholder%s but %zu parameter%s given",
                want, want == 1 ? "" : "s", n, n == 1 ? " was" : "s were");
        goto fail_stmt;
    }
    MYSQL_BIND *pb = calloc(n, sizeof *pb);
    if (!pb) {
        set_err(err, BQ_DB_ERR_SQL, "out of memory");
        goto fail_stmt;
    }
    for (size_t i = 0; i < n; i++) {
        const struct bq_db_value *v = &params[i];
        switch (v->type) {
        case BQ_DB_NULL:
            pb[i].buffer_type = MYSQL_TYPE_NULL;
            break;
        case BQ_DB_INT:
            pb[i].buffer_type = MYSQL_TYPE_LONGLONG;
            pb[i].buffer = (void *)&v->i;
            break;
        case BQ_DB_DOUBLE:
            pb[i].buffer_type = MYSQL_TYPE_DOUBLE;
            pb[i].buffer = (void *)&v->d;
            break;
        case BQ_DB_STRING:
            pb[i].buffer_type = MYSQL_TYPE_STRING;
            pb[i].buffer = (void *)v->s;
            pb[i].buffer_length = v->len;
            break;
        }
    }
    bool bad = mysql_stmt_bind_param(s, pb);
    if (bad) {
        free(pb);
        stmt_err(err, r->db->m, s);
        goto fail_stmt;
    }
    {
        RUN_ASYNC(m, 0, mysql_stmt_execute_start(&ret, s), mysql_stmt_execute_cont(&ret, s, st_));
        free(pb);
        if (st_ < 0) {
            abandon(db, err, st_);
            goto fail_stmt;
        }
    }
    if (ret != 0) {
        stmt_err(err, r->db->m, s);
        goto fail_stmt;
    }
    if (mysql_stmt_field_count(s) == 0) {
        struct bq_db_result *done = calloc(1, sizeof *done);
        if (!done) {
            set_err(err, BQ_DB_ERR_SQL, "out of memory");
            goto fail_stmt;
        }
        done->db = db;
        done->affected = mysql_stmt_affected_rows(s);
        done->insert_id = mysql_stmt_insert_id(s);
        done->done = true;
        bq_db_result_free(r);   /* closes the statement */
        return done;
    }
    r->res = mysql_stmt_result_metadata(s);
    if (!r->res) {
        stmt_err(err, r->db->m, s);
        goto fail_stmt;
    }
    if (setup_columns(r, err) != 0)
        goto fail_stmt;
    return r;

fail_stmt:
    r->done = true;             /* no result set to read: just close the statement */
    bq_db_result_free(r);
    return NULL;
fail:
    free_result_memory(r);
    return NULL;
}

/* Formats MYSQL_TIME as the server prints the column. */
static size_t format_temporal(const struct col *c, char *out, size_t cap)
{
    const MYSQL_TIME *t = &c->n.t;
    int n;
    if (c->type == MYSQL_TYPE_DATE || c->type == MYSQL_TYPE_NEWDATE)
        return (size_t)snprintf(out, cap, "%04u-%02u-%02u", t->year, t->month, t->day);
    if (c->type == MYSQL_TYPE_TIME)
        n = snprintf(out, cap, "%s%02u:%02u:%02u", t->neg ? "-" : "", t->day * 24 + t->hour, t->minute,
                     t->second);
    else
        n = snprintf(out, cap, "%04u-%02u-%02u %02u:%02u:%02u", t->year, t->month, t->day, t->hour,
                     t->minute, t->second);
    unsigned dec = c->decimals;
    if (dec >= NOT_FIXED_DEC)
        dec = t->second_part ? 6 : 0;
    if (dec > 6)
        dec = 6;
    if (dec > 0) {
        unsigned long frac = t->second_part;
        for (unsigned k = dec; k < 6; k++)
            frac /= 10;
        n += snprintf(out + n, cap - (size_t)n, ".%0*lu", (int)dec, frac);
    }
    return (size_t)n;
}

/* A value read as text: integers and floats parsed, the rest as is. */
static void value_from_text(struct col *c, const char *s, size_t len, struct bq_db_value *v)
{
    v->type = BQ_DB_STRING;
    v->s = s;
    v->len = len;
    if (c->kind == K_INT) {
        if (c->is_unsigned) {
            unsigned long long u = strtoull(s, NULL, 10);
            if (u <= (unsigned long long)INT64_MAX) {
                v->type = BQ_DB_INT;
                v->i = (long long)u;
            }
        } else {
            v->type = BQ_DB_INT;
            v->i = strtoll(s, NULL, 10);
        }
    } else if (c->kind == K_FLOAT || c->kind == K_DOUBLE) {
        v->type = BQ_DB_DOUBLE;
        v->d = strtod(s, NULL);
    }
}

static int fetch_text(struct bq_db_result *r, struct bq_db_error *err)
{
    MYSQL *m = r->db->m;
    MYSQL_ROW row = NULL;
    RUN_ASYNC(m, 0, mysql_fetch_row_start(&row, r->res), mysql_fetch_row_cont(&row, r->res, st_));
    if (st_ < 0)
        return abandon(r->db, err, st_);
    if (!row) {
        if (mysql_errno(m))
            return conn_err(err, m);
        r->done = true;
        return 0;
    }
    unsigned long *lens = mysql_fetch_lengths(r->res);
    for (unsigned i = 0; i < r->ncols; i++) {
        struct bq_db_value *v = &r->row[i];
        if (!row[i]) {
            v->type = BQ_DB_NULL;
            continue;
        }
        if (r->text_only)
            *v = (struct bq_db_value){ .type = BQ_DB_STRING, .s = row[i], .len = lens[i] };
        else
            value_from_text(&r->cols[i], row[i], lens[i], v);
    }
    return 1;
}

static int fetch_binary(struct bq_db_result *r, struct bq_db_error *err)
{
    MYSQL_STMT *s = r->stmt;
    int ret = 0;
    RUN_ASYNC(r->db->m, 0, mysql_stmt_fetch_start(&ret, s), mysql_stmt_fetch_cont(&ret, s, st_));
    if (st_ < 0)
        return abandon(r->db, err, st_);
    if (ret == MYSQL_NO_DATA) {
        r->done = true;
        return 0;
    }
    if (ret == 1)
        return stmt_err(err, r->db->m, s);
    bool rebind = false;
    for (unsigned i = 0; i < r->ncols; i++) {
        struct col *c = &r->cols[i];
        struct bq_db_value *v = &r->row[i];
        if (c->is_null) {
            v->type = BQ_DB_NULL;
            continue;
        }
        switch (c->kind) {
        case K_INT:
            if (c->is_unsigned && (unsigned long long)c->n.i > (unsigned long long)INT64_MAX) {
                v->type = BQ_DB_STRING;
                v->len = (size_t)snprintf(c->text, sizeof c->text, "%llu", (unsigned long long)c->n.i);
                v->s = c->text;
            } else {
                v->type = BQ_DB_INT;
                v->i = c->n.i;
            }
            break;
        case K_FLOAT:
        case K_DOUBLE: {
            /* The value the server would print, so text and binary agree:
             * FLOAT to 6 significant digits, fixed decimals when declared. */
            double d = c->kind == K_FLOAT ? (double)c->n.f : c->n.d;
            if (c->decimals < NOT_FIXED_DEC)
                snprintf(c->text, sizeof c->text, "%.*f", (int)c->decimals, d);
            else if (c->kind == K_FLOAT)
                snprintf(c->text, sizeof c->text, "%.6g", d);
            else
                c->text[0] = 0;
            v->type = BQ_DB_DOUBLE;
            v->d = c->text[0] && isfinite(d) ? strtod(c->text, NULL) : d;
            break;
        }
        case K_TEMPORAL:
            v->type = BQ_DB_STRING;
            v->len = format_temporal(c, c->text, sizeof c->text);
            v->s = c->text;
            break;
        case K_NULL:
        case K_STRING:
            if (c->len > c->cap) {
                /* Truncated: grow the buffer and read the column again. */
                char *nb = realloc(c->buf, c->len);
                if (!nb)
                    return set_err(err, BQ_DB_ERR_SQL, "out of memory for a %lu-byte value", c->len);
                c->buf = nb;
                c->cap = c->len;
                r->bind[i].buffer = nb;
                r->bind[i].buffer_length = c->cap;
                if (mysql_stmt_fetch_column(s, &r->bind[i], i, 0))
                    return stmt_err(err, r->db->m, s);
                rebind = true;
            }
            v->type = BQ_DB_STRING;
            v->s = c->buf;
            v->len = c->len;
            break;
        }
    }
    if (rebind && mysql_stmt_bind_result(s, r->bind))
        return stmt_err(err, r->db->m, s);
    return 1;
}

bool bq_db_result_text_only(struct bq_db_result *r)
{
    if (r->stmt)
        return false;
    r->text_only = true;
    return true;
}

int bq_db_result_fetch(struct bq_db_result *r, const struct bq_db_value **row, struct bq_db_error *err)
{
    if (r->done)
        return 0;
    if (r->db->broken)
        return set_err(err, BQ_DB_ERR_USAGE, "connection was interrupted and cannot be used");
    if (bq_cancelled())
        return abandon(r->db, err, -1);
    int rc = r->stmt ? fetch_binary(r, err) : fetch_text(r, err);
    if (rc == 1)
        *row = r->row;
    else
        r->done = true;
    return rc;
}

/* Drops the rest of the result: read for at most drain_for seconds (0: not
 * at all, INFINITY: all of it), so the connection stays usable, unless the
 * connection is broken or the script is being stopped. A result not read to
 * its end gives the connection up. */
static void release(struct bq_db_result *r, double drain_for)
{
    struct bq_db *db = r->db;
    struct bq_db_error err;
    if (db->cur == r) {
        if (!r->done && drain_for > 0 && !db->broken) {
            double until = bq_monotonic() + drain_for;
            unsigned long n = 0;
            while (!db->broken && bq_db_result_fetch(r, &(const struct bq_db_value *){ NULL }, &err) == 1)
                if ((++n & 1023) == 0 && bq_monotonic() > until)
                    break;
            if (!r->done || bq_cancelled())
                abandon(db, &err, -1);
        } else if (!r->done) {
            abandon(db, &err, -1);
        }
    }
    if (r->res) {
        if (db->broken)
            r->res->handle = NULL;  /* do not read the rest: the connection is given up */
        mysql_free_result(r->res);  /* all rows read (or abandoned): no network I/O */
    }
    if (r->stmt) {
        if (db->broken) {
            /* Freed after mysql_close, which detaches it from the connection. */
            if (db->dead_stmt)
                mysql_stmt_close(db->dead_stmt);
            db->dead_stmt = r->stmt;
        } else {
            my_bool ret;
            RUN_ASYNC(db->m, 0, mysql_stmt_close_start(&ret, r->stmt),
                      mysql_stmt_close_cont(&ret, r->stmt, st_));
            if (st_ < 0) {
                abandon(db, &err, st_);
                db->dead_stmt = r->stmt;
            }
        }
    }
    if (db->cur == r)
        db->cur = NULL;
    free_result_memory(r);
}

void bq_db_result_free(struct bq_db_result *r)
{
    if (r)
        release(r, INFINITY);
}

bool bq_db_result_discard(struct bq_db_result *r, double seconds)
{
    if (!r)
        return false;
    struct bq_db *db = r->db;
    bool was = db->broken;
    release(r, seconds);
    return !was && db->broken;
}

void bq_db_close(struct bq_db *db)
{
    if (!db)
        return;
    if (db->cur)
        release(db->cur, 0);
    if (db->broken && mysql_get_socket(db->m) >= 0)
        shutdown(mysql_get_socket(db->m), SHUT_RDWR);
    mysql_close(db->m);
    if (db->dead_stmt)
        mysql_stmt_close(db->dead_stmt);
    free(db);
}
