/* db: connections, queries and streamed rows (SPEC §3 db) over the db service.
 *
 * A connection is userdata "bqlua.db.conn", created closed and then
 * connected, with one idempotent close behind close(), __close and __gc.
 * conn:rows() returns (next, cursor, nil, cursor): the cursor is the generic
 * for's closing value, so leaving the loop early (break, error) frees the
 * result at once. A connection has one open result at a time: a query issued
 * while a rows() iterator is still open raises "connection is busy" (rather
 * than silently reading and dropping the rest of the iterator's rows).
 *
 * TLS: iam=true or ssl_ca (or ssl_verify=true) require TLS and verify the
 * server certificate and name (ssl_ca, else the system store) before any
 * password or token is sent; ssl_verify=false with either is a usage error.
 * connect_timeout (default 10 s) bounds TCP + TLS + authentication. */
#include "bind.h"
#include "bind_db.h"
#include "credentials.h"
#include "db.h"
#include "export.h"
#include "limit.h"
#include "log.h"
#include "outfile_sql.h"
#include "s3.h"
#include "sandbox.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#define CONN_MT "bqlua.db.conn"
#define EXPORT_MT "bqlua.db.export"
#define CURSOR_MT "bqlua.db.rows"
#define OSQL_MT "bqlua.db.outfile_sql"

struct conn {
    struct bq_db *db;               /* NULL once closed */
    struct bq_db_result *res;       /* the open result */
    unsigned long serial;           /* which result: cursors compare it */
    bool res_iter;                  /* res belongs to a rows() cursor */
    unsigned char aurora;           /* 0 not checked yet, 1 not Aurora, 2 Aurora (@@aurora_version) */
};

struct cursor {
    struct conn *conn;              /* kept alive by user value 1 */
    unsigned long serial;
    bool done;                      /* finished: the iterator returns nil */
    bool closed;                    /* closed before the end: the iterator raises */
};

/* --- options and errors (shared with rds) ------------------------------------------ */

const char *bq_db_opt_string(lua_State *L, int idx, const char *name, bool required)
{
    int t = lua_getfield(L, idx, name);
    lua_pop(L, 1);  /* the string stays alive in the options table */
    if (t == LUA_TNIL) {
        if (required)
            luaL_argerror(L, idx, lua_pushfstring(L, "option '%s' is required", name));
        return NULL;
    }
    if (t != LUA_TSTRING)
        luaL_argerror(L, idx, lua_pushfstring(L, "option '%s' must be a string", name));
    lua_getfield(L, idx, name);
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1);
    return s;
}

unsigned bq_db_opt_port(lua_State *L, int idx)
{
    int t = lua_getfield(L, idx, "port");
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return 3306;
    }
    int isint = 0;
    lua_Integer p = lua_tointegerx(L, -1, &isint);
    lua_pop(L, 1);
    if (!isint || t != LUA_TNUMBER || p < 1 || p > 65535)
        luaL_argerror(L, idx, "option 'port' must be an integer from 1 to 65535");
    return (unsigned)p;
}

static bool opt_bool(lua_State *L, int idx, const char *name, int *out)
{
    int t = lua_getfield(L, idx, name);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return false;
    }
    if (t != LUA_TBOOLEAN)
        luaL_argerror(L, idx, lua_pushfstring(L, "option '%s' must be a boolean", name));
    *out = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return true;
}

const char *bq_db_opt_region(lua_State *L, int idx)
{
    const char *r = bq_db_opt_string(L, idx, "region", false);
    if (r && *r)
        return r;
    const struct bq_host *h = bq_host(L);
    if (h && h->opts && h->opts->region && *h->opts->region)
        return h->opts->region;
    /* As the AWS CLI: the active profile's region. */
    char *pr = NULL;
    struct bq_http_error he;
    memset(&he, 0, sizeof he);
    if (bq_creds_profile_region(&pr, &he) == 0 && pr) {
        lua_pushstring(L, pr);      /* left on the stack: the caller's frame owns it */
        free(pr);
        return lua_tostring(L, -1);
    }
    free(pr);
    return NULL;
}

int bq_db_raise(lua_State *L, const char *fname, const struct bq_db_error *err)
{
    if (err->kind == BQ_DB_ERR_CANCELLED || bq_cancelled())
        bq_limits_check(L);
    if (err->kind == BQ_DB_ERR_USAGE)
        return luaL_error(L, "bad argument #1 to '%s' (%s)", fname, err->message);
    struct bq_error_info e = {
        .code = err->kind == BQ_DB_ERR_CREDENTIALS ? "CredentialsError" : err->sqlstate,
        .message = err->message,
        .status = (long)err->errnum,
        .retryable = err->retryable,
    };
    return bq_raise_error(L, &e);
}

