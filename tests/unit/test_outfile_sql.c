/* Unit tests for outfile_sql: Aurora's INTO OUTFILE S3 clause. */
#include "outfile_sql.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static int parse(const char *sql, struct bq_osql *o, char *err, size_t errlen)
{
    return bq_osql_parse(sql, strlen(sql), o, err, errlen);
}

/* Whether sql is recognised, with the remaining SQL equal to want_sql and the URI want_uri. */
static void found(const char *sql, const char *want_sql, const char *want_uri, const char *name)
{
    struct bq_osql o;
    char err[256];
    int rc = parse(sql, &o, err, sizeof err);
    is_int(rc, 1, "%s: recognised", name);
    if (rc != 1) {
        printf("#   err: %s\n", err);
        return;
    }
    char *rest = strndup(sql, o.sql_len);
    is_str(rest, want_sql, "%s: SQL without the clause", name);
    is_str(o.uri, want_uri, "%s: URI", name);
    free(rest);
    bq_osql_free(&o);
}

static void not_found(const char *sql, const char *name)
{
    struct bq_osql o;
    char err[256];
    is_int(parse(sql, &o, err, sizeof err), 0, "not a clause: %s", name);
    ok(o.uri == NULL, "not a clause: %s: nothing filled", name);
}

static void bad(const char *sql, const char *want_in_err, const char *name)
{
    struct bq_osql o;
    char err[256];
    int rc = parse(sql, &o, err, sizeof err);
    is_int(rc, -1, "syntax error: %s", name);
    ok(strstr(err, want_in_err) != NULL && strncmp(err, "INTO OUTFILE S3: ", 17) == 0 && !strchr(err, '\n'),
       "syntax error: %s: one-line message mentions '%s'", name, want_in_err);
    if (!strstr(err, want_in_err))
        printf("#   err: %s\n", err);
    ok(o.uri == NULL, "syntax error: %s: nothing left allocated", name);
}

static bool str_eq(struct bq_osql_str s, const char *want, size_t wantlen)
{
    return s.s && s.len == wantlen && memcmp(s.s, want, wantlen) == 0;
}

