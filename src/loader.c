#include "loader.h"
#include "bind.h"
#include "limit.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <openssl/evp.h>

void bq_loader_describe(const struct bq_options *o, struct bq_host *host)
{
    host->script_dir = NULL;
    switch (o->kind) {
    case BQ_SCRIPT_CODE:
        host->script_name = "(command line)";
        break;
    case BQ_SCRIPT_STDIN:
        host->script_name = "-";
        break;
    case BQ_SCRIPT_S3: {
        /* the BUCKET KEY form names it as s3://BUCKET/KEY too */
        static char uri[1200];
        snprintf(uri, sizeof uri, "s3://%s/%s", o->s3_bucket, o->s3_key);
        host->script_name = uri;
        break;
    }
    case BQ_SCRIPT_FILE:
        host->script_name = o->script;
        break;
    }
    if (o->kind == BQ_SCRIPT_FILE) {
        /* require looks beside the script; resolve the folder once, links and all */
        char *slash = strrchr(o->script, '/');
        char *dir = slash ? bq_xstrndup(o->script, slash == o->script ? 1 : (size_t)(slash - o->script))
                          : bq_xstrdup(".");
        char real[PATH_MAX];
        if (realpath(dir, real))
            host->script_dir = bq_xstrdup(real);
        free(dir);
    }
}

/* Streams the source into lua_load: hashes every byte, skips a first line
 * that starts with '#' (a shebang), as lua.c does, keeping line numbers. */
struct reader {
    FILE *f;
    const char *mem;          /* -e CODE */
    size_t memlen;
    bool mem_done, first;
    EVP_MD_CTX *sha;
    char buf[16384];
};

static const char *read_chunk(lua_State *L, void *ud, size_t *size)
{
    (void)L;
    struct reader *r = ud;
    const char *p;
    size_t n;
    if (r->mem) {
        if (r->mem_done)
            return NULL;
        r->mem_done = true;
        p = r->mem;
        n = r->memlen;
    } else {
        n = fread(r->buf, 1, sizeof r->buf, r->f);
        if (n == 0)
            return NULL;
        p = r->buf;
    }
    if (r->sha)
        EVP_DigestUpdate(r->sha, p, n);
    if (r->first) {
        r->first = false;
        if (n && p[0] == '#') {
            const char *nl = memchr(p, '\n', n);
            if (!nl) {
                /* A shebang longer than one read: drop the rest of the line. */
                int c;
                while (r->f && (c = fgetc(r->f)) != EOF) {
                    char ch = (char)c;
                    if (r->sha)
                        EVP_DigestUpdate(r->sha, &ch, 1);
                    if (ch == '\n')
                        break;
                }
                *size = 1;
                return "\n";
            }
            n -= (size_t)(nl - p);
            p = nl;                           /* keep the newline: line 2 stays line 2 */
        }
    }
    *size = n;
    return p;
}

static void drain(struct reader *r)
{
    size_t dummy;
    while (read_chunk(NULL, r, &dummy))
        ;
}

static int load_failed(const char *name, const char *why)
{
    bq_log_fatal("cannot load %s: %s", name, why);
    return 3;
}