/* --- connections ------------------------------------------------------------------------ */

static const char *const connect_options[] = {
    "host", "port", "user", "password", "database", "iam", "region", "ssl_ca", "ssl_verify",
    "charset", "connect_timeout", NULL,
};

static void conn_close(struct conn *c)
{
    /* bq_db_close abandons an open result without reading it. */
    struct bq_db *db = c->db;
    c->db = NULL;
    c->res = NULL;
    c->serial++;
    bq_db_close(db);
}

static int conn_gc(lua_State *L)
{
    conn_close(luaL_checkudata(L, 1, CONN_MT));
    return 0;
}

static int l_conn_close(lua_State *L)
{
    conn_close(luaL_checkudata(L, 1, CONN_MT));
    return 0;
}

static int conn_tostring(lua_State *L)
{
    struct conn *c = luaL_checkudata(L, 1, CONN_MT);
    lua_pushfstring(L, "db connection (%s)", c->db ? "open" : "closed");
    return 1;
}

static const luaL_Reg conn_methods[];
static const luaL_Reg conn_meta[];

/* Reads the options at idx and connects the new connection userdata pushed on
 * top. May raise; the userdata then stays closed. */
static struct conn *connect_at(lua_State *L, int idx, const char *fname)
{
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    struct conn *c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    bq_set_class(L, CONN_MT, conn_methods, conn_meta);     /* ... conn */

    bq_check_options(L, idx, connect_options);
    struct bq_db_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = bq_db_opt_string(L, idx, "host", true);
    cfg.port = bq_db_opt_port(L, idx);
    cfg.user = bq_db_opt_string(L, idx, "user", true);
    cfg.password = bq_db_opt_string(L, idx, "password", false);
    cfg.database = bq_db_opt_string(L, idx, "database", false);
    cfg.charset = bq_db_opt_string(L, idx, "charset", false);
    cfg.ssl_ca = bq_db_opt_string(L, idx, "ssl_ca", false);
    int iam = 0, verify = 0;
    opt_bool(L, idx, "iam", &iam);
    cfg.iam = iam;
    bool verify_given = opt_bool(L, idx, "ssl_verify", &verify);
    if (verify_given && !verify && iam)
        luaL_argerror(L, idx, "iam=true requires verified TLS: ssl_verify=false is not allowed with it");
    if (verify_given && !verify && cfg.ssl_ca)
        luaL_argerror(L, idx, "ssl_verify=false contradicts ssl_ca (a CA is given to verify the server)");
    /* TLS is required and verified with iam, with ssl_ca, or when asked. */
    cfg.ssl_verify = iam || cfg.ssl_ca || (verify_given && verify);
    if (lua_getfield(L, idx, "connect_timeout") != LUA_TNIL) {
        int isnum = 0;
        lua_Number t = lua_tonumberx(L, -1, &isnum);
        if (!isnum || lua_type(L, -1) != LUA_TNUMBER || !(t > 0 && t <= 86400))
            luaL_argerror(L, idx, "option 'connect_timeout' must be seconds from 0 to 86400 (exclusive of 0)");
        cfg.connect_timeout = (double)t;
    }
    lua_pop(L, 1);
    if (iam) {
        cfg.region = bq_db_opt_region(L, idx);  /* may push a string: it stays below conn */
        if (!cfg.region)
            luaL_argerror(L, idx, "iam=true needs a region (region=, --region or AWS_REGION)");
        if (cfg.region && lua_isstring(L, -1) && lua_tostring(L, -1) == cfg.region)
            lua_insert(L, -2);                          /* ... region conn */
    }

    struct bq_db_error err;
    c->db = bq_db_connect(&cfg, &err);
    if (!c->db)
        bq_db_raise(L, fname, &err);
    return c;
}

static int l_db_connect(lua_State *L)
{
    connect_at(L, 1, "db.connect");
    return 1;
}

static struct conn *check_open(lua_State *L, const char *fname)
{
    struct conn *c = luaL_checkudata(L, 1, CONN_MT);
    if (!c->db)
        luaL_error(L, "bad argument #1 to '%s' (connection is closed)", fname);
    return c;
}

/* --- statements ----------------------------------------------------------------------- */

/* Runs the statement whose SQL is at sql_idx with the values above it as
 * parameters. May raise. */
