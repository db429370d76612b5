/* http: the libcurl transport (see http.h). */
#include "http.h"
#include "util.h"

#include <curl/curl.h>
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef BQ_VERSION
#define BQ_VERSION "0"
#endif

#define DEFAULT_MAX_BODY (8u << 20)
#define ERROR_BODY_CAP (64u << 10)   /* non-2xx bodies while streaming: enough for an error document */
#define POLL_MS 100                  /* how often a quiet transfer looks at bq_cancelled() */

/* --- errors ----------------------------------------------------------------- */

const char *bq_http_err_kind_name(enum bq_http_err_kind kind)
{
    switch (kind) {
    case BQ_HTTP_ERR_NONE: return "None";
    case BQ_HTTP_ERR_CONNECT: return "ConnectError";
    case BQ_HTTP_ERR_TIMEOUT: return "Timeout";
    case BQ_HTTP_ERR_TLS: return "TlsError";
    case BQ_HTTP_ERR_BROKEN: return "BrokenConnection";
    case BQ_HTTP_ERR_CANCELLED: return "Cancelled";
    case BQ_HTTP_ERR_HTTP: return "HttpError";
    case BQ_HTTP_ERR_PROTOCOL: return "ProtocolError";
    case BQ_HTTP_ERR_CONFIG: return "ConfigError";
    case BQ_HTTP_ERR_INTERNAL: return "InternalError";
    }
    return "Error";
}

void bq_http_error_clear(struct bq_http_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

static void one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r' || *s == '\t')
            *s = ' ';
}

int bq_http_error_set(struct bq_http_error *err, enum bq_http_err_kind kind, long status,
                      const char *fmt, ...)
{
    if (!err)
        return -1;
    err->kind = kind;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    one_line(err->message);
    return -1;
}

void bq_http_redact_url(const char *url, char *out, size_t outlen)
{
    if (!outlen)
        return;
    out[0] = '\0';
    if (!url)
        return;
    struct bq_buf b = { 0 };
    const char *p = url;
    const char *sep = strstr(url, "://");
    if (sep) {
        bq_buf_append(&b, url, (size_t)(sep + 3 - url));
        p = sep + 3;
        size_t alen = strcspn(p, "/?#");
        const char *at = memchr(p, '@', alen);       /* drop user:password@ */
        const char *host = at ? at + 1 : p;
        bq_buf_append(&b, host, (size_t)(p + alen - host));
        p += alen;
    }
    bq_buf_append(&b, p, strcspn(p, "?#"));
    snprintf(out, outlen, "%s", bq_buf_cstr(&b));
    bq_buf_free(&b);
    one_line(out);
}

