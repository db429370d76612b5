/* libFuzzer target: the INTO OUTFILE S3 clause parser (bq_osql_parse), which
 * scans any SQL a script hands to conn:exec. */
#include "fuzz_common.h"
#include "outfile_sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *sql = (const char *)data;
    struct bq_osql o;
    char err[256];
    int rc = bq_osql_parse(sql, size, &o, err, sizeof err);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    if (rc == 1) {
        FUZZ_CHECK(o.sql_len <= size);
        FUZZ_CHECK(o.uri && !strncmp(o.uri, "s3://", 5));
        FUZZ_CHECK(o.manifest >= -1 && o.manifest <= 1 && o.overwrite >= -1 && o.overwrite <= 1);
        FUZZ_CHECK(!o.kms_key_id || o.encryption == BQ_OSQL_ENC_SSE_KMS);
        const struct bq_osql_str *strs[] = { &o.fields_terminated_by, &o.fields_enclosed_by, &o.fields_escaped_by,
                                             &o.lines_starting_by, &o.lines_terminated_by };
        for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
            if (strs[i]->s)
                FUZZ_CHECK(strs[i]->s[strs[i]->len] == '\0' && strs[i]->len < size);
        /* what is left of the statement holds no clause of its own */
        struct bq_osql again;
        char err2[256];
        FUZZ_CHECK(bq_osql_parse(sql, o.sql_len, &again, err2, sizeof err2) == 0);
        bq_osql_free(&again);
        bq_osql_free(&o);
    } else {
        FUZZ_CHECK(o.uri == NULL && o.region == NULL && o.fields_terminated_by.s == NULL);
        if (rc == -1)
            FUZZ_CHECK(err[0] != '\0');
    }
    return 0;
}
