/* libFuzzer target: S3 URIs (bq_s3_uri_parse), endpoint URLs
 * (bq_endpoint_parse) and bucket names (bq_bucket_name_valid), which take
 * strings from the command line, the environment and scripts. */
#include "fuzz_common.h"
#include "cli.h"

#include <ctype.h>

static void check_bucket_name(const char *b)
{
    if (!bq_bucket_name_valid(b))
        return;
    size_t n = strlen(b);
    FUZZ_CHECK(n >= 3 && n <= 63);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '-' || b[i] == '.');
    FUZZ_CHECK(!strstr(b, ".."));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    char err[256];

    check_bucket_name(s);

    char *bucket = (char *)1, *key = (char *)1, *vid = (char *)1;
    err[0] = '\0';
    if (bq_s3_uri_parse(s, &bucket, &key, &vid, err, sizeof err) == 0) {
        FUZZ_CHECK(bucket && key);
        FUZZ_CHECK(bq_bucket_name_valid(bucket));
        size_t klen = strlen(key);
        FUZZ_CHECK(klen >= 1 && klen <= 1024);
        /* the parts put back together give the URI */
        char *again = malloc(strlen(s) + 32);
        FUZZ_CHECK(again);
        sprintf(again, "s3://%s/%s%s%s", bucket, key, vid ? "?versionId=" : "", vid ? vid : "");
        FUZZ_CHECK(strcmp(again, s) == 0);
        free(again);
        if (vid)
            FUZZ_CHECK(vid[0] && !strpbrk(vid, "?&/ "));
    } else {
        FUZZ_CHECK(bucket == NULL && key == NULL && vid == NULL);
        FUZZ_CHECK(err[0] != '\0');
    }
    free(bucket);
    free(key);
    free(vid);

    bool https = false, loopback = false;
    err[0] = '\0';
    if (bq_endpoint_parse(s, &https, &loopback, err, sizeof err) == 0) {
        FUZZ_CHECK(strncmp(s, https ? "https://" : "http://", https ? 8 : 7) == 0);
        FUZZ_CHECK(!strpbrk(s, "?#"));
    } else {
        FUZZ_CHECK(err[0] != '\0');
    }
    free(s);
    return 0;
}
