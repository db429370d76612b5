/* outfile: INTO OUTFILE text rows and RFC 4180 CSV rows, table-driven
 * (the byte-for-byte comparison with the server is tests/integration/export). */
#include "outfile.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define S(lit) { (lit), sizeof(lit) - 1 }
#define NUL_ { .type = BQ_DB_NULL }
#define STR(lit) { .type = BQ_DB_STRING, .s = (lit), .len = sizeof(lit) - 1 }
#define NUM(lit) { .type = BQ_DB_INT, .s = (lit), .len = sizeof(lit) - 1 }

struct row_case {
    const char *name;
    struct bq_outfile_opts o;
    struct bq_db_value v[3];    /* columns: string, number, string */
    const char *want;
    size_t want_len;
};

#define W(lit) (lit), sizeof(lit) - 1

static const struct row_case cases[] = {
    { "text: TAB, LF, backslash escaped; CR left alone", { 0 },
      { STR("a\tb\nc\\d\re"), NUM("-1.5"), STR("") }, W("a\\\tb\\\nc\\\\d\re\t-1.5\t\n") },
    { "text: NUL is written \\0", { 0 }, { STR("x\0y"), NUM("0"), STR("\\N") }, W("x\\0y\t0\t\\\\N\n") },
    { "text: NULL is \\N in every column", { 0 }, { NUL_, NUL_, NUL_ }, W("\\N\t\\N\t\\N\n") },
    { "text: the string NULL stays NULL", { 0 }, { STR("NULL"), NUM("1"), STR("N") }, W("NULL\t1\tN\n") },
    { "empty ESCAPED BY: no escaping, NULL is NULL", { .fields_escaped_by = S("") },
      { STR("a\tb\\"), NUL_, STR("\n") }, W("a\tb\\\tNULL\t\n\n") },
    { "ENCLOSED BY: the enclosing char is escaped, the terminator is not",
      { .fields_terminated_by = S(","), .fields_enclosed_by = S("\"") },
      { STR("a,\"b\""), NUM("2"), NUL_ }, W("\"a,\\\"b\\\"\",\"2\",\\N\n") },
    { "OPTIONALLY ENCLOSED BY: numbers are not enclosed",
      { .fields_terminated_by = S(","), .fields_enclosed_by = S("\""), .optionally = true },
      { STR("x"), NUM("2"), STR("") }, W("\"x\",2,\"\"\n") },
    { "LINES STARTING BY and TERMINATED BY; ESCAPED BY '#'",
      { .fields_terminated_by = S("|"), .fields_escaped_by = S("#"), .lines_starting_by = S(">"),
        .lines_terminated_by = S("<\n") },
      { STR("a|b#c<d"), NUM("3"), STR("\n") }, W(">a#|b##c#<d|3|\n<\n") },
    { "empty LINES TERMINATED BY: the field terminator ends lines",
      { .fields_terminated_by = S(";"), .lines_terminated_by = S("") },
      { STR("a;b"), NUM("1"), STR("c") }, W("a\\;b;1;c;") },
    { "an 'n' separator is not escaped (ambiguous field term)", { .fields_terminated_by = S("n") },
      { STR("ann"), NUM("5"), STR("x") }, W("annn5nx\n") },
    { "a '-' separator escapes numbers too, but not '-'", { .fields_terminated_by = S("-") },
      { STR("a-b"), NUM("-1"), STR("\\") }, W("a-b--1-\\\\\n") },
    { "ENCLOSED BY 'N' is doubled inside (an escape letter)",
      { .fields_terminated_by = S(","), .fields_enclosed_by = S("N") },
      { STR("aNb"), NUM("1"), NUL_ }, W("NaNNbN,N1N,\\N\n") },
    { "csv: quoted when needed, quotes doubled, NULL empty, \"\" for empty", { .format = BQ_OUTFILE_CSV },
      { STR("a,\"b\"\r\n"), NUL_, STR("") }, W("\"a,\"\"b\"\"\r\n\",,\"\"\n") },
    { "csv: plain fields unquoted; tab and backslash as is", { .format = BQ_OUTFILE_CSV },
      { STR("a\tb\\"), NUM("1.5"), STR("NULL") }, W("a\tb\\,1.5,NULL\n") },
    { "csv: separator ';' quotes ';' but not ','",
      { .format = BQ_OUTFILE_CSV, .fields_terminated_by = S(";") },
      { STR("a,b"), NUM("1"), STR("c;d") }, W("a,b;1;\"c;d\"\n") },
};