static struct bq_db_result *start(lua_State *L, struct conn *c, int sql_idx, const char *fname)
{
    size_t len;
    const char *sql = luaL_checklstring(L, sql_idx, &len);
    int top = lua_gettop(L);
    size_t n = (size_t)(top - sql_idx);
    struct bq_db_value *p = NULL;
    if (n > 0) {
        /* In the Lua heap, so an error below frees it. */
        p = lua_newuserdatauv(L, n * sizeof *p, 0);
        memset(p, 0, n * sizeof *p);
        for (size_t i = 0; i < n; i++) {
            int a = sql_idx + 1 + (int)i;
            switch (lua_type(L, a)) {
            case LUA_TNIL:
                p[i].type = BQ_DB_NULL;
                break;
            case LUA_TBOOLEAN:
                p[i].type = BQ_DB_INT;
                p[i].i = lua_toboolean(L, a);
                break;
            case LUA_TNUMBER:
                if (lua_isinteger(L, a)) {
                    p[i].type = BQ_DB_INT;
                    p[i].i = lua_tointeger(L, a);
                } else {
                    p[i].type = BQ_DB_DOUBLE;
                    p[i].d = lua_tonumber(L, a);
                }
                break;
            case LUA_TSTRING:
                p[i].type = BQ_DB_STRING;
                p[i].s = lua_tolstring(L, a, &p[i].len);
                break;
            default:
                if (bq_is_null(L, a)) {
                    p[i].type = BQ_DB_NULL;
                    break;
                }
                luaL_argerror(L, a, lua_pushfstring(L, "parameter %d: expected string, number, boolean or db.null, got %s",
                                                    (int)i + 1, luaL_typename(L, a)));
            }
        }
    }
    /* A result that query() left behind when it raised half-way is dropped. */
    if (c->res && !c->res_iter) {
        struct bq_db_result *old = c->res;
        c->res = NULL;
        c->serial++;
        bq_db_result_free(old);
    }
    bq_limits_check(L);
    struct bq_db_error err;
    struct bq_db_result *r = bq_db_run(c->db, sql, len, p, n, &err);
    if (!r) {
        if (err.kind == BQ_DB_ERR_USAGE && strstr(err.message, "placeholder"))
            return luaL_error(L, "bad argument #%d to '%s' (%s)", sql_idx, fname, err.message), NULL;
        return bq_db_raise(L, fname, &err), NULL;
    }
    if (bq_db_result_columns(r) > 0) {
        c->res = r;
        c->res_iter = false;
        c->serial++;
    }
    return r;
}

static void finish(struct conn *c, struct bq_db_result *r)
{
    if (c->res == r) {
        c->res = NULL;
        c->serial++;
    }
    bq_db_result_free(r);
}

