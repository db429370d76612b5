/* s3: the script's S3 binding (SPEC §3 s3) over the plain-C service in s3.c.
 * C strings and buffers that must survive a Lua error live in userdata with
 * a __gc, so a raise never leaks them. */
#include "bind.h"
#include "limit.h"
#include "log.h"
#include "s3.h"
#include "sandbox.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#define LINES_CHUNK (1u << 20)

/* One service per process (one script state), made from the options on first use. */
static struct bq_s3 *service;

/* Seconds the watchdog's hard stop may spend aborting the uploads that
 * cleanup did not reach, before the process ends. */
#define HARD_STOP_ABORT_SECONDS 2.5

static void abort_uploads_at_hard_stop(void)
{
    bq_s3_abort_open_uploads(HARD_STOP_ABORT_SECONDS);
}

struct bq_s3 *bq_s3_service(const struct bq_options *o)
{
    if (!service) {
        bool https = true, loopback = false;
        char e[200];
        if (o->endpoint && *o->endpoint)
            bq_endpoint_parse(o->endpoint, &https, &loopback, e, sizeof e);
        struct bq_s3_config cfg = {
            .region = o->region,
            .endpoint = o->endpoint,
            .path_style = o->path_style,
            .ca_bundle = o->ca_bundle,
            /* the CLI refused plain http unless loopback or --insecure-endpoint */
            .allow_http = !https && (loopback || o->insecure_endpoint),
            .root = o->s3_root,
        };
        service = bq_s3_new(&cfg);
        bq_limits_on_hard_stop(abort_uploads_at_hard_stop);
    }
    return service;
}

static struct bq_s3 *svc(lua_State *L) { return bq_s3_service(bq_host(L)->opts); }

/* --- errors ------------------------------------------------------------------------ */

/* Raises the structured error for a failed call. May raise the limit sentinel. */
static int raise_s3(lua_State *L, const struct bq_s3_error *e, const char *bucket, const char *key)
{
    if (e->kind == BQ_HTTP_ERR_CANCELLED || bq_cancelled())
        bq_limits_check(L);
    const char *uri = lua_pushfstring(L, "s3://%s/%s", bucket, key ? key : "");
    struct bq_error_info info = {
        .code = e->code[0] ? e->code : NULL,
        .message = e->message,
        .status = e->status,
        .retryable = e->retryable,
        .request_id = e->request_id[0] ? e->request_id : NULL,
        .uri = uri,
    };
    return bq_raise_error(L, &info);
}

/* --- targets: s3://bucket/key or (bucket, key) ---------------------------------------- */

static void check_bucket_allowed(lua_State *L, const char *bucket, const char *key)
{
    const struct bq_options *o = bq_host(L)->opts;
    if (!o->allow_buckets)
        return;
    for (size_t i = 0; i < o->n_allow_buckets; i++)
        if (!strcmp(o->allow_buckets[i], bucket))
            return;
    const char *uri = lua_pushfstring(L, "s3://%s/%s", bucket, key ? key : "");
    struct bq_error_info info = {
        .code = "AccessDenied",
        .message = lua_pushfstring(L, "bucket '%s' is not in the allowed buckets (--allow-bucket)", bucket),
        .status = 403,
        .uri = uri,
    };
    bq_raise_error(L, &info);
}

struct target {
    const char *bucket, *key, *version_id;
    int next;                 /* index of the first argument after the target */
};

/* Reads the target at idx and leaves bucket, key, version strings on the
 * stack (they back the pointers). May raise. */