int bq_loader_load(lua_State *L, const struct bq_options *o)
{
    const char *name = o->kind == BQ_SCRIPT_CODE ? "(command line)"
                     : o->kind == BQ_SCRIPT_STDIN ? "stdin" : o->script;
    struct reader r = { .first = true };
    char chunkname[PATH_MAX + 2];
    char *s3data = NULL;                  /* a script fetched from S3 */
    if (o->kind == BQ_SCRIPT_S3) {
        char why[600];
        size_t len;
        snprintf(chunkname, sizeof chunkname, "@s3://%s/%s", o->s3_bucket, o->s3_key);
        name = chunkname + 1;
        if (bq_s3_fetch(o, o->s3_bucket, o->s3_key, o->s3_version_id, &s3data, &len, why, sizeof why,
                        NULL) < 0)
            return load_failed(name, why);
        r.mem = s3data;
        r.memlen = len;
        if (len && s3data[0] == '#') {    /* a shebang: keep the line count, as for files */
            const char *nl = memchr(s3data, '\n', len);
            r.mem = nl ? nl : s3data + len;
            r.memlen = nl ? len - (size_t)(nl - s3data) : 0;
        }
        r.first = false;
        bq_s3_install_sibling_loader();
    } else if (o->kind == BQ_SCRIPT_CODE) {
        r.mem = o->script;
        r.memlen = strlen(o->script);
        r.first = false;
        snprintf(chunkname, sizeof chunkname, "=(command line)");
    } else if (o->kind == BQ_SCRIPT_STDIN) {
        r.f = stdin;
        snprintf(chunkname, sizeof chunkname, "=stdin");
    } else {
        r.f = fopen(o->script, "rb");
        if (!r.f)
            return load_failed(name, strerror(errno));
        struct stat st;
        if (fstat(fileno(r.f), &st) == 0 && S_ISDIR(st.st_mode)) {
            fclose(r.f);
            return load_failed(name, "is a directory");
        }
        snprintf(chunkname, sizeof chunkname, "@%s", o->script);
    }
    /* The start line below names the script's SHA-256: hash when it will be
     * printed or checked, not for every -e '' (OpenSSL's first use costs
     * start-up time). */
    const char *task_id = bq_task_id();
    bool log_start = o->kind == BQ_SCRIPT_S3 || task_id ||
                     (o->kind != BQ_SCRIPT_CODE && bq_log_enabled(BQ_LOG_DEBUG));
    if (o->sha256 || log_start) {
        r.sha = EVP_MD_CTX_new();
        if (!r.sha || !EVP_DigestInit_ex(r.sha, EVP_sha256(), NULL)) {
            if (r.f && r.f != stdin)
                fclose(r.f);
            EVP_MD_CTX_free(r.sha);
            free(s3data);
            return load_failed(name, "cannot compute SHA-256");
        }
        if (s3data && r.mem != s3data)   /* the shebang line skipped above still counts */
            EVP_DigestUpdate(r.sha, s3data, (size_t)(r.mem - s3data));
    }

    int st = lua_load(L, read_chunk, &r, chunkname, "t");
    int rc = 0;
    char hex[65] = "";
    if (r.sha) {
        drain(&r);        /* a syntax error stops the parser early: hash it all */
        unsigned char md[32];
        unsigned mdlen = 0;
        EVP_DigestFinal_ex(r.sha, md, &mdlen);
        EVP_MD_CTX_free(r.sha);
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        if (o->sha256 && strcasecmp(hex, o->sha256) != 0) {
            bq_log_fatal("cannot load %s: SHA-256 mismatch (expected %s, got %s)",
                   name, o->sha256, hex);
            rc = 3;
        }
    }
    free(s3data);                         /* lua_load and the hash are done with it */
    bool read_error = r.f && ferror(r.f);
    if (r.f && r.f != stdin)
        fclose(r.f);
    if (rc) {
        lua_pop(L, 1);
        return rc;
    }
    if (read_error) {
        lua_pop(L, 1);
        return load_failed(name, "read error");
    }
    if (st == LUA_ERRMEM || bq_limits_memory_refused()) {
        char why[160];
        bq_cancel_set(BQ_CANCEL_MEMORY);
        bq_log_fatal("cannot load %s: %s", name, bq_limits_describe(why, sizeof why));
        lua_pop(L, 1);
        return 4;
    }
    if (st != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (msg && strstr(msg, "attempt to load a binary chunk"))
            rc = load_failed(name, "precompiled (binary) chunks are refused; give the Lua source");
        else
            rc = load_failed(name, msg ? msg : "unknown error");
        lua_pop(L, 1);
        return rc;
    }
    /* Once at start: what runs, byte for byte, and where (the ECS task ARN).
     * Info in a container (a script from S3, or an ECS task); debug for a
     * local file, whose user knows what they started; -e code has no URI
     * and logs it only inside ECS. */
    if (log_start)
        bq_log(o->kind == BQ_SCRIPT_S3 || task_id ? BQ_LOG_INFO : BQ_LOG_DEBUG, "running %s sha256=%s task=%s",
               name, hex, task_id ? task_id : "-");
    return 0;
}
