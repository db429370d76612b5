#include "s3_local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define TMP_PREFIX ".bqlua-tmp-"

static int fail(struct bq_s3_error *e, long status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct bq_s3_error *e, long status, const char *code, const char *fmt, ...)
{
    memset(e, 0, sizeof *e);
    e->kind = BQ_HTTP_ERR_HTTP;
    e->status = status;
    snprintf(e->code, sizeof e->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* Keys: segments separated by '/', none empty, '.' or '..', none our temp prefix. */
static bool key_ok(const char *key)
{
    if (!*key)
        return false;
    const char *p = key;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.') ||
            !strncmp(p, TMP_PREFIX, strlen(TMP_PREFIX)))
            return false;
        if (!p[n])
            return true;
        p += n + 1;
    }
}

/* Opens ROOT/bucket/<dirs of key> without following links; create makes the
 * folders. Returns the folder's fd and sets *leaf to the key's last segment. */
static int open_parent(const char *root, const char *bucket, const char *key, bool create,
                       const char **leaf, struct bq_s3_error *err)
{
    if (!key_ok(key) || !key_ok(bucket) || strchr(bucket, '/'))
        return fail(err, 400, "InvalidArgument",
                    "key not allowed with --s3-root (empty, '.' or '..' segments)");
    int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return fail(err, 500, "InternalError", "--s3-root %s: %s", root, strerror(errno));
    int fd = openat(rfd, bucket, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(rfd);
    if (fd < 0)
        return errno == ELOOP || errno == ENOTDIR
                   ? fail(err, 403, "AccessDenied", "the bucket folder is a link or not a folder")
                   : fail(err, 404, "NoSuchBucket", "the bucket does not exist under --s3-root");
    const char *p = key;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (!p[n])
            break;
        char seg[256];
        if (n >= sizeof seg) {
            close(fd);
            return fail(err, 400, "KeyTooLongError", "a key segment is too long");
        }
        memcpy(seg, p, n);
        seg[n] = '\0';
        int nfd = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, seg, 0777) < 0 && errno != EEXIST) {
                int e = errno;
                close(fd);
                return fail(err, 500, "InternalError", "cannot create a folder: %s", strerror(e));
            }
            nfd = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        int e = errno;
        struct stat lst;
        if (nfd < 0 && fstatat(fd, seg, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode))
            e = ELOOP;
        close(fd);
        if (nfd < 0) {
            if (e == ELOOP)
                return fail(err, 403, "AccessDenied", "a symbolic link in the path is refused");
            if (e == ENOTDIR && create)
                return fail(err, 409, "InvalidArgument", "a prefix of the key is an object");
            return fail(err, 404, "NoSuchKey", "The specified key does not exist.");
        }
        fd = nfd;
        p += n + 1;
    }
    *leaf = p;
    return fd;
}

static int open_object(const char *root, const char *bucket, const char *key, struct stat *st,
                       struct bq_s3_error *err)
{
    const char *leaf;
    int dfd = open_parent(root, bucket, key, false, &leaf, err);
    if (dfd < 0)
        return -1;
    int fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    struct stat lst;
    if (fd < 0 && fstatat(dfd, leaf, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode))
        e = ELOOP;
    close(dfd);
    if (fd < 0)
        return e == ELOOP ? fail(err, 403, "AccessDenied", "a symbolic link is refused")
                          : fail(err, 404, "NoSuchKey", "The specified key does not exist.");
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return fail(err, 404, "NoSuchKey", "The specified key does not exist.");
    }
    return fd;
}

static void md5_hex_quoted(EVP_MD_CTX *md, char out[80])
{
    unsigned char d[16];
    unsigned n = 0;
    EVP_DigestFinal_ex(md, d, &n);
    out[0] = '"';
    for (int i = 0; i < 16; i++)
        snprintf(out + 1 + 2 * i, 3, "%02x", d[i]);
    out[33] = '"';
    out[34] = '\0';
}

