/* sigv4: AWS Signature Version 4 as pure functions over a request description.
 *
 * Plain C (no Lua, no I/O). Checked against the public aws-signing-test-suite
 * (tests/unit/test_sigv4.c) and against botocore's pure-Python signers
 * (tests/unit/sigv4_botocore.py). The secret key and every key derived from it
 * are zeroed before a call returns; results that carry a signature or a
 * session token are zeroed by bq_sigv4_result_free(). Never log them. */
#ifndef BQ_SIGV4_H
#define BQ_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util.h"

/* Hex SHA-256 of the empty string: the payload hash of a request without a body. */
#define BQ_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define BQ_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* A header (name, value) or a query parameter (key, value). */
struct bq_sigv4_kv {
    const char *name;
    const char *value;          /* NULL is the same as "" */
};

struct bq_sigv4_request {
    const char *method;         /* "GET", ... */
    /* The path as sent on the wire: already percent-encoded by the caller
     * (S3: "/" + bq_sigv4_uri_encode(key, keep_slash)), without the query.
     * "" means "/". */
    const char *path;
    /* Query parameters RAW (not encoded): the signer encodes each key and
     * value with the SigV4 rules, for the canonical query and for the
     * presigned query alike, so the caller never double-encodes. Build the
     * URL's query from the same pairs with bq_sigv4_encode_query(). */
    const struct bq_sigv4_kv *query;
    size_t nquery;
    /* Headers to sign, in any order and case; must include Host. Repeated
     * names are joined with ',' in the given order. Authorization, and the
     * X-Amz-* headers the signer sets itself, are ignored; so are
     * User-Agent, Expect and X-Amzn-Trace-Id (proxies rewrite them; botocore
     * does not sign them either). */
    const struct bq_sigv4_kv *headers;
    size_t nheaders;
    /* Hex SHA-256 of the body, or BQ_SIGV4_UNSIGNED_PAYLOAD; NULL = empty body. */
    const char *payload_hash;
    const char *service;        /* "s3", "rds-db", ... */
    const char *region;
    time_t time;                /* signing time, UTC seconds since the epoch */
};

struct bq_sigv4_creds {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;  /* NULL or "" when the credentials are long-term */
};

enum bq_sigv4_token_mode {
    /* X-Amz-Security-Token is part of what is signed (header: a signed
     * header; presign: a signed query parameter). What S3, STS, rds-db and
     * botocore do. */
    BQ_SIGV4_TOKEN_SIGNED = 0,
    /* Sent, but added after signing (a few services want this; the suite's
     * "omit_session_token"). */
    BQ_SIGV4_TOKEN_UNSIGNED,
};

struct bq_sigv4_options {
    bool normalize_path;        /* fold "." / ".." / "//" (generic services; never S3) */
    bool double_encode_path;    /* encode the (already encoded) path again (generic; never S3) */
    bool sign_content_sha256;   /* header signing adds a signed x-amz-content-sha256 (S3) */
    enum bq_sigv4_token_mode token_mode;
};

/* What S3 wants (no normalization, no double encoding, x-amz-content-sha256). */
#define BQ_SIGV4_OPTIONS_S3 ((struct bq_sigv4_options){ false, false, true, BQ_SIGV4_TOKEN_SIGNED })
/* What other services want (botocore's SigV4Auth). */
#define BQ_SIGV4_OPTIONS_GENERIC ((struct bq_sigv4_options){ true, true, false, BQ_SIGV4_TOKEN_SIGNED })

enum { BQ_SIGV4_MAX_ADD = 8 };

struct bq_sigv4_result {
    /* Header signing: the headers the caller must send in addition to its
     * own, in this order: X-Amz-Security-Token (with a token), X-Amz-Date,
     * x-amz-content-sha256 (sign_content_sha256), Authorization.
     * Presigning: the auth query parameters (encoded values), in botocore's
     * order: X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
     * X-Amz-SignedHeaders, X-Amz-Security-Token (with a token),
     * X-Amz-Signature. Names are static; values point into this result. */
    struct bq_sigv4_kv add[BQ_SIGV4_MAX_ADD];
    size_t nadd;
    /* Presigning: the whole query string, no '?': the caller's parameters
     * (encoded, in the given order) then the auth parameters above. */
    char *query;
    char *authorization;        /* header signing: the Authorization value */
    char amz_date[17];          /* "20150830T123600Z" */
    char signature[65];         /* lowercase hex */
    /* For tests and debugging only: never log them (they may hold a token). */
    char *canonical_request;
    char *string_to_sign;
    char *signed_headers;       /* "host;x-amz-date" */
    char *credential;           /* "AKID/20150830/us-east-1/service/aws4_request" */
    char *values_;              /* storage behind add[].value */
};

/* Header signing (Authorization header). Returns 0, or -1 on a bad
 * description (missing field or Host header, time out of range) or out of
 * memory; *res is then empty. Free with bq_sigv4_result_free(). */
int bq_sigv4_sign_headers(const struct bq_sigv4_request *req, const struct bq_sigv4_creds *creds,
                          const struct bq_sigv4_options *opt, struct bq_sigv4_result *res);

/* Presigning (query-string auth), valid `expires` seconds (1..604800). The
 * payload hash is signed as given (S3 presigns use UNSIGNED-PAYLOAD).
 * sign_content_sha256 is ignored. Returns 0 or -1 as above. */
int bq_sigv4_presign(const struct bq_sigv4_request *req, const struct bq_sigv4_creds *creds,
                     const struct bq_sigv4_options *opt, long expires, struct bq_sigv4_result *res);

/* Zeroes (signature, token) and frees; the result can be reused after. */
void bq_sigv4_result_free(struct bq_sigv4_result *res);

/* The RDS IAM auth token: a presigned GET of
 * https://HOST:PORT/?Action=connect&DBUser=USER for rds-db, valid 900 s,
 * without the "https://", byte-identical to botocore's pure-Python
 * generate_db_auth_token (SigV4QueryAuth). Appends to *out, which holds a
 * credential: free it with bq_buf_free_secure(). Returns 0 or -1. */
int bq_sigv4_rds_token(const char *host, unsigned port, const char *user, const char *region,
                       const struct bq_sigv4_creds *creds, time_t t, struct bq_buf *out);

/* Appends s[0..len) percent-encoded per SigV4: A-Za-z0-9 - . _ ~ kept (and
 * '/' when keep_slash), every other byte as %XX (uppercase). Returns 0 or -1. */
int bq_sigv4_uri_encode(struct bq_buf *out, const char *s, size_t len, bool keep_slash);

/* Appends "k1=v1&k2=v2" (encoded, given order) for a URL. Returns 0 or -1. */
int bq_sigv4_encode_query(struct bq_buf *out, const struct bq_sigv4_kv *q, size_t n);

/* out = lowercase hex SHA-256 of data[0..len). Returns 0 or -1. */
int bq_sigv4_sha256_hex(const void *data, size_t len, char out[65]);

#endif
