/* s3_writer: a streamed upload (see s3.h). The caller's thread fills one
 * buffer; full buffers go to a queue that two worker threads upload as
 * parts. At most BQ_S3_WRITER_BUFFERS buffers exist: when all are busy, the
 * writer waits, which bounds memory whatever the script writes. */
#include "s3.h"
#include "s3_local.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { NWORKERS = 2 };
enum state { W_OPEN, W_CLOSED, W_ABORTED };

struct part {
    char *buf;
    size_t len;
    int number;
};

struct bq_s3_writer {
    struct bq_s3 *s3;
    char *bucket, *key;
    struct bq_s3_put_opts opts;          /* deep copy */
    size_t part_size;
    enum state state;
    uint64_t size;

    bool local;
    struct bq_s3_local_file lf;

    char *upload_id;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *cur;                           /* being filled by the caller */
    size_t cur_len;
    char *spare[BQ_S3_WRITER_BUFFERS];
    int nspare, nalloc;
    struct part queue[BQ_S3_WRITER_BUFFERS];
    int qhead, qn, in_flight;
    char (*etags)[80];
    int nparts, etags_cap;
    bool failed, stop;
    struct bq_s3_error ferr;
    pthread_t threads[NWORKERS];
    int nthreads;

    bool abort_failed;                   /* the AbortMultipartUpload failed: abort_err */
    struct bq_s3_error abort_err;
    /* in the registry of open uploads (reg_mu guards these three) */
    bool registered;
    struct bq_s3_writer *reg_prev, *reg_next;
};

/* --- the registry of open uploads ---------------------------------------------------
 * Every started, not yet completed or aborted upload, so that the watchdog's
 * hard stop (another thread, just before _exit) can abort what the main
 * thread did not get to. bucket, key, upload_id and s3 of a registered
 * writer stay valid until it is unregistered, which takes reg_mu: holding
 * it makes them safe to read from any thread. */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct bq_s3_writer *reg_head;

static void reg_add(struct bq_s3_writer *w)
{
    pthread_mutex_lock(&reg_mu);
    if (!w->registered) {
        w->reg_prev = NULL;
        w->reg_next = reg_head;
        if (reg_head)
            reg_head->reg_prev = w;
        reg_head = w;
        w->registered = true;
    }
    pthread_mutex_unlock(&reg_mu);
}

static void reg_remove(struct bq_s3_writer *w)
{
    pthread_mutex_lock(&reg_mu);
    if (w->registered) {
        if (w->reg_prev)
            w->reg_prev->reg_next = w->reg_next;
        else
            reg_head = w->reg_next;
        if (w->reg_next)
            w->reg_next->reg_prev = w->reg_prev;
        w->reg_prev = w->reg_next = NULL;
        w->registered = false;
    }
    pthread_mutex_unlock(&reg_mu);
}

struct sweep {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done, abandoned;
    int n;
};

static void sweep_release(struct sweep *sw, bool by_helper)
{
    pthread_mutex_lock(&sw->mu);
    bool last = by_helper ? sw->abandoned : sw->done;
    if (by_helper)
        sw->done = true;
    else
        sw->abandoned = true;
    pthread_cond_broadcast(&sw->cv);
    pthread_mutex_unlock(&sw->mu);
    if (last) {
        pthread_mutex_destroy(&sw->mu);
        pthread_cond_destroy(&sw->cv);
        free(sw);
    }
}

static void *sweep_main(void *arg)
{
    struct sweep *sw = arg;
    pthread_mutex_lock(&reg_mu);
    for (struct bq_s3_writer *w = reg_head; w; w = w->reg_next) {
        struct bq_s3_error e;
        bq_s3_mpu_abort(w->s3, w->bucket, w->key, w->upload_id, &e);
        sw->n++;
    }
    pthread_mutex_unlock(&reg_mu);
    sweep_release(sw, true);
    return NULL;
}

