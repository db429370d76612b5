/* cli: the command line and its environment (SPEC §1), parsed without running anything. */
#include "cli.h"
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const env_vars[] = {
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE",
    "BQLUA_S3_PATH_STYLE", "BQLUA_S3_ROOT", "BQLUA_TIMEOUT", "BQLUA_MEMORY_LIMIT",
    "BQLUA_ALLOW_BUCKETS", "BQLUA_SCRIPT_SHA256", "BQLUA_LOG_FORMAT", "BQLUA_LOG_LEVEL",
    "BQLUA_MASK_ENV", "BQLUA_SHARD_INDEX", "BQLUA_SHARD_COUNT", "AWS_BATCH_JOB_ARRAY_INDEX",
    "AWS_BATCH_JOB_ARRAY_SIZE", "AWS_MAX_ATTEMPTS", NULL,
};

static void clear_env(void)
{
    for (const char *const *v = env_vars; *v; v++)
        unsetenv(*v);
}

/* parse("a", "b", NULL) with a fresh options struct */
static int parse(struct bq_options *o, char *err, ...)
{
    char *argv[32] = { "bqlua" };
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    for (char *a; argc < 31 && (a = va_arg(ap, char *)); )
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    static char *keep[32];
    memcpy(keep, argv, sizeof keep);   /* o->args points into argv */
    err[0] = '\0';
    return bq_cli_parse(o, argc, keep, err, 256);
}

static void script_forms(void)
{
    struct bq_options o;
    char err[256];
    clear_env();
    ok(parse(&o, err, "./task.lua", "x", "y", NULL) == 0 && o.kind == BQ_SCRIPT_FILE &&
       strcmp(o.script, "./task.lua") == 0 && o.nargs == 2 && strcmp(o.args[1], "y") == 0,
       "path with arguments");
    bq_cli_free(&o);
    /* SPEC §1: a first operand without / or : that names nothing local, with a
     * second operand, is BUCKET KEY, even when it looks like a file name. */
    ok(parse(&o, err, "task.lua", "x", NULL) == 0 && o.kind == BQ_SCRIPT_S3 &&
       strcmp(o.s3_bucket, "task.lua") == 0 && o.nargs == 0, "missing task.lua + operand is BUCKET KEY");
    bq_cli_free(&o);
    ok(parse(&o, err, "-", "a", NULL) == 0 && o.kind == BQ_SCRIPT_STDIN && o.nargs == 1, "- is stdin");
    bq_cli_free(&o);
    ok(parse(&o, err, "-e", "print(1)", "a", "b", NULL) == 0 && o.kind == BQ_SCRIPT_CODE &&
       strcmp(o.script, "print(1)") == 0 && o.nargs == 2, "-e CODE with arguments");
    bq_cli_free(&o);
    ok(parse(&o, err, "-e", "x", "--timeout", "5", NULL) == 0 && o.timeout == 0 && o.nargs == 2,
       "options after -e CODE are the script's arguments");
    bq_cli_free(&o);
    ok(parse(&o, err, "s3://my-bucket/path/to/task.lua", NULL) == 0 && o.kind == BQ_SCRIPT_S3 &&
       strcmp(o.s3_bucket, "my-bucket") == 0 && strcmp(o.s3_key, "path/to/task.lua") == 0 &&
       o.s3_version_id == NULL, "s3://bucket/key");
    bq_cli_free(&o);
    ok(parse(&o, err, "s3://my-bucket/k.lua?versionId=3HL4kqtJlcpXroDTDmJ", NULL) == 0 &&
       strcmp(o.s3_key, "k.lua") == 0 && strcmp(o.s3_version_id, "3HL4kqtJlcpXroDTDmJ") == 0,
       "s3:// with versionId");
    bq_cli_free(&o);
    ok(parse(&o, err, "batchquery-s3", "script/batchquery.lua", "arg1", NULL) == 0 &&
       o.kind == BQ_SCRIPT_S3 && strcmp(o.s3_bucket, "batchquery-s3") == 0 &&
       strcmp(o.s3_key, "script/batchquery.lua") == 0 && o.nargs == 1, "BUCKET KEY form");
    bq_cli_free(&o);
    /* A first operand naming an existing file is a path, even without '/'. */
    char dir[] = "/tmp/bqcliXXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    char cwd[4096];
    ok(getcwd(cwd, sizeof cwd) && chdir(dir) == 0, "chdir");
    FILE *f = fopen("existing", "w");
    fclose(f);
    ok(parse(&o, err, "existing", "other", NULL) == 0 && o.kind == BQ_SCRIPT_FILE && o.nargs == 1,
       "an existing file wins over BUCKET KEY");
    bq_cli_free(&o);
    ok(parse(&o, err, "lonely", NULL) == 0 && o.kind == BQ_SCRIPT_FILE,
       "one operand without / or : is a path");
    bq_cli_free(&o);
    unlink("existing");
    ok(chdir(cwd) == 0 && rmdir(dir) == 0, "cleanup");
    ok(parse(&o, err, "--", "-weird.lua", NULL) == 0 && strcmp(o.script, "-weird.lua") == 0,
       "-- ends options");
    bq_cli_free(&o);
}

