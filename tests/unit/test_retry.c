/* The AWS "standard" retry policy: what retries, how long it waits, AWS_MAX_ATTEMPTS. */
#include "retry.h"
#include "tap.h"
#include "util.h"

#include <stdlib.h>

static void test_retryable_statuses(void)
{
    long yes[] = { 500, 502, 503, 504, 429 };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        ok(bq_retry_is_retryable(BQ_HTTP_ERR_HTTP, yes[i], NULL), "HTTP %ld retries", yes[i]);
    long no[] = { 200, 301, 400, 401, 403, 404, 409, 412, 501, 505 };
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        ok(!bq_retry_is_retryable(BQ_HTTP_ERR_HTTP, no[i], NULL), "HTTP %ld does not retry", no[i]);
}

static void test_retryable_codes(void)
{
    const char *yes[] = { "Throttling", "ThrottlingException", "ThrottledException",
        "RequestThrottledException", "TooManyRequestsException",
        "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException",
        "RequestThrottled", "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
        "RequestTimeout", "RequestTimeoutException", "InternalError" };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        ok(bq_retry_is_retryable(BQ_HTTP_ERR_HTTP, 400, yes[i]), "code %s retries (even with a 400)", yes[i]);
    const char *no[] = { "NoSuchKey", "AccessDenied", "SignatureDoesNotMatch", "slowdown",
                         "Throttling ", "", "ExpiredToken", "InvalidAccessKeyId" };
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        ok(!bq_retry_is_retryable(BQ_HTTP_ERR_HTTP, 400, no[i]), "code '%s' does not retry", no[i]);
    ok(bq_retry_is_throttling_code("SlowDown"), "SlowDown is throttling");
    ok(!bq_retry_is_throttling_code("InternalError"), "InternalError is transient, not throttling");
}

static void test_retryable_kinds(void)
{
    ok(bq_retry_is_retryable(BQ_HTTP_ERR_CONNECT, 0, NULL), "connection errors retry");
    ok(bq_retry_is_retryable(BQ_HTTP_ERR_TIMEOUT, 0, NULL), "timeouts retry");
    ok(bq_retry_is_retryable(BQ_HTTP_ERR_BROKEN, 0, NULL), "broken connections retry");
    ok(!bq_retry_is_retryable(BQ_HTTP_ERR_TLS, 0, NULL), "TLS failures do not retry");
    ok(!bq_retry_is_retryable(BQ_HTTP_ERR_CANCELLED, 0, NULL), "cancellation does not retry");
    ok(!bq_retry_is_retryable(BQ_HTTP_ERR_CONFIG, 0, NULL), "configuration errors do not retry");
    ok(!bq_retry_is_retryable(BQ_HTTP_ERR_PROTOCOL, 500, NULL), "malformed answers do not retry");
    ok(!bq_retry_is_retryable(BQ_HTTP_ERR_INTERNAL, 0, NULL), "internal errors do not retry");
}

static void test_should_retry_counts_attempts(void)
{
    ok(bq_retry_should_retry(1, 3, BQ_HTTP_ERR_HTTP, 503, NULL), "attempt 1 of 3 retries");
    ok(bq_retry_should_retry(2, 3, BQ_HTTP_ERR_HTTP, 503, NULL), "attempt 2 of 3 retries");
    ok(!bq_retry_should_retry(3, 3, BQ_HTTP_ERR_HTTP, 503, NULL), "attempt 3 of 3 is the last");
    ok(!bq_retry_should_retry(1, 1, BQ_HTTP_ERR_CONNECT, 0, NULL), "max_attempts 1: never retries");
    ok(!bq_retry_should_retry(1, 3, BQ_HTTP_ERR_HTTP, 404, "NoSuchKey"), "NoSuchKey never retries");
}