int bq_s3_abort_open_uploads(double max_seconds)
{
    pthread_mutex_lock(&reg_mu);
    bool any = reg_head != NULL;
    pthread_mutex_unlock(&reg_mu);
    if (!any)
        return 0;
    /* The caller may run on a small stack (the watchdog's): TLS and DNS
     * get a thread of their own, which may be left running at _exit. */
    struct sweep *sw = calloc(1, sizeof *sw);
    if (!sw)
        return 0;
    pthread_mutex_init(&sw->mu, NULL);
    pthread_cond_init(&sw->cv, NULL);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, sweep_main, sw);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_destroy(&sw->mu);
        pthread_cond_destroy(&sw->cv);
        free(sw);
        return 0;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    double whole = (double)until.tv_sec + until.tv_nsec / 1e9 + max_seconds;
    until.tv_sec = (time_t)whole;
    until.tv_nsec = (long)((whole - (double)until.tv_sec) * 1e9);
    pthread_mutex_lock(&sw->mu);
    while (!sw->done)
        if (pthread_cond_timedwait(&sw->cv, &sw->mu, &until) != 0)
            break;
    int n = sw->n;
    pthread_mutex_unlock(&sw->mu);
    sweep_release(sw, false);
    return n;
}

static char *dup0(const char *s) { return s ? bq_xstrdup(s) : NULL; }

static int werr(struct bq_s3_error *e, enum bq_http_err_kind kind, const char *code, const char *msg,
                const struct bq_s3_writer *w)
{
    memset(e, 0, sizeof *e);
    e->kind = kind;
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->message, sizeof e->message, "s3://%s/%s: %s", w->bucket, w->key, msg);
    return -1;
}

struct bq_s3_writer *bq_s3_writer_new(struct bq_s3 *s3, const char *bucket, const char *key,
                                      const struct bq_s3_put_opts *opts, size_t part_size,
                                      struct bq_s3_error *err)
{
    struct bq_s3_writer *w = bq_xcalloc(1, sizeof *w);
    w->s3 = s3;
    w->bucket = bq_xstrdup(bucket);
    w->key = bq_xstrdup(key);
    w->part_size = part_size ? part_size : BQ_S3_PART_SIZE_DEFAULT;
    w->lf.fd = w->lf.dirfd = -1;
    if (opts) {
        w->opts.content_type = dup0(opts->content_type);
        w->opts.sse = dup0(opts->sse);
        w->opts.kms_key_id = dup0(opts->kms_key_id);
        w->opts.storage_class = dup0(opts->storage_class);
        if (opts->n_metadata) {
            struct bq_http_header *m = bq_xcalloc(opts->n_metadata, sizeof *m);
            for (size_t i = 0; i < opts->n_metadata; i++)
                m[i] = (struct bq_http_header){ bq_xstrdup(opts->metadata[i].name),
                                                bq_xstrdup(opts->metadata[i].value) };
            w->opts.metadata = m;
            w->opts.n_metadata = opts->n_metadata;
        }
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (bq_s3_is_local(s3)) {
        w->local = true;
        if (bq_s3_local_open(bq_s3_root(s3), bucket, key, &w->lf, err) < 0) {
            w->state = W_ABORTED;
            bq_s3_writer_free(w);
            return NULL;
        }
    }
    return w;
}

const char *bq_s3_writer_bucket(const struct bq_s3_writer *w) { return w->bucket; }
const char *bq_s3_writer_key(const struct bq_s3_writer *w) { return w->key; }

/* --- workers ------------------------------------------------------------------- */

static void *worker(void *arg)
{
    struct bq_s3_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->qn == 0 && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->qn == 0)
            break;
        struct part p = w->queue[w->qhead];
        w->qhead = (w->qhead + 1) % BQ_S3_WRITER_BUFFERS;
        w->qn--;
        bool skip = w->failed || w->stop;
        w->in_flight++;
        pthread_mutex_unlock(&w->mu);

