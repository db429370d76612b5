/* sigv4_tool: drives src/sigv4.c from the command line, so that
 * sigv4_botocore.py can compare it with botocore. Test-only, not installed
 * (it takes credentials in argv and prints signatures).
 *
 *   sigv4_tool header|presign [--method M] [--host H] [--path ENCODED | --path-raw RAW]
 *              [--query KEY=VALUE]... [--header NAME:VALUE]... [--payload HEX|UNSIGNED-PAYLOAD]
 *              [--service S] [--region R] [--time EPOCH] [--akid A] [--secret S] [--token T]
 *              [--normalize] [--double-encode] [--content-sha256] [--token-unsigned] [--expires N]
 *   sigv4_tool rds HOST PORT USER REGION EPOCH AKID SECRET [TOKEN]
 *   sigv4_tool uri-encode [--keep-slash] STRING
 *
 * header prints "path: P", one "header: NAME: VALUE" per header to add and
 * "signature: HEX"; presign prints "path: P", "query: Q", "signature: HEX";
 * rds prints the token. --query values are raw (split at the first '='). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

enum { MAXKV = 64 };

static int usage(void)
{
    fprintf(stderr, "usage: sigv4_tool header|presign|rds|uri-encode ... (see the source)\n");
    return 2;
}

static int rds(int argc, char **argv)
{
    if (argc < 9 || argc > 10)
        return usage();
    struct bq_sigv4_creds c = { argv[7], argv[8], argc > 9 ? argv[9] : NULL };
    struct bq_buf out = { 0 };
    if (bq_sigv4_rds_token(argv[2], (unsigned)strtoul(argv[3], NULL, 10), argv[4], argv[5], &c,
                           (time_t)strtoll(argv[6], NULL, 10), &out) < 0) {
        fprintf(stderr, "sigv4_tool: rds token refused\n");
        return 1;
    }
    printf("%s\n", bq_buf_cstr(&out));
    bq_buf_free_secure(&out);
    return 0;
}

static int uri_encode(int argc, char **argv)
{
    bool keep = argc == 4 && !strcmp(argv[2], "--keep-slash");
    if (argc != (keep ? 4 : 3))
        return usage();
    const char *s = argv[argc - 1];
    struct bq_buf out = { 0 };
    bq_sigv4_uri_encode(&out, s, strlen(s), keep);
    printf("%s\n", bq_buf_cstr(&out));
    bq_buf_free(&out);
    return 0;
}

static char *owned[2 * MAXKV];
static size_t nowned;

/* Splits "K<sep>V" into a kv pointing into a copy. */
static struct bq_sigv4_kv split(const char *s, char sep)
{
    char *d = owned[nowned++] = bq_xstrdup(s), *p = strchr(d, sep);
    if (p)
        *p++ = '\0';
    return (struct bq_sigv4_kv){ d, p ? p : "" };
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (!strcmp(argv[1], "rds"))
        return rds(argc, argv);
    if (!strcmp(argv[1], "uri-encode"))
        return uri_encode(argc, argv);
    bool presign = !strcmp(argv[1], "presign");
    if (!presign && strcmp(argv[1], "header"))
        return usage();

    struct bq_sigv4_kv query[MAXKV], headers[MAXKV];
    struct bq_sigv4_request req = { .method = "GET", .path = "/", .query = query, .headers = headers,
                                    .service = "s3", .region = "us-east-1" };
    struct bq_sigv4_creds creds = { 0 };
    struct bq_sigv4_options opt = { 0 };
    struct bq_buf path = { 0 };
    long expires = 3600;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool flag = true;
        if (!strcmp(a, "--normalize")) opt.normalize_path = true;
        else if (!strcmp(a, "--double-encode")) opt.double_encode_path = true;
        else if (!strcmp(a, "--content-sha256")) opt.sign_content_sha256 = true;
        else if (!strcmp(a, "--token-unsigned")) opt.token_mode = BQ_SIGV4_TOKEN_UNSIGNED;
        else flag = false;
        if (flag)
            continue;
        if (!v)
            return usage();
        i++;
        if (!strcmp(a, "--method")) req.method = v;
        else if (!strcmp(a, "--path")) req.path = v;
        else if (!strcmp(a, "--path-raw")) {
            path.len = 0;
            bq_sigv4_uri_encode(&path, v, strlen(v), true);
            req.path = bq_buf_cstr(&path);
        }
        else if (!strcmp(a, "--host") && req.nheaders < MAXKV)
            headers[req.nheaders++] = (struct bq_sigv4_kv){ "Host", v };
        else if (!strcmp(a, "--header") && req.nheaders < MAXKV)
            headers[req.nheaders++] = split(v, ':');
        else if (!strcmp(a, "--query") && req.nquery < MAXKV)
            query[req.nquery++] = split(v, '=');
        else if (!strcmp(a, "--payload")) req.payload_hash = v;
        else if (!strcmp(a, "--service")) req.service = v;
        else if (!strcmp(a, "--region")) req.region = v;
        else if (!strcmp(a, "--time")) req.time = (time_t)strtoll(v, NULL, 10);
        else if (!strcmp(a, "--akid")) creds.access_key_id = v;
        else if (!strcmp(a, "--secret")) creds.secret_access_key = v;
        else if (!strcmp(a, "--token")) creds.session_token = v;
        else if (!strcmp(a, "--expires")) expires = strtol(v, NULL, 10);
        else return usage();
    }

    struct bq_sigv4_result res;
    int rc = presign ? bq_sigv4_presign(&req, &creds, &opt, expires, &res)
                     : bq_sigv4_sign_headers(&req, &creds, &opt, &res);
    if (rc < 0) {
        fprintf(stderr, "sigv4_tool: signing refused\n");
        return 1;
    }
    printf("path: %s\n", req.path);
    if (presign)
        printf("query: %s\n", res.query);
    else
        for (size_t i = 0; i < res.nadd; i++)
            printf("header: %s: %s\n", res.add[i].name, res.add[i].value);
    printf("signature: %s\n", res.signature);
    bq_sigv4_result_free(&res);
    bq_buf_free(&path);
    while (nowned)
        free(owned[--nowned]);
    return 0;
}
