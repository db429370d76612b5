#include "cli.h"
#include "retry.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char bq_cli_usage[] =
"usage: bqlua [OPTIONS] SCRIPT [ARG...]      SCRIPT: path | s3://bucket/key[?versionId=V] | - (stdin)\n"
"       bqlua [OPTIONS] BUCKET KEY [ARG...]  the same as s3://BUCKET/KEY\n"
"       bqlua [OPTIONS] -e CODE [ARG...]\n"
"       bqlua --version | --help\n"
"\n"
"Runs a Lua 5.4 task in a sandbox with the s3, rds, db, log, task and json bindings.\n"
"\n"
"options (environment variable in brackets):\n"
"  --region R              default region for S3 and tokens [AWS_REGION, AWS_DEFAULT_REGION]\n"
"  --endpoint URL          S3 endpoint; http:// only to loopback [AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL]\n"
"  --insecure-endpoint     allow a plain-http endpoint that is not loopback\n"
"  --ca-bundle FILE        CA certificates for https [AWS_CA_BUNDLE]\n"
"  --path-style            path-style S3 addressing [BQLUA_S3_PATH_STYLE=1]\n"
"  --s3-root DIR           a local directory standing in for S3 [BQLUA_S3_ROOT]\n"
"  --timeout SECONDS       wall-clock limit of the script, 0 = none [BQLUA_TIMEOUT]\n"
"  --memory-limit SIZE     cap on the Lua heap, 1M to 1T (default 1G) [BQLUA_MEMORY_LIMIT]\n"
"  --allow-bucket NAME     repeatable: s3.* refuses other buckets [BQLUA_ALLOW_BUCKETS, comma list]\n"
"  --sha256 HEX            refuse a script whose SHA-256 differs [BQLUA_SCRIPT_SHA256]\n"
"  --log-format text|json  log lines on stderr [BQLUA_LOG_FORMAT]\n"
"  -q, -v                  fewer / more log lines [BQLUA_LOG_LEVEL=debug|info|warn|error]\n"
"  -e CODE                 run CODE instead of a script\n"
"  --                      end of options\n"
"\n"
"exit status: 0 success (or the script's own 0-255), 1 script error, 2 usage error,\n"
"3 script could not be loaded, 4 limit hit (timeout, memory), 128+N on signal N.\n";

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* --- validators ----------------------------------------------------------- */

bool bq_bucket_name_valid(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return false;
    if (!isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (!(islower(c) || isdigit(c) || c == '-' || c == '.'))
            return false;
        if (c == '.' && (b[i + 1] == '.' || b[i + 1] == '-' || (i && b[i - 1] == '-')))
            return false;
    }
    struct in_addr a;
    if (inet_pton(AF_INET, b, &a) == 1)       /* "192.168.5.4" is not a bucket */
        return false;
    if (strncmp(b, "xn--", 4) == 0 || (n > 8 && strcmp(b + n - 8, "-s3alias") == 0))
        return false;
    return true;
}

int bq_s3_uri_parse(const char *uri, char **bucket, char **key, char **version_id,
                    char *err, size_t errlen)
{
    *bucket = *key = *version_id = NULL;
    if (strncmp(uri, "s3://", 5) != 0)
        return fail(err, errlen, "'%s' is not an s3:// URI", uri);
    const char *b = uri + 5;
    const char *slash = strchr(b, '/');
    if (!slash || slash == b)
        return fail(err, errlen, "'%s' has no bucket and key (s3://BUCKET/KEY)", uri);
    char *bk = bq_xstrndup(b, (size_t)(slash - b));
    if (!bq_bucket_name_valid(bk)) {
        fail(err, errlen, "invalid bucket name '%s'", bk);
        free(bk);
        return -1;
    }
    const char *k = slash + 1;
    size_t klen = strlen(k);
    /* Only a trailing "?versionId=V" is special: '?' is legal inside a key. */
    const char *q = strstr(k, "?versionId=");
    char *vid = NULL;
    if (q) {
        const char *v = q + strlen("?versionId=");
        if (!*v || strpbrk(v, "?&/ ")) {
            free(bk);
            return fail(err, errlen, "invalid versionId in '%s'", uri);
        }
        vid = bq_xstrdup(v);
        klen = (size_t)(q - k);
    }
    if (klen == 0 || klen > 1024) {
        free(bk);
        free(vid);
        return fail(err, errlen, "'%s': the key must be 1 to 1024 bytes", uri);
    }
    *bucket = bk;
    *key = bq_xstrndup(k, klen);
    *version_id = vid;
    return 0;
}

