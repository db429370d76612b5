/* credentials: the AWS credential chain (see credentials.h). */
#include "credentials.h"
#include "retry.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ECS_HOST "http://169.254.170.2"
#define IMDS_HOST "http://169.254.169.254"
#define IMDS_HOST6 "http://[fd00:ec2::254]"
#define CONTAINER_ATTEMPTS 3
#define REFETCH_INTERVAL 5          /* seconds: don't ask a source again sooner */

static const char no_creds_help[] =
    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "configure ~/.aws/credentials (AWS_PROFILE selects a profile), "
    "or run in ECS/Fargate or on EC2 with a task or instance role";

/* --- small things --------------------------------------------------------------- */

static bq_creds_clock_fn clock_fn;

void bq_creds_set_clock(bq_creds_clock_fn fn)
{
    clock_fn = fn;
}

static time_t now(void)
{
    return clock_fn ? clock_fn() : time(NULL);
}

static void free_secret(char *s)
{
    if (s) {
        bq_secure_zero(s, strlen(s));
        free(s);
    }
}

void bq_creds_clear(struct bq_creds *c)
{
    if (!c)
        return;
    free_secret(c->access_key_id);
    free_secret(c->secret_access_key);
    free_secret(c->session_token);
    bq_secure_zero(c, sizeof *c);
}

int bq_creds_copy(struct bq_creds *dst, const struct bq_creds *src)
{
    memset(dst, 0, sizeof *dst);
    dst->access_key_id = src->access_key_id ? strdup(src->access_key_id) : NULL;
    dst->secret_access_key = src->secret_access_key ? strdup(src->secret_access_key) : NULL;
    dst->session_token = src->session_token ? strdup(src->session_token) : NULL;
    if ((src->access_key_id && !dst->access_key_id) ||
        (src->secret_access_key && !dst->secret_access_key) ||
        (src->session_token && !dst->session_token)) {
        bq_creds_clear(dst);
        return -1;
    }
    dst->expiration = src->expiration;
    memcpy(dst->source, src->source, sizeof dst->source);
    return 0;
}

static void set_creds(struct bq_creds *out, const char *akid, const char *secret,
                      const char *token, time_t exp, const char *source)
{
    memset(out, 0, sizeof *out);
    out->access_key_id = bq_xstrdup(akid);
    out->secret_access_key = bq_xstrdup(secret);
    out->session_token = token && *token ? bq_xstrdup(token) : NULL;
    out->expiration = exp;
    snprintf(out->source, sizeof out->source, "%s", source);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static bool env_true(const char *name)
{
    bool b;
    const char *v = env(name);
    return v && bq_parse_bool(v, &b) == 0 && b;
}

/* --- 1. environment ---------------------------------------------------------------- */

int bq_creds_from_env(struct bq_creds *out, struct bq_http_error *err)
{
    const char *akid = env("AWS_ACCESS_KEY_ID");
    const char *secret = env("AWS_SECRET_ACCESS_KEY");
    if (!akid && !secret)
        return 0;
    if (!secret)
        return bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                                 "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    if (!akid)
        return bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                                 "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
    set_creds(out, akid, secret, env("AWS_SESSION_TOKEN"), 0, "environment");
    return 1;
}

/* --- 2. shared files: credentials_files.c ------------------------------------------------ */

/* --- JSON from the container endpoint and IMDS ---------------------------------------------- */

int bq_creds_parse_time(const char *s, time_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || oh > 23 || om > 59)
            return -1;
        offset = (*p == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
        p += 1 + m;
    } else {
        return -1;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = sec };
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = t - offset;
    return 0;
}

static const char *json_str(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    const char *s = json_object_get_string(v);
    return s && *s ? s : NULL;
}

/* json-c keeps its own copies of the strings: wipe them before the put. */
static void json_wipe(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)) {
        char *s = (char *)json_object_get_string(v);
        bq_secure_zero(s, (size_t)json_object_get_string_len(v));
    }
}

