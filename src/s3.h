/* s3: the S3 service (SPEC §3 s3), plain C, no Lua.
 *
 * Addressing: virtual-hosted https://BUCKET.s3.REGION.amazonaws.com/KEY by
 * default; path-style ENDPOINT/BUCKET/KEY for a custom endpoint, for
 * --path-style, and for bucket names with dots (their TLS names would not
 * match the wildcard certificate). Every request is signed (SigV4, with the
 * payload's real SHA-256 in x-amz-content-sha256) and retried per retry.h;
 * a wrong-region answer (301/400 with x-amz-bucket-region) is retried once
 * in that region, which is then remembered for the bucket.
 *
 * With a root directory (--s3-root) the same calls work on local files
 * (s3_local.c). Thread-safe: a writer's workers share the service. */
#ifndef BQ_S3_H
#define BQ_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "s3_xml.h"
#include "util.h"

struct bq_s3_config {
    const char *region;         /* NULL: us-east-1 */
    const char *endpoint;       /* NULL: AWS */
    bool path_style;
    const char *ca_bundle;      /* NULL: the http default */
    bool allow_http;            /* the endpoint is http:// and the CLI allowed it */
    const char *root;           /* --s3-root: local files instead of requests */
};

struct bq_s3_error {
    enum bq_http_err_kind kind; /* HTTP for an S3 error answer */
    long status;                /* HTTP status, 0 when none */
    bool retryable;             /* worth trying again later (retries were spent) */
    char code[64];              /* S3's code (NoSuchKey, ...) or a transport kind name */
    char message[400];
    char request_id[128];
};

struct bq_s3;
struct bq_s3 *bq_s3_new(const struct bq_s3_config *cfg);   /* copies cfg; never NULL */
void bq_s3_free(struct bq_s3 *s3);
bool bq_s3_is_local(const struct bq_s3 *s3);
bool bq_s3_is_tls(const struct bq_s3 *s3);        /* requests go over HTTPS (not local, not an http:// endpoint) */
const char *bq_s3_root(const struct bq_s3 *s3);   /* --s3-root, or NULL */

/* The URL for bucket/key (key encoded, '/' kept) in region; for tests.
 * *host gets the Host header value. Both malloc'd. 0 or -1. */
int bq_s3_build_url(const struct bq_s3_config *cfg, const char *region, const char *bucket,
                    const char *key, char **url, char **host);

/* --- objects ------------------------------------------------------------------ */
struct bq_s3_meta {
    uint64_t size;
    char etag[80];
    char content_type[128];
    char last_modified[64];     /* as the server sends it (HTTP date) */
    struct bq_http_header *metadata;   /* x-amz-meta-* without the prefix, lowercase */
    size_t n_metadata;
};
void bq_s3_meta_free(struct bq_s3_meta *m);

/* GetObject, streamed to sink (return 0, or -1 to stop: error kind INTERNAL).
 * range ("bytes=0-99") and version_id may be NULL; if_match (an ETag) makes a
 * changed object fail with 412. A retry after part of the body arrived skips
 * what the sink already got. meta (may be NULL) gets size/etag/content type;
 * for a range, *total (may be NULL) gets the whole object's size.
 * A range past the end (416) is reported as code InvalidRange. 0 or -1. */
typedef int (*bq_s3_sink_fn)(const char *data, size_t len, void *ud);
int bq_s3_get(struct bq_s3 *s3, const char *bucket, const char *key, const char *version_id,
              const char *range, const char *if_match, bq_s3_sink_fn sink, void *ud,
              struct bq_s3_meta *meta, uint64_t *total, struct bq_s3_error *err);

/* HeadObject: 1 found (meta filled: free it), 0 absent (404), -1 error. */
int bq_s3_head(struct bq_s3 *s3, const char *bucket, const char *key, const char *version_id,
               struct bq_s3_meta *meta, struct bq_s3_error *err);

struct bq_s3_put_opts {
    const char *content_type;
    const struct bq_http_header *metadata;   /* names without x-amz-meta- */
    size_t n_metadata;
    const char *sse;            /* "AES256" | "aws:kms" | NULL */
    const char *kms_key_id;
    const char *storage_class;
};

/* PutObject from memory; etag (may be NULL) gets the ETag (quotes kept). 0 or -1. */
int bq_s3_put(struct bq_s3 *s3, const char *bucket, const char *key, const void *body, size_t len,
              const struct bq_s3_put_opts *opts, char etag[80], struct bq_s3_error *err);

/* DeleteObject (absent objects are not an error, as in S3). 0 or -1. */
int bq_s3_delete(struct bq_s3 *s3, const char *bucket, const char *key, struct bq_s3_error *err);
/* The same as a cleanup request: it goes out even while the process stops
 * (undoing the parts a failed or interrupted export completed). */
int bq_s3_delete_cleanup(struct bq_s3 *s3, const char *bucket, const char *key, struct bq_s3_error *err);

/* One ListObjectsV2 page (up to 1000 keys) after token (NULL: the first). 0 or -1. */
int bq_s3_list_page(struct bq_s3 *s3, const char *bucket, const char *prefix, const char *token,
                    struct bq_s3_list_page *page, struct bq_s3_error *err);

/* --- multipart ------------------------------------------------------------------ */
int bq_s3_mpu_create(struct bq_s3 *s3, const char *bucket, const char *key,
                     const struct bq_s3_put_opts *opts, char **upload_id, struct bq_s3_error *err);
/* data's SHA-256 is computed before sending (the signature covers it).
 * give_up (optional): see struct bq_http_request; retries stop with it. */