static bool host_is_loopback(const char *host)
{
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

int bq_endpoint_parse(const char *url, bool *https, bool *loopback, char *err, size_t errlen)
{
    const char *p;
    if (strncmp(url, "https://", 8) == 0) {
        *https = true;
        p = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        *https = false;
        p = url + 7;
    } else {
        return fail(err, errlen, "endpoint '%s' must start with https:// or http://", url);
    }
    size_t authlen = strcspn(p, "/?#");
    if (p[authlen] == '?' || p[authlen] == '#' || strpbrk(p + authlen, "?#"))
        return fail(err, errlen, "endpoint '%s' must not have a query or fragment", url);
    char auth[300];
    if (authlen == 0 || authlen >= sizeof auth)
        return fail(err, errlen, "endpoint '%s' has no valid host", url);
    memcpy(auth, p, authlen);
    auth[authlen] = '\0';
    if (strchr(auth, '@'))
        return fail(err, errlen, "endpoint must not carry user information");
    char *host = auth, *port = NULL;
    if (auth[0] == '[') {
        char *close = strchr(auth, ']');
        if (!close || (close[1] && close[1] != ':'))
            return fail(err, errlen, "endpoint '%s' has a malformed IPv6 host", url);
        *close = '\0';
        host = auth + 1;
        if (close[1] == ':')
            port = close + 2;
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return fail(err, errlen, "endpoint '%s' has a malformed IPv6 host", url);
    } else {
        char *colon = strchr(auth, ':');
        if (colon) {
            *colon = '\0';
            port = colon + 1;
        }
        if (!*host)
            return fail(err, errlen, "endpoint '%s' has no host", url);
        for (char *h = host; *h; h++)
            if (!(isalnum((unsigned char)*h) || *h == '-' || *h == '.' || *h == '_'))
                return fail(err, errlen, "endpoint '%s' has an invalid host", url);
    }
    if (port) {
        unsigned long long v;
        if (bq_parse_uint(port, 65535, &v) < 0 || v == 0)
            return fail(err, errlen, "endpoint '%s' has an invalid port", url);
    }
    *loopback = host_is_loopback(host);
    return 0;
}

/* --- options --------------------------------------------------------------- */

/* A value from the command line wins over the environment; `from` names where
 * it came from, for the error message. */
struct src {
    const char *value;
    const char *from;
};

static struct src env_first(const char *cli, const char *cli_name, const char *const *vars)
{
    if (cli)
        return (struct src){ cli, cli_name };
    for (; *vars; vars++) {
        const char *v = getenv(*vars);
        if (v && *v)
            return (struct src){ v, *vars };
    }
    return (struct src){ NULL, NULL };
}

/* Splits a comma list into a NULL-terminated array; empty items are an error. */
static int split_list(const char *s, char ***out, size_t *n, const char *from,
                      bool (*valid)(const char *), const char *what, char *err, size_t errlen)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = bq_xcalloc(cap + 1, sizeof *v);
    size_t k = 0;
    const char *p = s;
    for (;;) {
        size_t len = strcspn(p, ",");
        char *item = bq_xstrndup(p, len);
        if (len == 0 || !valid(item)) {
            fail(err, errlen, "%s: invalid %s '%s' in '%s'", from, what, item, s);
            free(item);
            for (size_t i = 0; i < k; i++)
                free(v[i]);
            free(v);
            return -1;
        }
        v[k++] = item;
        if (!p[len])
            break;
        p += len + 1;
    }
    *out = v;
    *n = k;
    return 0;
}

static bool env_name_valid(const char *s) { return bq_is_env_name(s, strlen(s)); }

static bool region_valid(const char *r)
{
    size_t n = strlen(r);
    if (n < 2 || n > 64 || !islower((unsigned char)r[0]) || r[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)r[i]) || isdigit((unsigned char)r[i]) || r[i] == '-'))
            return false;
    return true;
}

