/* log: one line per event on stderr, as text or as JSON (SPEC §3 log).
 * Plain C; thread-safe (one write(2) per line). Never pass secrets here. */
#ifndef BQ_LOG_H
#define BQ_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "cli.h"   /* enum bq_log_format, enum bq_log_level */

void bq_log_configure(enum bq_log_format format, enum bq_log_level level, int fd);
int bq_log_enabled(enum bq_log_level level);

/* Formats and writes one line; the message is kept on one line (control
 * characters escaped in text, JSON-escaped in JSON). */
void bq_log(enum bq_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bq_logv(enum bq_log_level level, const char *fmt, va_list ap);
/* Writes a message that is already formatted (from Lua): bytes, not a format. */
void bq_log_msg(enum bq_log_level level, const char *msg, size_t len);

/* The host's own fatal message: "bqlua: ..." on stderr as text, or an error
 * line in JSON with --log-format json. Always printed, whatever the level. */
void bq_log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Renders one line into buf (for tests); returns its length including '\n'. */
size_t bq_log_render(char *buf, size_t cap, enum bq_log_format format, double when,
                     enum bq_log_level level, const char *msg, size_t len);

#define bq_debug(...) bq_log(BQ_LOG_DEBUG, __VA_ARGS__)
#define bq_info(...)  bq_log(BQ_LOG_INFO, __VA_ARGS__)
#define bq_warn(...)  bq_log(BQ_LOG_WARN, __VA_ARGS__)
#define bq_error(...) bq_log(BQ_LOG_ERROR, __VA_ARGS__)

#endif