static void refused(const char *why, const char *expect_in_err, ...)
{
    char *argv[16] = { "bqlua" };
    int argc = 1;
    va_list ap;
    va_start(ap, expect_in_err);
    for (char *a; argc < 15 && (a = va_arg(ap, char *)); )
        argv[argc++] = a;
    va_end(ap);
    struct bq_options o;
    char err[256] = "";
    int rc = bq_cli_parse(&o, argc, argv, err, sizeof err);
    ok(rc < 0 && strstr(err, expect_in_err) && !strchr(err, '\n'), "refused: %s", why);
    if (rc == 0 || !strstr(err, expect_in_err))
        printf("#   rc=%d err='%s' (wanted '%s')\n", rc, err, expect_in_err);
    if (rc == 0)
        bq_cli_free(&o);
}

static void options(void)
{
    struct bq_options o;
    char err[256];
    clear_env();
    ok(parse(&o, err, "--region", "eu-west-1", "--memory-limit=256M", "--timeout", "2.5",
             "--allow-bucket", "a-bucket", "--allow-bucket", "b.bucket", "--log-format", "json",
             "-qq", "--path-style", "t.lua", NULL) == 0, "options parse");
    ok(strcmp(o.region, "eu-west-1") == 0 && o.memory_limit == 256u << 20 && o.timeout == 2.5 &&
       o.n_allow_buckets == 2 && strcmp(o.allow_buckets[1], "b.bucket") == 0 &&
       o.log_format == BQ_LOG_JSON && o.log_level == BQ_LOG_ERROR && o.path_style,
       "values as given");
    bq_cli_free(&o);

    ok(parse(&o, err, "t.lua", NULL) == 0 && o.memory_limit == BQ_MEMORY_LIMIT_DEFAULT &&
       o.timeout == 0 && o.log_level == BQ_LOG_INFO && o.shard_index == 0 && o.shard_count == 1 &&
       o.allow_buckets == NULL, "defaults");
    bq_cli_free(&o);

    setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
    ok(parse(&o, err, "t.lua", NULL) == 0 && strcmp(o.region, "us-west-2") == 0, "AWS_DEFAULT_REGION");
    bq_cli_free(&o);
    setenv("AWS_REGION", "eu-central-1", 1);
    ok(parse(&o, err, "t.lua", NULL) == 0 && strcmp(o.region, "eu-central-1") == 0,
       "AWS_REGION before AWS_DEFAULT_REGION");
    bq_cli_free(&o);
    ok(parse(&o, err, "--region", "ap-south-1", "t.lua", NULL) == 0 && strcmp(o.region, "ap-south-1") == 0,
       "the command line before the environment");
    bq_cli_free(&o);
    setenv("AWS_REGION", "Bad Region", 1);
    ok(parse(&o, err, "--region", "ap-south-1", "t.lua", NULL) == 0,
       "a bad environment value overridden on the command line is not an error");
    bq_cli_free(&o);
    refused("bad AWS_REGION", "AWS_REGION: invalid region", "t.lua", NULL);
    clear_env();

    setenv("BQLUA_ALLOW_BUCKETS", "one-bucket,two-bucket", 1);
    setenv("BQLUA_MASK_ENV", "DB_PASSWORD,API_TOKEN", 1);
    setenv("BQLUA_LOG_LEVEL", "debug", 1);
    setenv("BQLUA_SHARD_INDEX", "2", 1);
    setenv("BQLUA_SHARD_COUNT", "3", 1);
    setenv("BQLUA_S3_PATH_STYLE", "1", 1);
    ok(parse(&o, err, "t.lua", NULL) == 0 && o.n_allow_buckets == 2 && o.n_mask_env == 2 &&
       strcmp(o.mask_env[1], "API_TOKEN") == 0 && o.log_level == BQ_LOG_DEBUG &&
       o.shard_index == 2 && o.shard_count == 3 && o.path_style, "lists and shards from the environment");
    bq_cli_free(&o);
    clear_env();
    setenv("AWS_BATCH_JOB_ARRAY_INDEX", "4", 1);
    setenv("AWS_BATCH_JOB_ARRAY_SIZE", "5", 1);
    ok(parse(&o, err, "t.lua", NULL) == 0 && o.shard_index == 4 && o.shard_count == 5, "AWS Batch array shards");
    bq_cli_free(&o);
    clear_env();

    ok(parse(&o, err, "--endpoint", "http://127.0.0.1:9000", "t.lua", NULL) == 0, "http to loopback");
    bq_cli_free(&o);
    ok(parse(&o, err, "--endpoint", "http://[::1]:9000/", "t.lua", NULL) == 0, "http to [::1]");
    bq_cli_free(&o);
    ok(parse(&o, err, "--insecure-endpoint", "--endpoint", "http://minio.internal:9000", "t.lua", NULL) == 0,
       "--insecure-endpoint allows plain http elsewhere");
    bq_cli_free(&o);
    ok(parse(&o, err, "--endpoint", "https://s3.example.com", "t.lua", NULL) == 0, "https anywhere");
    bq_cli_free(&o);
}

