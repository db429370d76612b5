/* libFuzzer target: the S3 XML response parsers (src/s3_xml.c) on any body a
 * server, a proxy or a truncated connection may hand back. Each input goes
 * through every parser; the results must satisfy the header's promises. */
#include "fuzz_common.h"
#include "s3_xml.h"

#include <stdbool.h>

static bool nul_terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static void check_error_fields(const struct bq_s3_xml_error *e)
{
    FUZZ_CHECK(nul_terminated(e->code, sizeof e->code));
    FUZZ_CHECK(nul_terminated(e->message, sizeof e->message));
    FUZZ_CHECK(nul_terminated(e->request_id, sizeof e->request_id));
    /* fields end up in one-line error messages */
    FUZZ_CHECK(!strpbrk(e->code, "\r\n") && !strpbrk(e->message, "\r\n") && !strpbrk(e->request_id, "\r\n"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;

    struct bq_s3_xml_error e;
    int rc = bq_s3_xml_parse_error(body, size, &e);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    check_error_fields(&e);

    struct bq_s3_list_page page;
    rc = bq_s3_xml_parse_list(body, size, &page);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        FUZZ_CHECK(page.n <= page.cap);
        FUZZ_CHECK(!page.truncated || page.next_token);   /* never end a listing early */
        for (size_t i = 0; i < page.n; i++)
            FUZZ_CHECK(page.objects[i].key != NULL);
    } else {
        FUZZ_CHECK(page.n == 0 && page.objects == NULL && page.next_token == NULL);
    }
    bq_s3_list_page_free(&page);

    char *upload_id = (char *)1;
    rc = bq_s3_xml_parse_initiate(body, size, &upload_id);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(rc == 0 ? upload_id && upload_id[0] : upload_id == NULL);
    free(upload_id);

    char *etag = (char *)1;
    rc = bq_s3_xml_parse_complete(body, size, &etag, &e);
    FUZZ_CHECK(rc >= -1 && rc <= 1);
    FUZZ_CHECK(rc == 0 ? etag != NULL : etag == NULL);
    if (rc == 1)
        check_error_fields(&e);
    free(etag);

    size_t outlen = 0;
    char *dec = bq_s3_url_decode(body, size, &outlen);
    if (dec) {
        FUZZ_CHECK(outlen <= size);
        FUZZ_CHECK(dec[outlen] == '\0');
        free(dec);
    }
    return 0;
}
