/* sigv4: AWS Signature Version 4 (header signing, presigning, RDS tokens).
 *
 * The canonical forms follow botocore's SigV4Auth / S3SigV4Auth /
 * SigV4QueryAuth (auth.py) so that our output is byte-identical to theirs,
 * and the public aws-signing-test-suite. Every buffer that held the secret
 * key or a key derived from it is zeroed before it is freed. */
#include "sigv4.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#define ALGORITHM "AWS4-HMAC-SHA256"

static const char hexdig[] = "0123456789abcdef";

static void to_hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[p[i] >> 4];
        out[2 * i + 1] = hexdig[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int bq_sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    size_t mdlen = 0;
    if (!EVP_Q_digest(NULL, "SHA256", NULL, data, len, md, &mdlen) || mdlen != 32)
        return -1;
    to_hex(md, 32, out);
    return 0;
}

/* out = HMAC-SHA256(key, msg). */
static int hmac(const void *key, size_t keylen, const char *msg, size_t msglen, unsigned char out[32])
{
    size_t outlen = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen,
                   (const unsigned char *)msg, msglen, out, 32, &outlen) || outlen != 32)
        return -1;
    return 0;
}

/* --- encoding ------------------------------------------------------------- */

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

int bq_sigv4_uri_encode(struct bq_buf *out, const char *s, size_t len, bool keep_slash)
{
    static const char HEX[] = "0123456789ABCDEF";
    int rc = 0;
    size_t run = 0;  /* append runs of kept bytes in one go */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            run++;
            continue;
        }
        char esc[3] = { '%', HEX[c >> 4], HEX[c & 15] };
        rc |= bq_buf_append(out, s + i - run, run);
        rc |= bq_buf_append(out, esc, 3);
        run = 0;
    }
    rc |= bq_buf_append(out, s + len - run, run);
    return rc ? -1 : 0;
}

static int enc(struct bq_buf *out, const char *s)
{
    return s ? bq_sigv4_uri_encode(out, s, strlen(s), false) : 0;
}

static int cat(struct bq_buf *b, const char *s)
{
    return bq_buf_append(b, s, strlen(s));
}

int bq_sigv4_encode_query(struct bq_buf *out, const struct bq_sigv4_kv *q, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            rc |= cat(out, "&");
        rc |= enc(out, q[i].name);
        rc |= cat(out, "=");
        rc |= enc(out, q[i].value);
    }
    return rc ? -1 : 0;
}

/* RFC 3986 remove_dot_segments plus the folding of empty segments, exactly
 * as botocore's utils.remove_dot_segments: "/a/./b/../c//" -> "/a/c/". */
static int normalize_path(struct bq_buf *out, const char *path)
{
    size_t len = strlen(path), nseg = 0;
    size_t *segs = bq_xcalloc(len / 2 + 2, 2 * sizeof *segs);  /* (start, len) pairs */
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        size_t n = j - i;
        if (n == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (nseg)
                nseg--;
        } else if (n && !(n == 1 && path[i] == '.')) {
            segs[2 * nseg] = i;
            segs[2 * nseg + 1] = n;
            nseg++;
        }
        i = j + 1;
    }
    int rc = 0;
    if (len && path[0] == '/')
        rc |= cat(out, "/");
    for (size_t k = 0; k < nseg; k++) {
        if (k)
            rc |= cat(out, "/");
        rc |= bq_buf_append(out, path + segs[2 * k], segs[2 * k + 1]);
    }
    if (len && path[len - 1] == '/' && nseg)
        rc |= cat(out, "/");
    free(segs);
    return rc ? -1 : 0;
}

static int canonical_uri(struct bq_buf *out, const char *path, const struct bq_sigv4_options *opt)
{
    if (!*path)
        path = "/";
    struct bq_buf norm = { 0 };
    int rc = 0;
    if (opt->normalize_path) {
        rc |= normalize_path(&norm, path);
        path = bq_buf_cstr(&norm);
        if (!*path)   /* "a/.." folds to nothing */
            path = "/";
    }
    if (opt->double_encode_path)
        rc |= bq_sigv4_uri_encode(out, path, strlen(path), true);
    else
        rc |= cat(out, path);
    bq_buf_free(&norm);
    return rc ? -1 : 0;
}

/* --- canonical query -------------------------------------------------------- */

struct pair {
    char *k, *v;          /* encoded */
    size_t idx;
};

static int cmp_qpair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);   /* botocore sorts (key, value) tuples */
}

