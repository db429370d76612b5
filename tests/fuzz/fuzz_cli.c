/* libFuzzer target: the command line (bq_cli_parse). The input is split into
 * argv on NUL bytes; an item "@env:NAME=VALUE" sets one of the variables the
 * parser reads (in an otherwise empty environment) instead of being an
 * argument. */
#include "fuzz_common.h"
#include "cli.h"

#include <stdbool.h>

enum { MAX_ARGS = 64 };

/* The variables bq_cli_parse reads (and nothing else gets set). */
static const char *const cli_env[] = {
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE",
    "BQLUA_S3_PATH_STYLE", "BQLUA_S3_ROOT", "BQLUA_TIMEOUT", "BQLUA_MEMORY_LIMIT", "BQLUA_ALLOW_BUCKETS",
    "BQLUA_SCRIPT_SHA256", "BQLUA_LOG_FORMAT", "BQLUA_LOG_LEVEL", "BQLUA_MASK_ENV", "BQLUA_SHARD_INDEX",
    "BQLUA_SHARD_COUNT", "AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE", "AWS_MAX_ATTEMPTS", NULL,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    clearenv();
    return 0;
}

static bool known_env(const char *name, size_t len)
{
    for (const char *const *v = cli_env; *v; v++)
        if (strlen(*v) == len && !memcmp(*v, name, len))
            return true;
    return false;
}

/* Paths are stat()ed and the CA bundle fopen()ed: keep away from files that
 * may block (FIFOs, terminals) or are not ours. */
static bool risky_path(const char *s)
{
    return strstr(s, "/dev") || strstr(s, "/proc") || strstr(s, "/sys") || strstr(s, "/run");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_cstr(data, size);
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "bqlua";
    const char *set[MAX_ARGS];
    int nset = 0;
    bool skip = false;
    for (size_t start = 0; start <= size && argc <= MAX_ARGS;) {
        char *item = buf + start;
        size_t len = strlen(item);
        if (risky_path(item))
            skip = true;
        const char *eq;
        if (!strncmp(item, "@env:", 5) && (eq = strchr(item + 5, '=')) && known_env(item + 5, (size_t)(eq - item - 5))) {
            item[eq - item] = '\0';
            if (nset < MAX_ARGS) {
                setenv(item + 5, eq + 1, 1);
                set[nset++] = item + 5;
            }
        } else {
            argv[argc++] = item;
        }
        start += len + 1;
    }
    argv[argc] = NULL;

    if (!skip) {
        struct bq_options o;
        char err[512];
        err[0] = '\0';
        int rc = bq_cli_parse(&o, argc, argv, err, sizeof err);
        FUZZ_CHECK(rc == 0 || rc == -1);
        if (rc == 0) {
            if (o.action == BQ_CLI_RUN) {
                FUZZ_CHECK(o.script != NULL);
                FUZZ_CHECK(o.nargs >= 0 && o.args + o.nargs == argv + argc);
                FUZZ_CHECK(o.memory_limit >= BQ_MEMORY_LIMIT_MIN && o.memory_limit <= BQ_MEMORY_LIMIT_MAX);
                FUZZ_CHECK(o.shard_index >= 0 && o.shard_index < o.shard_count);
                FUZZ_CHECK(o.timeout >= 0);
                if (o.kind == BQ_SCRIPT_S3) {
                    FUZZ_CHECK(o.s3_bucket && bq_bucket_name_valid(o.s3_bucket));
                    FUZZ_CHECK(o.s3_key && o.s3_key[0] && strlen(o.s3_key) <= 1024);
                }
                for (size_t i = 0; i < o.n_allow_buckets; i++)
                    FUZZ_CHECK(bq_bucket_name_valid(o.allow_buckets[i]));
                if (o.allow_buckets)
                    FUZZ_CHECK(o.allow_buckets[o.n_allow_buckets] == NULL);
                if (o.mask_env)
                    FUZZ_CHECK(o.mask_env[o.n_mask_env] == NULL);
            }
            bq_cli_free(&o);
        } else {
            FUZZ_CHECK(err[0] != '\0');
            FUZZ_CHECK(!strchr(err, '\n') || memchr(data, '\n', size));
            /* the failed parse left nothing to free */
            FUZZ_CHECK(o.s3_bucket == NULL && o.allow_buckets == NULL && o.mask_env == NULL);
        }
    }
    for (int i = 0; i < nset; i++)
        unsetenv(set[i]);
    free(buf);
    return 0;
}
