/* log: text and JSON lines, one line per event whatever the message holds. */
#include "log.h"
#include "tap.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 2026-11-28T10:30:00.250Z */
static const double WHEN = 1795861800.25;

static json_object *render_json(const char *msg, size_t len, char *line, size_t cap)
{
    size_t n = bq_log_render(line, cap, BQ_LOG_JSON, WHEN, BQ_LOG_WARN, msg, len);
    ok(n > 0 && line[n - 1] == '\n' && strchr(line, '\n') == line + n - 1,
       "json line is one line (%zu bytes)", n);
    return json_tokener_parse(line);
}

int main(void)
{
    char line[8192];
    size_t n = bq_log_render(line, sizeof line, BQ_LOG_TEXT, WHEN, BQ_LOG_INFO, "hello world", 11);
    is_str(line, "2026-11-28T10:30:00.250Z INFO  hello world\n", "text line");
    is_int(n, strlen(line), "length returned");

    bq_log_render(line, sizeof line, BQ_LOG_TEXT, WHEN, BQ_LOG_ERROR, "a\nb\r\x01" "c\td", 8);
    is_str(line, "2026-11-28T10:30:00.250Z ERROR a\\nb\\r\\x01c\td\n", "text escapes control characters");

    static const char hostile[] = "say \"hi\"\n\\ \x01 caf\xc3\xa9 \xff";
    json_object *o = render_json(hostile, sizeof hostile - 1, line, sizeof line);
    ok(o != NULL, "json line parses: %s", line);
    if (o) {
        json_object *v;
        ok(json_object_object_get_ex(o, "msg", &v) &&
           strcmp(json_object_get_string(v), "say \"hi\"\n\\ \x01 caf\xc3\xa9 \xef\xbf\xbd") == 0,
           "msg round-trips; invalid UTF-8 becomes U+FFFD");
        ok(json_object_object_get_ex(o, "level", &v) && strcmp(json_object_get_string(v), "warn") == 0,
           "level");
        ok(json_object_object_get_ex(o, "time", &v) &&
           strcmp(json_object_get_string(v), "2026-11-28T10:30:00.250Z") == 0, "time");
        json_object_put(o);
    }

    /* A message longer than the line is cut on a character boundary, still valid. */
    char big[20000];
    for (size_t i = 0; i < sizeof big; i += 2) {
        big[i] = '\n';
        big[i + 1] = 'x';
    }
    o = render_json(big, sizeof big, line, 600);
    ok(o != NULL, "a cut json line still parses");
    if (o) {
        json_object *v;
        json_object_object_get_ex(o, "msg", &v);
        const char *m = json_object_get_string(v);
        ok(strlen(m) > 100 && strcmp(m + strlen(m) - 3, "...") == 0, "and ends with ...");
        json_object_put(o);
    }
    n = bq_log_render(line, 200, BQ_LOG_TEXT, WHEN, BQ_LOG_INFO, big, sizeof big);
    ok(n < 200 && line[n - 1] == '\n' && strstr(line, "...\n"), "a cut text line ends with ...");

    /* Levels filter; lines go to the configured fd. */
    char path[] = "/tmp/bqlogXXXXXX";
    int fd = mkstemp(path);
    bq_log_configure(BQ_LOG_TEXT, BQ_LOG_WARN, fd);
    ok(!bq_log_enabled(BQ_LOG_INFO) && bq_log_enabled(BQ_LOG_ERROR), "level threshold");
    bq_info("not shown");
    bq_warn("shown %d", 1);
    bq_log_fatal("fatal %s", "always");
    char buf[512] = "";
    ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
    ok(got > 0 && !strstr(buf, "not shown") && strstr(buf, "WARN  shown 1\n"), "filtered by level");
    ok(strstr(buf, "bqlua: fatal always\n") != NULL, "fatal lines in text start with bqlua:");
    bq_log_configure(BQ_LOG_JSON, BQ_LOG_ERROR, fd);
    ok(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0, "rewind");
    bq_log_fatal("fatal in json");
    memset(buf, 0, sizeof buf);
    got = pread(fd, buf, sizeof buf - 1, 0);
    o = json_tokener_parse(buf);
    ok(o && strstr(buf, "\"level\":\"error\"") && strstr(buf, "fatal in json"), "fatal lines in JSON mode are JSON");
    json_object_put(o);
    close(fd);
    unlink(path);
    return tap_done();
}