static char *enc_dup(const char *s, bool already_encoded)
{
    struct bq_buf b = { 0 };
    int rc = already_encoded ? cat(&b, s ? s : "") : enc(&b, s);
    rc |= bq_buf_append(&b, "", 0);   /* an empty string still gets storage */
    if (rc) {
        bq_buf_free_secure(&b);
        return NULL;
    }
    return b.data;
}

static void free_pairs(struct pair *p, size_t n)
{
    for (size_t i = 0; i < n && p; i++) {
        /* values may hold the session token */
        if (p[i].v)
            bq_secure_zero(p[i].v, strlen(p[i].v));
        free(p[i].k);
        free(p[i].v);
    }
    free(p);
}

/* Sorted "k=v&..." of the caller's raw pairs and the (already encoded) auth pairs. */
static int canonical_query(struct bq_buf *out, const struct bq_sigv4_kv *q, size_t nq,
                           const struct bq_sigv4_kv *auth, size_t nauth)
{
    size_t n = nq + nauth;
    if (!n)
        return 0;
    struct pair *p = bq_xcalloc(n, sizeof *p);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const struct bq_sigv4_kv *kv = i < nq ? &q[i] : &auth[i - nq];
        p[i].k = enc_dup(kv->name, i >= nq);
        p[i].v = enc_dup(kv->value, i >= nq);
        if (!p[i].k || !p[i].v)
            rc = -1;
    }
    if (!rc) {
        qsort(p, n, sizeof *p, cmp_qpair);
        for (size_t i = 0; i < n; i++) {
            if (i)
                rc |= cat(out, "&");
            rc |= cat(out, p[i].k);
            rc |= cat(out, "=");
            rc |= cat(out, p[i].v);
        }
    }
    free_pairs(p, n);
    return rc ? -1 : 0;
}

/* --- canonical headers ------------------------------------------------------ */

static int cmp_hpair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    /* stable: repeated headers keep their order (qsort is not stable) */
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Trimall, as botocore's ' '.join(value.split()): runs of whitespace
 * (including the line breaks of folded values) become one space. */
static char *trimall(const char *s)
{
    struct bq_buf b = { 0 };
    int rc = bq_buf_append(&b, "", 0);
    bool pending = false;
    for (; *s; s++) {
        if (strchr(" \t\r\n\v\f", *s)) {
            pending = b.len > 0;
            continue;
        }
        if (pending)
            rc |= cat(&b, " ");
        pending = false;
        rc |= bq_buf_append(&b, s, 1);
    }
    if (rc) {
        bq_buf_free_secure(&b);
        return NULL;
    }
    return b.data;
}