static void rejections(void)
{
    clear_env();
    refused("unknown option", "unknown option '--frobnicate'", "--frobnicate", "t.lua", NULL);
    refused("missing value", "needs a value", "--region", NULL);
    refused("no script", "no script", NULL);
    refused("memory below 1M", "1M to 1T", "--memory-limit", "512K", "t.lua", NULL);
    refused("memory above 1T", "1M to 1T", "--memory-limit", "2T", "t.lua", NULL);
    refused("memory garbage", "1M to 1T", "--memory-limit", "lots", "t.lua", NULL);
    refused("negative timeout", "invalid number of seconds", "--timeout", "-1", "t.lua", NULL);
    refused("timeout garbage", "invalid number of seconds", "--timeout", "1h", "t.lua", NULL);
    refused("sha256 too short", "64 hex digits", "--sha256", "abc", "t.lua", NULL);
    refused("log format", "expected text or json", "--log-format", "xml", "t.lua", NULL);
    refused("plain http elsewhere", "plain http", "--endpoint", "http://example.com", "t.lua", NULL);
    refused("ftp endpoint", "must start with", "--endpoint", "ftp://x", "t.lua", NULL);
    refused("endpoint userinfo", "user information", "--endpoint", "https://u:p@h", "t.lua", NULL);
    refused("endpoint port", "invalid port", "--endpoint", "https://h:99999", "t.lua", NULL);
    refused("endpoint query", "query", "--endpoint", "https://h/?x=1", "t.lua", NULL);
    refused("ca bundle missing", "cannot read CA bundle", "--ca-bundle", "/nonexistent/ca.pem", "t.lua", NULL);
    refused("s3 root not a dir", "not a directory", "--s3-root", "/nonexistent", "t.lua", NULL);
    refused("bucket name", "invalid bucket name", "--allow-bucket", "Bad_Bucket", "t.lua", NULL);
    refused("bucket as IP", "invalid bucket name", "--allow-bucket", "192.168.1.1", "t.lua", NULL);
    refused("s3 uri without key", "no bucket and key", "s3://bucket-only", NULL);
    refused("s3 uri bad bucket", "invalid bucket name", "s3://ab/k", NULL);
    refused("s3 uri empty version", "invalid versionId", "s3://abc/k?versionId=", NULL);
    refused("BUCKET KEY with a bad bucket", "invalid bucket name", "UPPER", "key", NULL);
    setenv("BQLUA_MASK_ENV", "GOOD,,ALSO", 1);
    refused("empty item in BQLUA_MASK_ENV", "BQLUA_MASK_ENV", "t.lua", NULL);
    setenv("BQLUA_MASK_ENV", "BAD-NAME", 1);
    refused("bad name in BQLUA_MASK_ENV", "BQLUA_MASK_ENV", "t.lua", NULL);
    clear_env();
    setenv("BQLUA_ALLOW_BUCKETS", "ok-bucket,NO", 1);
    refused("bad BQLUA_ALLOW_BUCKETS", "BQLUA_ALLOW_BUCKETS", "t.lua", NULL);
    clear_env();
    setenv("BQLUA_SHARD_INDEX", "1", 1);
    refused("shard index without count", "set together", "t.lua", NULL);
    setenv("BQLUA_SHARD_COUNT", "1", 1);
    refused("shard index >= count", "not below", "t.lua", NULL);
    clear_env();
    setenv("BQLUA_LOG_LEVEL", "loud", 1);
    refused("bad BQLUA_LOG_LEVEL", "BQLUA_LOG_LEVEL", "t.lua", NULL);
    clear_env();
    setenv("BQLUA_S3_PATH_STYLE", "maybe", 1);
    refused("bad BQLUA_S3_PATH_STYLE", "BQLUA_S3_PATH_STYLE", "t.lua", NULL);
    clear_env();
    setenv("BQLUA_MEMORY_LIMIT", "0", 1);
    refused("bad BQLUA_MEMORY_LIMIT", "BQLUA_MEMORY_LIMIT", "t.lua", NULL);
    clear_env();
    setenv("BQLUA_TIMEOUT", "soon", 1);
    refused("bad BQLUA_TIMEOUT", "BQLUA_TIMEOUT", "t.lua", NULL);
    clear_env();
    setenv("BQLUA_SCRIPT_SHA256", "zz", 1);
    refused("bad BQLUA_SCRIPT_SHA256", "BQLUA_SCRIPT_SHA256", "t.lua", NULL);
    clear_env();
    setenv("AWS_MAX_ATTEMPTS", "0", 1);
    refused("bad AWS_MAX_ATTEMPTS", "AWS_MAX_ATTEMPTS", "t.lua", NULL);
    clear_env();
    setenv("AWS_ENDPOINT_URL_S3", "http://10.0.0.1:9000", 1);
    refused("plain http AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_S3", "t.lua", NULL);
    clear_env();
}

static void buckets(void)
{
    static const struct { const char *b; bool ok; } cases[] = {
        { "abc", true }, { "my.bucket-1", true }, { "batchquery-s3", true },
        { "ab", false }, { "Abc", false }, { "a_b", false }, { "-abc", false }, { "abc-", false },
        { "a..b", false }, { "a.-b", false }, { "a-.b", false }, { "10.1.2.3", false },
        { "xn--abc", false }, { "abc-s3alias", false },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        ok(bq_bucket_name_valid(cases[i].b) == cases[i].ok, "bucket '%s' %s", cases[i].b,
           cases[i].ok ? "valid" : "invalid");
}

int main(void)
{
    script_forms();
    options();
    rejections();
    buckets();
    return tap_done();
}
