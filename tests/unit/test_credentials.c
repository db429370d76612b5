/* The credential chain's local sources: environment, shared files, the
 * container endpoint's URL and token rules, and the JSON the endpoints send.
 * (The endpoints themselves: tests/integration/creds.) */
#include "credentials.h"
#include "tap.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static const char *path_in(const char *name)
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path_in(name), "w");
    fputs(text, f);
    fclose(f);
}

static void clean_env(void)
{
    static const char *const vars[] = {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED",
    };
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
    setenv("HOME", dir, 1);                 /* never the real ~/.aws */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static void test_env_both(void)
{
    clean_env();
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envSecret/xyz", 1);
    setenv("AWS_SESSION_TOKEN", "envToken", 1);
    struct bq_creds c = { 0 };
    struct bq_http_error e = { 0 };
    is_int(bq_creds_from_env(&c, &e), 1, "env: both keys give credentials");
    is_str(c.access_key_id, "AKIDENV", "env: access key id");
    is_str(c.secret_access_key, "envSecret/xyz", "env: secret");
    is_str(c.session_token, "envToken", "env: session token");
    is_str(c.source, "environment", "env: source name");
    is_int(c.expiration, 0, "env: never expires");
    bq_creds_clear(&c);
    ok(!c.access_key_id && !c.secret_access_key && !c.session_token, "clear frees and nulls");

    unsetenv("AWS_SESSION_TOKEN");
    bq_creds_from_env(&c, &e);
    ok(c.session_token == NULL, "env: no AWS_SESSION_TOKEN, no token");
    bq_creds_clear(&c);
}

static void test_env_one_missing(void)
{
    clean_env();
    struct bq_creds c = { 0 };
    struct bq_http_error e = { 0 };
    is_int(bq_creds_from_env(&c, &e), 0, "env: neither key is 'not configured'");

    setenv("AWS_ACCESS_KEY_ID", "AKIDONLY", 1);
    is_int(bq_creds_from_env(&c, &e), -1, "env: a key id without a secret is an error");
    ok(strstr(e.message, "AWS_SECRET_ACCESS_KEY") != NULL, "...naming AWS_SECRET_ACCESS_KEY: %s", e.message);

    clean_env();
    setenv("AWS_SECRET_ACCESS_KEY", "lonelySecret", 1);
    is_int(bq_creds_from_env(&c, &e), -1, "env: a secret without a key id is an error");
    ok(strstr(e.message, "AWS_ACCESS_KEY_ID") != NULL, "...naming AWS_ACCESS_KEY_ID: %s", e.message);
    ok(strstr(e.message, "lonelySecret") == NULL, "...without the secret");
    is_int(e.kind, BQ_HTTP_ERR_CONFIG, "...a configuration error");

    setenv("AWS_ACCESS_KEY_ID", "", 1);
    is_int(bq_creds_from_env(&c, &e), -1, "env: an empty key id counts as missing");
}

static const char credentials_file[] =
    "# a comment\n"
    "; another comment\n"
    "\n"
    "[default]\n"
    "aws_access_key_id = AKIDDEFAULT\n"
    "aws_secret_access_key=defaultSecret\n"
    "\n"
    "  [ work ]  \n"
    "AWS_Access_Key_ID   =   AKIDWORK   \n"
    "\tAws_Secret_Access_Key = workSecret # an inline comment\n"
    "aws_session_token = workToken\n"
    "[Work]\n"
    "aws_access_key_id = AKIDCASE\n"
    "aws_secret_access_key = caseSecret\n"
    "[half]\n"
    "aws_access_key_id = AKIDHALF\n"
    "[both]\n"
    "aws_access_key_id = AKIDBOTHCRED\n"
    "aws_secret_access_key = bothCredSecret\n"
    "[emptyincred]\n"
    "region = ignored-in-credentials\n";

static const char config_file[] =
    "[default]\n"
    "region = eu-west-1\n"
    "s3 =\n"
    "  max_concurrent_requests = 20\n"
    "  aws_access_key_id = NOTAKEY\n"
    "[profile cfgonly]\n"
    "aws_access_key_id = AKIDCFG\n"
    "aws_secret_access_key = cfgSecret\n"
    "region = ap-south-1 ; comment\n"
    "[profile both]\n"
    "aws_access_key_id = AKIDBOTHCFG\n"
    "aws_secret_access_key = bothCfgSecret\n"
    "region = us-west-2\n"
    "[notaprofile]\n"
    "aws_access_key_id = AKIDWRONGSECTION\n"
    "aws_secret_access_key = wrongSectionSecret\n"
    "[profile   spaced  ]\n"
    "region=ca-central-1\n"
    "[profile assume]\n"
    "role_arn = arn:aws:iam::123456789012:role/x\n"
    "source_profile = default\n"
    "[profile emptyincred]\n"
    "region = sa-east-1\n";

static void use_files(void)
{
    clean_env();
    write_file("credentials", credentials_file);
    write_file("config", config_file);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path_in("credentials"), 1);
    setenv("AWS_CONFIG_FILE", path_in("config"), 1);
}

