/* s3_writer: a streamed upload (see s3.h).
 *
 * The caller's thread fills one part buffer at a time; two worker threads
 * upload parts. There are BQ_S3_WRITER_BUFFERS (2) buffers of part_size
 * bytes, so memory is bounded whatever the script writes, and still two
 * parts are in flight while the script keeps writing: when a part is being
 * uploaded as the next one starts to fill, the filling one is streamed too,
 * its bytes sent as they are written (UNSIGNED-PAYLOAD with the part's
 * Content-Length, which is part_size for every part but the last).
 *
 * A streamed part is an optimisation that may give up: when the caller
 * stops writing for STREAM_IDLE_SECONDS (S3 drops an idle request after
 * ~20 s), when the request fails, or when the ETag S3 answers is not the MD5
 * of the bytes sent, the stream ends and the whole buffer is uploaded again
 * as an ordinary part (SHA-256 signed, with the standard retries) once it is
 * full. A part that turns out to be the short last one (its Content-Length
 * was part_size) is streamed again at once, with its real length, and only
 * if that fails goes as an ordinary part.
 * The MD5 is computed over plain HTTP only: over HTTPS, TLS already
 * authenticates every byte S3 receives.
 * A part therefore always has its whole buffer until S3 has acknowledged it. */
#include "s3.h"
#include "s3_local.h"
#include "log.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { NWORKERS = 2 };
enum state { W_OPEN, W_CLOSED, W_ABORTED };

/* Why a stream of part_size bytes ends when the part is the last, shorter one. */
static const char SHORT_LAST_PART[] = "it is the last part, shorter than part_size";
/* A streamed part waits this long for the caller's next bytes, then gives up. */
#define STREAM_IDLE_SECONDS 5.0
/* The caller wakes a waiting stream after this many new bytes (or a full part). */
#define STREAM_WAKE_BYTES ((size_t)64 * 1024)

enum job { J_NONE, J_STREAM, J_UPLOAD };

struct slot {
    char *buf;                  /* part_size bytes, allocated on first use */
    size_t len;                 /* bytes written; under mu while the slot streams */
    int number;                 /* the part's number; 0: the slot is free */
    bool full;                  /* the caller is done with it (full, or the last part) */
    enum job job;               /* what a worker should do next */
    bool busy;                  /* a worker is on it */
    bool done;                  /* S3 has the part: etags[number - 1] */
    size_t signalled;           /* len when a waiting stream was last woken */
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
    struct slot slots[BQ_S3_WRITER_BUFFERS];
    struct slot *cur;                    /* being filled by the caller */
    bool cur_streamed;                   /* cur is streamed: update its len under mu */
    char (*etags)[80];
    int nparts, etags_cap;
    bool failed, stop, stream_waiting;
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

/* S3 has the part and the caller is done with it: the slot is free again. Lock held. */
static void slot_release(struct slot *s)
{
    char *buf = s->buf;
    memset(s, 0, sizeof *s);
    s->buf = buf;
}

struct stream {
    struct bq_s3_writer *w;
    struct slot *s;
    size_t length;              /* the Content-Length sent */
    size_t off;                 /* bytes handed to curl */
    bool check;                 /* the ETag is to be checked (plain HTTP) */
    EVP_MD_CTX *md5;            /* of those bytes; NULL: not checked */
    const char *why;            /* why stream_read ended the stream */
};

/* curl's read callback for a streamed part: the bytes written so far, waiting
 * for more while the caller writes. */
static size_t stream_read(char *buf, size_t len, void *ud)
{
    struct stream *st = ud;
    struct bq_s3_writer *w = st->w;
    struct slot *s = st->s;
    double idle_since = bq_monotonic();
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (w->stop || w->failed || bq_cancelled())
            st->why = "the upload is stopping";
        else if (s->full && s->len < st->length)     /* smaller than the Content-Length sent */
            st->why = SHORT_LAST_PART;
        else if (s->len != st->off)
            break;
        else if (bq_monotonic() - idle_since > STREAM_IDLE_SECONDS)
            st->why = "no bytes were written for a while";
        if (st->why) {
            pthread_mutex_unlock(&w->mu);
            return BQ_HTTP_READ_ABORT;
        }
        w->stream_waiting = true;
        timed_wait(w);
    }
    size_t n = s->len - st->off;
    pthread_mutex_unlock(&w->mu);
    /* bytes below s->len are never written again while the part is in flight */
    if (n > len)
        n = len;
    memcpy(buf, s->buf + st->off, n);
    if (st->md5 && !EVP_DigestUpdate(st->md5, buf, n)) {
        EVP_MD_CTX_free(st->md5);
        st->md5 = NULL;
    }
    st->off += n;
    return n;
}

