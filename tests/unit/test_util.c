/* util: parsers, UTF-8, buffers, cancellation. */
#include "tap.h"
#include "util.h"

#include <stdlib.h>

static void sizes(void)
{
    static const struct { const char *in; int rc; uint64_t want; } cases[] = {
        { "1048576", 0, 1048576 }, { "1M", 0, 1u << 20 }, { "256m", 0, 256u << 20 },
        { "1G", 0, 1u << 30 }, { "1GiB", 0, 1u << 30 }, { "2GB", 0, 2ull << 30 },
        { "1T", 0, 1ull << 40 }, { "4K", 0, 4096 }, { "10B", 0, 10 },
        { "", -1, 0 }, { "M", -1, 0 }, { "-1M", -1, 0 }, { "1.5G", -1, 0 }, { "1X", -1, 0 },
        { "1MM", -1, 0 }, { " 1M", -1, 0 }, { "1M ", -1, 0 }, { "99999999999999999999", -1, 0 },
        { "17179869184T", -1, 0 }, { "1iB", -1, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint64_t v = 0;
        int rc = bq_parse_size(cases[i].in, &v);
        is_int(rc, cases[i].rc, "parse_size('%s') %s", cases[i].in, cases[i].rc ? "refused" : "accepted");
        if (rc == 0 && cases[i].rc == 0)
            is_int(v, cases[i].want, "parse_size('%s') value", cases[i].in);
    }
}

static void seconds(void)
{
    static const struct { const char *in; int rc; double want; } cases[] = {
        { "0", 0, 0 }, { "30", 0, 30 }, { "1.5", 0, 1.5 }, { ".25", 0, 0.25 },
        { "-1", -1, 0 }, { "1e3", -1, 0 }, { "inf", -1, 0 }, { "nan", -1, 0 }, { "0x10", -1, 0 },
        { "", -1, 0 }, { "1s", -1, 0 }, { "10000000000", -1, 0 }, { "1..2", -1, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double v = -1;
        int rc = bq_parse_seconds(cases[i].in, &v);
        is_int(rc, cases[i].rc, "parse_seconds('%s')", cases[i].in);
        if (rc == 0)
            ok(v == cases[i].want, "parse_seconds('%s') = %g", cases[i].in, v);
    }
}

static void bools_and_names(void)
{
    bool b;
    ok(bq_parse_bool("1", &b) == 0 && b, "bool 1");
    ok(bq_parse_bool("FALSE", &b) == 0 && !b, "bool FALSE");
    ok(bq_parse_bool("on", &b) == 0 && b, "bool on");
    ok(bq_parse_bool("2", &b) < 0, "bool 2 refused");
    ok(bq_parse_bool("", &b) < 0, "bool empty refused");
    ok(bq_is_hex("0123456789abcdefABCDEF0123456789abcdefABCDEF0123456789abcdef0123", 64), "64 hex digits");
    ok(!bq_is_hex("0123456789abcdefABCDEF0123456789abcdefABCDEF0123456789abcdef012", 64), "63 hex digits refused");
    ok(!bq_is_hex("g123456789abcdefABCDEF0123456789abcdefABCDEF0123456789abcdef0123", 64), "non-hex refused");
    ok(bq_is_env_name("AWS_REGION", 10) && bq_is_env_name("_x1", 3), "env names");
    ok(!bq_is_env_name("1ABC", 4) && !bq_is_env_name("A-B", 3) && !bq_is_env_name("", 0), "bad env names");
    unsigned long long u;
    ok(bq_parse_uint("42", 100, &u) == 0 && u == 42, "uint 42");
    ok(bq_parse_uint("101", 100, &u) < 0, "uint above max refused");
    ok(bq_parse_uint("-1", 100, &u) < 0 && bq_parse_uint("+1", 100, &u) < 0, "signs refused");
}

static void utf8(void)
{
    static const struct { const char *s; size_t n; bool valid; const char *what; } cases[] = {
        { "plain", 5, true, "ASCII" },
        { "\xc3\xa9", 2, true, "2-byte" },
        { "\xe2\x82\xac", 3, true, "3-byte" },
        { "\xf0\x9f\x98\x80", 4, true, "4-byte" },
        { "a\0b", 3, true, "NUL is valid UTF-8" },
        { "\xc0\xaf", 2, false, "overlong" },
        { "\xe0\x80\xaf", 3, false, "overlong 3-byte" },
        { "\xed\xa0\x80", 3, false, "surrogate" },
        { "\xf4\x90\x80\x80", 4, false, "above U+10FFFF" },
        { "\xff", 1, false, "0xFF" },
        { "\xc3", 1, false, "truncated" },
        { "\xe2\x82", 2, false, "truncated 3-byte" },
        { "\x80", 1, false, "lone continuation" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        ok(bq_utf8_valid(cases[i].s, cases[i].n) == cases[i].valid, "utf8: %s", cases[i].what);
}

static void buffers(void)
{
    struct bq_buf b = { 0 };
    is_str(bq_buf_cstr(&b), "", "empty buffer is \"\"");
    for (int i = 0; i < 1000; i++)
        bq_buf_append(&b, "ab", 2);
    is_int(b.len, 2000, "appended 2000 bytes");
    bq_buf_printf(&b, "%d-%s", 7, "x");
    is_str(bq_buf_cstr(&b) + 2000, "7-x", "printf appends");
    bq_buf_free_secure(&b);
    ok(b.data == NULL && b.len == 0, "freed");
    char secret[8] = "hunter2";
    bq_secure_zero(secret, sizeof secret);
    ok(secret[0] == 0 && secret[6] == 0, "secure_zero zeroes");
}

static void cancellation(void)
{
    ok(!bq_cancelled(), "not cancelled at start");
    ok(bq_sleep_cancellable(0.01), "a short sleep completes");
    ok(bq_cancel_set(BQ_CANCEL_TIMEOUT), "first reason is set");
    ok(!bq_cancel_set(BQ_CANCEL_MEMORY), "a second reason does not replace it");
    is_int(bq_cancel_get(), BQ_CANCEL_TIMEOUT, "the first reason wins");
    bq_cancel_set_signal(15);
    is_int(bq_cancel_signal(), 0, "a later signal does not change the reason");
    double t0 = bq_monotonic();
    ok(!bq_sleep_cancellable(5), "sleep returns false when cancelled");
    ok(bq_monotonic() - t0 < 1, "and returns at once");
}

int main(void)
{
    sizes();
    seconds();
    bools_and_names();
    utf8();
    buffers();
    cancellation();
    return tap_done();
}