static int shared(const char *profile, struct bq_creds *c, struct bq_http_error *e)
{
    if (profile)
        setenv("AWS_PROFILE", profile, 1);
    else
        unsetenv("AWS_PROFILE");
    memset(c, 0, sizeof *c);
    return bq_creds_from_shared_files(c, e);
}

static void test_shared_profiles(void)
{
    use_files();
    struct bq_creds c;
    struct bq_http_error e = { 0 };

    is_int(shared(NULL, &c, &e), 1, "files: [default] without AWS_PROFILE");
    is_str(c.access_key_id, "AKIDDEFAULT", "files: default key id");
    is_str(c.secret_access_key, "defaultSecret", "files: default secret (no spaces around '=')");
    is_str(c.source, "shared-credentials-file", "files: source name");
    bq_creds_clear(&c);

    is_int(shared("work", &c, &e), 1, "files: a named profile (section name trimmed)");
    is_str(c.access_key_id, "AKIDWORK", "files: keys are case-insensitive, values trimmed");
    is_str(c.secret_access_key, "workSecret", "files: an inline ' #' comment is dropped");
    is_str(c.session_token, "workToken", "files: session token");
    bq_creds_clear(&c);

    is_int(shared("Work", &c, &e), 1, "files: section names are case-sensitive");
    is_str(c.access_key_id, "AKIDCASE", "files: [Work] is not [work]");
    bq_creds_clear(&c);

    is_int(shared("cfgonly", &c, &e), 1, "files: [profile x] in the config file");
    is_str(c.access_key_id, "AKIDCFG", "files: config-file key id");
    is_str(c.source, "shared-config-file", "files: config-file source name");
    bq_creds_clear(&c);

    is_int(shared("both", &c, &e), 1, "files: a profile in both files");
    is_str(c.access_key_id, "AKIDBOTHCRED", "files: the credentials file wins");
    bq_creds_clear(&c);

    is_int(shared("notaprofile", &c, &e), -1, "files: a config section without 'profile ' is no profile");
    ok(strstr(e.message, "notaprofile") && strstr(e.message, "not found"), "...so it is not found: %s",
       e.message);

    is_int(shared("nosuch", &c, &e), -1, "files: an explicit AWS_PROFILE that does not exist is an error");
    ok(strstr(e.message, "'nosuch'") && strstr(e.message, "AWS_PROFILE"), "...saying so: %s", e.message);

    is_int(shared("half", &c, &e), -1, "files: a key id without a secret is an error");
    ok(strstr(e.message, "aws_secret_access_key") != NULL, "...naming the missing key: %s", e.message);

    is_int(shared("assume", &c, &e), -1, "files: a role_arn profile is refused clearly");
    ok(strstr(e.message, "role_arn") != NULL, "...naming role_arn: %s", e.message);

    is_int(shared("emptyincred", &c, &e), 0, "files: a profile with no keys lets the chain go on");
    is_int(shared("spaced", &c, &e), 0, "files: [profile   spaced  ] exists (region only)");

    /* The nested `s3 =` block under [default] must not leak a key. */
    unsetenv("AWS_PROFILE");
    write_file("credentials", "");
    is_int(shared(NULL, &c, &e), 0, "files: indented lines continue a value, they set no keys");
}