/* Pushes the ordered column names. */
static void push_columns(lua_State *L, struct bq_db_result *r)
{
    unsigned n = bq_db_result_columns(r);
    lua_createtable(L, (int)n, 0);
    for (unsigned i = 0; i < n; i++) {
        size_t len;
        const char *name = bq_db_result_column_name(r, i, &len);
        lua_pushlstring(L, name, len);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* Pushes a row table; names and null are stack indexes. */
static void push_row(lua_State *L, const struct bq_db_value *row, unsigned n, int names, int null)
{
    luaL_checkstack(L, 4, "db row");
    lua_createtable(L, 0, (int)n);
    for (unsigned i = 0; i < n; i++) {
        lua_rawgeti(L, names, (lua_Integer)i + 1);
        const struct bq_db_value *v = &row[i];
        switch (v->type) {
        case BQ_DB_NULL:
            lua_pushvalue(L, null);
            break;
        case BQ_DB_INT:
            lua_pushinteger(L, (lua_Integer)v->i);
            break;
        case BQ_DB_DOUBLE:
            lua_pushnumber(L, (lua_Number)v->d);
            break;
        case BQ_DB_STRING:
            lua_pushlstring(L, v->s, v->len);
            break;
        }
        lua_rawset(L, -3);
    }
}

/* Reads every row of r into a new table (with .columns). May raise. */
static int push_all_rows(lua_State *L, struct conn *c, struct bq_db_result *r, const char *fname)
{
    bq_push_null(L);
    int null = lua_gettop(L);
    push_columns(L, r);
    int names = lua_gettop(L);
    lua_newtable(L);
    lua_pushvalue(L, names);
    lua_setfield(L, -2, "columns");
    unsigned ncols = bq_db_result_columns(r);
    lua_Integer k = 0;
    for (;;) {
        const struct bq_db_value *row;
        struct bq_db_error err;
        int rc = bq_db_result_fetch(r, &row, &err);
        if (rc < 0) {
            finish(c, r);
            return bq_db_raise(L, fname, &err);
        }
        if (rc == 0)
            break;
        push_row(L, row, ncols, names, null);
        lua_rawseti(L, -2, ++k);
    }
    finish(c, r);
    return 1;
}

/* conn:query(sql, ...) -> rows. May raise. */
static int l_conn_query(lua_State *L)
{
    struct conn *c = check_open(L, "query");
    struct bq_db_result *r = start(L, c, 2, "query");
    return push_all_rows(L, c, r, "query");
}

static int exec_outfile_s3(lua_State *L, struct conn *c);

/* conn:exec(sql, ...) -> affected_rows, last_insert_id. May raise.
 * A SELECT ending in Aurora's INTO OUTFILE S3 clause is exported client-side
 * when the server is not Aurora (see exec_outfile_s3). */
static int l_conn_exec(lua_State *L)
{
    struct conn *c = check_open(L, "exec");
    int nres = exec_outfile_s3(L, c);
    if (nres >= 0)
        return nres;
    struct bq_db_result *r = start(L, c, 2, "exec");
    uint64_t affected = bq_db_result_affected_rows(r), id = bq_db_result_insert_id(r);
    if (bq_db_result_columns(r) > 0) {
        /* A statement with rows: they are read and counted. */
        affected = 0;
        const struct bq_db_value *row;
        struct bq_db_error err;
        int rc;
        while ((rc = bq_db_result_fetch(r, &row, &err)) == 1)
            affected++;
        if (rc < 0) {
            finish(c, r);
            return bq_db_raise(L, "exec", &err);
        }
    }
    finish(c, r);
    lua_pushinteger(L, (lua_Integer)affected);
    lua_pushinteger(L, (lua_Integer)id);
    return 2;
}

/* --- rows() cursors --------------------------------------------------------------------- */

static void cursor_release(struct cursor *k)
{
    if (!k->done)
        k->closed = true;
    k->done = true;
    struct conn *c = k->conn;
    if (c && c->db && c->res && c->res_iter && c->serial == k->serial) {
        /* Reads what is left, so the connection can be used again; gives
         * the connection up instead when the script is being stopped. */
        finish(c, c->res);
    }
}

static int cursor_close(lua_State *L)
{
    cursor_release(luaL_checkudata(L, 1, CURSOR_MT));
    return 0;
}

/* The iterator: the next row, or nil at the end. Raises on errors. */
static int l_rows_next(lua_State *L)
{
    struct cursor *k = luaL_checkudata(L, 1, CURSOR_MT);
    if (k->closed)
        return luaL_error(L, "bad argument #1 to 'rows' iterator (result was closed)");
    if (k->done)
        return lua_pushnil(L), 1;
    struct conn *c = k->conn;
    if (!c->db)
        return luaL_error(L, "bad argument #1 to 'rows' iterator (connection is closed)");
    if (c->serial != k->serial || !c->res)
        return luaL_error(L, "bad argument #1 to 'rows' iterator (result was closed)");
    bq_limits_check(L);
    struct bq_db_result *r = c->res;
    const struct bq_db_value *row;
    struct bq_db_error err;
    int rc = bq_db_result_fetch(r, &row, &err);
    if (rc < 0) {
        k->done = true;
        finish(c, r);
        return bq_db_raise(L, "rows", &err);
    }
    if (rc == 0) {
        k->done = true;
        finish(c, r);
        lua_pushnil(L);
        return 1;
    }
    bq_push_null(L);
    lua_getiuservalue(L, 1, 2);                                 /* cursor null names */
    push_row(L, row, bq_db_result_columns(r), lua_gettop(L), lua_gettop(L) - 1);
    return 1;
}

static const luaL_Reg cursor_meta[] = {
    { "__close", cursor_close },
    { "__gc", cursor_close },
    { NULL, NULL },
};

/* conn:rows(sql, ...) -> next, cursor, nil, cursor. May raise. */
static int l_conn_rows(lua_State *L)
{
    struct conn *c = check_open(L, "rows");
    struct cursor *k = lua_newuserdatauv(L, sizeof *k, 2);
    memset(k, 0, sizeof *k);
    k->done = true;
    bq_set_class(L, CURSOR_MT, NULL, cursor_meta);
    lua_insert(L, 2);                                           /* conn cursor sql ... */
    struct bq_db_result *r = start(L, c, 3, "rows");
    if (bq_db_result_columns(r) == 0) {
        bq_db_result_free(r);                                   /* no rows: an empty loop */
    } else {
        k->conn = c;
        k->serial = c->serial;
        k->done = false;
        c->res_iter = true;
    }
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, 2, 1);                                 /* keeps conn alive */
    if (!k->done) {
        push_columns(L, r);
        lua_setiuservalue(L, 2, 2);
    }
    lua_pushcfunction(L, l_rows_next);
    lua_pushvalue(L, 2);
    lua_pushnil(L);
    lua_pushvalue(L, 2);
    return 4;
}

/* --- export --------------------------------------------------------------------------- */

static const char *const export_options[] = {
    "format", "header", "part_size", "overwrite", "manifest", "sse", "kms_key_id", "params",
    "fields_terminated_by", "fields_enclosed_by", "optionally", "fields_escaped_by",
    "lines_starting_by", "lines_terminated_by", NULL,
};

/* Holds the C result while it is turned into Lua values, so a raise frees it. */
struct export_box {
    struct bq_export_result res;
};

static int export_box_gc(lua_State *L)
{
    struct export_box *b = luaL_checkudata(L, 1, EXPORT_MT);
    bq_export_result_free(&b->res);
    return 0;
}

static const luaL_Reg export_box_meta[] = {
    { "__gc", export_box_gc },
    { NULL, NULL },
};

static void opt_bytes(lua_State *L, int idx, const char *name, struct bq_outfile_str *out)
{
    int t = lua_getfield(L, idx, name);
    if (t != LUA_TNIL) {
        if (t != LUA_TSTRING)
            luaL_argerror(L, idx, lua_pushfstring(L, "option '%s' must be a string", name));
        out->s = lua_tolstring(L, -1, &out->len);  /* the options table keeps it alive */
    }
    lua_pop(L, 1);
}

/* The '?' parameters from opts.params (an array; .n counts trailing nils). */
static struct bq_db_value *export_params(lua_State *L, int idx, size_t *n)
{
    *n = 0;
    if (lua_getfield(L, idx, "params") == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    if (!lua_istable(L, -1))
        luaL_argerror(L, idx, "option 'params' must be an array");
    int pt = lua_gettop(L);     /* stays on the stack: it keeps the strings alive */
    lua_Integer count;
    if (lua_getfield(L, pt, "n") != LUA_TNIL) {
        int isint = 0;
        count = lua_tointegerx(L, -1, &isint);
        if (!isint || count < 0 || count > 65535)
            luaL_argerror(L, idx, "option 'params': n must be a count");
    } else {
        count = (lua_Integer)lua_rawlen(L, pt);
    }
    lua_pop(L, 1);
    struct bq_db_value *p = lua_newuserdatauv(L, (count ? (size_t)count : 1) * sizeof *p, 0);
    memset(p, 0, (count ? (size_t)count : 1) * sizeof *p);
    for (lua_Integer i = 0; i < count; i++) {
        int t = lua_rawgeti(L, pt, i + 1);
        switch (t) {
        case LUA_TNIL:
            p[i].type = BQ_DB_NULL;
            break;
        case LUA_TBOOLEAN:
            p[i].type = BQ_DB_INT;
            p[i].i = lua_toboolean(L, -1);
            break;
        case LUA_TNUMBER:
            if (lua_isinteger(L, -1)) {
                p[i].type = BQ_DB_INT;
                p[i].i = lua_tointeger(L, -1);
            } else {
                p[i].type = BQ_DB_DOUBLE;
                p[i].d = lua_tonumber(L, -1);
            }
            break;
        case LUA_TSTRING:
            p[i].type = BQ_DB_STRING;
            p[i].s = lua_tolstring(L, -1, &p[i].len);  /* params table keeps it */
            break;
        default:
            if (bq_is_null(L, -1)) {
                p[i].type = BQ_DB_NULL;
                break;
            }
            luaL_argerror(L, idx, lua_pushfstring(L, "params[%d]: expected string, number, boolean or db.null, got %s",
                                                  (int)i + 1, luaL_typename(L, -1)));
        }
        lua_pop(L, 1);
    }
    *n = (size_t)count;
    return p;
}

/* Raises the structured error for a failed export. */
static int export_raise(lua_State *L, const struct bq_export_error *err)
{
    if (err->kind == BQ_EXPORT_ERR_DB)
        return bq_db_raise(L, "export", &err->db);
    if (err->kind == BQ_EXPORT_ERR_USAGE)
        return luaL_error(L, "bad argument #3 to 'export' (%s)", err->message);
    if ((err->kind == BQ_EXPORT_ERR_S3 && err->s3.kind == BQ_HTTP_ERR_CANCELLED) || bq_cancelled())
        bq_limits_check(L);
    struct bq_error_info e = { .uri = err->uri[0] ? err->uri : NULL };
    if (err->kind == BQ_EXPORT_ERR_EXISTS) {
        e.code = "AlreadyExists";
        e.message = err->message;
    } else {
        e.code = err->s3.code[0] ? err->s3.code : NULL;
        e.message = err->s3.message;
        e.status = err->s3.status;
        e.retryable = err->s3.retryable;
        e.request_id = err->s3.request_id[0] ? err->s3.request_id : NULL;
    }
    return bq_raise_error(L, &e);
}

/* conn:export(sql, uri_prefix [, opts]) -> {rows=, bytes=, parts={uri...}}. May raise. */
static int l_conn_export(lua_State *L)
{
    struct conn *c = check_open(L, "export");
    size_t sql_len;
    const char *sql = luaL_checklstring(L, 2, &sql_len);
    const char *uri = luaL_checkstring(L, 3);
    lua_settop(L, 4);
    int oi = 4;
    if (!lua_isnil(L, oi))
        luaL_checktype(L, oi, LUA_TTABLE);
    else {
        lua_newtable(L);
        lua_replace(L, oi);
    }
    bq_check_options(L, oi, export_options);

    char *b = NULL, *k = NULL, *v = NULL, why[300];
    if (bq_s3_uri_parse(uri, &b, &k, &v, why, sizeof why) < 0)
        luaL_argerror(L, 3, lua_pushstring(L, why));
    const char *bucket = lua_pushstring(L, b), *prefix = lua_pushstring(L, k);  /* ... bucket prefix */
    bool versioned = v != NULL;
    free(b);
    free(k);
    free(v);
    if (versioned)
        luaL_argerror(L, 3, "a prefix takes no versionId");
    if (!*prefix)
        luaL_argerror(L, 3, "the prefix needs a key: s3://bucket/prefix");
    const struct bq_options *ho = bq_host(L)->opts;
    if (ho->allow_buckets) {
        bool allowed = false;
        for (size_t i = 0; i < ho->n_allow_buckets; i++)
            allowed = allowed || !strcmp(ho->allow_buckets[i], bucket);
        if (!allowed) {
            struct bq_error_info e = {
                .code = "AccessDenied",
                .message = lua_pushfstring(L, "bucket '%s' is not in the allowed buckets (--allow-bucket)", bucket),
                .status = 403,
                .uri = uri,
            };
            return bq_raise_error(L, &e);
        }
    }

    struct bq_outfile_opts fo;
    memset(&fo, 0, sizeof fo);
    struct bq_export_opts eo;
    memset(&eo, 0, sizeof eo);
    eo.format = &fo;
    const char *format = bq_db_opt_string(L, oi, "format", false);
    if (format && !strcmp(format, "csv"))
        fo.format = BQ_OUTFILE_CSV;
    else if (format && strcmp(format, "text") != 0)
        luaL_argerror(L, oi, "option 'format' must be \"text\" or \"csv\"");
    opt_bytes(L, oi, "fields_terminated_by", &fo.fields_terminated_by);
    opt_bytes(L, oi, "fields_enclosed_by", &fo.fields_enclosed_by);
    opt_bytes(L, oi, "fields_escaped_by", &fo.fields_escaped_by);
    opt_bytes(L, oi, "lines_starting_by", &fo.lines_starting_by);
    opt_bytes(L, oi, "lines_terminated_by", &fo.lines_terminated_by);
    int flag = 0;
    if (opt_bool(L, oi, "optionally", &flag))
        fo.optionally = flag;
    if (opt_bool(L, oi, "header", &flag))
        eo.header = flag;
    if (opt_bool(L, oi, "overwrite", &flag))
        eo.overwrite = flag;
    if (opt_bool(L, oi, "manifest", &flag))
        eo.manifest = flag;
    if (lua_getfield(L, oi, "part_size") != LUA_TNIL) {
        int isint = 0;
        lua_Integer ps = lua_tointegerx(L, -1, &isint);
        if (!isint || lua_type(L, -1) != LUA_TNUMBER || ps < 1 || (uint64_t)ps > BQ_EXPORT_PART_SIZE_MAX)
            luaL_argerror(L, oi, "option 'part_size' must be an integer from 1 byte to 5 TiB");
        eo.part_size = (uint64_t)ps;
    }
    lua_pop(L, 1);
    eo.sse = bq_db_opt_string(L, oi, "sse", false);
    if (eo.sse && strcmp(eo.sse, "AES256") != 0 && strcmp(eo.sse, "aws:kms") != 0)
        luaL_argerror(L, oi, "option 'sse' must be \"AES256\" or \"aws:kms\"");
    eo.kms_key_id = bq_db_opt_string(L, oi, "kms_key_id", false);
    if (eo.kms_key_id && (!eo.sse || strcmp(eo.sse, "aws:kms") != 0))
        luaL_argerror(L, oi, "option 'kms_key_id' needs sse = \"aws:kms\"");
    eo.params = export_params(L, oi, &eo.nparams);
    /* Checked here so a usage error raises before anything is listed. */
    struct bq_outfile *probe = bq_outfile_new(&fo, why, sizeof why);
    if (!probe)
        luaL_argerror(L, oi, lua_pushstring(L, why));
    bq_outfile_free(probe);

    /* A result that query() left behind when it raised half-way is dropped. */
    if (c->res && !c->res_iter) {
        struct bq_db_result *old = c->res;
        c->res = NULL;
        c->serial++;
        bq_db_result_free(old);
    }
    bq_limits_check(L);
    struct export_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    memset(box, 0, sizeof *box);
    bq_set_class(L, EXPORT_MT, NULL, export_box_meta);         /* ... box */
    struct bq_export_error err;
    if (bq_export_run(c->db, bq_s3_service(ho), sql, sql_len, bucket, prefix, &eo, &box->res, &err) < 0) {
        if (err.kind == BQ_EXPORT_ERR_DB && err.db.kind == BQ_DB_ERR_USAGE)
            return luaL_error(L, "bad argument #1 to 'export' (%s)", err.db.message);
        return export_raise(L, &err);
    }
    lua_createtable(L, 0, 3);                                   /* ... box result */
    lua_pushinteger(L, (lua_Integer)box->res.rows);
    lua_setfield(L, -2, "rows");
    lua_pushinteger(L, (lua_Integer)box->res.bytes);
    lua_setfield(L, -2, "bytes");
    lua_createtable(L, (int)box->res.nparts, 0);
    for (size_t i = 0; i < box->res.nparts; i++) {
        lua_pushstring(L, box->res.parts[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "parts");
    bq_export_result_free(&box->res);
    return 1;
}

/* --- conn:exec with Aurora's INTO OUTFILE S3 ------------------------------------------ */

/* Holds the parsed clause, so a raise frees it. */
struct osql_box {
    struct bq_osql o;
};

static int osql_box_gc(lua_State *L)
{
    struct osql_box *b = luaL_checkudata(L, 1, OSQL_MT);
    bq_osql_free(&b->o);
    return 0;
}

static const luaL_Reg osql_box_meta[] = {
    { "__gc", osql_box_gc },
    { NULL, NULL },
};

/* Whether the server is Aurora: SELECT @@aurora_version succeeds. Asked once
 * per connection; a server error (unknown variable) means "not Aurora", a
 * client error (lost connection, cancelled) raises. */
static bool conn_is_aurora(lua_State *L, struct conn *c)
{
    if (c->aurora)
        return c->aurora == 2;
    if (c->res && !c->res_iter) {
        struct bq_db_result *old = c->res;
        c->res = NULL;
        c->serial++;
        bq_db_result_free(old);
    }
    bq_limits_check(L);
    static const char q[] = "SELECT @@aurora_version";
    struct bq_db_error err;
    struct bq_db_result *r = bq_db_run(c->db, q, sizeof q - 1, NULL, 0, &err);
    if (!r) {
        if (err.kind != BQ_DB_ERR_SQL || err.errnum >= 2000)
            return bq_db_raise(L, "exec", &err), false;
        c->aurora = 1;
        return false;
    }
    const struct bq_db_value *row;
    int rc;
    while ((rc = bq_db_result_fetch(r, &row, &err)) == 1)
        ;
    bq_db_result_free(r);
    if (rc < 0)
        return bq_db_raise(L, "exec", &err), false;
    c->aurora = 2;
    return true;
}

static void osql_set_str(lua_State *L, const struct bq_osql_str *v, const char *name)
{
    if (v->s) {
        lua_pushlstring(L, v->s, v->len);
        lua_setfield(L, -2, name);
    }
}

/* For conn:exec: -1 when the statement at 2 has no INTO OUTFILE S3 clause or
 * the server is Aurora (the caller sends it as written). Otherwise runs
 * conn:export(the SELECT without the clause, the URI, the clause's options,
 * params = the exec's extra arguments) and returns 2 results: the rows
 * exported (as the server's INTO OUTFILE reports them in affected_rows) and
 * 0. May raise: a malformed clause, an unsupported CHARACTER SET, and
 * everything conn:export raises. */
static int exec_outfile_s3(lua_State *L, struct conn *c)
{
    size_t len;
    const char *sql = luaL_checklstring(L, 2, &len);
    int top = lua_gettop(L);
    struct osql_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    bq_set_class(L, OSQL_MT, NULL, osql_box_meta);             /* ... box */
    char why[300];
    int rc = bq_osql_parse(sql, len, &b->o, why, sizeof why);
    if (rc == 0 || conn_is_aurora(L, c)) {
        bq_osql_free(&b->o);
        lua_settop(L, top);
        return -1;
    }
    if (rc < 0)
        return luaL_argerror(L, 2, why);
    const struct bq_osql *o = &b->o;
    if (o->charset) {
        static const char *const ok_cs[] = { "utf8mb4", "utf8mb3", "utf8", "binary", NULL };
        bool good = false;
        for (size_t i = 0; ok_cs[i]; i++)
            good = good || !strcasecmp(o->charset, ok_cs[i]);
        if (!good)
            return luaL_argerror(L, 2, lua_pushfstring(L, "INTO OUTFILE S3: CHARACTER SET %s is not supported "
                                                          "client-side (rows are written as the connection's "
                                                          "text: utf8mb4 or binary)", o->charset));
    }
    if (o->region)
        bq_log(BQ_LOG_DEBUG, "INTO OUTFILE S3: s3-%s:// is exported to %s (the bucket's region is found by the "
               "S3 layer)", o->region, o->uri);
    lua_pushcfunction(L, l_conn_export);
    lua_pushvalue(L, 1);
    lua_pushlstring(L, sql, o->sql_len);
    lua_pushstring(L, o->uri);
    lua_createtable(L, 0, 12);
    if (o->csv) {
        lua_pushliteral(L, "csv");
        lua_setfield(L, -2, "format");
    }
    if (o->header) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "header");
    }
    osql_set_str(L, &o->fields_terminated_by, "fields_terminated_by");
    osql_set_str(L, &o->fields_enclosed_by, "fields_enclosed_by");
    osql_set_str(L, &o->fields_escaped_by, "fields_escaped_by");
    osql_set_str(L, &o->lines_starting_by, "lines_starting_by");
    osql_set_str(L, &o->lines_terminated_by, "lines_terminated_by");
    if (o->optionally) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "optionally");
    }
    if (o->manifest >= 0) {
        lua_pushboolean(L, o->manifest);
        lua_setfield(L, -2, "manifest");
    }
    if (o->overwrite >= 0) {
        lua_pushboolean(L, o->overwrite);
        lua_setfield(L, -2, "overwrite");
    }
    if (o->encryption == BQ_OSQL_ENC_SSE_S3 || o->encryption == BQ_OSQL_ENC_SSE_KMS) {
        lua_pushstring(L, o->encryption == BQ_OSQL_ENC_SSE_S3 ? "AES256" : "aws:kms");
        lua_setfield(L, -2, "sse");
    }
    if (o->kms_key_id) {
        lua_pushstring(L, o->kms_key_id);
        lua_setfield(L, -2, "kms_key_id");
    }
    if (top > 2) {
        lua_createtable(L, top - 2, 1);
        for (int i = 3; i <= top; i++) {
            lua_pushvalue(L, i);
            lua_rawseti(L, -2, i - 2);
        }
        lua_pushinteger(L, top - 2);
        lua_setfield(L, -2, "n");
        lua_setfield(L, -2, "params");
    }
    lua_call(L, 4, 1);                                          /* ... box result */
    lua_getfield(L, -1, "rows");
    lua_pushinteger(L, 0);
    return 2;
}