static struct target check_target(lua_State *L, int idx)
{
    struct target t = { 0 };
    size_t len;
    const char *a = luaL_checklstring(L, idx, &len);
    if (strlen(a) != len)
        luaL_argerror(L, idx, "contains a NUL byte");
    if (!strncmp(a, "s3://", 5)) {
        char *b, *k, *v, err[300];
        if (bq_s3_uri_parse(a, &b, &k, &v, err, sizeof err) < 0)
            luaL_argerror(L, idx, lua_pushstring(L, err));
        t.bucket = lua_pushstring(L, b);
        t.key = lua_pushstring(L, k);
        t.version_id = v ? lua_pushstring(L, v) : NULL;
        free(b);
        free(k);
        free(v);
        t.next = idx + 1;
    } else {
        size_t klen;
        const char *k = luaL_checklstring(L, idx + 1, &klen);
        if (!bq_bucket_name_valid(a))
            luaL_argerror(L, idx, lua_pushfstring(L, "invalid bucket name '%s'", a));
        if (strlen(k) != klen)
            luaL_argerror(L, idx + 1, "the key contains a NUL byte");
        if (klen == 0 || klen > 1024)
            luaL_argerror(L, idx + 1, "the key must be 1 to 1024 bytes");
        t.bucket = a;
        t.key = k;
        t.next = idx + 2;
    }
    check_bucket_allowed(L, t.bucket, t.key);
    return t;
}

static const char *opt_string(lua_State *L, int idx, const char *name)
{
    if (lua_isnoneornil(L, idx))
        return NULL;
    lua_getfield(L, idx, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_argerror(L, idx, lua_pushfstring(L, "option '%s' must be a string", name));
    return lua_tostring(L, -1);           /* left on the stack: it backs the pointer */
}

/* --- a C buffer owned by a userdata ---------------------------------------------------- */

struct box {
    struct bq_buf b;
    size_t cap;               /* refuse to grow past this */
    bool over;
};

static int box_gc(lua_State *L)
{
    struct box *x = lua_touserdata(L, 1);
    bq_buf_free(&x->b);
    return 0;
}

static struct box *new_box(lua_State *L)
{
    struct box *x = lua_newuserdatauv(L, sizeof *x, 0);
    memset(x, 0, sizeof *x);
    static const luaL_Reg meta[] = { { "__gc", box_gc }, { NULL, NULL } };
    bq_set_class(L, "bqlua.s3.buffer", NULL, meta);
    /* a get cannot hold more than the Lua heap could take anyway */
    uint64_t capb = bq_limits_memory_cap(), used = bq_limits_memory_used();
    x->cap = capb > used ? (size_t)(capb - used) : 0;
    return x;
}

static int box_sink(const char *data, size_t len, void *ud)
{
    struct box *x = ud;
    if (x->b.len + len > x->cap || bq_buf_append(&x->b, data, len) < 0) {
        x->over = true;
        return -1;
    }
    return 0;
}

/* --- s3.get / s3.head / s3.put / s3.delete ------------------------------------------- */

static const char *const get_options[] = { "version_id", "range", NULL };

static int l_s3_get(lua_State *L)
{
    lua_settop(L, 3);                       /* what check_target pushes goes above */
    struct target t = check_target(L, 1);
    bq_check_options(L, t.next, get_options);
    const char *vid = opt_string(L, t.next, "version_id");
    const char *range = opt_string(L, t.next, "range");
    if (!vid)
        vid = t.version_id;
    struct box *x = new_box(L);
    struct bq_s3_error err;
    if (bq_s3_get(svc(L), t.bucket, t.key, vid, range, NULL, box_sink, x, NULL, NULL, &err) < 0) {
        if (x->over) {
            snprintf(err.code, sizeof err.code, "EntityTooLarge");
            snprintf(err.message, sizeof err.message,
                     "the object does not fit in the memory left under --memory-limit; "
                     "read it with s3.lines or a range");
            err.retryable = false;
        }
        return raise_s3(L, &err, t.bucket, t.key);
    }
    lua_pushlstring(L, x->b.data ? x->b.data : "", x->b.len);
    bq_buf_free(&x->b);
    return 1;
}

static void push_meta(lua_State *L, const struct bq_s3_meta *m)
{
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)m->size);
    lua_setfield(L, -2, "size");
    lua_pushstring(L, m->etag);
    lua_setfield(L, -2, "etag");
    lua_pushstring(L, m->content_type);
    lua_setfield(L, -2, "content_type");
    lua_pushstring(L, m->last_modified);
    lua_setfield(L, -2, "last_modified");
    lua_createtable(L, 0, (int)m->n_metadata);
    for (size_t i = 0; i < m->n_metadata; i++) {
        lua_pushstring(L, m->metadata[i].value);
        lua_setfield(L, -2, m->metadata[i].name);
    }
    lua_setfield(L, -2, "metadata");
}

