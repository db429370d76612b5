/* s3: addressing, signing, retries and the S3 operations (see s3.h). */
#include "s3.h"
#include "credentials.h"
#include "log.h"
#include "retry.h"
#include "s3_local.h"
#include "sigv4.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum { MAX_REGIONS = 32, MAX_HDRS = 48 };
/* A cleanup request while the process winds down (a limit, SIGTERM): one
 * quick retry, so that cleanup fits in BQ_LIMITS_CLEANUP_GRACE (limit.h). */
enum { CLEANUP_ATTEMPTS = 2, CLEANUP_PAUSE_MS = 100 };

struct bq_s3 {
    struct bq_s3_config cfg;          /* strings owned */
    pthread_mutex_t mu;               /* guards regions */
    struct { char *bucket, *region; } regions[MAX_REGIONS];
    int nregions;
};

static char *dup_or_null(const char *s) { return s ? bq_xstrdup(s) : NULL; }

struct bq_s3 *bq_s3_new(const struct bq_s3_config *cfg)
{
    struct bq_s3 *s3 = bq_xcalloc(1, sizeof *s3);
    s3->cfg = *cfg;
    s3->cfg.region = dup_or_null(cfg->region && *cfg->region ? cfg->region : "us-east-1");
    s3->cfg.endpoint = dup_or_null(cfg->endpoint && *cfg->endpoint ? cfg->endpoint : NULL);
    s3->cfg.ca_bundle = dup_or_null(cfg->ca_bundle);
    s3->cfg.root = dup_or_null(cfg->root && *cfg->root ? cfg->root : NULL);
    pthread_mutex_init(&s3->mu, NULL);
    return s3;
}

void bq_s3_free(struct bq_s3 *s3)
{
    if (!s3)
        return;
    free((char *)s3->cfg.region);
    free((char *)s3->cfg.endpoint);
    free((char *)s3->cfg.ca_bundle);
    free((char *)s3->cfg.root);
    for (int i = 0; i < s3->nregions; i++) {
        free(s3->regions[i].bucket);
        free(s3->regions[i].region);
    }
    pthread_mutex_destroy(&s3->mu);
    free(s3);
}

bool bq_s3_is_local(const struct bq_s3 *s3) { return s3->cfg.root != NULL; }
bool bq_s3_is_tls(const struct bq_s3 *s3)
{
    const char *ep = s3->cfg.endpoint;
    return !s3->cfg.root && (!ep || !strncasecmp(ep, "https://", 8));
}
const char *bq_s3_root(const struct bq_s3 *s3) { return s3->cfg.root; }

/* The region to use for bucket: one learned from a redirect, else the default. */
static void bucket_region(struct bq_s3 *s3, const char *bucket, char *out, size_t outlen)
{
    pthread_mutex_lock(&s3->mu);
    snprintf(out, outlen, "%s", s3->cfg.region);
    for (int i = 0; i < s3->nregions; i++)
        if (!strcmp(s3->regions[i].bucket, bucket))
            snprintf(out, outlen, "%s", s3->regions[i].region);
    pthread_mutex_unlock(&s3->mu);
}

static void learn_region(struct bq_s3 *s3, const char *bucket, const char *region)
{
    pthread_mutex_lock(&s3->mu);
    int i;
    for (i = 0; i < s3->nregions; i++)
        if (!strcmp(s3->regions[i].bucket, bucket))
            break;
    if (i == s3->nregions) {
        if (i == MAX_REGIONS) {          /* forget the oldest */
            free(s3->regions[0].bucket);
            free(s3->regions[0].region);
            memmove(&s3->regions[0], &s3->regions[1], sizeof s3->regions[0] * (MAX_REGIONS - 1));
            i = MAX_REGIONS - 1;
        } else {
            s3->nregions++;
        }
        s3->regions[i].bucket = bq_xstrdup(bucket);
        s3->regions[i].region = NULL;
    }
    free(s3->regions[i].region);
    s3->regions[i].region = bq_xstrdup(region);
    pthread_mutex_unlock(&s3->mu);
}

/* --- addressing ------------------------------------------------------------------ */