static int parse_level(const char *s, enum bq_log_level *out)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0) {
            *out = (enum bq_log_level)i;
            return 0;
        }
    if (strcasecmp(s, "warning") == 0) {
        *out = BQ_LOG_WARN;
        return 0;
    }
    return -1;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int parse_shard(struct bq_options *o, char *err, size_t errlen)
{
    static const char *pairs[2][2] = {
        { "BQLUA_SHARD_INDEX", "BQLUA_SHARD_COUNT" },
        { "AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE" },
    };
    o->shard_index = 0;
    o->shard_count = 1;
    for (int i = 0; i < 2; i++) {
        const char *is = getenv(pairs[i][0]), *cs = getenv(pairs[i][1]);
        if (!is && !cs)
            continue;
        unsigned long long idx = 0, cnt = 1;
        if (!is || !cs)
            return fail(err, errlen, "%s and %s must be set together", pairs[i][0], pairs[i][1]);
        if (bq_parse_uint(is, 1000000, &idx) < 0)
            return fail(err, errlen, "%s: invalid shard index '%s'", pairs[i][0], is);
        if (bq_parse_uint(cs, 1000000, &cnt) < 0 || cnt == 0)
            return fail(err, errlen, "%s: invalid shard count '%s'", pairs[i][1], cs);
        if (idx >= cnt)
            return fail(err, errlen, "%s=%llu is not below %s=%llu", pairs[i][0], idx,
                        pairs[i][1], cnt);
        o->shard_index = (long)idx;
        o->shard_count = (long)cnt;
        return 0;
    }
    return 0;
}

/* Options that take a value. */
enum opt {
    OPT_REGION, OPT_ENDPOINT, OPT_CA_BUNDLE, OPT_S3_ROOT, OPT_TIMEOUT, OPT_MEMORY,
    OPT_ALLOW_BUCKET, OPT_SHA256, OPT_LOG_FORMAT, OPT_E, N_VALUE_OPTS
};
static const char *const value_opts[N_VALUE_OPTS] = {
    "--region", "--endpoint", "--ca-bundle", "--s3-root", "--timeout", "--memory-limit",
    "--allow-bucket", "--sha256", "--log-format", "-e",
};