int bq_creds_parse_json(const char *json, size_t len, const char *source, struct bq_creds *out,
                        struct bq_http_error *err)
{
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return bq_http_error_set(err, BQ_HTTP_ERR_INTERNAL, 0, "out of memory");
    struct json_object *o = json_tokener_parse_ex(tok, json, (int)(len > 1u << 20 ? 1u << 20 : len));
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    bool trailing = false;
    for (size_t i = o ? json_tokener_get_parse_end(tok) : len; i < len; i++)
        if (!isspace((unsigned char)json[i]))
            trailing = true;
    json_tokener_free(tok);
    int rc = -1;
    if (!o || jerr != json_tokener_success || trailing || !json_object_is_type(o, json_type_object)) {
        bq_http_error_set(err, BQ_HTTP_ERR_PROTOCOL, 0, "%s credentials: the response is not a JSON object",
                          source);
        goto done;
    }
    const char *code = json_str(o, "Code");
    if (code && strcmp(code, "Success") != 0) {
        bq_http_error_set(err, BQ_HTTP_ERR_PROTOCOL, 0, "%s credentials: the endpoint reported Code '%.40s'",
                          source, code);
        goto done;
    }
    const char *akid = json_str(o, "AccessKeyId");
    const char *secret = json_str(o, "SecretAccessKey");
    const char *token = json_str(o, "Token");
    const char *exp_s = json_str(o, "Expiration");
    const char *missing = !akid ? "AccessKeyId" : !secret ? "SecretAccessKey" : !token ? "Token" : NULL;
    if (missing) {
        bq_http_error_set(err, BQ_HTTP_ERR_PROTOCOL, 0, "%s credentials: the response lacks %s",
                          source, missing);
        goto done;
    }
    time_t exp = 0;
    if (exp_s && bq_creds_parse_time(exp_s, &exp) < 0) {
        bq_http_error_set(err, BQ_HTTP_ERR_PROTOCOL, 0, "%s credentials: Expiration '%.40s' is not ISO 8601",
                          source, exp_s);
        goto done;
    }
    set_creds(out, akid, secret, token, exp, source);
    rc = 0;
done:
    if (o) {
        json_wipe(o, "SecretAccessKey");
        json_wipe(o, "Token");
        json_object_put(o);
    }
    return rc;
}

/* --- 3. the ECS/Fargate container endpoint ------------------------------------------------ */

static bool allowed_http_host(const char *host)
{
    if (strcasecmp(host, "localhost") == 0)
        return true;
    unsigned char a4[4], a6[16], want6[16];
    if (inet_pton(AF_INET, host, a4) == 1)
        return a4[0] == 127 ||
               (a4[0] == 169 && a4[1] == 254 && a4[2] == 170 && (a4[3] == 2 || a4[3] == 23));
    if (inet_pton(AF_INET6, host, a6) == 1) {
        if (inet_pton(AF_INET6, "::1", want6) == 1 && memcmp(a6, want6, 16) == 0)
            return true;
        if (inet_pton(AF_INET6, "fd00:ec2::23", want6) == 1 && memcmp(a6, want6, 16) == 0)
            return true;
    }
    return false;
}

int bq_creds_check_full_uri(const char *url, struct bq_http_error *err)
{
    char where[256];
    bq_http_redact_url(url, where, sizeof where);
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = -1;
    if (!u)
        return bq_http_error_set(err, BQ_HTTP_ERR_INTERNAL, 0, "out of memory");
    if (!url || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                          "AWS_CONTAINER_CREDENTIALS_FULL_URI '%s' is not a valid URL", where);
        goto done;
    }
    if (strcasecmp(scheme, "https") == 0) {
        rc = 0;
    } else if (strcasecmp(scheme, "http") == 0) {
        char h[256];
        snprintf(h, sizeof h, "%s", host);
        char *p = h;
        size_t n = strlen(p);
        if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
            p[n - 1] = '\0';
            p++;
        }
        if (allowed_http_host(p))
            rc = 0;
        else
            bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                              "AWS_CONTAINER_CREDENTIALS_FULL_URI '%s': plain http is allowed only to "
                              "loopback, 169.254.170.2, 169.254.170.23 or fd00:ec2::23", where);
    } else {
        bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                          "AWS_CONTAINER_CREDENTIALS_FULL_URI '%s' must be http or https", where);
    }
done:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static bool has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