static void test_shared_missing_files(void)
{
    clean_env();
    setenv("AWS_SHARED_CREDENTIALS_FILE", path_in("does-not-exist"), 1);
    setenv("AWS_CONFIG_FILE", path_in("nor-this"), 1);
    struct bq_creds c;
    struct bq_http_error e = { 0 };
    is_int(shared(NULL, &c, &e), 0, "files: missing files are not an error");
    is_int(shared("named", &c, &e), -1, "files: ...but a missing explicit profile is");

    /* Default paths come from HOME. */
    clean_env();
    mkdir(path_in(".aws"), 0700);
    write_file(".aws/credentials", "[default]\naws_access_key_id=AKIDHOME\naws_secret_access_key=homeSecret\n");
    is_int(shared(NULL, &c, &e), 1, "files: ~/.aws/credentials by default");
    is_str(c.access_key_id, "AKIDHOME", "files: ...read from $HOME");
    bq_creds_clear(&c);
    unlink(path_in(".aws/credentials"));

    if (geteuid() != 0) {
        write_file("unreadable", "[default]\n");
        chmod(path_in("unreadable"), 0);
        setenv("AWS_SHARED_CREDENTIALS_FILE", path_in("unreadable"), 1);
        is_int(shared(NULL, &c, &e), -1, "files: an unreadable file is an error");
    } else {
        ok(1, "files: (unreadable-file check skipped as root)");
    }
}

static void test_profile_region(void)
{
    use_files();
    char *r = NULL;
    struct bq_http_error e = { 0 };
    unsetenv("AWS_PROFILE");
    is_int(bq_creds_profile_region(&r, &e), 0, "region: default profile");
    is_str(r, "eu-west-1", "region: [default] region");
    free(r);
    setenv("AWS_PROFILE", "cfgonly", 1);
    bq_creds_profile_region(&r, &e);
    is_str(r, "ap-south-1", "region: [profile cfgonly], inline '; comment' dropped");
    free(r);
    setenv("AWS_PROFILE", "spaced", 1);
    bq_creds_profile_region(&r, &e);
    is_str(r, "ca-central-1", "region: [profile   spaced  ]");
    free(r);
    setenv("AWS_PROFILE", "work", 1);
    is_int(bq_creds_profile_region(&r, &e), 0, "region: a profile without region is fine");
    ok(r == NULL, "region: ...and gives NULL");
    setenv("AWS_PROFILE", "nosuch", 1);
    is_int(bq_creds_profile_region(&r, &e), -1, "region: an explicit missing profile is an error");
    unsetenv("AWS_PROFILE");
}

