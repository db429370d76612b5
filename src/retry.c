/* retry: the AWS "standard" retry policy (see retry.h). */
#include "retry.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Throttling codes, as the SDKs' standard mode lists them. */
static const char *const throttling_codes[] = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException",
    "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException",
};
/* Transient codes: S3 sends RequestTimeout with a 400, InternalError with a 500. */
static const char *const transient_codes[] = {
    "RequestTimeout", "RequestTimeoutException", "InternalError",
};

static bool in_list(const char *code, const char *const *list, size_t n)
{
    if (!code || !*code)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(code, list[i]) == 0)
            return true;
    return false;
}

int bq_retry_parse_max_attempts(const char *s, int *out, char *err, size_t errlen)
{
    unsigned long long v;
    if (!s || bq_parse_uint(s, BQ_RETRY_MAX_MAX_ATTEMPTS, &v) < 0 || v < 1) {
        if (err && errlen)
            snprintf(err, errlen, "AWS_MAX_ATTEMPTS must be an integer from 1 to %d",
                     BQ_RETRY_MAX_MAX_ATTEMPTS);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int bq_retry_max_attempts(void)
{
    const char *s = getenv("AWS_MAX_ATTEMPTS");
    int v;
    if (s && *s && bq_retry_parse_max_attempts(s, &v, NULL, 0) == 0)
        return v;
    return BQ_RETRY_DEFAULT_MAX_ATTEMPTS;
}

bool bq_retry_is_throttling_code(const char *code)
{
    return in_list(code, throttling_codes, sizeof throttling_codes / sizeof *throttling_codes);
}

bool bq_retry_is_retryable(enum bq_http_err_kind kind, long status, const char *code)
{
    switch (kind) {
    case BQ_HTTP_ERR_CONNECT:
    case BQ_HTTP_ERR_TIMEOUT:
    case BQ_HTTP_ERR_BROKEN:
        return true;
    case BQ_HTTP_ERR_NONE:
    case BQ_HTTP_ERR_HTTP:
        break;                          /* decided by status and code */
    default:
        return false;                   /* TLS, cancelled, malformed, config, internal */
    }
    if (bq_retry_is_throttling_code(code) ||
        in_list(code, transient_codes, sizeof transient_codes / sizeof *transient_codes))
        return true;
    /* 429 is not in botocore's list, but every throttling service sends it. */
    return status == 500 || status == 502 || status == 503 || status == 504 || status == 429;
}

bool bq_retry_should_retry(int attempt, int max_attempts, enum bq_http_err_kind kind,
                           long status, const char *code)
{
    if (attempt >= max_attempts || bq_cancelled())
        return false;
    return bq_retry_is_retryable(kind, status, code);
}

double bq_retry_delay_r(int attempt, double r)
{
    if (attempt < 1)
        attempt = 1;
    if (!(r >= 0) || r >= 1)
        r = 0;
    double exp = (double)(1ull << (attempt > 31 ? 30 : attempt - 1));
    double d = r * exp;
    return d < BQ_RETRY_MAX_BACKOFF ? d : BQ_RETRY_MAX_BACKOFF;
}

/* A per-thread xorshift seeded from the kernel: jitter must differ between
 * workers and processes, and rand() is neither thread-safe nor seeded. */
static double uniform01(void)
{
    static _Thread_local uint64_t s;
    if (!s) {
        if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s || !s)
            s = (uint64_t)(bq_monotonic() * 1e9) ^ (uint64_t)(uintptr_t)&s ^ 0x9e3779b97f4a7c15ull;
        if (!s)
            s = 1;
    }
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (double)(s >> 11) / 9007199254740992.0;   /* 53 bits into [0, 1) */
}

double bq_retry_delay(int attempt)
{
    return bq_retry_delay_r(attempt, uniform01());
}

bool bq_retry_sleep(int attempt)
{
    return bq_sleep_cancellable(bq_retry_delay(attempt));
}