static char *lower_dup(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

/* Headers the signer owns, or that must not be signed. */
static bool skip_header(const char *lname)
{
    static const char *const skip[] = {
        "authorization", "x-amz-date", "x-amz-security-token",
        "user-agent", "expect", "x-amzn-trace-id",
    };
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
        if (!strcmp(lname, skip[i]))
            return true;
    return false;
}

/* Appends the canonical header block ("name:value\n"...) to `canon` and the
 * signed header list to `signed_h`. `extra` are the signer's own headers
 * (lowercase names). Fails when there is no Host header. */
static int canonical_headers(struct bq_buf *canon, struct bq_buf *signed_h,
                             const struct bq_sigv4_request *req, bool skip_sha256,
                             const struct bq_sigv4_kv *extra, size_t nextra)
{
    size_t n = req->nheaders + nextra, m = 0;
    struct pair *p = bq_xcalloc(n ? n : 1, sizeof *p);
    int rc = 0;
    bool host = false;
    for (size_t i = 0; i < n && !rc; i++) {
        const struct bq_sigv4_kv *kv = i < req->nheaders ? &req->headers[i] : &extra[i - req->nheaders];
        if (!kv->name) {
            rc = -1;
            break;
        }
        char *lname = lower_dup(kv->name);
        if (!lname) {
            rc = -1;
            break;
        }
        if (i < req->nheaders &&
            (skip_header(lname) || (skip_sha256 && !strcmp(lname, "x-amz-content-sha256")))) {
            free(lname);
            continue;
        }
        host |= !strcmp(lname, "host");
        p[m].k = lname;
        p[m].v = trimall(kv->value ? kv->value : "");
        p[m].idx = i;
        if (!p[m++].v)
            rc = -1;
    }
    if (!rc && !host)
        rc = -1;
    if (!rc) {
        qsort(p, m, sizeof *p, cmp_hpair);
        for (size_t i = 0; i < m; i++) {
            bool first = i == 0 || strcmp(p[i].k, p[i - 1].k);
            bool last = i + 1 == m || strcmp(p[i].k, p[i + 1].k);
            if (first) {
                if (signed_h->len)
                    rc |= cat(signed_h, ";");
                rc |= cat(signed_h, p[i].k);
                rc |= cat(canon, p[i].k);
                rc |= cat(canon, ":");
            } else {
                rc |= cat(canon, ",");
            }
            rc |= cat(canon, p[i].v);
            if (last)
                rc |= cat(canon, "\n");
        }
    }
    free_pairs(p, m);
    return rc ? -1 : 0;
}

/* --- the signing core ------------------------------------------------------- */

static bool has_token(const struct bq_sigv4_creds *c)
{
    return c->session_token && *c->session_token;
}

static bool valid(const struct bq_sigv4_request *req, const struct bq_sigv4_creds *creds,
                  const struct bq_sigv4_options *opt)
{
    return req && creds && opt && req->method && *req->method && req->path && req->service &&
           *req->service && req->region && *req->region && creds->access_key_id &&
           *creds->access_key_id && creds->secret_access_key &&
           (req->nquery == 0 || req->query) && (req->nheaders == 0 || req->headers);
}

static char *detach(struct bq_buf *b)
{
    bq_buf_cstr(b);
    char *d = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

/* Fills amz_date and credential. */
static int scope(const struct bq_sigv4_request *req, const struct bq_sigv4_creds *creds,
                 struct bq_sigv4_result *res)
{
    struct tm tm;
    if (!gmtime_r(&req->time, &tm) || tm.tm_year < 0 - 1900 || tm.tm_year > 9999 - 1900 ||
        strftime(res->amz_date, sizeof res->amz_date, "%Y%m%dT%H%M%SZ", &tm) != 16)
        return -1;
    struct bq_buf b = { 0 };
    if (bq_buf_printf(&b, "%s/%.8s/%s/%s/aws4_request", creds->access_key_id, res->amz_date,
                      req->region, req->service) < 0)
        return -1;
    res->credential = detach(&b);
    return 0;
}

/* Canonical request -> string to sign -> signature. `auth` are encoded
 * query pairs that join the caller's (presigning); `extra` are the signer's
 * headers (header signing). */
static int sign(const struct bq_sigv4_request *req, const struct bq_sigv4_creds *creds,
                const struct bq_sigv4_options *opt, bool header_mode,
                const struct bq_sigv4_kv *auth, size_t nauth,
                const struct bq_sigv4_kv *extra, size_t nextra, struct bq_sigv4_result *res)
{
    struct bq_buf cr = { 0 }, hdrs = { 0 }, sh = { 0 }, sts = { 0 };
    int rc = 0;
    /* presigning computed signed_headers already (they are in its query) */
    if (canonical_headers(&hdrs, &sh, req, header_mode && opt->sign_content_sha256, extra, nextra) < 0)
        goto fail;
    if (!res->signed_headers && !(res->signed_headers = detach(&sh)))
        goto fail;

    rc |= cat(&cr, req->method);
    rc |= cat(&cr, "\n");
    rc |= canonical_uri(&cr, req->path, opt);
    rc |= cat(&cr, "\n");
    rc |= canonical_query(&cr, req->query, req->nquery, auth, nauth);
    rc |= cat(&cr, "\n");
    rc |= bq_buf_append(&cr, hdrs.data ? hdrs.data : "", hdrs.len);
    rc |= cat(&cr, "\n");
    rc |= cat(&cr, res->signed_headers);
    rc |= cat(&cr, "\n");
    rc |= cat(&cr, req->payload_hash ? req->payload_hash : BQ_SIGV4_EMPTY_SHA256);
    char crhash[65];
    if (rc || bq_sigv4_sha256_hex(cr.data, cr.len, crhash) < 0)
        goto fail;

    /* date/region/service/aws4_request */
    const char *scope_s = res->credential + strlen(creds->access_key_id) + 1;
    rc |= bq_buf_printf(&sts, ALGORITHM "\n%s\n%s\n%s", res->amz_date, scope_s, crhash);
    if (rc)
        goto fail;

    /* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
    size_t sl = strlen(creds->secret_access_key);
    char *k0 = malloc(sl + 5);   /* exact size: never realloc'd, so no stray copies */
    unsigned char k[2][32], sig[32];
    if (!k0)
        goto fail;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, creds->secret_access_key, sl + 1);
    rc |= hmac(k0, sl + 4, res->amz_date, 8, k[0]);
    rc |= hmac(k[0], 32, req->region, strlen(req->region), k[1]);
    rc |= hmac(k[1], 32, req->service, strlen(req->service), k[0]);
    rc |= hmac(k[0], 32, "aws4_request", 12, k[1]);
    rc |= hmac(k[1], 32, sts.data, sts.len, sig);
    bq_secure_zero(k0, sl + 4);
    bq_secure_zero(k, sizeof k);
    free(k0);
    if (rc)
        goto fail;
    to_hex(sig, 32, res->signature);
    res->canonical_request = detach(&cr);
    res->string_to_sign = detach(&sts);
    goto out;
fail:
    rc = -1;
out:
    bq_buf_free_secure(&cr);   /* may hold the session token */
    bq_buf_free_secure(&hdrs);
    bq_buf_free(&sh);
    bq_buf_free(&sts);
    return rc ? -1 : 0;
}

/* Copies the values of res->add[] into one block owned by the result. */
static int own_values(struct bq_sigv4_result *res)
{
    struct bq_buf b = { 0 };
    size_t off[BQ_SIGV4_MAX_ADD];
    int rc = 0;
    for (size_t i = 0; i < res->nadd; i++) {
        off[i] = b.len;
        rc |= bq_buf_append(&b, res->add[i].value, strlen(res->add[i].value) + 1);
    }
    if (rc) {
        bq_buf_free_secure(&b);
        return -1;
    }
    res->values_ = b.data;
    for (size_t i = 0; i < res->nadd; i++)
        res->add[i].value = res->values_ + off[i];
    return 0;
}

static void add(struct bq_sigv4_result *res, const char *name, const char *value)
{
    res->add[res->nadd].name = name;
    res->add[res->nadd++].value = value;
}

int bq_sigv4_sign_headers(const struct bq_sigv4_request *req, const struct bq_sigv4_creds *creds,
                          const struct bq_sigv4_options *opt, struct bq_sigv4_result *res)
{
    memset(res, 0, sizeof *res);
    if (!valid(req, creds, opt) || scope(req, creds, res) < 0)
        goto fail;
    const char *payload = req->payload_hash ? req->payload_hash : BQ_SIGV4_EMPTY_SHA256;
    bool token = has_token(creds), token_signed = token && opt->token_mode == BQ_SIGV4_TOKEN_SIGNED;

    struct bq_sigv4_kv extra[3];
    size_t nextra = 0;
    extra[nextra++] = (struct bq_sigv4_kv){ "x-amz-date", res->amz_date };
    if (token_signed)
        extra[nextra++] = (struct bq_sigv4_kv){ "x-amz-security-token", creds->session_token };
    if (opt->sign_content_sha256)
        extra[nextra++] = (struct bq_sigv4_kv){ "x-amz-content-sha256", payload };
    if (sign(req, creds, opt, true, NULL, 0, extra, nextra, res) < 0)
        goto fail;

    struct bq_buf a = { 0 };
    if (bq_buf_printf(&a, ALGORITHM " Credential=%s, SignedHeaders=%s, Signature=%s",
                      res->credential, res->signed_headers, res->signature) < 0)
        goto fail;
    res->authorization = detach(&a);

    /* the order the suite's signed requests (aws-c-auth) append them in */
    if (token)
        add(res, "X-Amz-Security-Token", creds->session_token);
    add(res, "X-Amz-Date", res->amz_date);
    if (opt->sign_content_sha256)
        add(res, "x-amz-content-sha256", payload);
    add(res, "Authorization", res->authorization);
    if (own_values(res) < 0)
        goto fail;
    return 0;
fail:
    bq_sigv4_result_free(res);
    return -1;
}

int bq_sigv4_presign(const struct bq_sigv4_request *req, const struct bq_sigv4_creds *creds,
                     const struct bq_sigv4_options *opt, long expires, struct bq_sigv4_result *res)
{
    memset(res, 0, sizeof *res);
    struct bq_buf cred = { 0 }, shq = { 0 }, tok = { 0 }, q = { 0 };
    char exp[24];
    if (!valid(req, creds, opt) || expires < 1 || expires > 604800 || scope(req, creds, res) < 0)
        goto fail;
    snprintf(exp, sizeof exp, "%ld", expires);
    bool token = has_token(creds);

    /* SignedHeaders goes into the signed query, so compute it first. */
    struct bq_buf h = { 0 };
    int rc = canonical_headers(&h, &shq, req, false, NULL, 0);
    bq_buf_free(&h);
    if (rc < 0)
        goto fail;
    res->signed_headers = detach(&shq);
    if (!res->signed_headers || enc(&cred, res->credential) < 0 || enc(&shq, res->signed_headers) < 0 ||
        (token && enc(&tok, creds->session_token) < 0))
        goto fail;

    /* botocore's SigV4QueryAuth order (a dict, so insertion order) */
    add(res, "X-Amz-Algorithm", ALGORITHM);
    add(res, "X-Amz-Credential", bq_buf_cstr(&cred));
    add(res, "X-Amz-Date", res->amz_date);
    add(res, "X-Amz-Expires", exp);
    add(res, "X-Amz-SignedHeaders", bq_buf_cstr(&shq));
    if (token)
        add(res, "X-Amz-Security-Token", bq_buf_cstr(&tok));
    size_t nsigned = res->nadd - (token && opt->token_mode != BQ_SIGV4_TOKEN_SIGNED);
    if (sign(req, creds, opt, false, res->add, nsigned, NULL, 0, res) < 0)
        goto fail;
    add(res, "X-Amz-Signature", res->signature);

    rc = bq_sigv4_encode_query(&q, req->query, req->nquery);
    for (size_t i = 0; i < res->nadd; i++)
        rc |= bq_buf_printf(&q, "%s%s=%s", q.len ? "&" : "", res->add[i].name, res->add[i].value);
    if (rc < 0 || own_values(res) < 0)
        goto fail;
    res->query = detach(&q);
    if (!res->query)
        goto fail;
    bq_buf_free(&cred);
    bq_buf_free(&shq);
    bq_buf_free_secure(&tok);
    return 0;
fail:
    bq_buf_free(&cred);
    bq_buf_free(&shq);
    bq_buf_free_secure(&tok);
    bq_buf_free_secure(&q);
    bq_sigv4_result_free(res);
    return -1;
}

static void free_secret(char *s)
{
    if (s) {
        bq_secure_zero(s, strlen(s));
        free(s);
    }
}

void bq_sigv4_result_free(struct bq_sigv4_result *res)
{
    if (!res)
        return;
    if (res->values_) {   /* NUL-separated block: zero up to the last value's end */
        const char *end = res->values_;
        for (size_t i = 0; i < res->nadd; i++)
            if (res->add[i].value >= end)
                end = res->add[i].value + strlen(res->add[i].value) + 1;
        bq_secure_zero(res->values_, (size_t)(end - res->values_));
        free(res->values_);
    }
    free_secret(res->query);
    free_secret(res->authorization);
    free_secret(res->canonical_request);
    free_secret(res->string_to_sign);
    free(res->signed_headers);
    free(res->credential);
    bq_secure_zero(res, sizeof *res);
}

int bq_sigv4_rds_token(const char *host, unsigned port, const char *user, const char *region,
                       const struct bq_sigv4_creds *creds, time_t t, struct bq_buf *out)
{
    /* Characters that would make botocore's urlsplit read the endpoint
     * differently (or make a header of it) are refused, not guessed at. */
    if (!host || !*host || strpbrk(host, "/?#@[]: \t\r\n") || !port || port > 65535 || !user ||
        !region)
        return -1;
    /* botocore's _host_from_url: lowercased, default https port dropped */
    struct bq_buf hosth = { 0 };
    int rc = cat(&hosth, host);
    for (size_t i = 0; i < hosth.len; i++)
        hosth.data[i] = (char)tolower((unsigned char)hosth.data[i]);
    if (port != 443)
        rc |= bq_buf_printf(&hosth, ":%u", port);
    if (rc < 0) {
        bq_buf_free(&hosth);
        return -1;
    }
    const struct bq_sigv4_kv headers[] = { { "host", bq_buf_cstr(&hosth) } };
    const struct bq_sigv4_kv query[] = { { "Action", "connect" }, { "DBUser", user } };
    const struct bq_sigv4_request req = {
        .method = "GET", .path = "/", .query = query, .nquery = 2,
        .headers = headers, .nheaders = 1, .payload_hash = BQ_SIGV4_EMPTY_SHA256,
        .service = "rds-db", .region = region, .time = t,
    };
    struct bq_sigv4_result res;
    rc = bq_sigv4_presign(&req, creds, &BQ_SIGV4_OPTIONS_GENERIC, 900, &res);
    bq_buf_free(&hosth);
    if (rc < 0)
        return -1;
    /* the URL keeps the host as given (botocore only lowercases the header) */
    rc = bq_buf_printf(out, "%s:%u/?%s", host, port, res.query);
    bq_sigv4_result_free(&res);
    return rc;
}
