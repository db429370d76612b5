/* s3_local: the --s3-root backend. s3://b/k is the file ROOT/b/k, reached one
 * component at a time with O_NOFOLLOW, so neither a key ('.', '..', empty
 * segments, NUL) nor a symbolic link inside ROOT can lead outside it. Puts
 * are atomic (temporary file in the same folder, fsync, rename). Plain C. */
#ifndef BQ_S3_LOCAL_H
#define BQ_S3_LOCAL_H

#include "s3.h"

int bq_s3_local_get(const char *root, const char *bucket, const char *key, const char *range,
                    bq_s3_sink_fn sink, void *ud, struct bq_s3_meta *meta, uint64_t *total,
                    struct bq_s3_error *err);
int bq_s3_local_head(const char *root, const char *bucket, const char *key, struct bq_s3_meta *meta,
                     struct bq_s3_error *err);
int bq_s3_local_put(const char *root, const char *bucket, const char *key, const void *body, size_t len,
                    char etag[80], struct bq_s3_error *err);
int bq_s3_local_delete(const char *root, const char *bucket, const char *key, struct bq_s3_error *err);
int bq_s3_local_list_page(const char *root, const char *bucket, const char *prefix, const char *token,
                          struct bq_s3_list_page *page, struct bq_s3_error *err);

/* A file being written: a temporary file beside the final name. */
struct bq_s3_local_file {
    int dirfd, fd;
    char *tmpname, *name;
    void *md5;                /* EVP_MD_CTX */
    uint64_t size;
};
int bq_s3_local_open(const char *root, const char *bucket, const char *key, struct bq_s3_local_file *f,
                     struct bq_s3_error *err);
int bq_s3_local_write(struct bq_s3_local_file *f, const void *data, size_t len, struct bq_s3_error *err);
/* fsync + rename; the file is closed either way (discarded on failure). */
int bq_s3_local_commit(struct bq_s3_local_file *f, char etag[80], struct bq_s3_error *err);
void bq_s3_local_discard(struct bq_s3_local_file *f);

#endif
