/* s3_xml: the S3 answers bqlua parses, and S3 addressing (URLs, Host). */
#include "s3.h"
#include "s3_xml.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static void test_error_documents(void)
{
    struct bq_s3_xml_error e;
    const char *nsk = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
                      "<Message>The specified key does not exist.</Message><Key>a/b</Key>"
                      "<RequestId>4442587FB7D0A2F9</RequestId><HostId>xyz</HostId></Error>";
    is_int(bq_s3_xml_parse_error(nsk, strlen(nsk), &e), 1, "NoSuchKey is an error document");
    is_str(e.code, "NoSuchKey", "error code");
    is_str(e.message, "The specified key does not exist.", "error message");
    is_str(e.request_id, "4442587FB7D0A2F9", "request id");
    const char *ent = "<Error><Code>SignatureDoesNotMatch</Code><Message>a &amp; b\nc</Message></Error>";
    is_int(bq_s3_xml_parse_error(ent, strlen(ent), &e), 1, "entities and newlines");
    is_str(e.message, "a & b c", "message decoded, one line");
    is_str(e.request_id, "", "no request id");
    const char *other = "<ListBucketResult></ListBucketResult>";
    is_int(bq_s3_xml_parse_error(other, strlen(other), &e), 0, "another root is not an error");
    is_int(bq_s3_xml_parse_error("<Error><Code>", 13, &e), -1, "truncated XML is refused");
    is_int(bq_s3_xml_parse_error("", 0, &e), -1, "an empty body is not XML");
    /* nested <Code> elsewhere must not be taken as the code */
    const char *nested = "<Error><Code>Outer</Code><Detail><Code>Inner</Code></Detail></Error>";
    bq_s3_xml_parse_error(nested, strlen(nested), &e);
    is_str(e.code, "Outer", "only the top-level Code counts");
}