/* --- global state: lazy init, the share object, the default CA bundle -------- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;
static CURLSH *global_share;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
static pthread_key_t thread_key;
static bool thread_key_ok;

static pthread_mutex_t ca_lock = PTHREAD_MUTEX_INITIALIZER;
static char *default_ca;

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h; (void)access; (void)ud;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    (void)h; (void)ud;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&share_locks[data]);
}

static void thread_client_free(void *p)
{
    bq_http_client_free(p);
}

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (global_rc != CURLE_OK)
        return;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&share_locks[i], NULL);
    /* DNS and TLS sessions are shared between threads; connections are not
     * (libcurl does not support a connection cache used by concurrent threads). */
    global_share = curl_share_init();
    if (global_share) {
        curl_share_setopt(global_share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(global_share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(global_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(global_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
    thread_key_ok = pthread_key_create(&thread_key, thread_client_free) == 0;
}

static bool ensure_init(void)
{
    pthread_once(&global_once, global_init);
    return global_rc == CURLE_OK;
}

void bq_http_set_default_ca_bundle(const char *path)
{
    pthread_mutex_lock(&ca_lock);
    free(default_ca);
    default_ca = path && *path ? bq_xstrdup(path) : NULL;
    pthread_mutex_unlock(&ca_lock);
}

/* The CA bundle for a request: the request's, the process default, AWS_CA_BUNDLE. */
static char *ca_for(const struct bq_http_request *req)
{
    if (req->ca_bundle && *req->ca_bundle)
        return bq_xstrdup(req->ca_bundle);
    char *r = NULL;
    pthread_mutex_lock(&ca_lock);
    if (default_ca)
        r = bq_xstrdup(default_ca);
    pthread_mutex_unlock(&ca_lock);
    if (!r) {
        const char *env = getenv("AWS_CA_BUNDLE");
        if (env && *env)
            r = bq_xstrdup(env);
    }
    return r;
}

/* --- clients ------------------------------------------------------------------ */

struct bq_http_client {
    CURL *easy;
    CURLM *multi;       /* owns the connection cache, so keep-alive spans requests */
    char errbuf[CURL_ERROR_SIZE];
};

struct bq_http_client *bq_http_client_new(void)
{
    if (!ensure_init())
        return NULL;
    struct bq_http_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->easy = curl_easy_init();
    c->multi = curl_multi_init();
    if (!c->easy || !c->multi) {
        bq_http_client_free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 8L);
    return c;
}

void bq_http_client_free(struct bq_http_client *c)
{
    if (!c)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    free(c);
}

struct bq_http_client *bq_http_client_thread(void)
{
    if (!ensure_init() || !thread_key_ok)
        return NULL;
    struct bq_http_client *c = pthread_getspecific(thread_key);
    if (!c) {
        c = bq_http_client_new();
        if (c && pthread_setspecific(thread_key, c) != 0) {
            bq_http_client_free(c);
            c = NULL;
        }
    }
    return c;
}

void bq_http_thread_cleanup(void)
{
    if (!thread_key_ok)
        return;
    struct bq_http_client *c = pthread_getspecific(thread_key);
    if (c) {
        pthread_setspecific(thread_key, NULL);
        bq_http_client_free(c);
    }
}

/* --- responses ---------------------------------------------------------------- */

const char *bq_http_response_header(const struct bq_http_response *resp, const char *name)
{
    if (!resp || !name)
        return NULL;
    for (size_t i = resp->n_headers; i-- > 0;)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

static void free_headers(struct bq_http_response *resp)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        free((char *)resp->headers[i].name);
        free((char *)resp->headers[i].value);
    }
    free(resp->headers);
    resp->headers = NULL;
    resp->n_headers = 0;
}

void bq_http_response_free(struct bq_http_response *resp)
{
    if (!resp)
        return;
    free_headers(resp);
    if (resp->body) {
        bq_secure_zero(resp->body, resp->body_len);
        free(resp->body);
    }
    memset(resp, 0, sizeof *resp);
}

/* --- one transfer ---------------------------------------------------------------- */

struct xfer {
    const struct bq_http_request *req;
    struct bq_http_response *resp;
    size_t hdr_cap;
    size_t body_cap;          /* allocated bytes of resp->body */
    size_t max_body;
    uint64_t read_off;        /* memory body */
    bool over_cap, write_abort, read_abort, cancelled;
};

/* Grows resp->body without leaving copies behind (it may hold credentials). */
static int body_reserve(struct xfer *x, size_t need)
{
    if (need + 1 <= x->body_cap)
        return 0;
    size_t cap = x->body_cap ? x->body_cap : 256;
    while (cap < need + 1)
        cap *= 2;
    char *p = malloc(cap);
    if (!p)
        return -1;
    if (x->resp->body) {
        memcpy(p, x->resp->body, x->resp->body_len);
        bq_secure_zero(x->resp->body, x->body_cap);
        free(x->resp->body);
    }
    x->resp->body = p;
    x->body_cap = cap;
    return 0;
}

static char *trim_dup(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s)) { s++; n--; }
    while (n && isspace((unsigned char)s[n - 1])) n--;
    return bq_xstrndup(s, n);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    struct bq_http_response *r = x->resp;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue, say): start over. */
        free_headers(r);
        x->hdr_cap = 0;
        const char *sp = memchr(data, ' ', n);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon || data[0] == ' ' || data[0] == '\t')
        return n;                       /* the blank line, or an obsolete folded line */
    if (r->n_headers == x->hdr_cap) {
        size_t cap = x->hdr_cap ? x->hdr_cap * 2 : 16;
        struct bq_http_header *h = realloc(r->headers, cap * sizeof *h);
        if (!h)
            return 0;
        r->headers = h;
        x->hdr_cap = cap;
    }
    r->headers[r->n_headers].name = trim_dup(data, (size_t)(colon - data));
    r->headers[r->n_headers].value = trim_dup(colon + 1, n - (size_t)(colon + 1 - data));
    r->n_headers++;
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    struct bq_http_response *r = x->resp;
    bool ok2xx = r->status >= 200 && r->status < 300;
    if (x->req->write_fn && ok2xx) {
        if (x->req->write_fn(data, n, x->req->write_ud) != 0) {
            x->write_abort = true;
            return 0;
        }
        return n;
    }
    size_t cap = x->req->write_fn ? ERROR_BODY_CAP : x->max_body;
    size_t take = n;
    if (r->body_len + n > cap) {
        if (!x->req->write_fn) {
            x->over_cap = true;
            return 0;
        }
        take = cap - r->body_len;       /* keep the head of an error document */
    }
    if (!r->body_len && !x->body_cap) {
        /* Size the buffer from Content-Length, to avoid regrowing. */
        const char *cl = bq_http_response_header(r, "Content-Length");
        unsigned long long v;
        if (cl && bq_parse_uint(cl, cap, &v) == 0 && v > take && body_reserve(x, (size_t)v) < 0)
            return 0;
    }
    if (body_reserve(x, r->body_len + take) < 0)
        return 0;
    memcpy(r->body + r->body_len, data, take);
    r->body_len += take;
    r->body[r->body_len] = '\0';
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    const struct bq_http_request *q = x->req;
    if (q->read_fn) {
        size_t got = q->read_fn(buf, n, q->read_ud);
        if (got == BQ_HTTP_READ_ABORT || got > n) {
            x->read_abort = true;
            return CURL_READFUNC_ABORT;
        }
        return got;
    }
    uint64_t len = q->body ? (uint64_t)q->body_len : 0;
    if (x->read_off >= len)
        return 0;
    uint64_t left = len - x->read_off;
    if (left < n)
        n = (size_t)left;
    memcpy(buf, (const char *)q->body + x->read_off, n);
    x->read_off += n;
    return n;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
    struct xfer *x = ud;
    if (origin != SEEK_SET || offset < 0)
        return CURL_SEEKFUNC_CANTSEEK;
    if (x->req->read_fn) {
        if (!x->req->seek_fn)
            return CURL_SEEKFUNC_CANTSEEK;
        return x->req->seek_fn((uint64_t)offset, x->req->read_ud) == 0 ? CURL_SEEKFUNC_OK
                                                                      : CURL_SEEKFUNC_FAIL;
    }
    if (x->req->body_len < 0 || offset > x->req->body_len)
        return CURL_SEEKFUNC_FAIL;
    x->read_off = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* A cleanup request ignores the process-wide cancellation (see http.h). */