int bq_creds_container_token(char **token, struct bq_http_error *err)
{
    *token = NULL;
    const char *file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (file) {
        /* Read each time: EKS Pod Identity rotates the file. */
        FILE *f = fopen(file, "r");
        if (!f)
            return bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                                     "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s: %s",
                                     file, strerror(errno));
        struct bq_buf b = { 0 };
        char chunk[1024];
        size_t n;
        bool too_big = false;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            if (b.len + n > 16384 || bq_buf_append(&b, chunk, n) < 0) {
                too_big = true;
                break;
            }
        bq_secure_zero(chunk, sizeof chunk);
        fclose(f);
        if (too_big) {
            bq_buf_free_secure(&b);
            return bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                                     "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s is too large", file);
        }
        bool has_nul = b.len && memchr(b.data, '\0', b.len);
        char *t = trim((char *)bq_buf_cstr(&b));
        int rc;
        if (has_nul)
            rc = bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                                   "the token in AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE contains a NUL byte");
        else if (!*t)
            rc = bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                                   "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s is empty", file);
        else if (has_crlf(t))
            rc = bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                                   "the token in AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE contains a line break");
        else {
            *token = bq_xstrdup(t);
            rc = 1;
        }
        bq_buf_free_secure(&b);
        return rc;
    }
    const char *t = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (!t)
        return 0;
    if (has_crlf(t))
        return bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                                 "AWS_CONTAINER_AUTHORIZATION_TOKEN contains a line break");
    *token = bq_xstrdup(t);
    return 1;
}

/* One GET/PUT with the standard retry policy; 0 with resp (status 200), or -1.
 * what names the endpoint in messages. */
static int fetch(const struct bq_http_request *req, int attempts, bool retry_connect, const char *what,
                 struct bq_http_response *resp, struct bq_http_error *err)
{
    for (int attempt = 1;; attempt++) {
        bq_http_response_free(resp);
        struct bq_http_error e;
        if (bq_http_perform(NULL, req, resp, &e) == 0) {
            if (resp->status == 200)
                return 0;
            bq_http_error_set(&e, BQ_HTTP_ERR_HTTP, resp->status, "%s answered HTTP %ld%s", what,
                              resp->status,
                              resp->status == 401 || resp->status == 403
                                  ? " (check the authorization token)" : "");
        } else {
            char msg[sizeof e.message];
            memcpy(msg, e.message, sizeof msg);
            snprintf(e.message, sizeof e.message, "%s: %.250s", what, msg);
        }
        bool again = (retry_connect || (e.kind != BQ_HTTP_ERR_CONNECT && e.kind != BQ_HTTP_ERR_TIMEOUT)) &&
                     bq_retry_should_retry(attempt, attempts, e.kind, e.status, NULL);
        if (!again || !bq_retry_sleep(attempt)) {
            if (err)
                *err = e;
            if (bq_cancelled() && err && e.kind != BQ_HTTP_ERR_CANCELLED)
                bq_http_error_set(err, BQ_HTTP_ERR_CANCELLED, 0, "%s: cancelled", what);
            return -1;
        }
    }
}

int bq_creds_from_container(const char *ca_bundle, struct bq_creds *out, struct bq_http_error *err)
{
    const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (!rel && !full)
        return 0;
    struct bq_buf url = { 0 };
    if (rel) {
        if (rel[0] != '/' || has_crlf(rel))
            return bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                                     "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
        bq_buf_printf(&url, "%s%s", ECS_HOST, rel);
    } else {
        if (bq_creds_check_full_uri(full, err) < 0)
            return -1;
        bq_buf_printf(&url, "%s", full);
    }
    char *token = NULL;
    if (bq_creds_container_token(&token, err) < 0) {
        bq_buf_free(&url);
        return -1;
    }
    struct bq_http_header hdrs[2] = { { "Accept", "application/json" }, { "Authorization", token } };
    struct bq_http_request req = {
        .method = "GET", .url = bq_buf_cstr(&url), .headers = hdrs, .n_headers = token ? 2 : 1,
        .allow_http = true,     /* checked above: only loopback and the ECS addresses */
        .ca_bundle = ca_bundle, .connect_timeout_ms = 1000, .timeout_ms = 5000, .max_body = 64 << 10,
    };
    struct bq_http_response resp = { 0 };
    int rc = fetch(&req, CONTAINER_ATTEMPTS, true, "the container credentials endpoint", &resp, err);
    if (rc == 0)
        rc = bq_creds_parse_json(resp.body, resp.body_len, "container", out, err) == 0 ? 1 : -1;
    bq_http_response_free(&resp);
    free_secret(token);
    bq_buf_free(&url);
    return rc;
}