int bq_cli_parse(struct bq_options *o, int argc, char **argv, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    const char *val[N_VALUE_OPTS] = { 0 };
    const char **buckets = bq_xcalloc((size_t)argc + 1, sizeof *buckets);
    size_t nbuckets = 0;
    int quiet = 0, verbose = 0;
    bool path_style_flag = false;
    int i = 1;
    int rc = -1;

    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || strcmp(a, "-") == 0)
            break;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->action = BQ_CLI_HELP;
            rc = 0;
            goto out;
        }
        if (strcmp(a, "--version") == 0) {
            o->action = BQ_CLI_VERSION;
            rc = 0;
            goto out;
        }
        if (strcmp(a, "--insecure-endpoint") == 0) { o->insecure_endpoint = true; continue; }
        if (strcmp(a, "--path-style") == 0) { path_style_flag = true; continue; }
        if (a[0] == '-' && a[1] != '-' && a[1] && strspn(a + 1, "qv") == strlen(a + 1)) {
            for (const char *c = a + 1; *c; c++)
                *c == 'q' ? quiet++ : verbose++;
            continue;
        }
        int which = -1;
        const char *inline_val = NULL;
        for (int k = 0; k < N_VALUE_OPTS; k++) {
            size_t n = strlen(value_opts[k]);
            if (strncmp(a, value_opts[k], n) == 0 && (a[n] == '\0' || (a[n] == '=' && k != OPT_E))) {
                which = k;
                inline_val = a[n] == '=' ? a + n + 1 : NULL;
                break;
            }
        }
        if (which < 0) {
            fail(err, errlen, "unknown option '%s' (see bqlua --help)", a);
            goto out;
        }
        const char *v = inline_val;
        if (!v) {
            if (i + 1 >= argc) {
                fail(err, errlen, "option '%s' needs a value", value_opts[which]);
                goto out;
            }
            v = argv[++i];
        }
        if (which == OPT_ALLOW_BUCKET) {
            buckets[nbuckets++] = v;
        } else {
            val[which] = v;
        }
        if (which == OPT_E) {
            i++;
            break;
        }
    }

    /* --- the script ---------------------------------------------------- */
    if (val[OPT_E]) {
        o->kind = BQ_SCRIPT_CODE;
        o->script = val[OPT_E];
    } else {
        if (i >= argc) {
            fail(err, errlen, "no script given (see bqlua --help)");
            goto out;
        }
        const char *s = argv[i++];
        o->script = s;
        if (strcmp(s, "-") == 0) {
            o->kind = BQ_SCRIPT_STDIN;
        } else if (strncmp(s, "s3://", 5) == 0) {
            o->kind = BQ_SCRIPT_S3;
            if (bq_s3_uri_parse(s, &o->s3_bucket, &o->s3_key, &o->s3_version_id, err, errlen) < 0)
                goto out;
        } else if (!strpbrk(s, "/:") && !exists(s) && i < argc) {
            /* BUCKET KEY: the container command override of the seed. */
            o->kind = BQ_SCRIPT_S3;
            if (!bq_bucket_name_valid(s)) {
                fail(err, errlen, "invalid bucket name '%s'", s);
                goto out;
            }
            const char *key = argv[i++];
            if (!*key || strlen(key) > 1024) {
                fail(err, errlen, "the key must be 1 to 1024 bytes");
                goto out;
            }
            o->s3_bucket = bq_xstrdup(s);
            o->s3_key = bq_xstrdup(key);
        } else {
            if (!*s) {
                fail(err, errlen, "empty script path");
                goto out;
            }
            o->kind = BQ_SCRIPT_FILE;
        }
    }
    o->args = argv + i;
    o->nargs = argc - i;

    /* --- values, command line first, then the environment --------------- */
    struct src s;

    s = env_first(val[OPT_REGION], "--region", (const char *[]){ "AWS_REGION", "AWS_DEFAULT_REGION", NULL });
    if (s.value && !region_valid(s.value)) {
        fail(err, errlen, "%s: invalid region '%s'", s.from, s.value);
        goto out;
    }
    o->region = s.value;

    s = env_first(val[OPT_ENDPOINT], "--endpoint", (const char *[]){ "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", NULL });
    if (s.value) {
        bool https, loopback;
        char why[256];
        if (bq_endpoint_parse(s.value, &https, &loopback, why, sizeof why) < 0) {
            fail(err, errlen, "%s: %s", s.from, why);
            goto out;
        }
        if (!https && !loopback && !o->insecure_endpoint) {
            fail(err, errlen, "%s: plain http to a non-loopback host is refused "
                 "(use https, or --insecure-endpoint)", s.from);
            goto out;
        }
    }
    o->endpoint = s.value;

    s = env_first(val[OPT_CA_BUNDLE], "--ca-bundle", (const char *[]){ "AWS_CA_BUNDLE", NULL });
    if (s.value) {
        struct stat st;
        FILE *f = fopen(s.value, "r");
        if (!f || stat(s.value, &st) < 0 || !S_ISREG(st.st_mode)) {
            if (f)
                fclose(f);
            fail(err, errlen, "%s: cannot read CA bundle '%s'", s.from, s.value);
            goto out;
        }
        fclose(f);
    }
    o->ca_bundle = s.value;

    if (path_style_flag) {
        o->path_style = true;
    } else if ((s.value = getenv("BQLUA_S3_PATH_STYLE")) && *s.value) {
        if (bq_parse_bool(s.value, &o->path_style) < 0) {
            fail(err, errlen, "BQLUA_S3_PATH_STYLE: expected 1 or 0, not '%s'", s.value);
            goto out;
        }
    }

    s = env_first(val[OPT_S3_ROOT], "--s3-root", (const char *[]){ "BQLUA_S3_ROOT", NULL });
    if (s.value && !is_dir(s.value)) {
        fail(err, errlen, "%s: '%s' is not a directory", s.from, s.value);
        goto out;
    }
    o->s3_root = s.value;

    s = env_first(val[OPT_TIMEOUT], "--timeout", (const char *[]){ "BQLUA_TIMEOUT", NULL });
    if (s.value && bq_parse_seconds(s.value, &o->timeout) < 0) {
        fail(err, errlen, "%s: invalid number of seconds '%s'", s.from, s.value);
        goto out;
    }

    o->memory_limit = BQ_MEMORY_LIMIT_DEFAULT;
    s = env_first(val[OPT_MEMORY], "--memory-limit", (const char *[]){ "BQLUA_MEMORY_LIMIT", NULL });
    if (s.value) {
        if (bq_parse_size(s.value, &o->memory_limit) < 0 ||
            o->memory_limit < BQ_MEMORY_LIMIT_MIN || o->memory_limit > BQ_MEMORY_LIMIT_MAX) {
            fail(err, errlen, "%s: '%s' is not a size from 1M to 1T (e.g. 256M)", s.from, s.value);
            goto out;
        }
    }

    if (nbuckets) {
        o->allow_buckets = bq_xcalloc(nbuckets + 1, sizeof *o->allow_buckets);
        for (size_t k = 0; k < nbuckets; k++) {
            if (!bq_bucket_name_valid(buckets[k])) {
                fail(err, errlen, "--allow-bucket: invalid bucket name '%s'", buckets[k]);
                goto out;
            }
            o->allow_buckets[o->n_allow_buckets++] = bq_xstrdup(buckets[k]);
        }
    } else if ((s.value = getenv("BQLUA_ALLOW_BUCKETS")) && *s.value) {
        if (split_list(s.value, &o->allow_buckets, &o->n_allow_buckets, "BQLUA_ALLOW_BUCKETS",
                       bq_bucket_name_valid, "bucket name", err, errlen) < 0)
            goto out;
    }

    s = env_first(val[OPT_SHA256], "--sha256", (const char *[]){ "BQLUA_SCRIPT_SHA256", NULL });
    if (s.value && !bq_is_hex(s.value, 64)) {
        fail(err, errlen, "%s: expected 64 hex digits", s.from);
        goto out;
    }
    o->sha256 = s.value;

    s = env_first(val[OPT_LOG_FORMAT], "--log-format", (const char *[]){ "BQLUA_LOG_FORMAT", NULL });
    if (s.value) {
        if (strcmp(s.value, "text") == 0)
            o->log_format = BQ_LOG_TEXT;
        else if (strcmp(s.value, "json") == 0)
            o->log_format = BQ_LOG_JSON;
        else {
            fail(err, errlen, "%s: expected text or json, not '%s'", s.from, s.value);
            goto out;
        }
    }

    o->log_level = BQ_LOG_INFO;
    if (quiet || verbose) {
        int lvl = BQ_LOG_INFO + quiet - verbose;
        o->log_level = lvl < BQ_LOG_DEBUG ? BQ_LOG_DEBUG : lvl > BQ_LOG_ERROR ? BQ_LOG_ERROR
                                                                               : (enum bq_log_level)lvl;
    } else if ((s.value = getenv("BQLUA_LOG_LEVEL")) && *s.value) {
        if (parse_level(s.value, &o->log_level) < 0) {
            fail(err, errlen, "BQLUA_LOG_LEVEL: expected debug, info, warn or error, not '%s'", s.value);
            goto out;
        }
    }

    if ((s.value = getenv("BQLUA_MASK_ENV")) && *s.value) {
        if (split_list(s.value, &o->mask_env, &o->n_mask_env, "BQLUA_MASK_ENV",
                       env_name_valid, "variable name", err, errlen) < 0)
            goto out;
    }

    if (parse_shard(o, err, errlen) < 0)
        goto out;

    if ((s.value = getenv("AWS_MAX_ATTEMPTS")) && *s.value) {
        int attempts;
        char why[160];
        if (bq_retry_parse_max_attempts(s.value, &attempts, why, sizeof why) < 0) {
            fail(err, errlen, "%s", why);
            goto out;
        }
    }

    o->action = BQ_CLI_RUN;
    rc = 0;
out:
    free(buckets);
    if (rc < 0)
        bq_cli_free(o);
    return rc;
}

static void free_list(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

void bq_cli_free(struct bq_options *o)
{
    free(o->s3_bucket);
    free(o->s3_key);
    free(o->s3_version_id);
    free_list(o->allow_buckets);
    free_list(o->mask_env);
    o->s3_bucket = o->s3_key = o->s3_version_id = NULL;
    o->allow_buckets = o->mask_env = NULL;
    o->n_allow_buckets = o->n_mask_env = 0;
}