static int push_meta_protected(lua_State *L)
{
    push_meta(L, lua_touserdata(L, 1));
    return 1;
}

static int l_s3_head(lua_State *L)
{
    lua_settop(L, 3);                       /* what check_target pushes goes above */
    struct target t = check_target(L, 1);
    bq_check_options(L, t.next, get_options + 0);
    const char *vid = opt_string(L, t.next, "version_id");
    if (!vid)
        vid = t.version_id;
    struct bq_s3_meta m;
    struct bq_s3_error err;
    int rc = bq_s3_head(svc(L), t.bucket, t.key, vid, &m, &err);
    if (rc < 0)
        return raise_s3(L, &err, t.bucket, t.key);
    if (rc == 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushcfunction(L, push_meta_protected);
    lua_pushlightuserdata(L, &m);
    int st = lua_pcall(L, 1, 1, 0);
    bq_s3_meta_free(&m);
    if (st != LUA_OK)
        return lua_error(L);
    return 1;
}

static const char *const put_options[] = { "content_type", "metadata", "sse", "kms_key_id",
                                           "storage_class", NULL };
static const char *const writer_options[] = { "content_type", "metadata", "sse", "kms_key_id",
                                              "storage_class", "part_size", NULL };

/* Reads put options at idx into o; metadata goes into a userdata array kept on the stack. */
static void check_put_opts(lua_State *L, int idx, struct bq_s3_put_opts *o)
{
    memset(o, 0, sizeof *o);
    if (lua_isnoneornil(L, idx))
        return;
    idx = lua_absindex(L, idx);
    o->content_type = opt_string(L, idx, "content_type");
    o->sse = opt_string(L, idx, "sse");
    if (o->sse && strcmp(o->sse, "AES256") != 0 && strcmp(o->sse, "aws:kms") != 0)
        luaL_argerror(L, idx, "option 'sse' must be \"AES256\" or \"aws:kms\"");
    o->kms_key_id = opt_string(L, idx, "kms_key_id");
    if (o->kms_key_id && (!o->sse || strcmp(o->sse, "aws:kms") != 0))
        luaL_argerror(L, idx, "option 'kms_key_id' needs sse = \"aws:kms\"");
    o->storage_class = opt_string(L, idx, "storage_class");
    lua_getfield(L, idx, "metadata");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_argerror(L, idx, "option 'metadata' must be a table of strings");
    int mt = lua_gettop(L);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, mt)) {
        n++;
        lua_pop(L, 1);
    }
    if (n > 40)
        luaL_argerror(L, idx, "too many metadata entries");
    struct bq_http_header *h = lua_newuserdatauv(L, (n ? n : 1) * sizeof *h, 0);
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, mt)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, idx, "option 'metadata' must map strings to strings");
        const char *k = lua_tostring(L, -2), *v = lua_tostring(L, -1);
        for (const char *p = k; *p; p++)
            if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
                  *p == '-' || *p == '_'))
                luaL_argerror(L, idx, lua_pushfstring(L, "invalid metadata name '%s'", k));
        for (const char *p = v; *p; p++)
            if (*p == '\r' || *p == '\n')
                luaL_argerror(L, idx, "metadata values cannot hold line breaks");
        h[i++] = (struct bq_http_header){ k, v };   /* the table keeps the strings alive */
        lua_pop(L, 1);
    }
    o->metadata = h;
    o->n_metadata = n;
}

static int l_s3_put(lua_State *L)
{
    lua_settop(L, 4);                       /* what check_target pushes goes above */
    struct target t = check_target(L, 1);
    size_t len;
    const char *body = luaL_checklstring(L, t.next, &len);
    bq_check_options(L, t.next + 1, put_options);
    struct bq_s3_put_opts o;
    check_put_opts(L, t.next + 1, &o);
    char etag[80];
    struct bq_s3_error err;
    if (bq_s3_put(svc(L), t.bucket, t.key, body, len, &o, etag, &err) < 0)
        return raise_s3(L, &err, t.bucket, t.key);
    lua_pushstring(L, etag);
    return 1;
}