static int file_etag(int fd, char out[80])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_md5(), NULL)) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    off_t off = 0;
    while ((n = pread(fd, buf, sizeof buf, off)) > 0) {
        EVP_DigestUpdate(md, buf, (size_t)n);
        off += n;
    }
    md5_hex_quoted(md, out);
    EVP_MD_CTX_free(md);
    return n < 0 ? -1 : 0;
}

static void fill_meta(int fd, const struct stat *st, struct bq_s3_meta *m)
{
    memset(m, 0, sizeof *m);
    m->size = (uint64_t)st->st_size;
    file_etag(fd, m->etag);
    snprintf(m->content_type, sizeof m->content_type, "binary/octet-stream");
    struct tm tm;
    gmtime_r(&st->st_mtime, &tm);
    strftime(m->last_modified, sizeof m->last_modified, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

int bq_s3_local_head(const char *root, const char *bucket, const char *key, struct bq_s3_meta *meta,
                     struct bq_s3_error *err)
{
    struct stat st;
    int fd = open_object(root, bucket, key, &st, err);
    if (fd < 0)
        return err->status == 404 && !strcmp(err->code, "NoSuchKey") ? (memset(meta, 0, sizeof *meta), 0) : -1;
    fill_meta(fd, &st, meta);
    close(fd);
    return 1;
}

/* "bytes=a-b", "bytes=a-", "bytes=-n" against size: [*from, *to). 0, or -1 unsatisfiable. */
static int parse_range(const char *r, uint64_t size, uint64_t *from, uint64_t *to)
{
    unsigned long long a = 0, b = 0;
    if (strncmp(r, "bytes=", 6) != 0)
        return -2;
    r += 6;
    if (*r == '-') {
        if (sscanf(r + 1, "%llu", &b) != 1 || b == 0)
            return -1;
        *from = b >= size ? 0 : size - b;
        *to = size;
        return size ? 0 : -1;
    }
    int n = sscanf(r, "%llu-%llu", &a, &b);
    if (n < 1 || a >= size)
        return -1;
    *from = a;
    *to = n == 2 && b + 1 < size ? b + 1 : size;
    return *to > *from ? 0 : -1;
}

int bq_s3_local_get(const char *root, const char *bucket, const char *key, const char *range,
                    bq_s3_sink_fn sink, void *ud, struct bq_s3_meta *meta, uint64_t *total,
                    struct bq_s3_error *err)
{
    struct stat st;
    int fd = open_object(root, bucket, key, &st, err);
    if (fd < 0)
        return -1;
    uint64_t from = 0, to = (uint64_t)st.st_size;
    if (range) {
        int r = parse_range(range, (uint64_t)st.st_size, &from, &to);
        if (r == -1) {
            close(fd);
            return fail(err, 416, "InvalidRange", "The requested range is not satisfiable");
        }
        if (r == -2) {
            from = 0;                  /* S3 ignores a range it cannot parse */
            to = (uint64_t)st.st_size;
        }
    }
    if (total)
        *total = (uint64_t)st.st_size;
    if (meta) {
        fill_meta(fd, &st, meta);
        meta->size = to - from;
    }
    char buf[65536];
    while (from < to) {
        size_t want = to - from < sizeof buf ? (size_t)(to - from) : sizeof buf;
        ssize_t n = pread(fd, buf, want, (off_t)from);
        if (n <= 0) {
            close(fd);
            if (meta)
                bq_s3_meta_free(meta);
            return fail(err, 500, "InternalError", "read error");
        }
        if (sink(buf, (size_t)n, ud) < 0) {
            close(fd);
            if (meta)
                bq_s3_meta_free(meta);
            err->kind = BQ_HTTP_ERR_INTERNAL;
            return fail(err, 0, "Aborted", "the reader stopped");
        }
        from += (uint64_t)n;
    }
    close(fd);
    return 0;
}

int bq_s3_local_open(const char *root, const char *bucket, const char *key, struct bq_s3_local_file *f,
                     struct bq_s3_error *err)
{
    memset(f, 0, sizeof *f);
    f->dirfd = f->fd = -1;
    const char *leaf;
    int dfd = open_parent(root, bucket, key, true, &leaf, err);
    if (dfd < 0)
        return -1;
    char tmp[128];
    for (int i = 0; i < 100; i++) {
        snprintf(tmp, sizeof tmp, TMP_PREFIX "%ld-%08lx", (long)getpid(), (unsigned long)random());
        f->fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (f->fd >= 0 || errno != EEXIST)
            break;
    }
    if (f->fd < 0) {
        int e = errno;
        close(dfd);
        return fail(err, 500, "InternalError", "cannot create a file: %s", strerror(e));
    }
    f->dirfd = dfd;
    f->tmpname = bq_xstrdup(tmp);
    f->name = bq_xstrdup(leaf);
    f->md5 = EVP_MD_CTX_new();
    if (!f->md5 || !EVP_DigestInit_ex(f->md5, EVP_md5(), NULL)) {
        bq_s3_local_discard(f);
        return fail(err, 500, "InternalError", "cannot initialise MD5");
    }
    return 0;
}

int bq_s3_local_write(struct bq_s3_local_file *f, const void *data, size_t len, struct bq_s3_error *err)
{
    const char *p = data;
    EVP_DigestUpdate(f->md5, data, len);
    while (len) {
        ssize_t n = write(f->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return fail(err, 500, "InternalError", "write error: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
        f->size += (uint64_t)n;
    }
    return 0;
}

void bq_s3_local_discard(struct bq_s3_local_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->dirfd >= 0) {
        if (f->tmpname)
            unlinkat(f->dirfd, f->tmpname, 0);
        close(f->dirfd);
    }
    EVP_MD_CTX_free(f->md5);
    free(f->tmpname);
    free(f->name);
    memset(f, 0, sizeof *f);
    f->dirfd = f->fd = -1;
}

int bq_s3_local_commit(struct bq_s3_local_file *f, char etag[80], struct bq_s3_error *err)
{
    if (fsync(f->fd) < 0 || close(f->fd) < 0) {
        f->fd = -1;
        int e = errno;
        bq_s3_local_discard(f);
        return fail(err, 500, "InternalError", "cannot write the file: %s", strerror(e));
    }
    f->fd = -1;
    struct stat st;
    if (fstatat(f->dirfd, f->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        bq_s3_local_discard(f);
        return fail(err, 409, "InvalidArgument", "the key names a folder of other keys");
    }
    if (fstatat(f->dirfd, f->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        bq_s3_local_discard(f);
        return fail(err, 403, "AccessDenied", "a symbolic link is refused");
    }
    if (renameat(f->dirfd, f->tmpname, f->dirfd, f->name) < 0) {
        int e = errno;
        bq_s3_local_discard(f);
        return fail(err, 500, "InternalError", "cannot rename into place: %s", strerror(e));
    }
    fsync(f->dirfd);
    free(f->tmpname);
    f->tmpname = NULL;                 /* renamed: nothing to unlink */
    if (etag)
        md5_hex_quoted(f->md5, etag);
    bq_s3_local_discard(f);
    return 0;
}

int bq_s3_local_put(const char *root, const char *bucket, const char *key, const void *body, size_t len,
                    char etag[80], struct bq_s3_error *err)
{
    struct bq_s3_local_file f;
    if (bq_s3_local_open(root, bucket, key, &f, err) < 0)
        return -1;
    if (bq_s3_local_write(&f, body, len, err) < 0) {
        bq_s3_local_discard(&f);
        return -1;
    }
    return bq_s3_local_commit(&f, etag, err);
}

int bq_s3_local_delete(const char *root, const char *bucket, const char *key, struct bq_s3_error *err)
{
    const char *leaf;
    int dfd = open_parent(root, bucket, key, false, &leaf, err);
    if (dfd < 0)
        return err->status == 404 && !strcmp(err->code, "NoSuchKey") ? 0 : -1;
    struct stat st;
    int rc = 0;
    if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && unlinkat(dfd, leaf, 0) < 0)
        rc = fail(err, 500, "InternalError", "cannot delete: %s", strerror(errno));
    close(dfd);
    return rc;
}

/* --- list: walk the bucket folder, keep keys with the prefix, sort ------------- */

struct keys {
    struct bq_s3_object *v;
    size_t n, cap;
};

static void walk(int dfd, struct bq_buf *path, const char *prefix, struct keys *k, int depth)
{
    if (depth > 64)
        return;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            !strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
            continue;
        size_t save = path->len;
        bq_buf_append(path, e->d_name, strlen(e->d_name));
        const char *p = bq_buf_cstr(path);
        size_t pl = strlen(prefix), l = path->len;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (S_ISDIR(st.st_mode)) {
                /* descend only where the prefix can still match */
                if (strncmp(p, prefix, l < pl ? l : pl) == 0) {
                    bq_buf_append(path, "/", 1);
                    int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                    if (sub >= 0)
                        walk(sub, path, prefix, k, depth + 1);
                }
            } else if (S_ISREG(st.st_mode) && l >= pl && !strncmp(p, prefix, pl)) {
                if (k->n == k->cap) {
                    k->cap = k->cap ? k->cap * 2 : 256;
                    k->v = realloc(k->v, k->cap * sizeof *k->v);
                    if (!k->v)
                        abort();
                }
                struct bq_s3_object *o = &k->v[k->n++];
                memset(o, 0, sizeof *o);
                o->key = bq_xstrdup(p);
                o->size = (uint64_t)st.st_size;
                char lm[40];
                struct tm tm;
                gmtime_r(&st.st_mtime, &tm);
                strftime(lm, sizeof lm, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
                o->last_modified = bq_xstrdup(lm);
            }
        }
        path->len = save;
    }
    closedir(d);
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const struct bq_s3_object *)a)->key, ((const struct bq_s3_object *)b)->key);
}

