/* The libcurl transport against a local server (started by run_http.py):
 * statuses, headers, bodies, streaming both ways, caps, keep-alive, timeouts,
 * TLS with a private CA, threads, and cancellation (last: it is process-wide).
 *
 *   test_http HTTP_BASE HTTPS_BASE HTTPS_IP_BASE CA_PEM CLOSED_PORT */
#include "http.h"
#include "../../unit/tap.h"
#include "util.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *http_base, *https_base, *https_ip_base, *ca_pem, *closed_port;

static char *url(const char *base, const char *path)
{
    /* per thread: test_threads calls it from four at once */
    static _Thread_local char buf[8][512];
    static _Thread_local int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s%s", base, path);
    return buf[i];
}

static int get(const char *u, struct bq_http_request *req, struct bq_http_response *resp,
               struct bq_http_error *err)
{
    struct bq_http_request r = { 0 };
    if (!req)
        req = &r;
    req->url = u;
    if (!req->method)
        req->method = "GET";
    req->allow_http = true;
    return bq_http_perform(NULL, req, resp, err);
}

static unsigned char pattern(uint64_t i)
{
    return (unsigned char)((i * 7 + 3) % 251);
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned len;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static void test_status_headers_body(void)
{
    struct bq_http_response resp;
    struct bq_http_error err;
    int rc = get(url(http_base, "/status/200"), NULL, &resp, &err);
    ok(rc == 0 && resp.status == 200, "GET 200: rc %d status %ld %s", rc, resp.status, err.message);
    is_str(resp.body, "status 200", "GET 200: body in memory");
    is_str(bq_http_response_header(&resp, "x-test"), "yes", "header lookup is case-insensitive (x-test)");
    is_str(bq_http_response_header(&resp, "X-TEST"), "yes", "header lookup is case-insensitive (X-TEST)");
    ok(bq_http_response_header(&resp, "X-Absent") == NULL, "an absent header is NULL");
    ok(resp.total_time > 0 && resp.total_time < 5, "total time is reported (%.4f s)", resp.total_time);
    bq_http_response_free(&resp);

    rc = get(url(http_base, "/status/404"), NULL, &resp, &err);
    ok(rc == 0 && resp.status == 404 && strcmp(resp.body, "status 404") == 0,
       "GET 404: a response, not a transport error");
    bq_http_response_free(&resp);

    struct bq_http_request req = { .method = "HEAD" };
    rc = get(url(http_base, "/status/200"), &req, &resp, &err);
    ok(rc == 0 && resp.status == 200 && resp.body_len == 0, "HEAD: status, no body");
    bq_http_response_free(&resp);
}

static void test_request_headers(void)
{
    struct bq_http_header h[] = {
        { "X-Amz-Date", "20261128T120000Z" }, { "X-Empty", "" }, { "Content-Type", "text/tab-separated-values" },
    };
    struct bq_http_request req = { .headers = h, .n_headers = 3 };
    struct bq_http_response resp;
    struct bq_http_error err;
    int rc = get(url(http_base, "/headers"), &req, &resp, &err);
    ok(rc == 0 && strstr(resp.body, "x-amz-date: 20261128T120000Z\n"), "custom headers are sent");
    ok(strstr(resp.body, "x-empty: \n") != NULL, "an empty header is sent empty");
    ok(strstr(resp.body, "content-type: text/tab-separated-values\n") != NULL, "a given Content-Type is sent");
    ok(strstr(resp.body, "user-agent: bqlua/") != NULL, "User-Agent bqlua/VERSION");
    bq_http_response_free(&resp);

    struct bq_http_request put = { .method = "PUT", .body = "x", .body_len = 1 };
    rc = get(url(http_base, "/headers"), &put, &resp, &err);
    ok(rc == 0 && !strstr(resp.body, "expect:") && !strstr(resp.body, "content-type:"),
       "no Expect or default Content-Type on uploads");
    bq_http_response_free(&resp);

    struct bq_http_header bad[] = { { "X-Evil", "a\r\nX-Injected: 1" } };
    struct bq_http_request inj = { .headers = bad, .n_headers = 1 };
    rc = get(url(http_base, "/headers"), &inj, &resp, &err);
    ok(rc == -1 && err.kind == BQ_HTTP_ERR_CONFIG, "a header value with CR/LF is refused");
    bq_http_response_free(&resp);
}

struct src { uint64_t off, len; };

static size_t read_pattern(char *buf, size_t len, void *ud)
{
    struct src *s = ud;
    size_t n = 0;
    while (n < len && s->off < s->len)
        buf[n++] = (char)pattern(s->off++);
    return n;
}

static int seek_pattern(uint64_t off, void *ud)
{
    ((struct src *)ud)->off = off;
    return 0;
}

static void test_uploads(void)
{
    size_t n = 100000;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)pattern(i);
    char want[65], line[128];
    sha256_hex(body, n, want);
    struct bq_http_request req = { .method = "PUT", .body = body, .body_len = (int64_t)n };
    struct bq_http_response resp;
    struct bq_http_error err;
    int rc = get(url(http_base, "/sha256"), &req, &resp, &err);
    snprintf(line, sizeof line, "PUT %zu %s", n, want);
    ok(rc == 0 && strcmp(resp.body, line) == 0, "PUT from memory arrives intact (%s)", resp.body);
    bq_http_response_free(&resp);
    free(body);

    /* A streamed 5 MB upload; the checksum is computed over the same pattern. */
    size_t big = 5u << 20;
    char *copy = malloc(big);
    for (size_t i = 0; i < big; i++)
        copy[i] = (char)pattern(i);
    sha256_hex(copy, big, want);
    free(copy);
    struct src s = { 0, big };
    struct bq_http_request sreq = { .method = "PUT", .read_fn = read_pattern, .seek_fn = seek_pattern,
                                    .read_ud = &s, .body_len = (int64_t)big };
    rc = get(url(http_base, "/sha256"), &sreq, &resp, &err);
    snprintf(line, sizeof line, "PUT %zu %s", big, want);
    ok(rc == 0 && strcmp(resp.body, line) == 0, "PUT from a read callback (5 MiB) arrives intact");
    bq_http_response_free(&resp);

    struct bq_http_request post = { .method = "POST" };
    rc = get(url(http_base, "/sha256"), &post, &resp, &err);
    ok(rc == 0 && strcmp(resp.body, "POST 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0,
       "POST without a body sends Content-Length: 0 (%s)", resp.body);
    bq_http_response_free(&resp);

    struct bq_http_request del = { .method = "DELETE" };
    rc = get(url(http_base, "/status/204"), &del, &resp, &err);
    ok(rc == 0 && resp.status == 204, "DELETE");
    bq_http_response_free(&resp);
}

struct sink { uint64_t n; bool good; int calls; };

static int write_check(const char *p, size_t len, void *ud)
{
    struct sink *s = ud;
    s->calls++;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] != pattern(s->n + i))
            s->good = false;
    s->n += len;
    return 0;
}

