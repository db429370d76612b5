/* s3_xml: expat parsing of the S3 responses bqlua reads (error documents,
 * ListObjectsV2 pages, InitiateMultipartUpload, CompleteMultipartUpload).
 * Plain C, no I/O. Unknown elements are ignored; a body that is not
 * well-formed XML is an error (-1). */
#ifndef BQ_S3_XML_H
#define BQ_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bq_s3_xml_error {
    char code[64];
    char message[256];
    char request_id[128];
};

/* An <Error> document. 1 when it is one (fields filled, "" when absent),
 * 0 when the root is something else, -1 when it is not XML. */
int bq_s3_xml_parse_error(const char *body, size_t len, struct bq_s3_xml_error *out);

struct bq_s3_object {
    char *key;
    uint64_t size;
    char *etag;               /* as S3 sends it, quotes included */
    char *last_modified;      /* ISO 8601 */
};

struct bq_s3_list_page {
    struct bq_s3_object *objects;
    size_t n, cap;
    bool truncated;
    char *next_token;         /* NextContinuationToken, NULL when none */
};

/* A ListBucketResult (ListObjectsV2). Keys are URL-decoded when the page says
 * <EncodingType>url</EncodingType>. 0, or -1 (not XML, wrong root, no memory). */
int bq_s3_xml_parse_list(const char *body, size_t len, struct bq_s3_list_page *out);
void bq_s3_list_page_free(struct bq_s3_list_page *p);

/* InitiateMultipartUploadResult: *upload_id malloc'd. 0 or -1. */
int bq_s3_xml_parse_initiate(const char *body, size_t len, char **upload_id);

/* CompleteMultipartUploadResult, which S3 may answer with 200 and an <Error>
 * body: returns 0 with *etag malloc'd, 1 when it is an <Error> (err filled),
 * -1 when it is neither. */
int bq_s3_xml_parse_complete(const char *body, size_t len, char **etag, struct bq_s3_xml_error *err);

/* Percent-decoding (for encoding-type=url). Returns a malloc'd string, NULL on
 * OOM or a malformed escape. *outlen gets the length (may hold NUL bytes). */
char *bq_s3_url_decode(const char *s, size_t len, size_t *outlen);

#endif