static void test_full_uri_allow_list(void)
{
    struct bq_http_error e = { 0 };
    const char *good[] = {
        "http://127.0.0.1:51679/creds", "http://127.9.8.7/x", "http://localhost:8080/",
        "http://LOCALHOST/", "http://[::1]:8080/creds", "http://169.254.170.2/v2/creds",
        "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials",
        "http://[fd00:ec2:0::23]:80/x", "https://example.com/creds", "https://10.1.2.3/creds",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        is_int(bq_creds_check_full_uri(good[i], &e), 0, "FULL_URI %s is allowed", good[i]);
    const char *bad[] = {
        "http://169.254.169.254/latest", "http://example.com/creds", "http://10.0.0.1/creds",
        "http://127.0.0.1.evil.example/x", "http://localhost.evil.example/x", "http://169.254.170.3/",
        "http://[fd00:ec2::24]/", "http://[::2]/", "ftp://127.0.0.1/x", "file:///etc/passwd",
        "not a url", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        is_int(bq_creds_check_full_uri(bad[i], &e), -1, "FULL_URI '%s' is refused", bad[i]);
    bq_creds_check_full_uri("http://example.com/creds?sig=SECRETSIG", &e);
    ok(strstr(e.message, "SECRETSIG") == NULL && strstr(e.message, "example.com"),
       "the refusal names the host, not the query: %s", e.message);

    /* A refused FULL_URI stops the chain with that error. */
    clean_env();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds", 1);
    struct bq_creds c = { 0 };
    is_int(bq_creds_from_container(NULL, &c, &e), -1, "container: a refused FULL_URI is an error");
    clean_env();
}

static void test_container_token(void)
{
    clean_env();
    char *t = NULL;
    struct bq_http_error e = { 0 };
    is_int(bq_creds_container_token(&t, &e), 0, "token: none configured");

    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "envTokenValue", 1);
    is_int(bq_creds_container_token(&t, &e), 1, "token: from the environment");
    is_str(t, "envTokenValue", "token: env value");
    free(t);

    write_file("token", "  fileTokenValue \n");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path_in("token"), 1);
    is_int(bq_creds_container_token(&t, &e), 1, "token: the file wins over the env");
    is_str(t, "fileTokenValue", "token: file value, trimmed");
    free(t);

    write_file("token", "rotatedToken\n");
    bq_creds_container_token(&t, &e);
    is_str(t, "rotatedToken", "token: the file is read each time");
    free(t);

    write_file("token", "abc\r\nX-Injected: 1\n");
    is_int(bq_creds_container_token(&t, &e), -1, "token: a file token with CR/LF inside is refused");
    ok(strstr(e.message, "X-Injected") == NULL && strstr(e.message, "abc") == NULL,
       "...without echoing it: %s", e.message);

    write_file("token", "\n \n");
    is_int(bq_creds_container_token(&t, &e), -1, "token: an empty token file is an error");

    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path_in("no-token-here"), 1);
    is_int(bq_creds_container_token(&t, &e), -1, "token: a missing token file is an error");

    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "good\nX-Injected: 1", 1);
    is_int(bq_creds_container_token(&t, &e), -1, "token: an env token with a newline is refused");
    ok(strstr(e.message, "X-Injected") == NULL, "...without echoing it: %s", e.message);
    clean_env();
}