int main(void)
{
    /* --- recognition ------------------------------------------------------- */
    found("SELECT * FROM t INTO OUTFILE S3 's3://b/p'", "SELECT * FROM t", "s3://b/p", "minimal");
    found("select a from t into outfile s3 's3://b/p' overwrite on", "select a from t", "s3://b/p", "lower case");
    found("SeLeCt 1 InTo OuTfIlE s3 \"s3://b/p\";", "SeLeCt 1", "s3://b/p", "mixed case, double quotes, ';'");
    found("SELECT 1\n  INTO OUTFILE S3 's3://b/p' ; -- done\n", "SELECT 1", "s3://b/p", "trailing ; and comment");
    found("  /* lead */ SELECT 1 INTO OUTFILE S3 's3://b/p' # tail", "  /* lead */ SELECT 1", "s3://b/p",
          "leading and # comments");
    found("SELECT 'INTO OUTFILE S3 ''x''' AS a FROM t INTO OUTFILE S3 's3://b/p'",
          "SELECT 'INTO OUTFILE S3 ''x''' AS a FROM t", "s3://b/p", "a literal that looks like the clause, then the clause");
    found("SELECT * FROM t WHERE a = ? AND b IN (?, ?) INTO OUTFILE S3 's3://b/p'",
          "SELECT * FROM t WHERE a = ? AND b IN (?, ?)", "s3://b/p", "'?' placeholders kept");
    found("WITH x AS (SELECT 1) SELECT * FROM x INTO OUTFILE S3 's3://b/p'", "WITH x AS (SELECT 1) SELECT * FROM x",
          "s3://b/p", "WITH");
    found("SELECT `into outfile s3` FROM `t``x` INTO OUTFILE S3 's3://b/p'", "SELECT `into outfile s3` FROM `t``x`",
          "s3://b/p", "backquoted identifiers");
    found("SELECT 'a\\'b INTO OUTFILE S3 ' INTO OUTFILE S3 's3://b/p'", "SELECT 'a\\'b INTO OUTFILE S3 '",
          "s3://b/p", "backslash-escaped quote in a literal");
    found("SELECT 1 INTO/*c*/OUTFILE  -- x\n S3 's3://b/' 'p'", "SELECT 1", "s3://b/p",
          "comments between keywords, adjacent literals concatenated");
    found("SELECT 1 INTO OUTFILE S3 's3-us-west-2://bkt/a/b'", "SELECT 1", "s3://bkt/a/b", "s3-REGION URI");
    found("SELECT 1 INTO OUTFILE S3 'S3://b/p'", "SELECT 1", "s3://b/p", "upper-case scheme normalised");
    found("SELECT 1--comment? no: this is minus minus\n INTO OUTFILE S3 's3://b/p'",
          "SELECT 1--comment? no: this is minus minus", "s3://b/p", "'--' without a space is not a comment");

    not_found("SELECT 'x INTO OUTFILE S3 ''s3://b/p'''", "the clause inside a single-quoted literal");
    not_found("SELECT \"x INTO OUTFILE S3 's3://b/p'\"", "inside a double-quoted literal");
    not_found("SELECT 'a\\' INTO OUTFILE S3 \\'s3://b/p\\''", "inside a literal with escaped quotes");
    not_found("SELECT 1 -- INTO OUTFILE S3 's3://b/p'", "inside a -- comment");
    not_found("SELECT 1 # INTO OUTFILE S3 's3://b/p'", "inside a # comment");
    not_found("SELECT 1 /* INTO OUTFILE S3 's3://b/p' */", "inside a C comment");
    not_found("SELECT `INTO OUTFILE S3 's3://b/p'` FROM t", "inside a backquoted identifier");
    not_found("SELECT * FROM t INTO OUTFILE '/tmp/x'", "a plain INTO OUTFILE");
    not_found("SELECT * FROM t", "no clause");
    not_found("INSERT INTO t SELECT 1 INTO OUTFILE S3 's3://b/p'", "not a SELECT");
    not_found("SELECT * FROM (SELECT 1 INTO OUTFILE S3 's3://b/p') x", "inside parentheses");
    not_found("SELECT 'unterminated INTO OUTFILE S3 's3://b/p'", "unterminated literal: left to the server");
    not_found("SELECT 1 /* INTO OUTFILE S3 's3://b/p'", "unterminated comment");
    not_found("", "empty");

    /* --- every option ---------------------------------------------------- */
    struct bq_osql o;
    char err[256];
    const char *all =
        "SELECT * FROM t INTO OUTFILE S3 's3-eu-west-1://bucket/pre/fix' CHARACTER SET utf8mb4 FORMAT CSV HEADER "
        "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '\\\\' "
        "LINES STARTING BY 'x\\0y' TERMINATED BY '\\r\\n' MANIFEST ON OVERWRITE OFF ENCRYPTION SSE_KMS 'arn:k''1'";
    is_int(parse(all, &o, err, sizeof err), 1, "all options: recognised");
    is_str(o.uri, "s3://bucket/pre/fix", "all options: URI rewritten to s3://");
    is_str(o.region, "eu-west-1", "all options: region");
    is_str(o.charset, "utf8mb4", "all options: CHARACTER SET");
    ok(o.format_given && o.csv && o.header, "all options: FORMAT CSV HEADER");
    ok(str_eq(o.fields_terminated_by, ",", 1), "all options: FIELDS TERMINATED BY");
    ok(str_eq(o.fields_enclosed_by, "\"", 1) && o.optionally, "all options: OPTIONALLY ENCLOSED BY");
    ok(str_eq(o.fields_escaped_by, "\\", 1), "all options: ESCAPED BY '\\\\' is one backslash");
    ok(str_eq(o.lines_starting_by, "x\0y", 3), "all options: \\0 is a NUL byte");
    ok(str_eq(o.lines_terminated_by, "\r\n", 2), "all options: LINES TERMINATED BY '\\r\\n'");
    is_int(o.manifest, 1, "all options: MANIFEST ON");
    is_int(o.overwrite, 0, "all options: OVERWRITE OFF");
    is_int(o.encryption, BQ_OSQL_ENC_SSE_KMS, "all options: SSE_KMS");
    is_str(o.kms_key_id, "arn:k'1", "all options: the KMS key, doubled quote unescaped");
    is_int(o.sql_len, strlen("SELECT * FROM t"), "all options: SQL length");
    bq_osql_free(&o);

    is_int(parse("SELECT 1 INTO OUTFILE S3 's3://b/p'", &o, err, sizeof err), 1, "defaults: recognised");
    ok(!o.format_given && !o.csv && !o.header && !o.charset && !o.region && !o.fields_terminated_by.s &&
       !o.fields_enclosed_by.s && !o.fields_escaped_by.s && !o.lines_starting_by.s && !o.lines_terminated_by.s &&
       !o.optionally && o.manifest == -1 && o.overwrite == -1 && o.encryption == BQ_OSQL_ENC_DEFAULT &&
       !o.kms_key_id, "defaults: nothing given");
    bq_osql_free(&o);

    is_int(parse("select 1 into outfile s3 's3://b/p' encryption on manifest off overwrite on format text "
                 "columns escaped by '' enclosed by \"'\" lines terminated by 'a\\tb\\nc\\\\d\\Z\\b\\%\\_\\q' "
                 "charset 'latin1'", &o, err, sizeof err), 1, "other order, lower case: recognised");
    ok(o.encryption == BQ_OSQL_ENC_SSE_S3 && o.manifest == 0 && o.overwrite == 1 && o.format_given && !o.csv &&
       !o.header, "other order: ENCRYPTION ON, MANIFEST OFF, OVERWRITE ON, FORMAT TEXT");
    ok(str_eq(o.fields_escaped_by, "", 0), "COLUMNS ESCAPED BY '': given and empty");
    ok(str_eq(o.fields_enclosed_by, "'", 1) && !o.optionally, "ENCLOSED BY \"'\" without OPTIONALLY");
    ok(str_eq(o.lines_terminated_by, "a\tb\nc\\d\032\b\\%\\_q", 14), "MySQL escapes: \\t \\n \\\\ \\Z \\b, \\%% \\_ kept, \\q is q");
    is_str(o.charset, "latin1", "CHARSET 'latin1'");
    bq_osql_free(&o);

    is_int(parse("SELECT 1 INTO OUTFILE S3 's3://b/p' ENCRYPTION SSE_KMS", &o, err, sizeof err), 1, "SSE_KMS without key");
    ok(o.encryption == BQ_OSQL_ENC_SSE_KMS && !o.kms_key_id, "SSE_KMS without key: no key id");
    bq_osql_free(&o);
    is_int(parse("SELECT 1 INTO OUTFILE S3 's3://b/p' ENCRYPTION SSE_S3 FORMAT CSV", &o, err, sizeof err), 1, "SSE_S3");
    ok(o.encryption == BQ_OSQL_ENC_SSE_S3 && o.csv && !o.header, "SSE_S3, FORMAT CSV without HEADER");
    bq_osql_free(&o);
    is_int(parse("SELECT 1 INTO OUTFILE S3 's3://b/p' ENCRYPTION OFF", &o, err, sizeof err), 1, "ENCRYPTION OFF");
    ok(o.encryption == BQ_OSQL_ENC_OFF, "ENCRYPTION OFF: off");
    bq_osql_free(&o);
    is_int(parse("SELECT 1 INTO OUTFILE S3 's3://b/p' FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' OVERWRITE ON",
                 &o, err, sizeof err), 1, "the integration test's clause");
    ok(str_eq(o.fields_terminated_by, "\t", 1) && str_eq(o.lines_terminated_by, "\n", 1) && o.overwrite == 1,
       "the integration test's clause: TAB, LF, overwrite");
    bq_osql_free(&o);

    /* --- bad syntax -------------------------------------------------------- */
    bad("SELECT 1 INTO OUTFILE S3", "needs a quoted string", "no URI");
    bad("SELECT 1 INTO OUTFILE S3 bucket", "needs a quoted string", "unquoted URI");
    bad("SELECT 1 INTO OUTFILE S3 'http://b/p'", "s3://bucket/prefix", "wrong scheme");
    bad("SELECT 1 INTO OUTFILE S3 's3-US WEST://b/p'", "s3-REGION://", "bad region");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' FROM t", "unexpected 'FROM'", "clause not trailing");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' OVERWRITE", "ON or OFF", "OVERWRITE without value");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' OVERWRITE TRUE", "ON or OFF", "OVERWRITE TRUE");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' MANIFEST ON MANIFEST OFF", "given twice", "MANIFEST twice");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' FORMAT JSON", "TEXT or CSV", "FORMAT JSON");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' FIELDS", "FIELDS needs", "FIELDS alone");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' FIELDS TERMINATED ','", "expected BY", "TERMINATED without BY");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' FIELDS TERMINATED BY x", "quoted string", "BY without a string");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' FIELDS ESCAPED BY 'a' ESCAPED BY 'b'", "given twice", "ESCAPED twice");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' FIELDS OPTIONALLY BY 'a'", "expected ENCLOSED", "OPTIONALLY without ENCLOSED");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' LINES", "LINES needs", "LINES alone");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' LINES ENDING BY 'x'", "LINES needs", "LINES ENDING");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' ENCRYPTION AES", "ENCRYPTION takes", "ENCRYPTION AES");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' CHARACTER utf8", "expected SET", "CHARACTER without SET");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' CHARACTER SET", "needs a name", "CHARACTER SET without name");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p'; SELECT 2", "nothing may follow", "a second statement");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' FORMAT CSV FORMAT TEXT", "given twice", "FORMAT twice");
    bad("SELECT 1 INTO OUTFILE S3 's3://b/p' OVERWRITE ON 'x", "unterminated", "unterminated literal in the clause");

    /* errlen smaller than the message: truncated, still terminated */
    char small[20];
    is_int(bq_osql_parse("SELECT 1 INTO OUTFILE S3 x", 26, &o, small, sizeof small), -1, "short err buffer: error");
    ok(strlen(small) == sizeof small - 1, "short err buffer: truncated and terminated");

    /* length-bounded: a clause past len is not seen */
    const char *two = "SELECT 1 INTO OUTFILE S3 's3://b/p'";
    is_int(bq_osql_parse(two, 8, &o, err, sizeof err), 0, "length-bounded input");

    return tap_done();
}