static int l_s3_delete(lua_State *L)
{
    lua_settop(L, 2);                       /* what check_target pushes goes above */
    struct target t = check_target(L, 1);
    struct bq_s3_error err;
    if (bq_s3_delete(svc(L), t.bucket, t.key, &err) < 0)
        return raise_s3(L, &err, t.bucket, t.key);
    lua_pushboolean(L, 1);
    return 1;
}

/* --- s3.list ------------------------------------------------------------------------ */

struct lister {
    char *bucket, *prefix;
    struct bq_s3_list_page page;
    size_t i;
    bool started;
};

static int lister_gc(lua_State *L)
{
    struct lister *s = lua_touserdata(L, 1);
    bq_s3_list_page_free(&s->page);
    free(s->bucket);
    free(s->prefix);
    s->bucket = s->prefix = NULL;
    return 0;
}

static int list_next(lua_State *L)
{
    struct lister *s = lua_touserdata(L, lua_upvalueindex(1));
    while (s->i >= s->page.n) {
        if (s->started && !s->page.truncated)
            return 0;
        char *token = s->page.next_token;
        s->page.next_token = NULL;
        bq_s3_list_page_free(&s->page);
        s->i = 0;
        struct bq_s3_error err;
        int rc = bq_s3_list_page(svc(L), s->bucket, s->prefix, token, &s->page, &err);
        free(token);
        if (rc < 0) {
            /* stay failed: a later call must not restart from the first page */
            s->started = true;
            s->page.truncated = true;
            return raise_s3(L, &err, s->bucket, s->prefix);
        }
        s->started = true;
    }
    const struct bq_s3_object *o = &s->page.objects[s->i++];
    lua_createtable(L, 0, 4);
    lua_pushstring(L, o->key);
    lua_setfield(L, -2, "key");
    lua_pushinteger(L, (lua_Integer)o->size);
    lua_setfield(L, -2, "size");
    lua_pushstring(L, o->etag ? o->etag : "");
    lua_setfield(L, -2, "etag");
    lua_pushstring(L, o->last_modified ? o->last_modified : "");
    lua_setfield(L, -2, "last_modified");
    return 1;
}

static int l_s3_list(lua_State *L)
{
    lua_settop(L, 1);
    size_t len;
    const char *u = luaL_checklstring(L, 1, &len);
    if (strlen(u) != len || strncmp(u, "s3://", 5) != 0)
        return luaL_argerror(L, 1, "expected s3://BUCKET[/PREFIX]");
    const char *b = u + 5, *slash = strchr(b, '/');
    size_t blen = slash ? (size_t)(slash - b) : strlen(b);
    const char *bucket = lua_pushlstring(L, b, blen);
    if (!bq_bucket_name_valid(bucket))
        return luaL_argerror(L, 1, lua_pushfstring(L, "invalid bucket name '%s'", bucket));
    const char *prefix = slash ? slash + 1 : "";
    check_bucket_allowed(L, bucket, prefix);
    struct lister *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    static const luaL_Reg meta[] = { { "__gc", lister_gc }, { NULL, NULL } };
    bq_set_class(L, "bqlua.s3.lister", NULL, meta);
    s->bucket = bq_xstrdup(bucket);
    s->prefix = bq_xstrdup(prefix);
    lua_pushcclosure(L, list_next, 1);
    return 1;
}

/* --- s3.lines --------------------------------------------------------------------------- */

struct liner {
    char *bucket, *key, *version_id;
    char etag[80];
    uint64_t offset, total;
    bool eof, started, failed;
    struct bq_s3_error err;
    struct bq_buf buf;
    size_t pos;               /* start of the unread part of buf */
};

static int liner_gc(lua_State *L)
{
    struct liner *s = lua_touserdata(L, 1);
    bq_buf_free(&s->buf);
    free(s->bucket);
    free(s->key);
    free(s->version_id);
    s->bucket = s->key = s->version_id = NULL;
    return 0;
}

static int liner_sink(const char *data, size_t len, void *ud)
{
    struct liner *s = ud;
    s->offset += len;
    return bq_buf_append(&s->buf, data, len);
}