static void test_list_pages(void)
{
    struct bq_s3_list_page p;
    const char *page1 =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
        "<Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
        "<Contents><Key>p/a b</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified>"
        "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>12</Size>"
        "<StorageClass>STANDARD</StorageClass></Contents>"
        "<Contents><Key>p/&lt;x&gt;&amp;</Key><Size>0</Size><ETag>\"e\"</ETag></Contents>"
        "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
        "</ListBucketResult>";
    is_int(bq_s3_xml_parse_list(page1, strlen(page1), &p), 0, "page 1 parses");
    is_int((long)p.n, 2, "two objects");
    is_str(p.objects[0].key, "p/a b", "key");
    is_int((long)p.objects[0].size, 12, "size");
    is_str(p.objects[0].etag, "\"9b2cf535f27731c974343645a3985328\"", "etag with quotes");
    is_str(p.objects[0].last_modified, "2026-01-02T03:04:05.000Z", "last modified");
    is_str(p.objects[1].key, "p/<x>&", "entities in keys");
    ok(p.truncated, "truncated");
    is_str(p.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=", "continuation token");
    bq_s3_list_page_free(&p);

    const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated><EncodingType>url</EncodingType>"
                       "<Contents><Key>d%2Fsp+ace%C3%A9%2B</Key><Size>3</Size></Contents></ListBucketResult>";
    is_int(bq_s3_xml_parse_list(last, strlen(last), &p), 0, "last page parses");
    ok(!p.truncated && p.next_token == NULL, "not truncated");
    is_str(p.objects[0].key, "d/sp ace\xc3\xa9+", "encoding-type=url keys are decoded");
    bq_s3_list_page_free(&p);

    const char *empty = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    is_int(bq_s3_xml_parse_list(empty, strlen(empty), &p), 0, "an empty page");
    is_int((long)p.n, 0, "no objects");
    bq_s3_list_page_free(&p);

    const char *notoken = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
    is_int(bq_s3_xml_parse_list(notoken, strlen(notoken), &p), -1,
           "truncated without a token is refused (never end early)");
    const char *err = "<Error><Code>NoSuchBucket</Code></Error>";
    is_int(bq_s3_xml_parse_list(err, strlen(err), &p), -1, "an error document is not a page");
}

static void test_multipart_answers(void)
{
    char *id = NULL;
    const char *init = "<?xml version=\"1.0\"?><InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                       "<Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE</UploadId>"
                       "</InitiateMultipartUploadResult>";
    is_int(bq_s3_xml_parse_initiate(init, strlen(init), &id), 0, "InitiateMultipartUpload parses");
    is_str(id, "VXBsb2FkIElE", "upload id");
    free(id);
    const char *noid = "<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>";
    is_int(bq_s3_xml_parse_initiate(noid, strlen(noid), &id), -1, "no UploadId is refused");

    char *etag = NULL;
    struct bq_s3_xml_error e;
    const char *done = "<CompleteMultipartUploadResult><Location>x</Location><Bucket>b</Bucket><Key>k</Key>"
                       "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>";
    is_int(bq_s3_xml_parse_complete(done, strlen(done), &etag, &e), 0, "CompleteMultipartUpload parses");
    is_str(etag, "\"3858f62230ac3c915f300c664312c11f-9\"", "final etag");
    free(etag);
    /* S3 may answer 200 and then an error, after whitespace it sent to keep the connection */
    const char *late = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n   \n<Error><Code>InternalError</Code>"
                       "<Message>We encountered an internal error. Please try again.</Message>"
                       "<RequestId>656c76696e6727732072657175657374</RequestId></Error>";
    is_int(bq_s3_xml_parse_complete(late, strlen(late), &etag, &e), 1, "200 with an <Error> body is a failure");
    is_str(e.code, "InternalError", "its code");
    ok(etag == NULL, "no etag");
    is_int(bq_s3_xml_parse_complete("<x/>", 4, &etag, &e), -1, "neither result nor error");
}

static void test_url_decode(void)
{
    size_t n;
    char *d = bq_s3_url_decode("a%00b", 5, &n);
    ok(d && n == 3 && d[1] == '\0', "%%00 decodes to a NUL byte");
    free(d);
    ok(bq_s3_url_decode("bad%2", 5, &n) == NULL, "a short escape is refused");
    ok(bq_s3_url_decode("bad%zz", 6, &n) == NULL, "a non-hex escape is refused");
}

static void url_is(const struct bq_s3_config *c, const char *region, const char *bucket, const char *key,
                   const char *want_url, const char *want_host, const char *desc)
{
    char *url, *host;
    if (bq_s3_build_url(c, region, bucket, key, &url, &host) < 0) {
        ok(0, "%s: build failed", desc);
        return;
    }
    is_str(url, want_url, "%s: url", desc);
    is_str(host, want_host, "%s: host", desc);
    free(url);
    free(host);
}

static void test_addressing(void)
{
    struct bq_s3_config aws = { 0 };
    url_is(&aws, "eu-west-1", "my-bucket", "dir/a b+c~d=e&f.txt",
           "https://my-bucket.s3.eu-west-1.amazonaws.com/dir/a%20b%2Bc~d%3De%26f.txt",
           "my-bucket.s3.eu-west-1.amazonaws.com", "virtual-hosted by default, key encoded, / kept");
    url_is(&aws, "us-east-1", "my-bucket", NULL, "https://my-bucket.s3.us-east-1.amazonaws.com/",
           "my-bucket.s3.us-east-1.amazonaws.com", "bucket-level request");
    url_is(&aws, "us-east-1", "my-bucket", "\xc3\xa9t\xc3\xa9/", "https://my-bucket.s3.us-east-1.amazonaws.com/%C3%A9t%C3%A9/",
           "my-bucket.s3.us-east-1.amazonaws.com", "UTF-8 and a trailing slash");
    url_is(&aws, "us-west-2", "dotted.bucket.name", "k", "https://s3.us-west-2.amazonaws.com/dotted.bucket.name/k",
           "s3.us-west-2.amazonaws.com", "dotted buckets use path-style (TLS names)");
    struct bq_s3_config ps = { .path_style = true };
    url_is(&ps, "us-east-1", "b-1", "k", "https://s3.us-east-1.amazonaws.com/b-1/k", "s3.us-east-1.amazonaws.com",
           "--path-style");
    struct bq_s3_config ep = { .endpoint = "http://127.0.0.1:9000/" };
    url_is(&ep, "us-east-1", "b-1", "a/b", "http://127.0.0.1:9000/b-1/a/b", "127.0.0.1:9000",
           "custom endpoint: path-style");
    url_is(&ep, "us-east-1", "b-1", NULL, "http://127.0.0.1:9000/b-1", "127.0.0.1:9000", "custom endpoint, bucket");
    struct bq_s3_config ep443 = { .endpoint = "https://minio.example:443/base" };
    url_is(&ep443, "us-east-1", "b-1", "k", "https://minio.example:443/base/b-1/k", "minio.example",
           "default port left out of Host; endpoint path kept");
    char *url, *host;
    ok(bq_s3_build_url(&aws, "us-east-1/../x", "b-1", "k", &url, &host) < 0, "a bad region is refused");
}

int main(void)
{
    test_error_documents();
    test_list_pages();
    test_multipart_answers();
    test_url_decode();
    test_addressing();
    return tap_done();
}