static int write_stop(const char *p, size_t len, void *ud)
{
    (void)p; (void)len; (void)ud;
    return -1;
}

static void test_downloads(void)
{
    struct sink s = { 0, true, 0 };
    struct bq_http_request req = { .write_fn = write_check, .write_ud = &s };
    struct bq_http_response resp;
    struct bq_http_error err;
    int rc = get(url(http_base, "/big/3000000"), &req, &resp, &err);
    ok(rc == 0 && resp.status == 200 && s.n == 3000000 && s.good, "streamed download: 3000000 bytes intact (%llu)",
       (unsigned long long)s.n);
    ok(resp.body_len == 0, "streamed download: nothing buffered");
    bq_http_response_free(&resp);

    struct sink e = { 0, true, 0 };
    struct bq_http_request ereq = { .write_fn = write_check, .write_ud = &e };
    rc = get(url(http_base, "/status/503"), &ereq, &resp, &err);
    ok(rc == 0 && resp.status == 503 && e.calls == 0 && strcmp(resp.body, "status 503") == 0,
       "an error body goes to resp->body, not to the write callback");
    bq_http_response_free(&resp);

    struct bq_http_request stop = { .write_fn = write_stop };
    rc = get(url(http_base, "/big/100000"), &stop, &resp, &err);
    ok(rc == -1 && err.kind == BQ_HTTP_ERR_INTERNAL, "a write callback can stop the transfer: %s", err.message);
    bq_http_response_free(&resp);

    struct bq_http_request cap = { .max_body = 100 };
    rc = get(url(http_base, "/big/1000"), &cap, &resp, &err);
    ok(rc == -1 && err.kind == BQ_HTTP_ERR_INTERNAL && strstr(err.message, "larger than 100"),
       "the memory cap holds: %s", err.message);
    bq_http_response_free(&resp);
}