static int lines_next(lua_State *L)
{
    struct liner *s = lua_touserdata(L, lua_upvalueindex(1));
    if (s->failed)
        return raise_s3(L, &s->err, s->bucket, s->key);
    for (;;) {
        const char *start = s->buf.data + s->pos;
        size_t avail = s->buf.len - s->pos;
        const char *nl = avail ? memchr(start, '\n', avail) : NULL;
        if (nl) {
            lua_pushlstring(L, start, (size_t)(nl - start));
            s->pos += (size_t)(nl - start) + 1;
            return 1;
        }
        if (s->eof) {
            if (!avail)
                return 0;
            lua_pushlstring(L, start, avail);
            s->pos = s->buf.len;
            return 1;
        }
        if (!s->started) {
            /* size and ETag first: no range is ever asked past the end (an
             * empty object), and later chunks must come from this version */
            struct bq_s3_meta hm;
            struct bq_s3_error err;
            int hr = bq_s3_head(svc(L), s->bucket, s->key, s->version_id, &hm, &err);
            if (hr == 0) {
                memset(&err, 0, sizeof err);
                err.kind = BQ_HTTP_ERR_HTTP;
                err.status = 404;
                snprintf(err.code, sizeof err.code, "NoSuchKey");
                snprintf(err.message, sizeof err.message, "The specified key does not exist.");
            }
            if (hr <= 0) {
                s->failed = true;
                s->err = err;
                return raise_s3(L, &s->err, s->bucket, s->key);
            }
            s->started = true;
            s->total = hm.size;
            snprintf(s->etag, sizeof s->etag, "%s", hm.etag);
            bq_s3_meta_free(&hm);
            if (s->total == 0)
                s->eof = true;
            continue;
        }
        /* keep the partial line, fetch the next chunk */
        if (avail)   /* an empty buffer may have no data pointer at all */
            memmove(s->buf.data, start, avail);
        s->buf.len = avail;
        s->pos = 0;
        char range[64];
        snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)s->offset,
                 (unsigned long long)(s->offset + LINES_CHUNK - 1));
        struct bq_s3_meta m;
        struct bq_s3_error err;
        uint64_t total = 0;
        int rc = bq_s3_get(svc(L), s->bucket, s->key, s->version_id, range, s->etag[0] ? s->etag : NULL,
                           liner_sink, s, &m, &total, &err);
        if (rc < 0) {
            s->failed = true;           /* stay failed: later calls raise the same error */
            s->err = err;
            return raise_s3(L, &s->err, s->bucket, s->key);
        }
        bq_s3_meta_free(&m);
        if (total)
            s->total = total;
        if (s->offset >= s->total)
            s->eof = true;
    }
}

static int l_s3_lines(lua_State *L)
{
    lua_settop(L, 2);                       /* what check_target pushes goes above */
    struct target t = check_target(L, 1);
    struct liner *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    static const luaL_Reg meta[] = { { "__gc", liner_gc }, { NULL, NULL } };
    bq_set_class(L, "bqlua.s3.lines", NULL, meta);
    s->bucket = bq_xstrdup(t.bucket);
    s->key = bq_xstrdup(t.key);
    s->version_id = t.version_id ? bq_xstrdup(t.version_id) : NULL;
    lua_pushcclosure(L, lines_next, 1);
    return 1;
}

/* --- s3.writer ---------------------------------------------------------------------------- */

struct writer_ud {
    struct bq_s3_writer *w;   /* NULL once closed or aborted */
};

static struct writer_ud *check_writer(lua_State *L)
{
    return luaL_checkudata(L, 1, "bqlua.s3.writer");
}

static struct writer_ud *open_writer(lua_State *L)
{
    struct writer_ud *u = check_writer(L);
    if (!u->w)
        luaL_argerror(L, 1, "the writer is closed");
    return u;
}

/* Logs how an abort went: an upload left behind costs money until a
 * lifecycle rule or an operator removes it, so say which one. */