        char etag[80] = "";
        struct bq_s3_error e;
        int rc = skip ? -1
                      : bq_s3_mpu_upload_part(w->s3, w->bucket, w->key, w->upload_id, p.number, p.buf,
                                              p.len, etag, &e);
        pthread_mutex_lock(&w->mu);
        if (rc == 0) {
            memcpy(w->etags[p.number - 1], etag, sizeof etag);
        } else if (!skip && !w->failed) {
            w->failed = true;
            w->ferr = e;
        }
        w->spare[w->nspare++] = p.buf;
        w->in_flight--;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Waits on the condition for a short while (the caller re-checks what it
 * waits for, and bq_cancelled()). Called with the lock held. */
static void timed_wait(struct bq_s3_writer *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
}

static int start_upload(struct bq_s3_writer *w, struct bq_s3_error *err)
{
    if (bq_s3_mpu_create(w->s3, w->bucket, w->key, &w->opts, &w->upload_id, err) < 0)
        return -1;
    reg_add(w);
    for (int i = 0; i < NWORKERS; i++) {
        if (pthread_create(&w->threads[i], NULL, worker, w) != 0)
            break;
        w->nthreads++;
    }
    if (!w->nthreads)
        return werr(err, BQ_HTTP_ERR_INTERNAL, "InternalError", "cannot start upload threads", w);
    return 0;
}

/* Hands the full current buffer to the workers; gets another one. */
static int submit(struct bq_s3_writer *w, struct bq_s3_error *err)
{
    if (!w->upload_id && start_upload(w, err) < 0)
        return -1;
    pthread_mutex_lock(&w->mu);
    if (w->nparts == BQ_S3_MAX_PARTS) {
        pthread_mutex_unlock(&w->mu);
        return werr(err, BQ_HTTP_ERR_CONFIG, "EntityTooLarge",
                    "more than 10000 parts: use a larger part_size", w);
    }
    if (w->nparts == w->etags_cap) {
        int cap = w->etags_cap ? w->etags_cap * 2 : 64;
        void *p = realloc(w->etags, (size_t)cap * sizeof *w->etags);
        if (!p) {
            pthread_mutex_unlock(&w->mu);
            return werr(err, BQ_HTTP_ERR_INTERNAL, "InternalError", "out of memory", w);
        }
        w->etags = p;
        w->etags_cap = cap;
    }
    w->nparts++;
    w->etags[w->nparts - 1][0] = '\0';
    w->queue[(w->qhead + w->qn) % BQ_S3_WRITER_BUFFERS] = (struct part){ w->cur, w->cur_len, w->nparts };
    w->qn++;
    w->cur = NULL;
    w->cur_len = 0;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

/* Makes w->cur a buffer, waiting for one to come back when all are busy. */
static int get_buffer(struct bq_s3_writer *w, struct bq_s3_error *err)
{
    if (w->cur)
        return 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (w->failed) {
            *err = w->ferr;
            pthread_mutex_unlock(&w->mu);
            return -1;
        }
        if (bq_cancelled()) {
            pthread_mutex_unlock(&w->mu);
            return werr(err, BQ_HTTP_ERR_CANCELLED, "Cancelled", "cancelled", w);
        }
        if (w->nspare) {
            w->cur = w->spare[--w->nspare];
            break;
        }
        if (w->nalloc < BQ_S3_WRITER_BUFFERS) {
            w->cur = malloc(w->part_size);
            if (!w->cur) {
                pthread_mutex_unlock(&w->mu);
                return werr(err, BQ_HTTP_ERR_INTERNAL, "InternalError", "out of memory for a part buffer", w);
            }
            w->nalloc++;
            break;
        }
        timed_wait(w);
    }
    pthread_mutex_unlock(&w->mu);
    return 0;
}

/* --- the public calls ------------------------------------------------------------- */

int bq_s3_writer_write(struct bq_s3_writer *w, const void *data, size_t len, struct bq_s3_error *err)
{
    if (w->state != W_OPEN)
        return werr(err, BQ_HTTP_ERR_CONFIG, "InvalidState", "the writer is closed", w);
    if (w->local) {
        if (bq_s3_local_write(&w->lf, data, len, err) < 0) {
            bq_s3_writer_abort(w);
            return -1;
        }
        w->size += len;
        return 0;
    }
    const char *p = data;
    while (len) {
        if (get_buffer(w, err) < 0) {
            bq_s3_writer_abort(w);
            return -1;
        }
        size_t n = w->part_size - w->cur_len < len ? w->part_size - w->cur_len : len;
        memcpy(w->cur + w->cur_len, p, n);
        w->cur_len += n;
        w->size += n;
        p += n;
        len -= n;
        if (w->cur_len == w->part_size && submit(w, err) < 0) {
            bq_s3_writer_abort(w);
            return -1;
        }
    }
    return 0;
}

static void stop_workers(struct bq_s3_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    w->nthreads = 0;
}

int bq_s3_writer_close(struct bq_s3_writer *w, struct bq_s3_writer_result *res, struct bq_s3_error *err)
{
    memset(res, 0, sizeof *res);
    if (w->state != W_OPEN)
        return werr(err, BQ_HTTP_ERR_CONFIG, "InvalidState", "the writer is closed", w);
    if (w->local) {
        w->state = W_CLOSED;
        if (bq_s3_local_commit(&w->lf, res->etag, err) < 0)
            return -1;
        res->size = w->size;
        res->parts = 1;
        return 0;
    }
    if (!w->upload_id) {
        /* smaller than one part: one PutObject */
        int rc = bq_s3_put(w->s3, w->bucket, w->key, w->cur ? w->cur : "", w->cur_len, &w->opts, res->etag, err);
        w->state = rc == 0 ? W_CLOSED : W_ABORTED;
        res->size = w->size;
        res->parts = 1;
        return rc;
    }
    if (w->cur_len && submit(w, err) < 0) {
        bq_s3_writer_abort(w);
        return -1;
    }
    pthread_mutex_lock(&w->mu);
    while ((w->qn || w->in_flight) && !w->failed && !bq_cancelled())
        timed_wait(w);
    bool failed = w->failed;
    if (failed)
        *err = w->ferr;
    pthread_mutex_unlock(&w->mu);
    if (failed || bq_cancelled()) {
        if (!failed)
            werr(err, BQ_HTTP_ERR_CANCELLED, "Cancelled", "cancelled", w);
        bq_s3_writer_abort(w);
        return -1;
    }
    stop_workers(w);
    if (bq_s3_mpu_complete(w->s3, w->bucket, w->key, w->upload_id, w->etags, w->nparts, res->etag, err) < 0) {
        bq_s3_writer_abort(w);
        return -1;
    }
    w->state = W_CLOSED;
    reg_remove(w);
    res->size = w->size;
    res->parts = w->nparts;
    return 0;
}

bool bq_s3_writer_abort(struct bq_s3_writer *w)
{
    if (w->state != W_OPEN)
        return false;
    w->state = W_ABORTED;
    if (w->local) {
        bq_s3_local_discard(&w->lf);
        return true;
    }
    /* Parts still in flight would outlive the abort (S3 then keeps them):
     * join the workers first. After a cancellation they stop at once. */
    stop_workers(w);
    if (!w->upload_id)
        return false;
    if (bq_s3_mpu_abort(w->s3, w->bucket, w->key, w->upload_id, &w->abort_err) < 0)
        w->abort_failed = true;
    reg_remove(w);
    return true;
}

const struct bq_s3_error *bq_s3_writer_abort_error(const struct bq_s3_writer *w)
{
    return w->abort_failed ? &w->abort_err : NULL;
}

const char *bq_s3_writer_upload_id(const struct bq_s3_writer *w) { return w->upload_id; }

void bq_s3_writer_free(struct bq_s3_writer *w)
{
    if (!w)
        return;
    bq_s3_writer_abort(w);
    stop_workers(w);
    reg_remove(w);
    if (w->local)
        bq_s3_local_discard(&w->lf);
    free(w->cur);
    for (int i = 0; i < w->nspare; i++)
        free(w->spare[i]);
    for (int i = 0; i < w->qn; i++)
        free(w->queue[(w->qhead + i) % BQ_S3_WRITER_BUFFERS].buf);
    free(w->etags);
    free(w->upload_id);
    free(w->bucket);
    free(w->key);
    free((char *)w->opts.content_type);
    free((char *)w->opts.sse);
    free((char *)w->opts.kms_key_id);
    free((char *)w->opts.storage_class);
    for (size_t i = 0; i < w->opts.n_metadata; i++) {
        free((char *)w->opts.metadata[i].name);
        free((char *)w->opts.metadata[i].value);
    }
    free((struct bq_http_header *)w->opts.metadata);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