static void test_keep_alive(void)
{
    struct bq_http_response a, b;
    struct bq_http_error err;
    get(url(http_base, "/conn"), NULL, &a, &err);
    get(url(http_base, "/conn"), NULL, &b, &err);
    ok(a.body_len && strcmp(a.body, b.body) == 0, "keep-alive: two requests, one connection (%s, %s)", a.body, b.body);
    bq_http_response_free(&a);
    bq_http_response_free(&b);
}

static void test_failures(void)
{
    struct bq_http_response resp;
    struct bq_http_error err;
    struct bq_http_request req = { .method = "GET", .url = url(http_base, "/status/200") };
    int rc = bq_http_perform(NULL, &req, &resp, &err);
    ok(rc == -1 && err.kind == BQ_HTTP_ERR_CONFIG, "plain http needs allow_http: %s", err.message);
    bq_http_response_free(&resp);

    char u[256];
    snprintf(u, sizeof u, "http://127.0.0.1:%s/bucket/key?X-Amz-Signature=SECRETSIG&X-Amz-Credential=AKID", closed_port);
    double t0 = bq_monotonic();
    rc = get(u, NULL, &resp, &err);
    double secs = bq_monotonic() - t0;
    ok(rc == -1 && err.kind == BQ_HTTP_ERR_CONNECT, "a closed port is a connect error: %s", err.message);
    ok(secs < 1.0, "...reported fast (%.3f s)", secs);
    ok(!strstr(err.message, "SECRETSIG") && !strstr(err.message, "X-Amz") && strstr(err.message, "/bucket/key"),
       "...with the path but not the query in the message");
    ok(err.curl_code != 0, "...and the curl code (%d)", err.curl_code);
    bq_http_response_free(&resp);

    struct bq_http_request slow = { .low_speed_limit = 1, .low_speed_time = 1 };
    t0 = bq_monotonic();
    rc = get(url(http_base, "/stall"), &slow, &resp, &err);
    secs = bq_monotonic() - t0;
    ok(rc == -1 && err.kind == BQ_HTTP_ERR_TIMEOUT, "a stalled transfer hits the low-speed limit: %s", err.message);
    ok(secs < 4.0, "...after about low_speed_time (%.2f s)", secs);
    bq_http_response_free(&resp);

    struct bq_http_request total = { .timeout_ms = 500 };
    t0 = bq_monotonic();
    rc = get(url(http_base, "/slow"), &total, &resp, &err);
    secs = bq_monotonic() - t0;
    ok(rc == -1 && err.kind == BQ_HTTP_ERR_TIMEOUT && secs < 1.5, "a total timeout (%.2f s): %s", secs, err.message);
    bq_http_response_free(&resp);

    rc = get("ftp://127.0.0.1/x", NULL, &resp, &err);
    ok(rc == -1 && err.kind == BQ_HTTP_ERR_CONFIG, "other schemes are refused");
    bq_http_response_free(&resp);
}