static EVP_MD_CTX *md5_new(void)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md && !EVP_DigestInit_ex(md, EVP_md5(), NULL)) {
        EVP_MD_CTX_free(md);
        md = NULL;
    }
    return md;
}

static int stream_seek(uint64_t offset, void *ud)
{
    struct stream *st = ud;
    if (offset != 0)
        return -1;
    st->off = 0;
    EVP_MD_CTX_free(st->md5);
    st->md5 = st->check ? md5_new() : NULL;
    return 0;
}

/* Is the part's ETag the MD5 of the bytes sent? Yes when there is nothing to
 * compare: no digest, or an ETag that is no MD5 (32 hex digits, quoted or
 * not), as some S3-compatible stores answer. */
static bool etag_is_md5_of(const char *etag, EVP_MD_CTX *md5)
{
    unsigned char named[16], d[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;
    if (!bq_s3_etag_md5(etag, named) || !md5 || !EVP_DigestFinal_ex(md5, d, &dn) || dn != 16)
        return true;
    return memcmp(named, d, 16) == 0;
}

/* A part's upload gives up when the writer stops (an abort): the upload is
 * being aborted, so the part would be thrown away. */
static bool stopping(void *ud)
{
    struct bq_s3_writer *w = ud;
    pthread_mutex_lock(&w->mu);
    bool stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    return stop;
}

/* Streams slot s as part number: part_size bytes as the caller writes them,
 * or, once the slot is full, its len bytes. 0 when S3 has the part, whole and
 * intact; 1 when the stream ended because the part is the short last one
 * (then all its bytes are there, to be streamed again); else -1. */
static int stream_part(struct bq_s3_writer *w, struct slot *s, int number, char etag[80])
{
    bool check = !bq_s3_is_tls(w->s3);
    pthread_mutex_lock(&w->mu);
    size_t length = s->full ? s->len : w->part_size;
    pthread_mutex_unlock(&w->mu);
    struct stream st = { .w = w, .s = s, .length = length, .check = check, .md5 = check ? md5_new() : NULL };
    bool md5_etag = false;
    struct bq_s3_error e;
    int rc = bq_s3_mpu_upload_part_stream(w->s3, w->bucket, w->key, w->upload_id, number, length,
                                          stream_read, stream_seek, &st, stopping, w, etag, &md5_etag, &e);
    if (rc == 0 && md5_etag && !etag_is_md5_of(etag, st.md5)) {
        bq_warn("s3.writer s3://%s/%s: part %d: S3's ETag %s is not the MD5 of the bytes sent; "
                "sending the part again", w->bucket, w->key, number, etag);
        rc = -1;
    } else if (rc < 0) {
        bq_debug("s3.writer s3://%s/%s: part %d: the streamed upload stopped after %zu bytes (%s); %s",
                 w->bucket, w->key, number, st.off, st.why ? st.why : e.message,
                 st.why == SHORT_LAST_PART ? "it goes again, with its length" : "the whole part goes once it is full");
    }
    EVP_MD_CTX_free(st.md5);
    return rc < 0 && st.why == SHORT_LAST_PART ? 1 : rc;
}

static void *worker(void *arg)
{
    struct bq_s3_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        struct slot *s = NULL;
        for (int i = 0; i < BQ_S3_WRITER_BUFFERS && !w->stop; i++) {
            struct slot *t = &w->slots[i];
            if (t->job != J_NONE && !t->busy && (!s || t->number < s->number))
                s = t;
        }
        if (!s) {
            if (w->stop)
                break;
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        enum job job = s->job;
        int number = s->number;
        bool skip = w->failed;
        s->job = J_NONE;
        s->busy = true;
        pthread_mutex_unlock(&w->mu);

        char etag[80] = "";
        struct bq_s3_error e;
        int rc = -1;
        if (skip)
            ;
        else if (job == J_STREAM)
            rc = stream_part(w, s, number, etag);
        else    /* J_UPLOAD: the slot is full, its len fixed */
            rc = bq_s3_mpu_upload_part(w->s3, w->bucket, w->key, w->upload_id, number, s->buf, s->len,
                                       stopping, w, etag, &e);
        pthread_mutex_lock(&w->mu);
        s->busy = false;
        if (rc == 0) {
            memcpy(w->etags[number - 1], etag, sizeof etag);
            s->done = true;
            if (s->full)
                slot_release(s);
        } else if (skip) {
            ;
        } else if (job == J_STREAM) {      /* gave up: the whole part goes once full */
            if (s->full)
                s->job = rc == 1 ? J_STREAM : J_UPLOAD;     /* the short last part: streamed again, its length known */
        } else if (!w->failed) {
            w->failed = true;
            w->ferr = e;
        }
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
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

/* The caller is done with w->cur (full, or the last part): S3 gets it whole
 * unless its stream is still running (which then finishes it, or hands it
 * back as a whole upload). Lock held. */
static void finish_cur(struct bq_s3_writer *w)
{
    struct slot *s = w->cur;
    s->full = true;
    if (s->done)
        slot_release(s);
    else if (!s->busy)
        s->job = J_UPLOAD;      /* never streamed, a stream not started yet, or one that gave up */
    w->cur = NULL;
    w->cur_streamed = false;
    w->stream_waiting = false;
    pthread_cond_broadcast(&w->cv);
}

/* Makes w->cur a free slot for the next part, waiting for one when all are busy. */
static int get_slot(struct bq_s3_writer *w, struct bq_s3_error *err)
{
    pthread_mutex_lock(&w->mu);
    struct slot *s = NULL;
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
        for (int i = 0; i < BQ_S3_WRITER_BUFFERS && !s; i++)
            if (!w->slots[i].number)
                s = &w->slots[i];
        if (s)
            break;
        timed_wait(w);
    }
    const char *fail = NULL;
    if (w->nparts == BQ_S3_MAX_PARTS) {
        pthread_mutex_unlock(&w->mu);
        return werr(err, BQ_HTTP_ERR_CONFIG, "EntityTooLarge", "more than 10000 parts: use a larger part_size", w);
    }
    if (!s->buf && !(s->buf = malloc(w->part_size)))
        fail = "out of memory for a part buffer";
    if (!fail && w->nparts == w->etags_cap) {
        int cap = w->etags_cap ? w->etags_cap * 2 : 64;
        void *p = realloc(w->etags, (size_t)cap * sizeof *w->etags);
        if (p) {
            w->etags = p;
            w->etags_cap = cap;
        } else {
            fail = "out of memory";
        }
    }
    if (fail) {
        pthread_mutex_unlock(&w->mu);
        return werr(err, BQ_HTTP_ERR_INTERNAL, "InternalError", fail, w);
    }
    s->number = ++w->nparts;
    w->etags[s->number - 1][0] = '\0';
    /* Another part is on its way: send this one as it fills, so that two
     * are in flight while the caller writes. */
    bool other = false;
    for (int i = 0; i < BQ_S3_WRITER_BUFFERS; i++)
        other |= &w->slots[i] != s && w->slots[i].number && !w->slots[i].done;
    if (w->upload_id && other) {
        s->job = J_STREAM;
        pthread_cond_broadcast(&w->cv);
    }
    w->cur = s;
    w->cur_streamed = s->job == J_STREAM;
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
        if (!w->cur && get_slot(w, err) < 0) {
            bq_s3_writer_abort(w);
            return -1;
        }
        /* Only this thread changes cur->len; a stream reads it under the lock. */
        struct slot *s = w->cur;
        size_t n = w->part_size - s->len < len ? w->part_size - s->len : len;
        memcpy(s->buf + s->len, p, n);
        w->size += n;
        p += n;
        len -= n;
        bool full = s->len + n == w->part_size;
        if (full && !w->upload_id && start_upload(w, err) < 0) {
            bq_s3_writer_abort(w);
            return -1;
        }
        if (!full && !w->cur_streamed) {
            s->len += n;
            continue;
        }
        pthread_mutex_lock(&w->mu);
        s->len += n;
        if (full) {
            finish_cur(w);
        } else if (w->stream_waiting && s->len - s->signalled >= STREAM_WAKE_BYTES) {
            w->stream_waiting = false;
            s->signalled = s->len;
            pthread_cond_broadcast(&w->cv);
        }
        pthread_mutex_unlock(&w->mu);
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

static bool all_parts_done(const struct bq_s3_writer *w)
{
    for (int i = 0; i < BQ_S3_WRITER_BUFFERS; i++)
        if (w->slots[i].number)
            return false;
    return true;
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
        const struct slot *s = w->cur;
        int rc = bq_s3_put(w->s3, w->bucket, w->key, s ? s->buf : "", s ? s->len : 0, &w->opts, res->etag, err);
        w->state = rc == 0 ? W_CLOSED : W_ABORTED;
        res->size = w->size;
        res->parts = 1;
        return rc;
    }
    pthread_mutex_lock(&w->mu);
    if (w->cur)
        finish_cur(w);          /* the last part */
    while (!all_parts_done(w) && !w->failed && !bq_cancelled())
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
     * join the workers first. They give their requests up within ~100 ms. */
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
    for (int i = 0; i < BQ_S3_WRITER_BUFFERS; i++)
        free(w->slots[i].buf);
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
