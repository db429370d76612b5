/* export: the client-side INTO OUTFILE S3 driver. See export.h. */
#include "export.h"
#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Formatted rows are handed to the writer in chunks of about this size. */
#define FLUSH_BYTES ((size_t)256 * 1024)
#define PROGRESS_SECONDS 10.0
/* A failed export reads what is left of the query for this long (keeping the
 * connection usable), then gives the connection up rather than wait for the
 * rest of a long result. */
#define DISCARD_SECONDS 2.0

struct keys {
    char **v;
    size_t n, cap;
};

static void keys_push(struct keys *k, const char *s)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 8;
        char **nv = realloc(k->v, k->cap * sizeof *nv);
        if (!nv)
            abort();
        k->v = nv;
    }
    k->v[k->n++] = bq_xstrdup(s);
}

static void keys_free(struct keys *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->v[i]);
    free(k->v);
    memset(k, 0, sizeof *k);
}

void bq_export_result_free(struct bq_export_result *r)
{
    for (size_t i = 0; i < r->nparts; i++)
        free(r->parts[i]);
    free(r->parts);
    memset(r, 0, sizeof *r);
}

static int usage(struct bq_export_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage(struct bq_export_error *err, const char *fmt, ...)
{
    err->kind = BQ_EXPORT_ERR_USAGE;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int s3_fail(struct bq_export_error *err, const char *bucket, const char *key)
{
    err->kind = BQ_EXPORT_ERR_S3;
    snprintf(err->uri, sizeof err->uri, "s3://%s/%s", bucket, key);
    return -1;
}

static int db_fail(struct bq_export_error *err)
{
    err->kind = BQ_EXPORT_ERR_DB;
    return -1;
}

/* "PREFIX.part_00042" */
static char *part_key(const char *prefix, size_t i)
{
    struct bq_buf b = { 0 };
    if (bq_buf_printf(&b, "%s.part_%05zu", prefix, i) < 0)
        abort();
    return b.data;
}

/* Is key PREFIX.part_NNNNN with NNNNN one of the nparts written? */
static bool is_written_part(const char *key, const char *prefix, size_t nparts)
{
    size_t pl = strlen(prefix);
    if (strncmp(key, prefix, pl) != 0 || strncmp(key + pl, ".part_", 6) != 0)
        return false;
    const char *d = key + pl + 6;
    char *end;
    unsigned long long i = strtoull(d, &end, 10);
    if (*end || end == d || i >= nparts)
        return false;
    char want[32];
    snprintf(want, sizeof want, "%05llu", i);
    return strcmp(d, want) == 0;
}

/* Lists PREFIX.part_* and PREFIX.manifest into found: one listing of
 * "PREFIX.", which holds both. */
static int list_existing(struct bq_s3 *s3, const char *bucket, const char *prefix, struct keys *found,
                         struct bq_export_error *err)
{
    struct bq_buf lp = { 0 }, mk = { 0 };
    if (bq_buf_printf(&lp, "%s.", prefix) < 0 || bq_buf_printf(&mk, "%s.manifest", prefix) < 0)
        abort();
    char *token = NULL;
    int rc = 0;
    do {
        struct bq_s3_list_page page;
        memset(&page, 0, sizeof page);
        if (bq_s3_list_page(s3, bucket, lp.data, token, &page, &err->s3) < 0) {
            rc = s3_fail(err, bucket, lp.data);
            bq_s3_list_page_free(&page);
            break;
        }
        for (size_t i = 0; i < page.n; i++) {
            const char *k = page.objects[i].key;
            if (!strncmp(k, lp.data, lp.len) && (!strncmp(k + lp.len, "part_", 5) || !strcmp(k, mk.data)))
                keys_push(found, k);
        }
        free(token);
        token = page.truncated && page.next_token ? bq_xstrdup(page.next_token) : NULL;
        bq_s3_list_page_free(&page);
    } while (token);
    free(token);
    bq_buf_free(&lp);
    bq_buf_free(&mk);
    return rc;
}

/* The listing of what an earlier export left at the prefix. With
 * overwrite=false it may refuse the export, so it runs before the query;
 * with overwrite=true it only names what to delete at the end, so it runs
 * in a thread beside the query and the first rows, and is waited for before
 * anything is written to S3 (listing_wait). */
struct listing {
    struct bq_s3 *s3;
    const char *bucket, *prefix;
    struct keys found;
    struct bq_export_error err;
    int rc;
    bool running;
    pthread_t thread;
};

static void *listing_main(void *arg)
{
    struct listing *l = arg;
    l->rc = list_existing(l->s3, l->bucket, l->prefix, &l->found, &l->err);
    return NULL;
}

static void listing_start(struct listing *l, bool beside)
{
    if (beside && pthread_create(&l->thread, NULL, listing_main, l) == 0)
        l->running = true;
    else
        listing_main(l);
}

/* 0 once the listing is done and has succeeded; -1 with its error in err. */
static int listing_wait(struct listing *l, struct bq_export_error *err)
{
    if (l->running) {
        pthread_join(l->thread, NULL);
        l->running = false;
    }
    if (l->rc < 0) {
        *err = l->err;
        return -1;
    }
    return 0;
}

static void listing_free(struct listing *l)
{
    if (l->running)
        pthread_join(l->thread, NULL);
    keys_free(&l->found);
}

/* Runs sql; with parameters through PREPARE/EXECUTE so that the rows still
 * come over the text protocol (the server's own text for every value). */
static struct bq_db_result *run_query(struct bq_db *db, const char *sql, size_t len, const struct bq_export_opts *o,
                                      struct bq_export_error *err)
{
    if (o->nparams == 0)
        return bq_db_run(db, sql, len, NULL, 0, &err->db);
    struct bq_buf set = { 0 }, exec = { 0 };
    struct bq_db_value *p = calloc(o->nparams + 1, sizeof *p);
    if (!p)
        abort();
    p[0] = (struct bq_db_value){ .type = BQ_DB_STRING, .s = sql, .len = len };
    memcpy(p + 1, o->params, o->nparams * sizeof *p);
    bq_buf_printf(&set, "SET @bq_export_sql = ?");
    bq_buf_printf(&exec, "EXECUTE bq_export USING ");
    for (size_t i = 1; i <= o->nparams; i++) {
        bq_buf_printf(&set, ", @bq_export_p%zu = ?", i);
        bq_buf_printf(&exec, "%s@bq_export_p%zu", i > 1 ? ", " : "", i);
    }
    struct bq_db_result *r = bq_db_run(db, set.data, set.len, p, o->nparams + 1, &err->db);
    free(p);
    if (r) {
        bq_db_result_free(r);
        static const char prep[] = "PREPARE bq_export FROM @bq_export_sql";
        r = bq_db_run(db, prep, sizeof prep - 1, NULL, 0, &err->db);
    }
    if (r) {
        bq_db_result_free(r);
        r = bq_db_run(db, exec.data, exec.len, NULL, 0, &err->db);
    }
    bq_buf_free(&set);
    bq_buf_free(&exec);
    return r;
}

/* After EXECUTE: forget the statement and the variables (best effort). */
static void forget_params(struct bq_db *db, const struct bq_export_opts *o)
{
    if (o->nparams == 0)
        return;
    struct bq_db_error e;
    struct bq_buf b = { 0 };
    bq_buf_printf(&b, "SET @bq_export_sql = NULL");
    for (size_t i = 1; i <= o->nparams; i++)
        bq_buf_printf(&b, ", @bq_export_p%zu = NULL", i);
    static const char dealloc[] = "DEALLOCATE PREPARE bq_export";
    struct bq_db_result *r = bq_db_run(db, dealloc, sizeof dealloc - 1, NULL, 0, &e);
    bq_db_result_free(r);
    r = bq_db_run(db, b.data, b.len, NULL, 0, &e);
    bq_db_result_free(r);
    bq_buf_free(&b);
}

static void json_string(struct bq_buf *b, const char *s)
{
    bq_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            bq_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            bq_buf_printf(b, "\\u%04x", *p);
        else
            bq_buf_append(b, p, 1);
    }
    bq_buf_append(b, "\"", 1);
}

struct run {
    struct listing *listing;
    struct bq_s3 *s3;
    const char *bucket, *prefix;
    const struct bq_export_opts *o;
    struct bq_s3_put_opts put;
    size_t writer_part;
    struct bq_s3_writer *w;     /* the open part */
    uint64_t part_bytes;        /* bytes formatted into the open part */
    struct keys done;           /* keys of the parts completed in this run */
    struct bq_buf buf;          /* formatted, not yet handed to the writer */
    struct bq_buf header;
};

static int flush(struct run *x, struct bq_export_error *err)
{
    if (!x->buf.len)
        return 0;
    /* With these bytes the writer's first piece is full and goes to S3:
     * not before the listing has answered. */
    if (x->part_bytes >= x->writer_part && listing_wait(x->listing, err) < 0)
        return -1;
    if (bq_s3_writer_write(x->w, x->buf.data, x->buf.len, &err->s3) < 0)
        return s3_fail(err, x->bucket, bq_s3_writer_key(x->w));
    x->buf.len = 0;
    return 0;
}

static int open_part(struct run *x, struct bq_export_error *err)
{
    char *key = part_key(x->prefix, x->done.n);
    x->w = bq_s3_writer_new(x->s3, x->bucket, key, &x->put, x->writer_part, &err->s3);
    if (!x->w) {
        s3_fail(err, x->bucket, key);
        free(key);
        return -1;
    }
    free(key);
    x->part_bytes = 0;
    if (x->header.len) {
        if (bq_buf_append(&x->buf, x->header.data, x->header.len) < 0)
            return usage(err, "out of memory");
        x->part_bytes += x->header.len;
    }
    return 0;
}

static int close_part(struct run *x, struct bq_export_error *err)
{
    if (listing_wait(x->listing, err) < 0 || flush(x, err) < 0)
        return -1;
    struct bq_s3_writer_result wr;
    int rc = bq_s3_writer_close(x->w, &wr, &err->s3);
    /* Known whatever the outcome: a close cut short by a stop may still have
     * stored the object (the request was sent, the answer never read), and
     * undo() deletes every key it knows. */
    keys_push(&x->done, bq_s3_writer_key(x->w));
    if (rc < 0)
        s3_fail(err, x->bucket, bq_s3_writer_key(x->w));
    bq_s3_writer_free(x->w);
    x->w = NULL;
    return rc;
}

/* Failure: abort the open part, delete what this run completed. */
static void undo(struct run *x)
{
    if (x->w) {
        bq_s3_writer_abort(x->w);
        bq_s3_writer_free(x->w);
        x->w = NULL;
    }
    for (size_t i = 0; i < x->done.n; i++) {
        struct bq_s3_error e;
        if (bq_s3_delete_cleanup(x->s3, x->bucket, x->done.v[i], &e) < 0)
            bq_warn("export: could not delete s3://%s/%s after the failure: %s", x->bucket, x->done.v[i],
                    e.message);
    }
}

static void progress(const struct run *x, uint64_t rows, uint64_t bytes, double started, bool done)
{
    double secs = bq_monotonic() - started;
    bq_info("export to s3://%s/%s%s: %" PRIu64 " rows, %.1f MB, %.0f rows/s, %zu part%s", x->bucket, x->prefix,
            done ? " done" : "", rows, bytes / 1e6, secs > 0 ? rows / secs : 0.0, x->done.n + (x->w ? 1 : 0),
            x->done.n + (x->w ? 1 : 0) == 1 ? "" : "s");
}

int bq_export_run(struct bq_db *db, struct bq_s3 *s3, const char *sql, size_t len, const char *bucket,
                  const char *prefix, const struct bq_export_opts *o, struct bq_export_result *res,
                  struct bq_export_error *err)
{
    memset(err, 0, sizeof *err);
    memset(res, 0, sizeof *res);
    uint64_t part_size = o->part_size ? o->part_size : BQ_EXPORT_PART_SIZE_DEFAULT;
    if (part_size > BQ_EXPORT_PART_SIZE_MAX)
        return usage(err, "part_size must be at most 5 TiB");
    if (!prefix || !*prefix)
        return usage(err, "the prefix needs a key (s3://bucket/prefix)");
    static const struct bq_outfile_opts text_defaults = { .format = BQ_OUTFILE_TEXT };
    char why[256];
    struct bq_outfile *f = bq_outfile_new(o->format ? o->format : &text_defaults, why, sizeof why);
    if (!f)
        return usage(err, "%s", why);

    struct listing listing = { .s3 = s3, .bucket = bucket, .prefix = prefix };
    listing_start(&listing, o->overwrite);
    const struct keys *existing = &listing.found;
    if (!o->overwrite && listing_wait(&listing, err) < 0) {
        listing_free(&listing);
        bq_outfile_free(f);
        return -1;
    }
    if (existing->n && !o->overwrite) {
        err->kind = BQ_EXPORT_ERR_EXISTS;
        snprintf(err->uri, sizeof err->uri, "s3://%s/%s", bucket, existing->v[0]);
        snprintf(err->message, sizeof err->message,
                 "s3://%s/%s already exists (%zu object%s at the prefix): pass overwrite=true to replace", bucket,
                 existing->v[0], existing->n, existing->n == 1 ? "" : "s");
        listing_free(&listing);
        bq_outfile_free(f);
        return -1;
    }

    struct bq_db_result *r = run_query(db, sql, len, o, err);
    if (!r) {
        forget_params(db, o);
        listing_free(&listing);
        bq_outfile_free(f);
        return db_fail(err);
    }
    unsigned ncols = bq_db_result_columns(r);
    if (ncols == 0) {
        bq_db_result_free(r);
        forget_params(db, o);
        listing_free(&listing);
        bq_outfile_free(f);
        return usage(err, "the statement returns no result set to export");
    }
    bq_db_result_text_only(r);      /* the outfile writes the server's text: no number parsing */

    struct run x = {
        .listing = &listing, .s3 = s3, .bucket = bucket, .prefix = prefix, .o = o,
        .put = { .sse = o->sse, .kms_key_id = o->kms_key_id },
    };
    /* Multipart pieces: 8 MiB, larger when a part could pass 10000 of them. */
    uint64_t wp = (part_size + BQ_S3_MAX_PARTS - 101) / (BQ_S3_MAX_PARTS - 100);
    if (wp < BQ_S3_PART_SIZE_DEFAULT)
        wp = BQ_S3_PART_SIZE_DEFAULT;
    if (wp > BQ_S3_PART_SIZE_MAX)
        wp = BQ_S3_PART_SIZE_MAX;
    x.writer_part = (size_t)wp;

    int rc = 0;
    struct bq_outfile_column *cols = calloc(ncols, sizeof *cols);
    const char **names = calloc(ncols, sizeof *names);
    size_t *lens = calloc(ncols, sizeof *lens);
    if (!cols || !names || !lens)
        abort();
    for (unsigned i = 0; i < ncols; i++) {
        cols[i].is_string = bq_db_result_column_is_string(r, i);
        cols[i].is_blob = bq_db_result_column_length(r, i) >= 16777216ul;
        names[i] = bq_db_result_column_name(r, i, &lens[i]);
    }
    if (bq_outfile_set_columns(f, cols, ncols) < 0 ||
        (o->header && bq_outfile_header(f, names, lens, &x.header) < 0))
        rc = usage(err, "out of memory");
    free(cols);
    free(names);
    free(lens);

    uint64_t rows = 0, bytes = 0;
    double started = bq_monotonic(), interval = o->progress_interval > 0 ? o->progress_interval : PROGRESS_SECONDS;
    double next_log = started + interval;
    while (rc == 0) {
        const struct bq_db_value *row;
        int got = bq_db_result_fetch(r, &row, &err->db);
        if (got < 0) {
            rc = db_fail(err);
            break;
        }
        if (got == 0)
            break;
        if (!x.w && (rc = open_part(&x, err)) < 0)
            break;
        size_t before = x.buf.len;
        if (bq_outfile_row(f, row, &x.buf) < 0) {
            rc = usage(err, "out of memory formatting row %" PRIu64, rows + 1);
            break;
        }
        rows++;
        x.part_bytes += x.buf.len - before;
        bytes += x.buf.len - before;
        if (x.part_bytes >= part_size)
            rc = close_part(&x, err);
        else if (x.buf.len >= FLUSH_BYTES)
            rc = flush(&x, err);
        if ((rows & 1023) == 0 && bq_monotonic() >= next_log) {
            progress(&x, rows, bytes, started, false);
            next_log = bq_monotonic() + interval;
        }
    }
    if (rc == 0)
        bq_db_result_free(r);
    else if (bq_db_result_discard(r, DISCARD_SECONDS))
        bq_warn("export: the rest of the query's rows were not read: the connection is given up");
    forget_params(db, o);
    bytes += x.header.len * (x.done.n + (x.w ? 1 : 0));
    /* No rows at all: one empty part, as Aurora. */
    if (rc == 0 && !x.w && x.done.n == 0) {
        rc = open_part(&x, err);
        if (rc == 0)
            bytes += x.header.len;
    }
    if (rc == 0 && x.w)
        rc = close_part(&x, err);

    if (rc == 0 && o->manifest) {
        struct bq_buf m = { 0 };
        bq_buf_append(&m, "{\"entries\":[", 12);
        for (size_t i = 0; i < x.done.n; i++) {
            struct bq_buf u = { 0 };
            bq_buf_printf(&u, "s3://%s/%s", bucket, x.done.v[i]);
            bq_buf_printf(&m, "%s{\"url\":", i ? "," : "");
            json_string(&m, u.data);
            bq_buf_append(&m, "}", 1);
            bq_buf_free(&u);
        }
        bq_buf_append(&m, "]}", 2);
        struct bq_buf mk = { 0 };
        bq_buf_printf(&mk, "%s.manifest", prefix);
        struct bq_s3_put_opts po = x.put;
        po.content_type = "application/json";
        if (bq_s3_put(s3, bucket, mk.data, m.data, m.len, &po, NULL, &err->s3) < 0)
            rc = s3_fail(err, bucket, mk.data);
        bq_buf_free(&m);
        bq_buf_free(&mk);
    }
    if (rc < 0) {
        undo(&x);
    } else {
        /* Overwrite: what an earlier export left beyond this one's parts. */
        for (size_t i = 0; i < existing->n; i++) {
            const char *k = existing->v[i];
            bool manifest_key = strlen(k) > strlen(prefix) && !strcmp(k + strlen(prefix), ".manifest");
            if (is_written_part(k, prefix, x.done.n) || (manifest_key && o->manifest))
                continue;
            struct bq_s3_error e;
            if (bq_s3_delete(s3, bucket, k, &e) < 0)
                bq_warn("export: could not delete the stale s3://%s/%s: %s", bucket, k, e.message);
        }
        progress(&x, rows, bytes, started, true);
        res->rows = rows;
        res->bytes = bytes;
        res->nparts = x.done.n;
        res->parts = bq_xcalloc(x.done.n ? x.done.n : 1, sizeof *res->parts);
        for (size_t i = 0; i < x.done.n; i++) {
            struct bq_buf u = { 0 };
            bq_buf_printf(&u, "s3://%s/%s", bucket, x.done.v[i]);
            res->parts[i] = u.data;
        }
    }
    keys_free(&x.done);
    listing_free(&listing);
    bq_buf_free(&x.buf);
    bq_buf_free(&x.header);
    bq_outfile_free(f);
    return rc;
}
