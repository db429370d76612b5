/* cli: the command line and its environment variables (SPEC §1), validated
 * before anything runs. Plain C: no Lua, no I/O beyond stat() of paths. */
#ifndef BQ_CLI_H
#define BQ_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bq_script_kind {
    BQ_SCRIPT_FILE,     /* a local path */
    BQ_SCRIPT_STDIN,    /* "-" */
    BQ_SCRIPT_CODE,     /* -e CODE */
    BQ_SCRIPT_S3,       /* s3://bucket/key[?versionId=V] or BUCKET KEY */
};

enum bq_log_format { BQ_LOG_TEXT, BQ_LOG_JSON };
enum bq_log_level { BQ_LOG_DEBUG, BQ_LOG_INFO, BQ_LOG_WARN, BQ_LOG_ERROR };

enum bq_cli_action { BQ_CLI_RUN, BQ_CLI_HELP, BQ_CLI_VERSION };

struct bq_options {
    enum bq_cli_action action;

    enum bq_script_kind kind;
    const char *script;        /* path, code, or the s3:// URI as given */
    char *s3_bucket;           /* BQ_SCRIPT_S3 */
    char *s3_key;
    char *s3_version_id;       /* NULL when absent */
    char **args;               /* ARG... (borrowed from argv) */
    int nargs;

    const char *region;        /* NULL when unset */
    const char *endpoint;
    bool insecure_endpoint;
    const char *ca_bundle;
    bool path_style;
    const char *s3_root;
    double timeout;            /* seconds, 0 = none */
    uint64_t memory_limit;     /* bytes */
    char **allow_buckets;      /* NULL-terminated, NULL when unrestricted */
    size_t n_allow_buckets;
    const char *sha256;        /* 64 hex digits, or NULL */
    enum bq_log_format log_format;
    enum bq_log_level log_level;
    char **mask_env;           /* extra names os.getenv hides; NULL-terminated */
    size_t n_mask_env;
    long shard_index, shard_count;
};

#define BQ_MEMORY_LIMIT_DEFAULT (1ull << 30)
#define BQ_MEMORY_LIMIT_MIN     (1ull << 20)
#define BQ_MEMORY_LIMIT_MAX     (1ull << 40)

/* Parses argv (with getenv for the variables). On a usage error returns -1
 * and writes one line (no trailing newline) to err. */
int bq_cli_parse(struct bq_options *o, int argc, char **argv, char *err, size_t errlen);
void bq_cli_free(struct bq_options *o);

/* Validators shared with the bindings (S3 URIs from scripts use the same rules). */
bool bq_bucket_name_valid(const char *name);
/* Splits s3://bucket/key[?versionId=V]; returns -1 with a reason in err. */
int bq_s3_uri_parse(const char *uri, char **bucket, char **key, char **version_id,
                    char *err, size_t errlen);
/* http(s)://host[:port][/path]; loopback tells whether host is 127.0.0.0/8, ::1 or localhost. */
int bq_endpoint_parse(const char *url, bool *https, bool *loopback, char *err, size_t errlen);

extern const char bq_cli_usage[];

#endif
