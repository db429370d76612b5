/* libFuzzer target: the credentials JSON of the ECS container endpoint and
 * IMDS (bq_creds_parse_json) and its ISO 8601 timestamps (bq_creds_parse_time). */
#include "fuzz_common.h"
#include "credentials.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bq_creds c;
    memset(&c, 0, sizeof c);
    struct bq_http_error err;
    memset(&err, 0, sizeof err);
    int rc = bq_creds_parse_json((const char *)data, size, "container", &c, &err);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        FUZZ_CHECK(c.access_key_id && c.access_key_id[0]);
        FUZZ_CHECK(c.secret_access_key && c.secret_access_key[0]);
        FUZZ_CHECK(c.session_token && c.session_token[0]);
        FUZZ_CHECK(strcmp(c.source, "container") == 0);
        /* the copy is deep and equal */
        struct bq_creds d;
        FUZZ_CHECK(bq_creds_copy(&d, &c) == 0);
        FUZZ_CHECK(strcmp(d.secret_access_key, c.secret_access_key) == 0 && d.expiration == c.expiration);
        bq_creds_clear(&d);
    } else {
        FUZZ_CHECK(err.message[0] != '\0');
        FUZZ_CHECK(memchr(err.message, '\0', sizeof err.message));
        FUZZ_CHECK(c.secret_access_key == NULL && c.session_token == NULL);
    }
    bq_creds_clear(&c);
    bq_creds_clear(&c);        /* safe to repeat */

    char *s = fuzz_cstr(data, size);
    time_t t = 12345;
    if (bq_creds_parse_time(s, &t) < 0)
        FUZZ_CHECK(t == 12345);  /* untouched on failure */
    free(s);
    return 0;
}