static bool stop_now(const struct bq_http_request *req)
{
    return (!req->cleanup && bq_cancelled()) || (req->give_up && req->give_up(req->give_up_ud));
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt; (void)dn; (void)ut; (void)un;
    struct xfer *x = ud;
    if (stop_now(x->req)) {
        x->cancelled = true;
        return 1;
    }
    return 0;
}

static bool has_header(const struct bq_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
            return true;
    return false;
}

/* Header lines may carry tokens (Authorization, X-Amz-Security-Token). */
static void free_headers_secure(struct curl_slist *list)
{
    for (struct curl_slist *l = list; l; l = l->next)
        if (l->data)
            bq_secure_zero(l->data, strlen(l->data));
    curl_slist_free_all(list);
}

static int build_headers(const struct bq_http_request *req, struct curl_slist **out)
{
    struct curl_slist *list = NULL, *t;
    struct bq_buf line = { 0 };
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct bq_http_header *h = &req->headers[i];
        if (!h->name || !*h->name || strpbrk(h->name, ":\r\n") ||
            (h->value && strpbrk(h->value, "\r\n")))
            goto fail;                  /* no header injection */
        line.len = 0;
        if (h->value && *h->value)
            bq_buf_printf(&line, "%s: %s", h->name, h->value);
        else
            bq_buf_printf(&line, "%s;", h->name);   /* curl's syntax for an empty value */
        if (!(t = curl_slist_append(list, bq_buf_cstr(&line))))
            goto fail;
        list = t;
    }
    /* No "Expect: 100-continue" round trip; no form Content-Type on a POST. */
    static const char *const suppress[] = { "Expect", "Content-Type" };
    for (size_t i = 0; i < sizeof suppress / sizeof *suppress; i++) {
        if (has_header(req, suppress[i]))
            continue;
        line.len = 0;
        bq_buf_printf(&line, "%s:", suppress[i]);
        if (!(t = curl_slist_append(list, bq_buf_cstr(&line))))
            goto fail;
        list = t;
    }
    bq_buf_free_secure(&line);          /* it held an Authorization value */
    *out = list;
    return 0;
fail:
    bq_buf_free_secure(&line);
    free_headers_secure(list);
    return -1;
}