static void log_abort(struct bq_s3_writer *w, const char *why)
{
    const struct bq_s3_error *ae = bq_s3_writer_abort_error(w);
    if (ae)
        bq_log(BQ_LOG_ERROR, "s3.writer s3://%s/%s %s; could not abort upload %s (%s: %s)",
               bq_s3_writer_bucket(w), bq_s3_writer_key(w), why, bq_s3_writer_upload_id(w),
               ae->code, ae->message);
    else
        bq_log(BQ_LOG_WARN, "s3.writer s3://%s/%s %s; upload aborted", bq_s3_writer_bucket(w),
               bq_s3_writer_key(w), why);
}

/* Fails the writer (its upload is aborted already) and raises. */
static int writer_failed(lua_State *L, struct writer_ud *u, const struct bq_s3_error *err)
{
    struct bq_s3_writer *w = u->w;
    u->w = NULL;
    lua_pushstring(L, bq_s3_writer_bucket(w));
    lua_pushstring(L, bq_s3_writer_key(w));
    char why[100];
    snprintf(why, sizeof why, "failed (%s)", err->code);
    log_abort(w, why);
    bq_s3_writer_free(w);
    return raise_s3(L, err, lua_tostring(L, -2), lua_tostring(L, -1));
}

static int l_writer_write(lua_State *L)
{
    struct writer_ud *u = open_writer(L);
    int n = lua_gettop(L);
    for (int i = 2; i <= n; i++) {
        size_t len;
        const char *p = luaL_checklstring(L, i, &len);
        struct bq_s3_error err;
        if (bq_s3_writer_write(u->w, p, len, &err) < 0)
            return writer_failed(L, u, &err);
    }
    lua_settop(L, 1);
    return 1;
}

static int l_writer_close(lua_State *L)
{
    struct writer_ud *u = open_writer(L);
    struct bq_s3_writer_result res;
    struct bq_s3_error err;
    if (bq_s3_writer_close(u->w, &res, &err) < 0)
        return writer_failed(L, u, &err);
    bq_s3_writer_free(u->w);
    u->w = NULL;
    lua_createtable(L, 0, 3);
    lua_pushstring(L, res.etag);
    lua_setfield(L, -2, "etag");
    lua_pushinteger(L, (lua_Integer)res.size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, res.parts);
    lua_setfield(L, -2, "parts");
    return 1;
}

static void abort_and_log(struct writer_ud *u, const char *why)
{
    struct bq_s3_writer *w = u->w;
    u->w = NULL;
    bq_s3_writer_abort(w);
    if (why || bq_s3_writer_abort_error(w))
        log_abort(w, why ? why : "abort()");
    bq_s3_writer_free(w);
}

static int l_writer_abort(lua_State *L)
{
    struct writer_ud *u = check_writer(L);
    if (u->w)
        abort_and_log(u, NULL);
    return 0;
}

/* <close>: complete on a normal exit, abort when the scope ends by an error. */
static int l_writer_closemeta(lua_State *L)
{
    struct writer_ud *u = check_writer(L);
    if (!u->w)
        return 0;
    if (!lua_isnil(L, 2)) {
        abort_and_log(u, "left by an error");
        return 0;
    }
    lua_settop(L, 1);
    return l_writer_close(L);
}

static int l_writer_gc(lua_State *L)
{
    struct writer_ud *u = lua_touserdata(L, 1);
    if (u->w)
        abort_and_log(u, "collected without close()");
    return 0;
}

static int l_writer_tostring(lua_State *L)
{
    struct writer_ud *u = check_writer(L);
    if (u->w)
        lua_pushfstring(L, "s3.writer (s3://%s/%s)", bq_s3_writer_bucket(u->w), bq_s3_writer_key(u->w));
    else
        lua_pushliteral(L, "s3.writer (closed)");
    return 1;
}

