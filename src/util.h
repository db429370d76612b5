/* util: small plain-C helpers shared by every layer (no Lua, no I/O policy). */
#ifndef BQ_UTIL_H
#define BQ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- cancellation ---------------------------------------------------------
 * One process-wide flag that says "stop now, and why". The Lua host trips it
 * (SIGTERM/SIGINT, timeout, memory cap, os.exit); services poll it in their
 * long waits (curl progress callbacks, retry back-off sleeps, DB reads) and
 * give up promptly with BQ_ERR_CANCELLED. Async-signal-safe to set. */
enum bq_cancel {
    BQ_CANCEL_NONE = 0,
    BQ_CANCEL_SIGNAL,   /* SIGTERM / SIGINT: see bq_cancel_signal() */
    BQ_CANCEL_TIMEOUT,  /* --timeout elapsed */
    BQ_CANCEL_MEMORY,   /* --memory-limit refused an allocation */
    BQ_CANCEL_EXIT,     /* os.exit() unwinding */
};

/* Sets the reason unless one is already set; returns true if this call set it. */
bool bq_cancel_set(enum bq_cancel reason);
enum bq_cancel bq_cancel_get(void);
static inline bool bq_cancelled(void) { return bq_cancel_get() != BQ_CANCEL_NONE; }
/* The signal number for BQ_CANCEL_SIGNAL (0 otherwise). */
int bq_cancel_signal(void);
void bq_cancel_set_signal(int signo);   /* async-signal-safe */

/* --- time ------------------------------------------------------------------ */
double bq_monotonic(void);            /* seconds, CLOCK_MONOTONIC */
double bq_walltime(void);             /* seconds since the epoch, CLOCK_REALTIME */
/* Sleeps up to `seconds`, in short slices; returns false early if cancelled. */
bool bq_sleep_cancellable(double seconds);

/* --- parsing ---------------------------------------------------------------
 * All return 0 on success, -1 on a malformed or out-of-range value. */
int bq_parse_size(const char *s, uint64_t *out);     /* "256M", "1G", "1048576" (K/M/G/T, binary) */
int bq_parse_seconds(const char *s, double *out);    /* "30", "1.5"; >= 0 */
int bq_parse_bool(const char *s, bool *out);         /* 1/0 true/false yes/no on/off */
int bq_parse_uint(const char *s, unsigned long long max, unsigned long long *out);
bool bq_is_hex(const char *s, size_t len);           /* exactly len hex digits, either case */
bool bq_is_env_name(const char *s, size_t len);      /* [A-Za-z_][A-Za-z0-9_]* */
bool bq_utf8_valid(const char *s, size_t len);       /* well-formed UTF-8 (no surrogates, <= U+10FFFF) */

/* --- memory ------------------------------------------------------------------ */
/* Zeroes memory in a way the compiler cannot elide (for secrets). */
void bq_secure_zero(void *p, size_t n);
/* strdup that aborts on OOM: for small host-side strings, never for Lua data. */
char *bq_xstrdup(const char *s);
char *bq_xstrndup(const char *s, size_t n);
void *bq_xmalloc(size_t n);
void *bq_xcalloc(size_t n, size_t size);

/* --- a growable byte buffer ------------------------------------------------ */
struct bq_buf {
    char *data;
    size_t len, cap;
};
/* Room for extra more bytes and a NUL after them; -1 (buffer unchanged) when
 * memory cannot be had. Inline for the fast path: formatters call it per field. */
int bq_buf_grow(struct bq_buf *b, size_t extra);
static inline int bq_buf_reserve(struct bq_buf *b, size_t extra)
{
    return extra < b->cap - b->len ? 0 : bq_buf_grow(b, extra);
}
/* Append; returns -1 (buffer unchanged) when memory cannot be had. */
int bq_buf_append(struct bq_buf *b, const void *p, size_t n);
int bq_buf_printf(struct bq_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NUL-terminates (not counted in len) and returns data; "" for an empty buffer. */
const char *bq_buf_cstr(struct bq_buf *b);
void bq_buf_free(struct bq_buf *b);          /* plain free */
void bq_buf_free_secure(struct bq_buf *b);   /* zeroes first: for buffers that held secrets */

#endif