static bool region_ok(const char *r)
{
    if (!*r || strlen(r) > 40)
        return false;
    for (const char *p = r; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
            return false;
    return true;
}

int bq_s3_build_url(const struct bq_s3_config *cfg, const char *region, const char *bucket,
                    const char *key, char **url, char **host)
{
    struct bq_buf u = { 0 }, h = { 0 };
    *url = *host = NULL;
    if (!region_ok(region))
        return -1;
    const char *ep = cfg->endpoint && *cfg->endpoint ? cfg->endpoint : NULL;
    bool virt = !ep && !cfg->path_style && !strchr(bucket, '.');
    int rc = 0;
    if (ep) {
        const char *auth = strstr(ep, "://");
        if (!auth)
            return -1;
        bool https = !strncasecmp(ep, "https", 5);
        auth += 3;
        size_t alen = strcspn(auth, "/?#");
        const char *path = auth + alen;
        size_t plen = strcspn(path, "?#");
        while (plen > 0 && path[plen - 1] == '/')
            plen--;
        /* Host as curl sends it: the default port left out */
        size_t hlen = alen;
        const char *dflt = https ? ":443" : ":80";
        size_t dl = strlen(dflt);
        if (alen > dl && !memcmp(auth + alen - dl, dflt, dl))
            hlen = alen - dl;
        rc |= bq_buf_append(&h, auth, hlen);
        rc |= bq_buf_printf(&u, "%s://", https ? "https" : "http");
        rc |= bq_buf_append(&u, auth, alen);
        rc |= bq_buf_append(&u, path, plen);
    } else if (virt) {
        rc |= bq_buf_printf(&h, "%s.s3.%s.amazonaws.com", bucket, region);
        rc |= bq_buf_printf(&u, "https://%s", bq_buf_cstr(&h));
    } else {
        rc |= bq_buf_printf(&h, "s3.%s.amazonaws.com", region);
        rc |= bq_buf_printf(&u, "https://%s", bq_buf_cstr(&h));
    }
    if (!virt)
        rc |= bq_buf_printf(&u, "/%s", bucket);
    if (key) {
        rc |= bq_buf_append(&u, "/", 1);
        rc |= bq_sigv4_uri_encode(&u, key, strlen(key), true);
    } else if (virt) {
        rc |= bq_buf_append(&u, "/", 1);
    }
    if (rc) {
        bq_buf_free(&u);
        bq_buf_free(&h);
        return -1;
    }
    bq_buf_cstr(&u);
    bq_buf_cstr(&h);
    *url = u.data;
    *host = h.data;
    return 0;
}

/* --- errors ---------------------------------------------------------------------- */

static void set_err(struct bq_s3_error *e, enum bq_http_err_kind kind, long status, const char *code,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void set_err(struct bq_s3_error *e, enum bq_http_err_kind kind, long status, const char *code,
                    const char *fmt, ...)
{
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->status = status;
    snprintf(e->code, sizeof e->code, "%s", code ? code : bq_http_err_kind_name(kind));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

static const char *status_code_name(long status, bool head)
{
    switch (status) {
    case 301: return "PermanentRedirect";
    case 307: return "TemporaryRedirect";
    case 400: return "BadRequest";
    case 403: return head ? "Forbidden" : "AccessDenied";
    case 404: return head ? "NotFound" : "NoSuchKey";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 412: return "PreconditionFailed";
    case 416: return "InvalidRange";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    default: return NULL;
    }
}

/* --- one S3 call, with retries ----------------------------------------------------- */

struct get_state {                    /* a streamed GET that may be retried midway */
    bq_s3_sink_fn sink;
    void *ud;
    uint64_t delivered, skip;
    char etag[80];
};

struct call {
    const char *method, *bucket, *key;
    struct bq_sigv4_kv query[6];
    size_t nquery;
    struct bq_sigv4_kv hdrs[MAX_HDRS];
    size_t nhdrs;
    const void *body;
    size_t body_len;
    bq_http_read_fn read_fn;          /* instead of body: body_len bytes from here */
    bq_http_seek_fn seek_fn;
    void *read_ud;
    int max_attempts;                 /* 0: bq_retry_max_attempts() */
    bool (*give_up)(void *);          /* see struct bq_http_request */
    void *give_up_ud;
    const char *payload_hash;         /* NULL: computed here */
    struct get_state *get;
    bool error_in_200;                /* CompleteMultipartUpload */
    bool cleanup;                     /* aborts and undo deletes: go out even when cancelled */
};

static void add_hdr(struct call *c, const char *name, const char *value)
{
    if (c->nhdrs < MAX_HDRS && value)
        c->hdrs[c->nhdrs++] = (struct bq_sigv4_kv){ name, value };
}

static int get_sink(const char *data, size_t len, void *ud)
{
    struct get_state *g = ud;
    if (g->skip) {
        size_t n = g->skip < len ? (size_t)g->skip : len;
        g->skip -= n;
        data += n;
        len -= n;
    }
    if (!len)
        return 0;
    g->delivered += len;
    return g->sink(data, len, g->ud);
}

static const char *uri_for(const struct call *c, char *buf, size_t len)
{
    snprintf(buf, len, "s3://%s/%s", c->bucket, c->key ? c->key : "");
    return buf;
}

/* Fills err from an error answer. Returns true when it is a wrong-region
 * redirect naming another region (copied into region_out). */
static bool answer_error(const struct call *c, const struct bq_http_response *resp, const char *region,
                         char *region_out, size_t rlen, struct bq_s3_error *err)
{
    struct bq_s3_xml_error x;
    memset(&x, 0, sizeof x);
    if (resp->body_len)
        bq_s3_xml_parse_error(resp->body, resp->body_len, &x);
    const char *code = x.code[0] ? x.code : status_code_name(resp->status, !strcmp(c->method, "HEAD"));
    char ucode[24];
    if (!code) {
        snprintf(ucode, sizeof ucode, "HTTP%ld", resp->status);
        code = ucode;
    }
    set_err(err, BQ_HTTP_ERR_HTTP, resp->status, code, "%s", x.message[0] ? x.message : code);
    const char *rid = x.request_id[0] ? x.request_id : bq_http_response_header(resp, "x-amz-request-id");
    snprintf(err->request_id, sizeof err->request_id, "%s", rid ? rid : "");
    err->retryable = bq_retry_is_retryable(BQ_HTTP_ERR_HTTP, resp->status, code);
    const char *br = bq_http_response_header(resp, "x-amz-bucket-region");
    if ((resp->status == 301 || resp->status == 307 || resp->status == 400) && br && region_ok(br) &&
        strcmp(br, region) != 0) {
        snprintf(region_out, rlen, "%s", br);
        return true;
    }
    return false;
}

/* After a failed attempt: true (having waited) when another is due. A
 * cleanup call while the process winds down gets one quick retry: the
 * ordinary back-off ends early on a cancellation, and cleanup has little time. */
static bool retry_again(const struct call *c, int attempt, int max, const struct bq_s3_error *err)
{
    if (c->cleanup && bq_cancelled()) {
        if (attempt >= CLEANUP_ATTEMPTS || !bq_retry_is_retryable(err->kind, err->status, err->code))
            return false;
        struct timespec ts = { 0, CLEANUP_PAUSE_MS * 1000L * 1000L };
        nanosleep(&ts, NULL);
        return true;
    }
    return bq_retry_should_retry(attempt, max, err->kind, err->status, err->code) &&
           bq_retry_sleep(attempt);
}

/* Performs c with signing and retries. On success (2xx) returns 0 with resp
 * filled (free it). On failure -1, err filled, resp freed. */
static int s3_call(struct bq_s3 *s3, struct call *c, struct bq_http_response *resp, struct bq_s3_error *err)
{
    char hash[65];
    const char *payload_hash = c->payload_hash;
    if (!payload_hash) {
        if (bq_sigv4_sha256_hex(c->body ? c->body : "", c->body ? c->body_len : 0, hash) < 0) {
            set_err(err, BQ_HTTP_ERR_INTERNAL, 0, NULL, "cannot hash the request body");
            return -1;
        }
        payload_hash = hash;
    }
    if (c->key) {
        /* libcurl folds "." and ".." segments out of a URL path: such a key
         * would name another object (and fail its signature). Refuse it. */
        for (const char *p = c->key;;) {
            size_t n = strcspn(p, "/");
            if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
                set_err(err, BQ_HTTP_ERR_CONFIG, 0, "InvalidArgument",
                        "keys with '.' or '..' segments are not supported");
                return -1;
            }
            if (!p[n])
                break;
            p += n + 1;
        }
    }
    char region[48];
    bucket_region(s3, c->bucket, region, sizeof region);
    bool redirected = false;
    int max = c->max_attempts ? c->max_attempts : bq_retry_max_attempts();
    memset(resp, 0, sizeof *resp);

    for (int attempt = 1;; attempt++) {
        char *url = NULL, *host = NULL;
        struct bq_buf full = { 0 };
        struct bq_creds cr;
        struct bq_sigv4_result sig;
        struct bq_http_error he;
        memset(&cr, 0, sizeof cr);
        memset(&sig, 0, sizeof sig);
        memset(&he, 0, sizeof he);
        bool retry = false;

        if (bq_s3_build_url(&s3->cfg, region, c->bucket, c->key, &url, &host) < 0) {
            set_err(err, BQ_HTTP_ERR_CONFIG, 0, "InvalidRequest", "cannot build the URL for s3://%s", c->bucket);
            return -1;
        }
        if (bq_creds_get(bq_creds_default(), 300, &cr, &he) != 0) {
            set_err(err, he.kind ? he.kind : BQ_HTTP_ERR_CONFIG, 0, "NoCredentials", "%s",
                    he.message[0] ? he.message : "no AWS credentials found");
            free(url);
            free(host);
            return -1;
        }
        /* sign: Host + the call's headers */
        struct bq_sigv4_kv sh[MAX_HDRS + 2];
        size_t nsh = 0;
        sh[nsh++] = (struct bq_sigv4_kv){ "Host", host };
        char ifmatch[80];
        for (size_t i = 0; i < c->nhdrs; i++)
            sh[nsh++] = c->hdrs[i];
        if (c->get) {
            c->get->skip = c->get->delivered;
            if (c->get->delivered && c->get->etag[0]) {
                snprintf(ifmatch, sizeof ifmatch, "%s", c->get->etag);
                sh[nsh++] = (struct bq_sigv4_kv){ "If-Match", ifmatch };
            }
        }
        struct bq_sigv4_request sreq = {
            .method = c->method,
            .path = strchr(strstr(url, "://") + 3, '/') ? strchr(strstr(url, "://") + 3, '/') : "/",
            .query = c->query,
            .nquery = c->nquery,
            .headers = sh,
            .nheaders = nsh,
            .payload_hash = payload_hash,
            .service = "s3",
            .region = region,
            .time = time(NULL),
        };
        struct bq_sigv4_creds sc = { cr.access_key_id, cr.secret_access_key, cr.session_token };
        struct bq_sigv4_options opt = BQ_SIGV4_OPTIONS_S3;
        int src = bq_sigv4_sign_headers(&sreq, &sc, &opt, &sig);
        bq_creds_clear(&cr);
        if (src < 0) {
            set_err(err, BQ_HTTP_ERR_INTERNAL, 0, "InternalError", "cannot sign the request");
            free(url);
            free(host);
            return -1;
        }
        bq_buf_append(&full, url, strlen(url));
        if (c->nquery) {
            bq_buf_append(&full, "?", 1);
            bq_sigv4_encode_query(&full, c->query, c->nquery);
        }
        struct bq_http_header hh[MAX_HDRS + 2 + BQ_SIGV4_MAX_ADD];
        size_t nh = 0;
        for (size_t i = 0; i < nsh; i++)
            hh[nh++] = (struct bq_http_header){ sh[i].name, sh[i].value ? sh[i].value : "" };
        for (size_t i = 0; i < sig.nadd; i++)
            hh[nh++] = (struct bq_http_header){ sig.add[i].name, sig.add[i].value };
        struct bq_http_request hreq = {
            .method = c->method,
            .url = bq_buf_cstr(&full),
            .headers = hh,
            .n_headers = nh,
            .body = c->body,
            .body_len = c->body || c->read_fn ? (int64_t)c->body_len : 0,
            .read_fn = c->read_fn,
            .seek_fn = c->seek_fn,
            .read_ud = c->read_ud,
            .write_fn = c->get ? get_sink : NULL,
            .write_ud = c->get,
            .allow_http = s3->cfg.allow_http,
            .ca_bundle = s3->cfg.ca_bundle,
            .cleanup = c->cleanup,
            .give_up = c->give_up,
            .give_up_ud = c->give_up_ud,
        };
        bq_http_response_free(resp);
        int prc = bq_http_perform(NULL, &hreq, resp, &he);
        bq_sigv4_result_free(&sig);
        bq_buf_free(&full);
        free(url);
        free(host);

        char u[300];
        if (prc < 0) {
            set_err(err, he.kind, he.status, NULL, "%s %s: %s", c->method, uri_for(c, u, sizeof u), he.message);
            err->retryable = bq_retry_is_retryable(he.kind, 0, NULL);
            if (he.kind == BQ_HTTP_ERR_INTERNAL && c->get && c->get->delivered)
                err->retryable = false;             /* the sink refused */
            retry = err->retryable;
        } else if (resp->status >= 200 && resp->status < 300) {
            struct bq_s3_xml_error x;
            if (c->error_in_200 && bq_s3_xml_parse_error(resp->body, resp->body_len, &x) == 1) {
                set_err(err, BQ_HTTP_ERR_HTTP, resp->status, x.code[0] ? x.code : "InternalError",
                        "%s", x.message[0] ? x.message : x.code);
                snprintf(err->request_id, sizeof err->request_id, "%s", x.request_id);
                err->retryable = bq_retry_is_retryable(BQ_HTTP_ERR_HTTP, 500, err->code);
                retry = err->retryable;
            } else {
                if (c->get && !c->get->etag[0]) {
                    const char *et = bq_http_response_header(resp, "etag");
                    if (et)
                        snprintf(c->get->etag, sizeof c->get->etag, "%s", et);
                }
                return 0;
            }
        } else {
            char nr[48];
            if (answer_error(c, resp, region, nr, sizeof nr, err) && !redirected && !c->read_fn) {
                /* the bucket lives elsewhere: once, in its region, without counting an attempt */
                redirected = true;
                learn_region(s3, c->bucket, nr);
                snprintf(region, sizeof region, "%s", nr);
                attempt--;
                continue;
            }
            retry = err->retryable;
        }
        if (he.kind == BQ_HTTP_ERR_CANCELLED || !retry || !retry_again(c, attempt, max, err)) {
            bq_http_response_free(resp);
            return -1;
        }
    }
}

/* --- object metadata from response headers ----------------------------------------- */

void bq_s3_meta_free(struct bq_s3_meta *m)
{
    for (size_t i = 0; i < m->n_metadata; i++) {
        free((char *)m->metadata[i].name);
        free((char *)m->metadata[i].value);
    }
    free(m->metadata);
    memset(m, 0, sizeof *m);
}

static void meta_from(const struct bq_http_response *r, struct bq_s3_meta *m)
{
    memset(m, 0, sizeof *m);
    const char *v;
    if ((v = bq_http_response_header(r, "content-length")))
        m->size = strtoull(v, NULL, 10);
    if ((v = bq_http_response_header(r, "etag")))
        snprintf(m->etag, sizeof m->etag, "%s", v);
    if ((v = bq_http_response_header(r, "content-type")))
        snprintf(m->content_type, sizeof m->content_type, "%s", v);
    if ((v = bq_http_response_header(r, "last-modified")))
        snprintf(m->last_modified, sizeof m->last_modified, "%s", v);
    for (size_t i = 0; i < r->n_headers; i++) {
        if (strncasecmp(r->headers[i].name, "x-amz-meta-", 11) != 0)
            continue;
        struct bq_http_header *nm = realloc(m->metadata, (m->n_metadata + 1) * sizeof *nm);
        if (!nm)
            break;
        m->metadata = nm;
        char *name = bq_xstrdup(r->headers[i].name + 11);
        for (char *p = name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        m->metadata[m->n_metadata++] = (struct bq_http_header){ name, bq_xstrdup(r->headers[i].value) };
    }
}

/* --- operations --------------------------------------------------------------------- */

int bq_s3_get(struct bq_s3 *s3, const char *bucket, const char *key, const char *version_id,
              const char *range, const char *if_match, bq_s3_sink_fn sink, void *ud,
              struct bq_s3_meta *meta, uint64_t *total, struct bq_s3_error *err)
{
    if (s3->cfg.root)
        return bq_s3_local_get(s3->cfg.root, bucket, key, range, sink, ud, meta, total, err);
    struct get_state g = { .sink = sink, .ud = ud };
    struct call c = { .method = "GET", .bucket = bucket, .key = key, .get = &g };
    if (version_id)
        c.query[c.nquery++] = (struct bq_sigv4_kv){ "versionId", version_id };
    add_hdr(&c, "Range", range);
    if (if_match) {
        add_hdr(&c, "If-Match", if_match);
        snprintf(g.etag, sizeof g.etag, "%s", if_match);
    }
    struct bq_http_response resp;
    if (s3_call(s3, &c, &resp, err) < 0)
        return -1;
    struct bq_s3_meta m;
    meta_from(&resp, &m);
    if (total) {
        const char *cr = bq_http_response_header(&resp, "content-range");
        const char *slash = cr ? strrchr(cr, '/') : NULL;
        *total = slash && slash[1] != '*' ? strtoull(slash + 1, NULL, 10) : m.size;
    }
    if (meta)
        *meta = m;
    else
        bq_s3_meta_free(&m);
    bq_http_response_free(&resp);
    return 0;
}

int bq_s3_head(struct bq_s3 *s3, const char *bucket, const char *key, const char *version_id,
               struct bq_s3_meta *meta, struct bq_s3_error *err)
{
    if (s3->cfg.root)
        return bq_s3_local_head(s3->cfg.root, bucket, key, meta, err);
    struct call c = { .method = "HEAD", .bucket = bucket, .key = key };
    if (version_id)
        c.query[c.nquery++] = (struct bq_sigv4_kv){ "versionId", version_id };
    struct bq_http_response resp;
    if (s3_call(s3, &c, &resp, err) < 0) {
        if (err->status == 404) {
            /* absent; NoSuchBucket cannot be told apart without a body */
            memset(meta, 0, sizeof *meta);
            return 0;
        }
        return -1;
    }
    meta_from(&resp, meta);
    bq_http_response_free(&resp);
    return 1;
}

static void put_headers(struct call *c, const struct bq_s3_put_opts *o, struct bq_buf *names)
{
    if (!o)
        return;
    add_hdr(c, "Content-Type", o->content_type);
    add_hdr(c, "x-amz-server-side-encryption", o->sse);
    add_hdr(c, "x-amz-server-side-encryption-aws-kms-key-id", o->kms_key_id);
    add_hdr(c, "x-amz-storage-class", o->storage_class);
    /* "x-amz-meta-NAME\0" for each, in one buffer (no reallocation: sized first) */
    size_t need = 0;
    for (size_t i = 0; i < o->n_metadata; i++)
        need += 12 + strlen(o->metadata[i].name);
    names->data = bq_xmalloc(need + 1);
    names->cap = need + 1;
    for (size_t i = 0; i < o->n_metadata && c->nhdrs < MAX_HDRS; i++) {
        char *n = names->data + names->len;
        names->len += (size_t)sprintf(n, "x-amz-meta-%s", o->metadata[i].name) + 1;
        add_hdr(c, n, o->metadata[i].value);
    }
}

int bq_s3_put(struct bq_s3 *s3, const char *bucket, const char *key, const void *body, size_t len,
              const struct bq_s3_put_opts *opts, char etag[80], struct bq_s3_error *err)
{
    if (s3->cfg.root)
        return bq_s3_local_put(s3->cfg.root, bucket, key, body, len, etag, err);
    struct call c = { .method = "PUT", .bucket = bucket, .key = key, .body = body ? body : "",
                      .body_len = len };
    struct bq_buf names = { 0 };
    put_headers(&c, opts, &names);
    struct bq_http_response resp;
    int rc = s3_call(s3, &c, &resp, err);
    bq_buf_free(&names);
    if (rc < 0)
        return -1;
    const char *et = bq_http_response_header(&resp, "etag");
    if (etag)
        snprintf(etag, 80, "%s", et ? et : "");
    bq_http_response_free(&resp);
    return 0;
}

static int delete_object(struct bq_s3 *s3, const char *bucket, const char *key, bool cleanup,
                         struct bq_s3_error *err)
{
    if (s3->cfg.root)
        return bq_s3_local_delete(s3->cfg.root, bucket, key, err);
    struct call c = { .method = "DELETE", .bucket = bucket, .key = key, .cleanup = cleanup };
    struct bq_http_response resp;
    if (s3_call(s3, &c, &resp, err) < 0)
        return -1;
    bq_http_response_free(&resp);
    return 0;
}

int bq_s3_delete(struct bq_s3 *s3, const char *bucket, const char *key, struct bq_s3_error *err)
{
    return delete_object(s3, bucket, key, false, err);
}

int bq_s3_delete_cleanup(struct bq_s3 *s3, const char *bucket, const char *key, struct bq_s3_error *err)
{
    return delete_object(s3, bucket, key, true, err);
}

int bq_s3_list_page(struct bq_s3 *s3, const char *bucket, const char *prefix, const char *token,
                    struct bq_s3_list_page *page, struct bq_s3_error *err)
{
    if (s3->cfg.root)
        return bq_s3_local_list_page(s3->cfg.root, bucket, prefix, token, page, err);
    struct call c = { .method = "GET", .bucket = bucket };
    c.query[c.nquery++] = (struct bq_sigv4_kv){ "list-type", "2" };
    c.query[c.nquery++] = (struct bq_sigv4_kv){ "encoding-type", "url" };
    if (prefix && *prefix)
        c.query[c.nquery++] = (struct bq_sigv4_kv){ "prefix", prefix };
    if (token)
        c.query[c.nquery++] = (struct bq_sigv4_kv){ "continuation-token", token };
    struct bq_http_response resp;
    if (s3_call(s3, &c, &resp, err) < 0) {
        if (err->status == 404 && !strcmp(err->code, "NoSuchKey"))
            snprintf(err->code, sizeof err->code, "NoSuchBucket");
        return -1;
    }
    int rc = bq_s3_xml_parse_list(resp.body, resp.body_len, page);
    bq_http_response_free(&resp);
    if (rc < 0) {
        set_err(err, BQ_HTTP_ERR_PROTOCOL, 200, "InvalidResponse", "GET s3://%s/%s: malformed list answer",
                bucket, prefix ? prefix : "");
        return -1;
    }
    return 0;
}

int bq_s3_mpu_create(struct bq_s3 *s3, const char *bucket, const char *key,
                     const struct bq_s3_put_opts *opts, char **upload_id, struct bq_s3_error *err)
{
    struct call c = { .method = "POST", .bucket = bucket, .key = key, .body = "", .body_len = 0 };
    c.query[c.nquery++] = (struct bq_sigv4_kv){ "uploads", "" };
    struct bq_buf names = { 0 };
    put_headers(&c, opts, &names);
    struct bq_http_response resp;
    int rc = s3_call(s3, &c, &resp, err);
    bq_buf_free(&names);
    if (rc < 0)
        return -1;
    rc = bq_s3_xml_parse_initiate(resp.body, resp.body_len, upload_id);
    bq_http_response_free(&resp);
    if (rc < 0)
        set_err(err, BQ_HTTP_ERR_PROTOCOL, 200, "InvalidResponse", "POST s3://%s/%s?uploads: no UploadId",
                bucket, key);
    return rc;
}

/* UploadPart of c's body (c has bucket, key and the body, from memory or a
 * read callback): the part's ETag and, if md5_etag, whether S3 says that
 * ETag is the part's MD5 (not so with SSE-KMS or SSE-C). */
static int upload_part(struct bq_s3 *s3, struct call *c, const char *upload_id, int part_number, char etag[80],
                       bool *md5_etag, struct bq_s3_error *err)
{
    char pn[16];
    snprintf(pn, sizeof pn, "%d", part_number);
    c->method = "PUT";
    c->query[c->nquery++] = (struct bq_sigv4_kv){ "partNumber", pn };
    c->query[c->nquery++] = (struct bq_sigv4_kv){ "uploadId", upload_id };
    struct bq_http_response resp;
    if (s3_call(s3, c, &resp, err) < 0)
        return -1;
    const char *et = bq_http_response_header(&resp, "etag");
    snprintf(etag, 80, "%s", et ? et : "");
    if (md5_etag) {
        const char *sse = bq_http_response_header(&resp, "x-amz-server-side-encryption");
        *md5_etag = (!sse || !strcmp(sse, "AES256")) &&
                    !bq_http_response_header(&resp, "x-amz-server-side-encryption-customer-algorithm");
    }
    bq_http_response_free(&resp);
    if (!etag[0]) {
        set_err(err, BQ_HTTP_ERR_PROTOCOL, 200, "InvalidResponse", "UploadPart %d: no ETag", part_number);
        return -1;
    }
    return 0;
}

int bq_s3_mpu_upload_part(struct bq_s3 *s3, const char *bucket, const char *key, const char *upload_id,
                          int part_number, const void *data, size_t len, bool (*give_up)(void *),
                          void *give_up_ud, char etag[80], struct bq_s3_error *err)
{
    char hash[65];
    if (bq_sigv4_sha256_hex(data, len, hash) < 0) {
        set_err(err, BQ_HTTP_ERR_INTERNAL, 0, NULL, "cannot hash part %d", part_number);
        return -1;
    }
    struct call c = { .bucket = bucket, .key = key, .body = data ? data : "", .body_len = len,
                      .payload_hash = hash, .give_up = give_up, .give_up_ud = give_up_ud };
    return upload_part(s3, &c, upload_id, part_number, etag, NULL, err);
}

int bq_s3_mpu_upload_part_stream(struct bq_s3 *s3, const char *bucket, const char *key, const char *upload_id,
                                 int part_number, size_t len, bq_http_read_fn read_fn, bq_http_seek_fn seek_fn,
                                 void *ud, bool (*give_up)(void *), void *give_up_ud, char etag[80],
                                 bool *md5_etag, struct bq_s3_error *err)
{
    struct call c = { .bucket = bucket, .key = key, .body_len = len, .read_fn = read_fn, .seek_fn = seek_fn,
                      .read_ud = ud, .max_attempts = 1, .payload_hash = "UNSIGNED-PAYLOAD",
                      .give_up = give_up, .give_up_ud = give_up_ud };
    return upload_part(s3, &c, upload_id, part_number, etag, md5_etag, err);
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
         : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

bool bq_s3_etag_md5(const char *etag, unsigned char md5[16])
{
    size_t n = strlen(etag);
    if (n == 34 && etag[0] == '"' && etag[33] == '"') {
        etag++;
        n -= 2;
    }
    if (n != 32)
        return false;
    for (size_t j = 0; j < 16; j++) {
        int hi = hexval(etag[2 * j]), lo = hexval(etag[2 * j + 1]);
        if (hi < 0 || lo < 0)
            return false;
        md5[j] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

int bq_s3_multipart_etag(char (*etags)[80], int nparts, char etag[80])
{
    etag[0] = '\0';
    if (nparts < 1)
        return -1;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_md5(), NULL)) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    for (int i = 0; i < nparts; i++) {
        unsigned char d[16];
        if (!bq_s3_etag_md5(etags[i], d)) {     /* not an MD5 (SSE-KMS, SSE-C, another server) */
            EVP_MD_CTX_free(md);
            return -1;
        }
        EVP_DigestUpdate(md, d, sizeof d);
    }
    unsigned char d[16];
    unsigned dn = 0;
    int ok = EVP_DigestFinal_ex(md, d, &dn);
    EVP_MD_CTX_free(md);
    if (!ok || dn != 16)
        return -1;
    char *o = etag;
    *o++ = '"';
    for (int i = 0; i < 16; i++)
        o += sprintf(o, "%02x", d[i]);
    sprintf(o, "-%d\"", nparts);
    return 0;
}

/* A Complete answered NoSuchUpload: most likely an earlier attempt completed
 * the upload and its answer was lost (a broken connection, a timeout), as S3
 * answers a retried Complete of a finished upload with NoSuchUpload. Which
 * attempt that was cannot be told here: libcurl itself resends a request
 * whose reused connection died before any answer, so even our first attempt
 * may be a retry. The object at the key proves it when its ETag is the one
 * these parts make (it then holds exactly these parts' bytes). 0 (etag
 * filled) or -1 (err, still NoSuchUpload, says why not). */
static int verify_completed(struct bq_s3 *s3, const char *bucket, const char *key, const char *upload_id,
                            char (*etags)[80], int nparts, char etag[80], struct bq_s3_error *err)
{
    char want[80], why[sizeof err->message];
    struct bq_s3_meta m;
    struct bq_s3_error he;
    int hrc = -1;
    if (bq_s3_multipart_etag(etags, nparts, want) < 0) {
        snprintf(why, sizeof why, "the part ETags are not MD5s, so the object cannot be checked");
    } else if ((hrc = bq_s3_head(s3, bucket, key, NULL, &m, &he)) < 0) {
        snprintf(why, sizeof why, "HEAD failed: %s: %.200s", he.code, he.message);
    } else if (hrc == 0) {
        snprintf(why, sizeof why, "no object at the key");
    } else {
        bool same = !strcasecmp(m.etag, want);
        if (same)
            snprintf(etag, 80, "%s", m.etag);
        else
            snprintf(why, sizeof why, "the object there has ETag %s, not %s", m.etag, want);
        bq_s3_meta_free(&m);
        if (same) {
            bq_warn("CompleteMultipartUpload s3://%s/%s: NoSuchUpload, the answer to an earlier attempt was "
                    "lost; the object was verified by its ETag %s (that of the %d parts): upload %s completed",
                    bucket, key, want, nparts, upload_id);
            return 0;
        }
    }
    char rid[sizeof err->request_id];
    snprintf(rid, sizeof rid, "%s", err->request_id);
    set_err(err, BQ_HTTP_ERR_HTTP, 404, "NoSuchUpload",
            "CompleteMultipartUpload s3://%s/%s: NoSuchUpload, and the upload cannot be confirmed as "
            "completed by an earlier attempt whose answer was lost: %s", bucket, key, why);
    snprintf(err->request_id, sizeof err->request_id, "%s", rid);
    return -1;
}

int bq_s3_mpu_complete(struct bq_s3 *s3, const char *bucket, const char *key, const char *upload_id,
                       char (*etags)[80], int nparts, char etag[80], struct bq_s3_error *err)
{
    struct bq_buf x = { 0 };
    int rc = bq_buf_printf(&x, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (int i = 0; i < nparts; i++) {
        rc |= bq_buf_printf(&x, "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
        for (const char *p = etags[i]; *p; p++)
            rc |= *p == '&' ? bq_buf_printf(&x, "&amp;") : *p == '<' ? bq_buf_printf(&x, "&lt;")
                                                        : bq_buf_append(&x, p, 1);
        rc |= bq_buf_printf(&x, "</ETag></Part>");
    }
    rc |= bq_buf_printf(&x, "</CompleteMultipartUpload>");
    if (rc) {
        bq_buf_free(&x);
        set_err(err, BQ_HTTP_ERR_INTERNAL, 0, NULL, "out of memory");
        return -1;
    }
    struct call c = { .method = "POST", .bucket = bucket, .key = key, .body = x.data, .body_len = x.len,
                      .error_in_200 = true };
    c.query[c.nquery++] = (struct bq_sigv4_kv){ "uploadId", upload_id };
    add_hdr(&c, "Content-Type", "application/xml");
    struct bq_http_response resp;
    rc = s3_call(s3, &c, &resp, err);
    bq_buf_free(&x);
    if (rc < 0) {
        if (err->status == 404 && !strcmp(err->code, "NoSuchUpload"))
            return verify_completed(s3, bucket, key, upload_id, etags, nparts, etag, err);
        return -1;
    }
    char *et = NULL;
    struct bq_s3_xml_error xe;
    int prc = bq_s3_xml_parse_complete(resp.body, resp.body_len, &et, &xe);
    bq_http_response_free(&resp);
    if (prc != 0) {
        free(et);
        set_err(err, BQ_HTTP_ERR_PROTOCOL, 200, "InvalidResponse",
                "CompleteMultipartUpload s3://%s/%s: malformed answer", bucket, key);
        return -1;
    }
    snprintf(etag, 80, "%s", et);
    free(et);
    return 0;
}

int bq_s3_mpu_abort(struct bq_s3 *s3, const char *bucket, const char *key, const char *upload_id,
                    struct bq_s3_error *err)
{
    struct call c = { .method = "DELETE", .bucket = bucket, .key = key, .cleanup = true };
    c.query[c.nquery++] = (struct bq_sigv4_kv){ "uploadId", upload_id };
    struct bq_http_response resp;
    if (s3_call(s3, &c, &resp, err) < 0)
        return err->status == 404 ? 0 : -1;     /* NoSuchUpload: already gone */
    bq_http_response_free(&resp);
    return 0;
}