static bool starts_with_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static enum bq_http_err_kind kind_of(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return BQ_HTTP_ERR_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return BQ_HTTP_ERR_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
        return BQ_HTTP_ERR_TLS;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_SHUTDOWN_FAILED:
        return BQ_HTTP_ERR_BROKEN;
    case CURLE_ABORTED_BY_CALLBACK:
        return BQ_HTTP_ERR_CANCELLED;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return BQ_HTTP_ERR_CONFIG;
    case CURLE_WEIRD_SERVER_REPLY:
        return BQ_HTTP_ERR_PROTOCOL;
    default:
        return BQ_HTTP_ERR_INTERNAL;
    }
}

static const char *kind_text(enum bq_http_err_kind k)
{
    switch (k) {
    case BQ_HTTP_ERR_CONNECT: return "could not connect";
    case BQ_HTTP_ERR_TIMEOUT: return "timed out";
    case BQ_HTTP_ERR_TLS: return "TLS failed";
    case BQ_HTTP_ERR_BROKEN: return "connection broken";
    case BQ_HTTP_ERR_CANCELLED: return "cancelled";
    case BQ_HTTP_ERR_CONFIG: return "bad request";
    case BQ_HTTP_ERR_PROTOCOL: return "malformed response";
    default: return "failed";
    }
}

#define SETOPT(opt, val) do { if (curl_easy_setopt(e, opt, val) != CURLE_OK) goto setopt_fail; } while (0)

int bq_http_perform(struct bq_http_client *c, const struct bq_http_request *req,
                    struct bq_http_response *resp, struct bq_http_error *err)
{
    memset(resp, 0, sizeof *resp);
    bq_http_error_clear(err);
    struct xfer x = { .req = req, .resp = resp };
    x.max_body = req->max_body ? req->max_body : DEFAULT_MAX_BODY;
    const char *method = req->method && *req->method ? req->method : "GET";
    char where[256];
    bq_http_redact_url(req->url, where, sizeof where);
    int rc = -1;
    struct curl_slist *hdrs = NULL;
    char *ca = NULL;

    if (!c && !(c = bq_http_client_thread())) {
        bq_http_error_set(err, BQ_HTTP_ERR_INTERNAL, 0, "%s %s: cannot initialise libcurl", method, where);
        goto done;
    }
    if (!req->url || !(starts_with_ci(req->url, "https://") || starts_with_ci(req->url, "http://"))) {
        bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0, "%s %s: the URL must start with https:// or http://",
                          method, where);
        goto done;
    }
    if (starts_with_ci(req->url, "http://") && !req->allow_http) {
        bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0, "%s %s: plain http is not allowed here", method, where);
        goto done;
    }
    if (stop_now(req)) {
        bq_http_error_set(err, BQ_HTTP_ERR_CANCELLED, 0, "%s %s: cancelled", method, where);
        goto done;
    }
    if (build_headers(req, &hdrs) < 0) {
        bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0, "%s %s: invalid request header", method, where);
        goto done;
    }

    CURL *e = c->easy;
    curl_easy_reset(e);
    c->errbuf[0] = '\0';
    SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
    SETOPT(CURLOPT_URL, req->url);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    if (global_share)
        SETOPT(CURLOPT_SHARE, global_share);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(CURLOPT_PROTOCOLS_STR, req->allow_http ? "http,https" : "https");
#else
    SETOPT(CURLOPT_PROTOCOLS, req->allow_http ? (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS) : (long)CURLPROTO_HTTPS);
