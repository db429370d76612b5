/* http: the libcurl transport for S3 and the credential endpoints.
 *
 * Plain C, no Lua. One bq_http_client per thread (or per upload worker): it
 * owns one curl easy handle and a private multi handle whose connection cache
 * keeps connections alive between requests. DNS and TLS sessions are shared
 * process-wide through a locked CURLSH; the connection cache is not, because
 * libcurl does not support sharing connections between concurrent threads.
 *
 * curl_global_init runs on first use (pthread_once), never at start-up. */
#ifndef BQ_HTTP_H
#define BQ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* --- errors ----------------------------------------------------------------
 * One shape for the transport and the services on top of it (credentials
 * use it too). The message is one line and never holds a secret, a
 * signature or the query string of a URL. */
enum bq_http_err_kind {
    BQ_HTTP_ERR_NONE = 0,
    BQ_HTTP_ERR_CONNECT,      /* DNS failure, refused, unreachable */
    BQ_HTTP_ERR_TIMEOUT,      /* connect timeout, total timeout, low-speed limit */
    BQ_HTTP_ERR_TLS,          /* handshake or certificate verification failed */
    BQ_HTTP_ERR_BROKEN,       /* connection reset/closed mid-request, empty reply */
    BQ_HTTP_ERR_CANCELLED,    /* bq_cancelled() became true */
    BQ_HTTP_ERR_HTTP,         /* the server answered with an error status */
    BQ_HTTP_ERR_PROTOCOL,     /* the answer was malformed (bad JSON, missing fields) */
    BQ_HTTP_ERR_CONFIG,       /* bad configuration or input (URL, missing credentials) */
    BQ_HTTP_ERR_INTERNAL,     /* out of memory, a callback aborted, cap exceeded */
};

struct bq_http_error {
    enum bq_http_err_kind kind;
    int curl_code;            /* CURLcode, 0 if none */
    long status;              /* HTTP status, 0 if none */
    char message[320];
};

/* A stable name for a kind ("ConnectError", "Timeout", ...), for error tables. */
const char *bq_http_err_kind_name(enum bq_http_err_kind kind);
/* Fills err (if not NULL); the formatted message is cut to one line. Returns -1. */
int bq_http_error_set(struct bq_http_error *err, enum bq_http_err_kind kind, long status,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void bq_http_error_clear(struct bq_http_error *err);

/* --- requests ---------------------------------------------------------------- */
struct bq_http_header {
    const char *name;
    const char *value;        /* "" sends an empty header */
};

/* Upload source: fill up to len bytes, return the count; 0 = end of body;
 * BQ_HTTP_READ_ABORT fails the request (kind INTERNAL). */
#define BQ_HTTP_READ_ABORT ((size_t)-1)
typedef size_t (*bq_http_read_fn)(char *buf, size_t len, void *ud);
/* Optional: rewind the upload to offset (curl needs it when it resends a request
 * on a reused connection that the server had closed). Return 0, or -1 if not possible. */
typedef int (*bq_http_seek_fn)(uint64_t offset, void *ud);
/* Download sink, called only for 2xx responses; return 0, or -1 to abort
 * (kind INTERNAL). Non-2xx bodies always go to resp->body (capped), so that
 * an error document can be parsed. */
typedef int (*bq_http_write_fn)(const char *data, size_t len, void *ud);

struct bq_http_request {
    const char *method;                     /* "GET", "PUT", "HEAD", "POST", "DELETE" */
    const char *url;
    const struct bq_http_header *headers;   /* sent as given; curl's Expect/Accept/Content-Type
                                               defaults are suppressed */
    size_t n_headers;

    /* Body: from memory (body, body_len) or from read_fn (body_len = size, or -1
     * for unknown: chunked). PUT and POST always send a Content-Length. */
    const void *body;
    int64_t body_len;
    bq_http_read_fn read_fn;
    bq_http_seek_fn seek_fn;
    void *read_ud;

    /* Response body: to write_fn when set (2xx only), else to resp->body up to
     * max_body bytes (0 = 8 MiB); more is an INTERNAL error. */
    bq_http_write_fn write_fn;
    void *write_ud;
    size_t max_body;

    /* Transport settings; 0 / NULL / false take the defaults. */
    bool allow_http;            /* plain http:// (the caller checked it is allowed) */
    const char *ca_bundle;      /* else bq_http_set_default_ca_bundle(), else AWS_CA_BUNDLE,
                                   else the system store */
    long connect_timeout_ms;    /* default 10000 */
    long timeout_ms;            /* whole request; default 0 = none */
    long low_speed_limit;       /* bytes/s; default 1 */
    long low_speed_time;        /* seconds below the limit before a timeout; default 60 */

    /* A cleanup request (AbortMultipartUpload after a limit, SIGTERM or a
     * failure): it goes out even once bq_cancelled() is true, so that work
     * can be undone while the process winds down, and is bounded by short
     * timeouts instead (connect BQ_HTTP_CLEANUP_CONNECT_MS, whole request
     * BQ_HTTP_CLEANUP_TIMEOUT_MS, unless set above). Only for requests that
     * undo something; never for the script's own work. */
    bool cleanup;

    /* Optional: the caller gives the request up once give_up(give_up_ud)
     * returns true (an upload being aborted): it then fails as CANCELLED.
     * Polled from the transfer's thread every ~100 ms. */
    bool (*give_up)(void *ud);
    void *give_up_ud;
};

#define BQ_HTTP_CLEANUP_CONNECT_MS 1000L
#define BQ_HTTP_CLEANUP_TIMEOUT_MS 2000L

struct bq_http_response {
    long status;
    struct bq_http_header *headers;   /* of the final response; names and values owned */
    size_t n_headers;
    char *body;                       /* NUL-terminated (not counted); never NULL after perform */
    size_t body_len;
    double total_time;                /* seconds */
    uint64_t bytes_sent, bytes_received;
};

/* Case-insensitive lookup of a response header; the last one wins. NULL if absent. */
const char *bq_http_response_header(const struct bq_http_response *resp, const char *name);
/* Frees everything the response holds (the body is zeroed first: it may hold
 * credentials) and resets it. Safe on a zeroed or already-freed response. */
void bq_http_response_free(struct bq_http_response *resp);

struct bq_http_client;
struct bq_http_client *bq_http_client_new(void);   /* NULL on failure */
void bq_http_client_free(struct bq_http_client *c);
/* The calling thread's client, created on first use and freed when the thread
 * exits (or by bq_http_thread_cleanup). NULL on failure. */
struct bq_http_client *bq_http_client_thread(void);
void bq_http_thread_cleanup(void);

/* Performs one request (no retries: see retry.h). Returns 0 when a response
 * arrived, whatever its status (resp->status); -1 with err filled on a
 * transport failure, a cancellation (bq_cancelled(), unless req->cleanup)
 * or a callback abort. resp is always
 * initialised; free it with bq_http_response_free either way.
 * c may be NULL: the calling thread's client. */
int bq_http_perform(struct bq_http_client *c, const struct bq_http_request *req,
                    struct bq_http_response *resp, struct bq_http_error *err);

/* Process-wide default CA bundle (--ca-bundle); NULL resets it. Copied. */
void bq_http_set_default_ca_bundle(const char *path);

/* "scheme://host[:port]/path" without user info, query or fragment, for
 * messages (a presigned URL's signature never reaches a log). Always NUL-terminates. */
void bq_http_redact_url(const char *url, char *out, size_t outlen);

#endif
