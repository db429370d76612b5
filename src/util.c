#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- cancellation --------------------------------------------------------- */

static atomic_int cancel_reason;   /* enum bq_cancel */
static volatile sig_atomic_t cancel_signo;

bool bq_cancel_set(enum bq_cancel reason)
{
    int expected = BQ_CANCEL_NONE;
    return atomic_compare_exchange_strong(&cancel_reason, &expected, (int)reason);
}

enum bq_cancel bq_cancel_get(void)
{
    return (enum bq_cancel)atomic_load_explicit(&cancel_reason, memory_order_relaxed);
}

int bq_cancel_signal(void)
{
    return bq_cancel_get() == BQ_CANCEL_SIGNAL ? (int)cancel_signo : 0;
}

void bq_cancel_set_signal(int signo)
{
    /* Lock-free atomics are async-signal-safe. The first reason wins, so a
     * SIGTERM after a timeout does not change the exit code. */
    int expected = BQ_CANCEL_NONE;
    if (atomic_compare_exchange_strong(&cancel_reason, &expected, BQ_CANCEL_SIGNAL))
        cancel_signo = signo;
}

/* --- time ----------------------------------------------------------------- */

double bq_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bq_walltime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool bq_sleep_cancellable(double seconds)
{
    double end = bq_monotonic() + seconds;
    for (;;) {
        if (bq_cancelled())
            return false;
        double left = end - bq_monotonic();
        if (left <= 0)
            return true;
        if (left > 0.05)
            left = 0.05;
        struct timespec ts = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };
        nanosleep(&ts, NULL);
    }
}

/* --- parsing -------------------------------------------------------------- */

int bq_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

int bq_parse_size(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    default: break;
    }
    /* Accept "256M", "256MB", "256MiB" and a plain byte count ("1048576", "1048576B"). */
    if (shift && (end[0] == 'i' || end[0] == 'I') && (end[1] == 'B' || end[1] == 'b'))
        end += 2;
    else if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        return -1;
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int bq_parse_seconds(const char *s, double *out)
{
    if (!s || !(isdigit((unsigned char)*s) || *s == '.'))
        return -1;
    for (const char *p = s; *p; p++)       /* no exponents, hex, inf or nan */
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < 0 || v > 1e9)
        return -1;
    *out = v;
    return 0;
}

int bq_parse_bool(const char *s, bool *out)
{
    static const char *yes[] = { "1", "true", "yes", "on" };
    static const char *no[] = { "0", "false", "no", "off" };
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(s, no[i]) == 0) { *out = false; return 0; }
    }
    return -1;
}

bool bq_is_hex(const char *s, size_t len)
{
    if (!s || strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

bool bq_is_env_name(const char *s, size_t len)
{
    if (!s || len == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

bool bq_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        unsigned min, cp;
        if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; min = 0x80; }
        else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; min = 0x10000; }
        else return false;
        if ((size_t)(end - p) <= n)
            return false;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

/* --- memory --------------------------------------------------------------- */

void bq_secure_zero(void *p, size_t n)
{
    if (!p || !n)
        return;
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

static void oom(void)
{
    static const char msg[] = "bqlua: out of memory\n";
    fwrite(msg, 1, sizeof msg - 1, stderr);
    abort();
}

void *bq_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *bq_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

char *bq_xstrndup(const char *s, size_t n)
{
    char *p = bq_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *bq_xstrdup(const char *s)
{
    return bq_xstrndup(s, strlen(s));
}

/* --- buffer --------------------------------------------------------------- */

int bq_buf_grow(struct bq_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int bq_buf_append(struct bq_buf *b, const void *p, size_t n)
{
    if (bq_buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int bq_buf_printf(struct bq_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || bq_buf_reserve(b, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

const char *bq_buf_cstr(struct bq_buf *b)
{
    if (!b->data && bq_buf_reserve(b, 0) < 0)
        return "";
    b->data[b->len] = '\0';
    return b->data;
}

void bq_buf_free(struct bq_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void bq_buf_free_secure(struct bq_buf *b)
{
    bq_secure_zero(b->data, b->cap);
    bq_buf_free(b);
}