static void test_delay_bounds(void)
{
    is_int((long long)(bq_retry_delay_r(1, 0.0) * 1000), 0, "r=0: no wait");
    ok(bq_retry_delay_r(1, 0.999) < 1.0, "attempt 1 waits < 1 s");
    ok(bq_retry_delay_r(2, 0.999) < 2.0 && bq_retry_delay_r(2, 0.999) > 1.9, "attempt 2 waits < 2 s");
    ok(bq_retry_delay_r(3, 0.5) == 2.0, "attempt 3, r=0.5: 2 s");
    ok(bq_retry_delay_r(6, 0.999) == 20.0, "attempt 6 is capped at 20 s");
    ok(bq_retry_delay_r(1000, 0.999) == 20.0, "huge attempt counts stay at 20 s");
    ok(bq_retry_delay_r(0, 0.5) == 0.5, "attempt 0 counts as 1");
    ok(bq_retry_delay_r(2, 1.5) == 0.0 && bq_retry_delay_r(2, -1) == 0.0, "r outside [0,1) is ignored");

    /* The real jitter: within bounds, and not constant. */
    bool in_bounds = true, varied = false;
    double first = bq_retry_delay(4);
    for (int i = 0; i < 1000; i++) {
        for (int a = 1; a <= 8; a++) {
            double d = bq_retry_delay(a);
            double cap = a >= 6 ? 20.0 : (double)(1 << (a - 1));
            if (!(d >= 0 && d < cap + 1e-9))
                in_bounds = false;
        }
        if (bq_retry_delay(4) != first)
            varied = true;
    }
    ok(in_bounds, "random delays stay in [0, min(2^(attempt-1), 20))");
    ok(varied, "random delays vary (full jitter)");
}

static void test_max_attempts_parsing(void)
{
    int v = 0;
    char msg[128];
    ok(bq_retry_parse_max_attempts("1", &v, msg, sizeof msg) == 0 && v == 1, "1 is valid");
    ok(bq_retry_parse_max_attempts("20", &v, msg, sizeof msg) == 0 && v == 20, "20 is valid");
    const char *bad[] = { "0", "21", "-1", "", "3x", " 3", "3.0", "abc", "99999999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        msg[0] = '\0';
        ok(bq_retry_parse_max_attempts(bad[i], &v, msg, sizeof msg) < 0 && strstr(msg, "AWS_MAX_ATTEMPTS"),
           "'%s' is refused with a message naming AWS_MAX_ATTEMPTS", bad[i]);
    }

    unsetenv("AWS_MAX_ATTEMPTS");
    is_int(bq_retry_max_attempts(), 3, "default: 3 attempts");
    setenv("AWS_MAX_ATTEMPTS", "7", 1);
    is_int(bq_retry_max_attempts(), 7, "AWS_MAX_ATTEMPTS=7");
    setenv("AWS_MAX_ATTEMPTS", "0", 1);
    is_int(bq_retry_max_attempts(), 3, "an invalid AWS_MAX_ATTEMPTS falls back to 3");
    unsetenv("AWS_MAX_ATTEMPTS");
}

static void test_sleep_is_cancellable(void)
{
    /* Last: cancellation is process-wide and cannot be reset. */
    double t0 = bq_monotonic();
    ok(bq_retry_sleep(1), "an uncancelled back-off completes");
    ok(bq_monotonic() - t0 < 1.1, "...within the attempt-1 bound");
    bq_cancel_set(BQ_CANCEL_SIGNAL);
    t0 = bq_monotonic();
    ok(!bq_retry_sleep(20), "a cancelled back-off returns false");
    ok(bq_monotonic() - t0 < 0.2, "...at once");
    ok(!bq_retry_should_retry(1, 3, BQ_HTTP_ERR_HTTP, 503, NULL), "nothing retries once cancelled");
}

int main(void)
{
    test_retryable_statuses();
    test_retryable_codes();
    test_retryable_kinds();
    test_should_retry_counts_attempts();
    test_delay_bounds();
    test_max_attempts_parsing();
    test_sleep_is_cancellable();
    return tap_done();
}