static const struct bq_outfile_column cols[3] = { { true, false }, { false, false }, { true, false } };

static void test_rows(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct row_case *c = &cases[i];
        char err[200] = "";
        struct bq_outfile *f = bq_outfile_new(&c->o, err, sizeof err);
        if (!f) {
            ok(0, "%s (%s)", c->name, err);
            continue;
        }
        bq_outfile_set_columns(f, cols, 3);
        struct bq_buf b = { 0 };
        bq_outfile_row(f, c->v, &b);
        bool same = b.len == c->want_len && !memcmp(b.data, c->want, b.len);
        ok(same, "%s", c->name);
        if (!same) {
            printf("#   got:  '");
            fwrite(b.data, 1, b.len, stdout);
            printf("'\n#   want: '");
            fwrite(c->want, 1, c->want_len, stdout);
            printf("'\n");
        }
        bq_buf_free(&b);
        bq_outfile_free(f);
    }
}

static void test_header(void)
{
    struct bq_outfile_opts o = { .fields_terminated_by = S(","), .fields_enclosed_by = S("\""), .optionally = true };
    char err[200];
    struct bq_outfile *f = bq_outfile_new(&o, err, sizeof err);
    bq_outfile_set_columns(f, cols, 3);
    const char *names[] = { "id", "a\"b", "n" };
    size_t lens[] = { 2, 3, 1 };
    struct bq_buf b = { 0 };
    bq_outfile_header(f, names, lens, &b);
    is_str(bq_buf_cstr(&b), "\"id\",\"a\\\"b\",\"n\"\n", "header: names as string fields, even over numbers");
    bq_buf_free(&b);
    bq_outfile_free(f);
}

static void test_usage(void)
{
    static const struct {
        const char *name;
        struct bq_outfile_opts o;
        const char *want;
    } bad[] = {
        { "two-byte ENCLOSED BY", { .fields_enclosed_by = S("ab") }, "one character" },
        { "two-byte ESCAPED BY", { .fields_escaped_by = S("\\\\") }, "one character" },
        { "fixed-width rows", { .fields_terminated_by = S("") }, "fixed-width" },
        { "csv with ENCLOSED BY", { .format = BQ_OUTFILE_CSV, .fields_enclosed_by = S("'") }, "csv takes only" },
        { "csv with an empty separator", { .format = BQ_OUTFILE_CSV, .fields_terminated_by = S("") }, "non-empty" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[200] = "";
        struct bq_outfile *f = bq_outfile_new(&bad[i].o, err, sizeof err);
        ok(!f && strstr(err, bad[i].want), "refused: %s (%s)", bad[i].name, err);
        bq_outfile_free(f);
    }
}

static void test_big_field(void)
{
    /* A field of 1 MiB of escapes doubles; the buffer grows as needed. */
    size_t n = 1u << 20;
    char *s = malloc(n);
    memset(s, '\t', n);
    struct bq_outfile_opts o = { 0 };
    char err[200];
    struct bq_outfile *f = bq_outfile_new(&o, err, sizeof err);
    bq_outfile_set_columns(f, cols, 1);
    struct bq_db_value v = { .type = BQ_DB_STRING, .s = s, .len = n };
    struct bq_buf b = { 0 };
    ok(bq_outfile_row(f, &v, &b) == 0 && b.len == 2 * n + 1 && b.data[0] == '\\' && b.data[2 * n] == '\n',
       "a 1 MiB field of TABs becomes 2 MiB + LF");
    bq_buf_free(&b);
    bq_outfile_free(f);
    free(s);
}

int main(void)
{
    test_rows();
    test_header();
    test_usage();
    test_big_field();
    return tap_done();
}
