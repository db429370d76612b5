/* retry: the AWS SDKs' "standard" retry policy as pure functions, shared by
 * S3 and the credential endpoints. The caller loops:
 *
 *     for (int attempt = 1;; attempt++) {
 *         ... one request ...
 *         if (!bq_retry_should_retry(attempt, max, kind, status, code)) break;
 *         if (!bq_retry_sleep(attempt)) break;          // cancelled
 *     }
 */
#ifndef BQ_RETRY_H
#define BQ_RETRY_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

#define BQ_RETRY_DEFAULT_MAX_ATTEMPTS 3
#define BQ_RETRY_MAX_MAX_ATTEMPTS 20
#define BQ_RETRY_MAX_BACKOFF 20.0          /* seconds */

/* Parses an AWS_MAX_ATTEMPTS value: an integer 1..20. 0, or -1 with a message in err. */
int bq_retry_parse_max_attempts(const char *s, int *out, char *err, size_t errlen);
/* AWS_MAX_ATTEMPTS from the environment, or the default 3 when unset or
 * invalid (the CLI validates it up front with bq_retry_parse_max_attempts). */
int bq_retry_max_attempts(void);

/* Is this an AWS throttling error code (Throttling, SlowDown, ...)? */
bool bq_retry_is_throttling_code(const char *code);
/* Is the outcome of one attempt worth another try? Connection failures,
 * broken connections and timeouts; HTTP 500/502/503/504 (and 429); and the
 * throttling and transient error codes. code may be NULL (no error document). */
bool bq_retry_is_retryable(enum bq_http_err_kind kind, long status, const char *code);
/* attempt: how many attempts have been made (1 after the first failure). */
bool bq_retry_should_retry(int attempt, int max_attempts, enum bq_http_err_kind kind,
                           long status, const char *code);

/* Full-jitter exponential backoff: min(r * 2^(attempt-1), 20) seconds with
 * r uniform in [0, 1). bq_retry_delay_r takes r, for tests. */
double bq_retry_delay_r(int attempt, double r);
double bq_retry_delay(int attempt);
/* Sleeps bq_retry_delay(attempt); false if cancelled meanwhile. */
bool bq_retry_sleep(int attempt);

#endif