static const luaL_Reg conn_methods[] = {
    { "query", l_conn_query },
    { "rows", l_conn_rows },
    { "exec", l_conn_exec },
    { "export", l_conn_export },
    { "close", l_conn_close },
    { NULL, NULL },
};

static const luaL_Reg conn_meta[] = {
    { "__close", conn_gc },
    { "__gc", conn_gc },
    { "__tostring", conn_tostring },
    { NULL, NULL },
};

/* db.query(conn_opts, sql, ...) -> rows: connect, query, close. May raise. */
static int l_db_query(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkstring(L, 2);
    int top = lua_gettop(L);
    struct conn *c = connect_at(L, 1, "db.query");
    /* conn on top (maybe above a region string): closed however we leave */
    lua_toclose(L, -1);
    int conn_idx = lua_gettop(L);
    /* Arrange sql and the parameters above the connection. */
    for (int i = 2; i <= top; i++)
        lua_pushvalue(L, i);
    struct bq_db_result *r = start(L, c, conn_idx + 1, "db.query");
    push_all_rows(L, c, r, "db.query");
    lua_closeslot(L, conn_idx);
    return 1;
}

static const luaL_Reg db_funcs[] = {
    { "connect", l_db_connect },
    { "query", l_db_query },
    { NULL, NULL },
};

int bq_open_db(lua_State *L)
{
    luaL_newlib(L, db_funcs);
    bq_push_null(L);
    lua_setfield(L, -2, "null");
    return 1;
}