int bq_s3_local_list_page(const char *root, const char *bucket, const char *prefix, const char *token,
                          struct bq_s3_list_page *page, struct bq_s3_error *err)
{
    memset(page, 0, sizeof *page);
    if (!key_ok(bucket) || strchr(bucket, '/'))
        return fail(err, 400, "InvalidBucketName", "invalid bucket");
    int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return fail(err, 500, "InternalError", "--s3-root %s: %s", root, strerror(errno));
    int bfd = openat(rfd, bucket, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(rfd);
    if (bfd < 0)
        return fail(err, 404, "NoSuchBucket", "the bucket does not exist under --s3-root");
    struct keys k = { 0 };
    struct bq_buf path = { 0 };
    walk(bfd, &path, prefix ? prefix : "", &k, 0);
    bq_buf_free(&path);
    if (k.n > 1)   /* an empty listing has no array at all */
        qsort(k.v, k.n, sizeof *k.v, cmp_key);
    size_t i = 0;
    if (token)
        while (i < k.n && strcmp(k.v[i].key, token) <= 0)
            i++;
    for (; i < k.n; i++) {
        struct bq_s3_object *o = &k.v[i];
        if (page->n == 1000) {
            page->truncated = true;
            page->next_token = bq_xstrdup(page->objects[page->n - 1].key);
            break;
        }
        if (page->n == page->cap) {
            page->cap = page->cap ? page->cap * 2 : 64;
            page->objects = realloc(page->objects, page->cap * sizeof *page->objects);
            if (!page->objects)
                abort();
        }
        /* the etag costs a read: only for the keys on this page */
        char et[80] = "";
        struct stat st;
        struct bq_s3_error e2;
        int fd = open_object(root, bucket, o->key, &st, &e2);
        if (fd >= 0) {
            file_etag(fd, et);
            close(fd);
        }
        o->etag = bq_xstrdup(et);
        page->objects[page->n++] = *o;
        memset(o, 0, sizeof *o);
    }
    for (size_t j = 0; j < k.n; j++) {
        free(k.v[j].key);
        free(k.v[j].etag);
        free(k.v[j].last_modified);
    }
    free(k.v);
    return 0;
}
