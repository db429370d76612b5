#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
    enum bq_log_format format;
    enum bq_log_level level;
    int fd;
} cfg = { BQ_LOG_TEXT, BQ_LOG_INFO, 2 };

static const char *const level_names[] = { "debug", "info", "warn", "error" };
static const char *const level_text[] = { "DEBUG", "INFO ", "WARN ", "ERROR" };

void bq_log_configure(enum bq_log_format format, enum bq_log_level level, int fd)
{
    cfg.format = format;
    cfg.level = level;
    cfg.fd = fd;
}

int bq_log_enabled(enum bq_log_level level)
{
    return level >= cfg.level;
}

/* Appends msg to out[n..cap), keeping it one line: JSON escapes for JSON and,
 * for text, escapes of control characters, so a log line is a line. Each
 * character goes in whole or not at all; *cut says something was left out. */
static size_t put_escaped(char *out, size_t cap, size_t n, const char *msg, size_t len,
                          int json, int *cut)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)msg[i];
        char u[8];
        size_t ul = 0;
        if (json && (c == '"' || c == '\\')) {
            u[ul++] = '\\';
            u[ul++] = (char)c;
        } else if (c == '\n' || c == '\r' || (c == '\t' && json)) {
            u[ul++] = '\\';
            u[ul++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            ul = (size_t)snprintf(u, sizeof u, json ? "\\u%04x" : "\\x%02x", c);
        } else if (c >= 0x80 && json) {
            /* Valid UTF-8 passes; an invalid byte becomes U+FFFD so the line stays JSON. */
            size_t need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
            size_t k = 1;
            if (need && c <= 0xf4 && i + need < len)
                while (k <= need && ((unsigned char)msg[i + k] & 0xc0) == 0x80)
                    k++;
            if (need && k == need + 1) {
                memcpy(u, msg + i, need + 1);
                ul = need + 1;
                i += need;
            } else {
                memcpy(u, "\xef\xbf\xbd", 3);
                ul = 3;
            }
        } else {
            u[ul++] = (char)c;
        }
        if (n + ul > cap) {
            *cut = 1;
            return n;
        }
        memcpy(out + n, u, ul);
        n += ul;
    }
    return n;
}

size_t bq_log_render(char *buf, size_t cap, /* cap >= 128 */ enum bq_log_format format, double when,
                     enum bq_log_level level, const char *msg, size_t len)
{
    time_t secs = (time_t)when;
    int ms = (int)((when - (double)secs) * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[96];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    size_t n;
    int json = format == BQ_LOG_JSON;
    if (json)
        n = (size_t)snprintf(buf, cap, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
                             level_names[level]);
    else
        n = (size_t)snprintf(buf, cap, "%s %s ", ts, level_text[level]);
    if (n >= cap)
        n = cap ? cap - 1 : 0;
    /* Keep room for "...", the tail and the NUL: a long line is cut, never broken. */
    const char *tail = json ? "\"}\n" : "\n";
    size_t tl = strlen(tail);
    int cut = 0;
    n = put_escaped(buf, cap - tl - 4, n, msg, len, json, &cut);
    if (cut) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    memcpy(buf + n, tail, tl + 1);
    return n + tl;
}

void bq_log_msg(enum bq_log_level level, const char *msg, size_t len)
{
    if (!bq_log_enabled(level))
        return;
    char line[8192];
    size_t n = bq_log_render(line, sizeof line, cfg.format, bq_walltime(), level, msg, len);
    /* One write per line, so lines from threads never interleave. */
    const char *p = line;
    while (n > 0) {
        ssize_t w = write(cfg.fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        n -= (size_t)w;
    }
}

void bq_logv(enum bq_log_level level, const char *fmt, va_list ap)
{
    if (!bq_log_enabled(level))
        return;
    char msg[4096];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0)
        return;
    bq_log_msg(level, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

void bq_log(enum bq_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bq_logv(level, fmt, ap);
    va_end(ap);
}

void bq_log_fatal(const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    if (cfg.format == BQ_LOG_JSON) {
        enum bq_log_level saved = cfg.level;
        cfg.level = BQ_LOG_DEBUG;
        bq_log_msg(BQ_LOG_ERROR, msg, len);
        cfg.level = saved;
        return;
    }
    char line[4200];
    int m = snprintf(line, sizeof line, "bqlua: %.*s\n", (int)len, msg);
    if (m > 0 && write(cfg.fd, line, (size_t)m < sizeof line ? (size_t)m : sizeof line - 1) < 0) {
        /* stderr is gone: nothing more to say */
    }
}