/* --- 4. EC2 instance metadata, IMDSv2 ------------------------------------------------------------ */

/* 1 with creds, 0 when IMDS is disabled or unreachable (err says why), -1. */
int bq_creds_from_imds(struct bq_creds *out, struct bq_http_error *err)
{
    if (env_true("AWS_EC2_METADATA_DISABLED"))
        return 0;
    const char *base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (!base) {
        const char *mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
        base = mode && strcasecmp(mode, "IPv6") == 0 ? IMDS_HOST6 : IMDS_HOST;
    }
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    static const char what[] = "EC2 instance metadata (IMDS)";
    struct bq_http_error e = { 0 };
    struct bq_buf url = { 0 };
    char *token = NULL, *role = NULL;
    struct bq_http_response resp = { 0 };
    int rc = -1;
    struct bq_http_header hdr;
    struct bq_http_request req = {
        .headers = &hdr, .n_headers = 1, .allow_http = true,
        .connect_timeout_ms = 1000, .timeout_ms = 2000, .max_body = 64 << 10,
    };

    /* The session token. Unreachable means "not on EC2": not an error. */
    bq_buf_printf(&url, "%.*s/latest/api/token", (int)blen, base);
    hdr = (struct bq_http_header){ "X-aws-ec2-metadata-token-ttl-seconds", "21600" };
    req.method = "PUT";
    req.url = bq_buf_cstr(&url);
    if (fetch(&req, 2, false, what, &resp, &e) < 0) {
        if (e.kind == BQ_HTTP_ERR_CONNECT || e.kind == BQ_HTTP_ERR_TIMEOUT) {
            rc = 0;
            goto done;
        }
        /* 403/404/405: IMDSv1 only (the SDKs fall back, unless v1 is disabled). */
        if (!((e.status == 403 || e.status == 404 || e.status == 405) &&
              !env_true("AWS_EC2_METADATA_V1_DISABLED")))
            goto done;
    } else {
        token = bq_xstrndup(resp.body, resp.body_len);
        char *t = trim(token);
        memmove(token, t, strlen(t) + 1);
        if (!*token || has_crlf(token)) {
            bq_http_error_set(&e, BQ_HTTP_ERR_PROTOCOL, 0, "%s sent a malformed session token", what);
            goto done;
        }
    }

    /* The role attached to the instance, then its credentials. */
    req.method = "GET";
    req.n_headers = token ? 1 : 0;
    hdr = (struct bq_http_header){ "X-aws-ec2-metadata-token", token };
    url.len = 0;
    bq_buf_printf(&url, "%.*s/latest/meta-data/iam/security-credentials/", (int)blen, base);
    req.url = bq_buf_cstr(&url);
    if (fetch(&req, 2, false, what, &resp, &e) < 0) {
        if (e.status == 404)
            bq_http_error_set(&e, BQ_HTTP_ERR_HTTP, 404, "%s: no IAM role is attached to this instance", what);
        goto done;
    }
    role = bq_xstrndup(resp.body, resp.body_len);
    role[strcspn(role, "\r\n")] = '\0';
    char *r = trim(role);
    if (!*r || strpbrk(r, "/?#% ")) {
        bq_http_error_set(&e, BQ_HTTP_ERR_PROTOCOL, 0, "%s sent a malformed role name", what);
        goto done;
    }
    bq_buf_printf(&url, "%s", r);
    req.url = bq_buf_cstr(&url);
    if (fetch(&req, 2, false, what, &resp, &e) < 0)
        goto done;
    rc = bq_creds_parse_json(resp.body, resp.body_len, "imds", out, &e) == 0 ? 1 : -1;
done:
    if (rc != 1 && err)
        *err = e;
    bq_http_response_free(&resp);
    free_secret(token);
    free(role);
    bq_buf_free(&url);
    return rc;
}

/* --- the provider ------------------------------------------------------------------------- */

enum source { SRC_NONE, SRC_ENV, SRC_FILES, SRC_CONTAINER, SRC_IMDS };