#endif
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    if ((ca = ca_for(req)))
        SETOPT(CURLOPT_CAINFO, ca);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms > 0 ? req->connect_timeout_ms
                                      : req->cleanup ? BQ_HTTP_CLEANUP_CONNECT_MS : 10000L);
    SETOPT(CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms
                               : req->cleanup ? BQ_HTTP_CLEANUP_TIMEOUT_MS : 0L);
    SETOPT(CURLOPT_LOW_SPEED_LIMIT, req->low_speed_limit > 0 ? req->low_speed_limit : 1L);
    SETOPT(CURLOPT_LOW_SPEED_TIME, req->low_speed_time > 0 ? req->low_speed_time : 60L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    if (!has_header(req, "User-Agent"))
        SETOPT(CURLOPT_USERAGENT, "bqlua/" BQ_VERSION);
    SETOPT(CURLOPT_HTTPHEADER, hdrs);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, &x);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, &x);
    SETOPT(CURLOPT_NOPROGRESS, 0L);
    SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
    SETOPT(CURLOPT_XFERINFODATA, &x);

    bool has_body = req->body || req->read_fn;
    if (strcmp(method, "HEAD") == 0) {
        SETOPT(CURLOPT_NOBODY, 1L);
    } else if (has_body || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
        /* Every body goes through the read callback, so memory and streamed
         * uploads behave the same and can be rewound. */
        SETOPT(CURLOPT_UPLOAD, 1L);
        SETOPT(CURLOPT_READFUNCTION, on_read);
        SETOPT(CURLOPT_READDATA, &x);
        SETOPT(CURLOPT_SEEKFUNCTION, on_seek);
        SETOPT(CURLOPT_SEEKDATA, &x);
        int64_t len = has_body ? req->body_len : 0;
        if (req->body && len < 0)
            len = 0;
        if (len >= 0)
            SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
        if (strcmp(method, "PUT") != 0)
            SETOPT(CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") == 0) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else {
        SETOPT(CURLOPT_CUSTOMREQUEST, method);
    }

    /* Drive the transfer ourselves, so a quiet connection still notices a
     * cancellation within POLL_MS (the easy interface only checks once a second). */
    CURLcode res = CURLE_OK;
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        bq_http_error_set(err, BQ_HTTP_ERR_INTERNAL, 0, "%s %s: cannot start the transfer", method, where);
        goto done;
    }
    int running = 1;
    bool finished = false;
    while (!finished) {
        if (stop_now(req)) {
            x.cancelled = true;
            res = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        CURLMcode mc = curl_multi_perform(c->multi, &running);
        if (mc != CURLM_OK) {
            res = CURLE_FAILED_INIT;
            break;
        }
        int left;
        CURLMsg *m;
        while ((m = curl_multi_info_read(c->multi, &left))) {
            if (m->msg == CURLMSG_DONE && m->easy_handle == e) {
                res = m->data.result;
                finished = true;
            }
        }
        if (finished || !running) {
            finished = true;
            break;
        }
        if (curl_multi_poll(c->multi, NULL, 0, POLL_MS, NULL) != CURLM_OK) {
            res = CURLE_FAILED_INIT;
            break;
        }
    }
    curl_multi_remove_handle(c->multi, e);

    long code = 0;
    if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code)
        resp->status = code;
    curl_off_t t = 0;
    if (curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &t) == CURLE_OK)
        resp->total_time = (double)t / 1e6;
    curl_off_t up = 0, down = 0;
    curl_easy_getinfo(e, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &down);
    resp->bytes_sent = (uint64_t)up;
    resp->bytes_received = (uint64_t)down;

    if (res == CURLE_OK) {
        rc = 0;
        goto done;
    }
    if (x.cancelled) {
        bq_http_error_set(err, BQ_HTTP_ERR_CANCELLED, 0, "%s %s: cancelled", method, where);
    } else if (x.over_cap) {
        bq_http_error_set(err, BQ_HTTP_ERR_INTERNAL, resp->status,
                          "%s %s: response body larger than %zu bytes", method, where, x.max_body);
    } else if (x.write_abort) {
        bq_http_error_set(err, BQ_HTTP_ERR_INTERNAL, resp->status,
                          "%s %s: the response handler stopped the transfer", method, where);
    } else if (x.read_abort) {
        bq_http_error_set(err, BQ_HTTP_ERR_INTERNAL, 0,
                          "%s %s: the request body could not be read", method, where);
    } else {
        /* curl's own text names host and port, never the query: cut at '?' anyway. */
        char detail[CURL_ERROR_SIZE];
        snprintf(detail, sizeof detail, "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(res));
        detail[strcspn(detail, "?")] = '\0';
        enum bq_http_err_kind k = kind_of(res);
        bq_http_error_set(err, k, resp->status, "%s %s: %s: %s", method, where, kind_text(k), detail);
    }
    if (err)
        err->curl_code = (int)res;
    goto done;

setopt_fail:
    bq_http_error_set(err, BQ_HTTP_ERR_INTERNAL, 0, "%s %s: libcurl refused an option", method, where);
done:
    free_headers_secure(hdrs);
    free(ca);
    if (!resp->body) {
        resp->body = calloc(1, 1);
        if (!resp->body && rc == 0)
            rc = bq_http_error_set(err, BQ_HTTP_ERR_INTERNAL, 0, "out of memory");
    }
    return rc;
}