static void test_parse_json(void)
{
    struct bq_creds c = { 0 };
    struct bq_http_error e = { 0 };
    const char good[] = "{\"AccessKeyId\":\"ASIAGOOD\",\"SecretAccessKey\":\"jsonSecret\","
                        "\"Token\":\"jsonToken\",\"Expiration\":\"2026-11-28T12:00:00Z\","
                        "\"RoleArn\":\"arn:aws:iam::1:role/x\"}\n";
    is_int(bq_creds_parse_json(good, strlen(good), "container", &c, &e), 0, "json: good document");
    is_str(c.access_key_id, "ASIAGOOD", "json: AccessKeyId");
    is_str(c.session_token, "jsonToken", "json: Token");
    is_int(c.expiration, 1795867200, "json: Expiration as epoch seconds");
    is_str(c.source, "container", "json: source");
    bq_creds_clear(&c);

    const char imds[] = "{\"Code\":\"Success\",\"LastUpdated\":\"2026-11-28T06:00:00Z\",\"Type\":\"AWS-HMAC\","
                        "\"AccessKeyId\":\"ASIAIMDS\",\"SecretAccessKey\":\"s\",\"Token\":\"t\","
                        "\"Expiration\":\"2026-11-28T12:00:00Z\"}";
    is_int(bq_creds_parse_json(imds, strlen(imds), "imds", &c, &e), 0, "json: the IMDS shape");
    bq_creds_clear(&c);

    struct { const char *doc, *want; } bad[] = {
        { "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"hiddenSecret\"", "not a JSON object" },
        { "[1,2]", "not a JSON object" },
        { "", "not a JSON object" },
        { "{} trailing", "not a JSON object" },
        { "{\"SecretAccessKey\":\"hiddenSecret\",\"Token\":\"t\"}", "AccessKeyId" },
        { "{\"AccessKeyId\":\"A\",\"Token\":\"t\"}", "SecretAccessKey" },
        { "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"hiddenSecret\"}", "Token" },
        { "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":7,\"Token\":\"t\"}", "SecretAccessKey" },
        { "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"hiddenSecret\",\"Token\":\"t\",\"Expiration\":\"tomorrow\"}",
          "Expiration" },
        { "{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"hiddenSecret\",\"Token\":\"t\"}",
          "Failure" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = bq_creds_parse_json(bad[i].doc, strlen(bad[i].doc), "container", &c, &e);
        ok(rc == -1 && strstr(e.message, bad[i].want) && !strstr(e.message, "hiddenSecret") &&
           e.kind == BQ_HTTP_ERR_PROTOCOL, "json: '%s' -> %s", bad[i].doc, e.message);
    }
}

static void test_parse_time(void)
{
    time_t t;
    ok(bq_creds_parse_time("2026-11-28T12:00:00Z", &t) == 0 && t == 1795867200, "time: Z");
    ok(bq_creds_parse_time("2026-11-28T12:00:00.123Z", &t) == 0 && t == 1795867200, "time: fractions");
    ok(bq_creds_parse_time("2026-11-28T14:00:00+02:00", &t) == 0 && t == 1795867200, "time: +02:00");
    ok(bq_creds_parse_time("2026-11-28T11:30:00-00:30", &t) == 0 && t == 1795867200, "time: -00:30");
    const char *bad[] = { "2026-11-28 12:00:00Z", "2026-11-28T12:00:00", "2026-13-28T12:00:00Z",
                          "2026-11-28T12:00:00Zx", "1795867200", "", "2026-11-28T12:00:00.Z" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ok(bq_creds_parse_time(bad[i], &t) == -1, "time: '%s' refused", bad[i]);
}

static void test_chain_order_and_help(void)
{
    use_files();
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envSecret", 1);
    struct bq_creds_provider *p = bq_creds_provider_new(NULL);
    struct bq_creds c = { 0 };
    struct bq_http_error e = { 0 };
    is_int(bq_creds_get(p, 300, &c, &e), 0, "chain: resolves");
    is_str(c.source, "environment", "chain: the environment comes first");
    bq_creds_clear(&c);
    bq_creds_provider_free(p);

    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    p = bq_creds_provider_new(NULL);
    is_int(bq_creds_get(p, 300, &c, &e), 0, "chain: resolves without env");
    is_str(c.source, "shared-credentials-file", "chain: then the shared files");
    bq_creds_clear(&c);
    bq_creds_provider_free(p);

    /* Nothing anywhere (IMDS disabled): a helpful message. */
    clean_env();
    setenv("AWS_SHARED_CREDENTIALS_FILE", path_in("nope"), 1);
    setenv("AWS_CONFIG_FILE", path_in("nope"), 1);
    p = bq_creds_provider_new(NULL);
    is_int(bq_creds_get(p, 300, &c, &e), -1, "chain: no source is an error");
    ok(strstr(e.message, "AWS_ACCESS_KEY_ID") && strstr(e.message, "~/.aws/credentials") &&
       strstr(e.message, "ECS"), "chain: the message says how to provide credentials: %s", e.message);
    bq_creds_provider_free(p);

    /* A broken source stops the chain: it does not fall through to later ones. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    write_file("credentials2", "[default]\naws_access_key_id=A\naws_secret_access_key=fileSecret\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", path_in("credentials2"), 1);
    p = bq_creds_provider_new(NULL);
    is_int(bq_creds_get(p, 300, &c, &e), -1, "chain: a half-set environment is an error, not a fall-through");
    bq_creds_provider_free(p);
    clean_env();
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/bq-creds-test-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_env_both();
    test_env_one_missing();
    test_shared_profiles();
    test_shared_missing_files();
    test_profile_region();
    test_full_uri_allow_list();
    test_container_token();
    test_parse_json();
    test_parse_time();
    test_chain_order_and_help();

    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}
