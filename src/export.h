/* export: Aurora's `SELECT ... INTO OUTFILE S3 'PREFIX'` done client-side
 * (SPEC §3 db, conn:export), plain C, no Lua.
 *
 * The query's rows are read from the server over the text protocol (so every
 * value is the server's own text), formatted by outfile.c and streamed to
 * PREFIX.part_00000, PREFIX.part_00001, ... through S3 writers: a part is
 * closed once it holds part_size bytes (rows are never split) and the next
 * starts with the next row. Each part is one object, uploaded in multipart
 * pieces by the writer's threads while rows keep coming, so memory is the
 * writer's buffers (3 x 8 MiB) plus one row, whatever the table size.
 *
 * Before the query: PREFIX.part_* (and PREFIX.manifest) are listed; with
 * overwrite=false any of them is an error (BQ_EXPORT_ERR_EXISTS) and nothing
 * is written. After the last part: PREFIX.manifest when asked (Aurora's
 * shape: {"entries":[{"url":"s3://bucket/PREFIX.part_00000"},...]}), then,
 * with overwrite=true, the stale parts of an earlier export (higher numbers)
 * and a stale manifest are deleted. Zero rows give one empty part_00000 (a
 * header only, with header=true), as Aurora writes.
 *
 * On any failure or cancellation (bq_cancelled()) the open part's upload is
 * aborted (nothing appears at its key) and the parts this run completed are
 * deleted. Progress is logged (info) every ~10 s: rows, MB, rows/s, parts. */
#ifndef BQ_EXPORT_H
#define BQ_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "outfile.h"
#include "s3.h"

#define BQ_EXPORT_PART_SIZE_DEFAULT (6000ull << 20)   /* Aurora's ~6 GB */
#define BQ_EXPORT_PART_SIZE_MAX (5ull << 40)          /* S3's largest object */

struct bq_export_opts {
    const struct bq_outfile_opts *format;
    bool header;                    /* the column names first, in every part */
    uint64_t part_size;             /* 0: BQ_EXPORT_PART_SIZE_DEFAULT */
    bool overwrite;
    bool manifest;
    const char *sse;                /* "AES256" | "aws:kms" | NULL, for every object */
    const char *kms_key_id;
    /* '?' parameters: bound server-side (PREPARE ... FROM a variable set with a
     * bound statement, then EXECUTE USING), never pasted into the SQL. */
    const struct bq_db_value *params;
    size_t nparams;
    double progress_interval;       /* seconds; 0: 10 */
};

struct bq_export_result {
    uint64_t rows, bytes;
    char **parts;                   /* "s3://bucket/PREFIX.part_00000", ... */
    size_t nparts;
};
void bq_export_result_free(struct bq_export_result *r);

enum bq_export_err_kind {
    BQ_EXPORT_ERR_USAGE = 1,        /* bad options, a statement without rows */
    BQ_EXPORT_ERR_DB,               /* db filled (its kind may be CANCELLED) */
    BQ_EXPORT_ERR_S3,               /* s3 filled (its kind may be CANCELLED) */
    BQ_EXPORT_ERR_EXISTS,           /* overwrite=false and uri exists */
};

struct bq_export_error {
    enum bq_export_err_kind kind;
    struct bq_db_error db;
    struct bq_s3_error s3;
    char uri[1200];                 /* the object concerned, "" when none */
    char message[512];              /* for USAGE and EXISTS */
};

/* Runs the export of sql to s3://bucket/prefix.part_NNNNN. 0 with res filled
 * (free it), or -1 with err. The connection must have no open result. */
int bq_export_run(struct bq_db *db, struct bq_s3 *s3, const char *sql, size_t len, const char *bucket,
                  const char *prefix, const struct bq_export_opts *o, struct bq_export_result *res,
                  struct bq_export_error *err);

#endif