static void test_tls(void)
{
    struct bq_http_response resp;
    struct bq_http_error err;
    struct bq_http_request req = { .ca_bundle = ca_pem };
    int rc = get(url(https_base, "/status/200"), &req, &resp, &err);
    ok(rc == 0 && resp.status == 200, "https with the private CA via the CA-bundle option: %s", err.message);
    bq_http_response_free(&resp);

    unsetenv("AWS_CA_BUNDLE");
    rc = get(url(https_base, "/status/200"), NULL, &resp, &err);
    ok(rc == -1 && err.kind == BQ_HTTP_ERR_TLS, "https without that CA fails verification: %s", err.message);
    bq_http_response_free(&resp);

    struct bq_http_request ipreq = { .ca_bundle = ca_pem };
    rc = get(url(https_ip_base, "/status/200"), &ipreq, &resp, &err);
    ok(rc == -1 && err.kind == BQ_HTTP_ERR_TLS, "a certificate for another host name fails: %s", err.message);
    bq_http_response_free(&resp);

    bq_http_set_default_ca_bundle(ca_pem);
    rc = get(url(https_base, "/status/200"), NULL, &resp, &err);
    ok(rc == 0 && resp.status == 200, "the process default CA bundle (--ca-bundle) is used");
    bq_http_response_free(&resp);
    bq_http_set_default_ca_bundle(NULL);

    setenv("AWS_CA_BUNDLE", ca_pem, 1);
    rc = get(url(https_base, "/status/200"), NULL, &resp, &err);
    ok(rc == 0 && resp.status == 200, "AWS_CA_BUNDLE is used when no default is set");
    bq_http_response_free(&resp);
    unsetenv("AWS_CA_BUNDLE");

    struct bq_http_request missing = { .ca_bundle = "/nonexistent/ca.pem" };
    rc = get(url(https_base, "/status/200"), &missing, &resp, &err);
    ok(rc == -1 && err.kind == BQ_HTTP_ERR_TLS, "a missing CA file is a TLS error: %s", err.message);
    bq_http_response_free(&resp);
}

static void *thread_main(void *arg)
{
    intptr_t good = 0;
    (void)arg;
    for (int i = 0; i < 20; i++) {
        struct bq_http_request req = { .ca_bundle = ca_pem };
        struct bq_http_response resp;
        struct bq_http_error err;
        if (get(url(https_base, "/big/10000"), &req, &resp, &err) == 0 && resp.body_len == 10000)
            good++;
        else    /* one line, so that threads do not interleave within it */
            printf("# thread request %d: status %ld, %zu bytes, %s\n", i, resp.status, resp.body_len,
                   err.message);
        bq_http_response_free(&resp);
    }
    bq_http_thread_cleanup();
    return (void *)good;
}

static void test_threads(void)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, thread_main, NULL);
    intptr_t total = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        total += (intptr_t)r;
    }
    is_int(total, 80, "4 threads x 20 https requests, each thread with its own client");
}

static void *canceller(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 300 * 1000000L };
    nanosleep(&ts, NULL);
    bq_cancel_set(BQ_CANCEL_SIGNAL);
    return NULL;
}

static void test_cancel(void)
{
    pthread_t th;
    struct bq_http_response resp;
    struct bq_http_error err;
    double t0 = bq_monotonic();
    pthread_create(&th, NULL, canceller, NULL);
    int rc = get(url(http_base, "/stall"), NULL, &resp, &err);
    double secs = bq_monotonic() - t0;
    pthread_join(th, NULL);
    ok(rc == -1 && err.kind == BQ_HTTP_ERR_CANCELLED, "cancellation aborts a quiet transfer: %s", err.message);
    ok(secs < 0.3 + 0.5, "...within a fraction of a second of the cancel (%.3f s after start, cancel at 0.3)", secs);
    bq_http_response_free(&resp);

    rc = get(url(http_base, "/status/200"), NULL, &resp, &err);
    ok(rc == -1 && err.kind == BQ_HTTP_ERR_CANCELLED, "once cancelled, new requests fail at once");
    bq_http_response_free(&resp);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: test_http HTTP_BASE HTTPS_BASE HTTPS_IP_BASE CA_PEM CLOSED_PORT\n");
        return 2;
    }
    http_base = argv[1];
    https_base = argv[2];
    https_ip_base = argv[3];
    ca_pem = argv[4];
    closed_port = argv[5];
    test_status_headers_body();
    test_request_headers();
    test_uploads();
    test_downloads();
    test_keep_alive();
    test_failures();
    test_tls();
    test_threads();
    test_cancel();
    bq_http_thread_cleanup();
    return tap_done();
}