int bq_s3_mpu_upload_part(struct bq_s3 *s3, const char *bucket, const char *key, const char *upload_id,
                          int part_number, const void *data, size_t len, bool (*give_up)(void *),
                          void *give_up_ud, char etag[80], struct bq_s3_error *err);
/* A part sent while it is still being produced: read_fn supplies exactly len
 * bytes and may block until they exist (seek_fn rewinds to 0, if curl asks).
 * The payload goes UNSIGNED-PAYLOAD (its hash is not known before the first
 * byte), in one attempt: on any failure the caller sends the whole part
 * again with bq_s3_mpu_upload_part, which S3 keeps instead. *md5_etag tells
 * whether the answered ETag is the part's MD5 (not so with SSE-KMS/SSE-C).
 * give_up as for bq_s3_mpu_upload_part. */
int bq_s3_mpu_upload_part_stream(struct bq_s3 *s3, const char *bucket, const char *key, const char *upload_id,
                                 int part_number, size_t len, bq_http_read_fn read_fn, bq_http_seek_fn seek_fn,
                                 void *ud, bool (*give_up)(void *), void *give_up_ud, char etag[80],
                                 bool *md5_etag, struct bq_s3_error *err);
/* etags[i] is part i+1's. A 200 answer with an <Error> body is a failure.
 * 404 NoSuchUpload usually means that an attempt whose answer was lost (a
 * broken connection, a timeout; libcurl may have resent it unseen) completed
 * the upload: it is taken as done (logged at warn) if the object at the key
 * has the ETag the parts make (bq_s3_multipart_etag, HEAD), else it fails
 * with NoSuchUpload and why. */
int bq_s3_mpu_complete(struct bq_s3 *s3, const char *bucket, const char *key, const char *upload_id,
                       char (*etags)[80], int nparts, char etag[80], struct bq_s3_error *err);
/* The MD5 an ETag names: 32 hex digits, quoted or not. false for any other
 * ETag (a multipart object's, SSE-KMS's, other stores' opaque ones). */
bool bq_s3_etag_md5(const char *etag, unsigned char md5[16]);
/* The ETag S3 gives an object made by a multipart upload of these parts:
 * "hex(MD5(the parts' binary MD5s))-N", quotes included. -1 when a part's
 * ETag is not a plain MD5 (SSE-KMS, SSE-C: S3's ETag is then no digest). */
int bq_s3_multipart_etag(char (*etags)[80], int nparts, char etag[80]);
/* A cleanup request (http.h): it goes out even after a limit or SIGTERM
 * (bq_cancelled()), with short timeouts and, then, one quick retry.
 * An upload that is already gone (404 NoSuchUpload) is a success. */
int bq_s3_mpu_abort(struct bq_s3 *s3, const char *bucket, const char *key, const char *upload_id,
                    struct bq_s3_error *err);

/* --- writer: a streamed upload -------------------------------------------------
 * Buffers part_size bytes, then uploads parts on two worker threads while
 * the caller keeps writing: BQ_S3_WRITER_BUFFERS buffers, the one filling
 * streamed as it fills while the other is in flight (see s3_writer.c), so
 * memory stays at two parts. An object smaller than one part is sent as one
 * PutObject at close. On the local backend: a temporary file renamed at close. */
#define BQ_S3_PART_SIZE_DEFAULT (8u << 20)
#define BQ_S3_PART_SIZE_MIN (5u << 20)
#define BQ_S3_PART_SIZE_MAX (5ull << 30)
#define BQ_S3_WRITER_BUFFERS 2
#define BQ_S3_MAX_PARTS 10000

struct bq_s3_writer;
struct bq_s3_writer_result {
    char etag[80];
    uint64_t size;
    int parts;
};
/* No request is made yet. opts is copied. NULL only on OOM/local open failure (err). */
struct bq_s3_writer *bq_s3_writer_new(struct bq_s3 *s3, const char *bucket, const char *key,
                                      const struct bq_s3_put_opts *opts, size_t part_size,
                                      struct bq_s3_error *err);
/* 0, or -1: the writer has failed (and aborted its upload); later calls fail too. */
int bq_s3_writer_write(struct bq_s3_writer *w, const void *data, size_t len, struct bq_s3_error *err);
int bq_s3_writer_close(struct bq_s3_writer *w, struct bq_s3_writer_result *res, struct bq_s3_error *err);
/* Stops the workers (the part uploads in flight are given up within
 * ~100 ms), then aborts the upload if one was started, even after a limit
 * or SIGTERM. Idempotent.
 * Returns true if there was an upload in progress to abort. */
bool bq_s3_writer_abort(struct bq_s3_writer *w);
/* After an abort: NULL if the upload is gone, else why the
 * AbortMultipartUpload failed (the upload may be left behind). */
const struct bq_s3_error *bq_s3_writer_abort_error(const struct bq_s3_writer *w);
/* The upload's id once one is started, else NULL. */
const char *bq_s3_writer_upload_id(const struct bq_s3_writer *w);
void bq_s3_writer_free(struct bq_s3_writer *w);    /* aborts first if still open */
const char *bq_s3_writer_bucket(const struct bq_s3_writer *w);
const char *bq_s3_writer_key(const struct bq_s3_writer *w);

/* Last-chance cleanup from another thread (the watchdog's hard stop, which
 * ends the process right after): sends AbortMultipartUpload for every
 * writer's upload that is started and neither completed nor aborted yet, on
 * a helper thread with an ordinary stack, and waits for it at most
 * max_seconds. Thread-safe; cleanup requests (see bq_s3_mpu_abort). Returns how many
 * uploads were open. */
int bq_s3_abort_open_uploads(double max_seconds);

#endif