static int l_s3_writer(lua_State *L)
{
    lua_settop(L, 3);                       /* what check_target pushes goes above */
    struct target t = check_target(L, 1);
    bq_check_options(L, t.next, writer_options);
    struct bq_s3_put_opts o;
    check_put_opts(L, t.next, &o);
    size_t part_size = BQ_S3_PART_SIZE_DEFAULT;
    if (!lua_isnoneornil(L, t.next)) {
        lua_getfield(L, t.next, "part_size");
        if (!lua_isnil(L, -1)) {
            int isint;
            lua_Integer ps = lua_tointegerx(L, -1, &isint);
            if (!isint || ps < (lua_Integer)BQ_S3_PART_SIZE_MIN || (uint64_t)ps > BQ_S3_PART_SIZE_MAX)
                luaL_argerror(L, t.next, "option 'part_size' must be an integer from 5 MiB to 5 GiB");
            part_size = (size_t)ps;
        }
        lua_pop(L, 1);
    }
    if (t.version_id)
        luaL_argerror(L, 1, "a writer cannot take a versionId");
    struct writer_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->w = NULL;
    static const luaL_Reg methods[] = {
        { "write", l_writer_write },
        { "close", l_writer_close },
        { "abort", l_writer_abort },
        { NULL, NULL },
    };
    static const luaL_Reg meta[] = {
        { "__close", l_writer_closemeta },
        { "__gc", l_writer_gc },
        { "__tostring", l_writer_tostring },
        { NULL, NULL },
    };
    bq_set_class(L, "bqlua.s3.writer", methods, meta);
    struct bq_s3_error err;
    u->w = bq_s3_writer_new(svc(L), t.bucket, t.key, &o, part_size, &err);
    if (!u->w)
        return raise_s3(L, &err, t.bucket, t.key);
    return 1;
}

/* --- scripts and sibling modules from S3 ----------------------------------------------------- */

int bq_s3_fetch(const struct bq_options *o, const char *bucket, const char *key, const char *version_id,
                char **data, size_t *len, char *errbuf, size_t errlen, bool *absent)
{
    struct bq_s3_error err;
    struct box x = { .cap = SIZE_MAX };
    *data = NULL;
    *len = 0;
    if (absent)
        *absent = false;
    if (bq_s3_get(bq_s3_service(o), bucket, key, version_id, NULL, NULL, box_sink, &x, NULL, NULL, &err) < 0) {
        bq_buf_free(&x.b);
        if (absent)
            *absent = err.status == 404 && !strcmp(err.code, "NoSuchKey");
        snprintf(errbuf, errlen, "%s: %s", err.code, err.message);
        return -1;
    }
    *data = x.b.data ? x.b.data : bq_xstrdup("");
    *len = x.b.len;
    return 0;
}

/* require "a.b" for a script from S3: s3://BUCKET/PREFIX/a/b.lua, where
 * PREFIX is the script key's folder; relpath never holds '..' (sandbox.c). */
static int s3_sibling_loader(lua_State *L, const char *name, const char *relpath)
{
    (void)name;
    const struct bq_options *o = bq_host(L)->opts;
    const char *slash = strrchr(o->s3_key, '/');
    luaL_Buffer kb;
    luaL_buffinit(L, &kb);
    if (slash)
        luaL_addlstring(&kb, o->s3_key, (size_t)(slash - o->s3_key) + 1);
    luaL_addstring(&kb, relpath);
    luaL_pushresult(&kb);
    const char *key = lua_tostring(L, -1);
    struct box *x = new_box(L);
    struct bq_s3_error err;
    if (bq_s3_get(svc(L), o->s3_bucket, key, NULL, NULL, NULL, box_sink, x, NULL, NULL, &err) < 0) {
        if (err.status == 404 && !strcmp(err.code, "NoSuchKey"))
            return 0;
        return raise_s3(L, &err, o->s3_bucket, key);
    }
    const char *chunkname = lua_pushfstring(L, "@s3://%s/%s", o->s3_bucket, key);
    if (luaL_loadbufferx(L, x->b.data ? x->b.data : "", x->b.len, chunkname, "t") != LUA_OK)
        return lua_error(L);
    return 1;
}

void bq_s3_install_sibling_loader(void) { bq_sandbox_set_sibling_loader(s3_sibling_loader); }

static const luaL_Reg s3_funcs[] = {
    { "get", l_s3_get },
    { "head", l_s3_head },
    { "put", l_s3_put },
    { "delete", l_s3_delete },
    { "list", l_s3_list },
    { "lines", l_s3_lines },
    { "writer", l_s3_writer },
    { NULL, NULL },
};

int bq_open_s3(lua_State *L)
{
    luaL_newlib(L, s3_funcs);
    return 1;
}