struct bq_creds_provider {
    pthread_mutex_t lock;
    char *ca_bundle;
    enum source src;            /* SRC_NONE until the chain has resolved */
    bool have;
    struct bq_creds cur;
    time_t asked_at;            /* the last time the source was asked, successfully or not */
};

struct bq_creds_provider *bq_creds_provider_new(const char *ca_bundle)
{
    struct bq_creds_provider *p = bq_xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    p->ca_bundle = ca_bundle ? bq_xstrdup(ca_bundle) : NULL;
    return p;
}

void bq_creds_provider_free(struct bq_creds_provider *p)
{
    if (!p)
        return;
    bq_creds_clear(&p->cur);
    pthread_mutex_destroy(&p->lock);
    free(p->ca_bundle);
    free(p);
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct bq_creds_provider *default_provider;

static void default_init(void)
{
    default_provider = bq_creds_provider_new(NULL);
}

struct bq_creds_provider *bq_creds_default(void)
{
    pthread_once(&default_once, default_init);
    return default_provider;
}

static int fetch_from(struct bq_creds_provider *p, enum source s, struct bq_creds *out,
                      struct bq_http_error *err)
{
    switch (s) {
    case SRC_ENV: return bq_creds_from_env(out, err);
    case SRC_FILES: return bq_creds_from_shared_files(out, err);
    case SRC_CONTAINER: return bq_creds_from_container(p->ca_bundle, out, err);
    case SRC_IMDS: return bq_creds_from_imds(out, err);
    default: return 0;
    }
}

/* Walks the chain; 1 with p->src set, or -1. */
static int resolve(struct bq_creds_provider *p, struct bq_creds *out, struct bq_http_error *err)
{
    struct bq_http_error imds_err = { 0 };
    for (enum source s = SRC_ENV; s <= SRC_IMDS; s++) {
        struct bq_http_error *e = s == SRC_IMDS ? &imds_err : err;
        int rc = fetch_from(p, s, out, e);
        if (rc == 1) {
            p->src = s;
            return 1;
        }
        if (rc < 0) {
            if (s == SRC_IMDS && err)
                *err = imds_err;
            return -1;
        }
    }
    if (imds_err.kind == BQ_HTTP_ERR_CANCELLED)
        return bq_http_error_set(err, BQ_HTTP_ERR_CANCELLED, 0, "credentials: cancelled");
    return bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0, "%s", no_creds_help);
}

int bq_creds_get(struct bq_creds_provider *p, int min_valid_seconds, struct bq_creds *out,
                 struct bq_http_error *err)
{
    memset(out, 0, sizeof *out);
    bq_http_error_clear(err);
    if (!p && !(p = bq_creds_default()))
        return bq_http_error_set(err, BQ_HTTP_ERR_INTERNAL, 0, "out of memory");
    pthread_mutex_lock(&p->lock);
    time_t t = now();
    int rc = 0;
    if (p->have) {
        time_t left = p->cur.expiration ? p->cur.expiration - t : 0;
        bool fresh = !p->cur.expiration || left >= (time_t)min_valid_seconds;
        bool just_asked = left > 0 && t - p->asked_at < REFETCH_INTERVAL && t >= p->asked_at;
        if (fresh || just_asked)
            goto copy;
    }
    struct bq_creds got = { 0 };
    int r;
    if (p->src == SRC_NONE) {
        r = resolve(p, &got, err);
    } else if ((r = fetch_from(p, p->src, &got, err)) == 0) {
        r = bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0, "credentials from %s are no longer configured",
                              p->cur.source[0] ? p->cur.source : "the source");
    }
    p->asked_at = t;
    if (r < 0) {
        bq_creds_clear(&got);
        /* Temporary credentials that have not expired still sign requests. */
        if (p->have && p->cur.expiration > t && err && err->kind != BQ_HTTP_ERR_CANCELLED) {
            bq_http_error_clear(err);
            goto copy;
        }
        rc = -1;
        goto unlock;
    }
    bq_creds_clear(&p->cur);
    p->cur = got;
    p->have = true;
copy:
    if (bq_creds_copy(out, &p->cur) < 0)
        rc = bq_http_error_set(err, BQ_HTTP_ERR_INTERNAL, 0, "out of memory");
unlock:
    pthread_mutex_unlock(&p->lock);
    return rc;
}
