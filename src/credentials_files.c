/* credentials_files: the shared files, ~/.aws/credentials and ~/.aws/config
 * (the second link of the chain in credentials.c; API in credentials.h). */
#include "credentials.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void free_secret(char *s)
{
    if (s) {
        bq_secure_zero(s, strlen(s));
        free(s);
    }
}

static void set_creds(struct bq_creds *out, const char *akid, const char *secret, const char *token,
                      const char *source)
{
    memset(out, 0, sizeof *out);
    out->access_key_id = bq_xstrdup(akid);
    out->secret_access_key = bq_xstrdup(secret);
    out->session_token = token && *token ? bq_xstrdup(token) : NULL;
    snprintf(out->source, sizeof out->source, "%s", source);
}

/* --- an INI reader ------------------------------------------------------
 * The AWS CLI reads these with Python's configparser: sections are
 * case-sensitive, keys are not, '#' and ';' start comment lines. A key
 * with an empty value opens a nested block (`s3 =` then indented lines)
 * whose lines are not profile keys; other indentation is ignored. In
 * the config file profiles are [profile NAME] (and [default]); other
 * sections ([sso-session x], [services y]) are not profiles. */

struct ini_entry {
    char *section, *key, *value;
};

struct ini {
    struct ini_entry *e;
    size_t n, cap;
    char **sections;
    size_t nsec, capsec;
};

static void ini_free(struct ini *ini)
{
    for (size_t i = 0; i < ini->n; i++) {
        free(ini->e[i].key);
        free_secret(ini->e[i].value);
    }
    free(ini->e);
    for (size_t i = 0; i < ini->nsec; i++)
        free(ini->sections[i]);
    free(ini->sections);
    memset(ini, 0, sizeof *ini);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* The profile name a section header means, or NULL when it is no profile. */
static char *profile_of_section(char *name, bool config_file)
{
    name = trim(name);
    if (!config_file)
        return *name ? name : NULL;
    if (strcmp(name, "default") == 0)
        return name;
    if (strncmp(name, "profile", 7) == 0 && isspace((unsigned char)name[7])) {
        char *p = trim(name + 7);
        return *p ? p : NULL;
    }
    return NULL;
}

static void ini_add(struct ini *ini, char *section, const char *key, const char *value)
{
    if (ini->n == ini->cap) {
        ini->cap = ini->cap ? ini->cap * 2 : 16;
        struct ini_entry *e = bq_xmalloc(ini->cap * sizeof *e);
        if (ini->n)
            memcpy(e, ini->e, ini->n * sizeof *e);
        free(ini->e);
        ini->e = e;
    }
    struct ini_entry *e = &ini->e[ini->n++];
    e->section = section;
    e->key = bq_xstrdup(key);
    for (char *k = e->key; *k; k++)
        *k = (char)tolower((unsigned char)*k);
    e->value = bq_xstrdup(value);
}

static char *ini_section(struct ini *ini, const char *name)
{
    for (size_t i = 0; i < ini->nsec; i++)
        if (strcmp(ini->sections[i], name) == 0)
            return ini->sections[i];
    if (ini->nsec == ini->capsec) {
        ini->capsec = ini->capsec ? ini->capsec * 2 : 8;
        char **s = bq_xmalloc(ini->capsec * sizeof *s);
        if (ini->nsec)
            memcpy(s, ini->sections, ini->nsec * sizeof *s);
        free(ini->sections);
        ini->sections = s;
    }
    return ini->sections[ini->nsec++] = bq_xstrdup(name);
}

static void ini_parse(struct ini *ini, char *text, bool config_file)
{
    char *section = NULL;       /* NULL: outside any profile */
    bool nested = false;        /* inside an indented block under `key =` */
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        bool indented = *line == ' ' || *line == '\t';
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (indented && nested)
            continue;
        nested = false;
        if (*s == '[') {
            char *close = strrchr(s, ']');
            section = NULL;
            if (close) {
                *close = '\0';
                char *name = profile_of_section(s + 1, config_file);
                if (name)
                    section = ini_section(ini, name);
            }
            continue;
        }
        char *eq = strpbrk(s, "=:");
        if (!eq || !section)
            continue;
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        /* A comment after the value needs white space before it; keys,
         * secrets and tokens never contain any. */
        for (char *c = value; *c; c++)
            if ((*c == '#' || *c == ';') && c > value && isspace((unsigned char)c[-1])) {
                *c = '\0';
                value = trim(value);
                break;
            }
        if (*key) {
            ini_add(ini, section, key, value);
            nested = !*value;
        }
    }
}

static char *expand_home(const char *path)
{
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
        const char *home = env("HOME");
        if (!home)
            return NULL;
        struct bq_buf b = { 0 };
        bq_buf_printf(&b, "%s%s", home, path + 1);
        return b.data;
    }
    return bq_xstrdup(path);
}

/* 0 loaded, 1 missing (not an error), -1 unreadable. */
static int ini_load(struct ini *ini, const char *path_in, bool config_file, struct bq_http_error *err)
{
    memset(ini, 0, sizeof *ini);
    char *path = expand_home(path_in);
    if (!path)
        return 1;
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        free(path);
        if (e == ENOENT || e == ENOTDIR)
            return 1;
        return bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0, "cannot read %s: %s", path_in, strerror(e));
    }
    struct bq_buf b = { 0 };
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > (1u << 20) || bq_buf_append(&b, chunk, n) < 0) {
            rc = bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0, "%s is too large", path_in);
            break;
        }
    }
    if (!rc && ferror(f))
        rc = bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0, "cannot read %s", path_in);
    bq_secure_zero(chunk, sizeof chunk);
    fclose(f);
    free(path);
    if (!rc)
        ini_parse(ini, (char *)bq_buf_cstr(&b), config_file);
    bq_buf_free_secure(&b);
    return rc;
}

static bool ini_has(const struct ini *ini, const char *section)
{
    for (size_t i = 0; i < ini->nsec; i++)
        if (strcmp(ini->sections[i], section) == 0)
            return true;
    return false;
}

static const char *ini_get(const struct ini *ini, const char *section, const char *key)
{
    const char *v = NULL;           /* the last one wins */
    for (size_t i = 0; i < ini->n; i++)
        if (strcmp(ini->e[i].section, section) == 0 && strcasecmp(ini->e[i].key, key) == 0)
            v = ini->e[i].value;
    return v && *v ? v : NULL;
}

struct shared {
    const char *profile;
    bool explicit_profile;
    const char *cred_path, *conf_path;
    struct ini cred, conf;
};

static int shared_load(struct shared *sh, struct bq_http_error *err)
{
    memset(sh, 0, sizeof *sh);
    sh->profile = env("AWS_PROFILE");
    if (!sh->profile)
        sh->profile = env("AWS_DEFAULT_PROFILE");
    sh->explicit_profile = sh->profile != NULL;
    if (!sh->profile)
        sh->profile = "default";
    sh->cred_path = env("AWS_SHARED_CREDENTIALS_FILE");
    if (!sh->cred_path)
        sh->cred_path = "~/.aws/credentials";
    sh->conf_path = env("AWS_CONFIG_FILE");
    if (!sh->conf_path)
        sh->conf_path = "~/.aws/config";
    if (ini_load(&sh->cred, sh->cred_path, false, err) < 0)
        return -1;
    if (ini_load(&sh->conf, sh->conf_path, true, err) < 0) {
        ini_free(&sh->cred);
        return -1;
    }
    if (sh->explicit_profile && !ini_has(&sh->cred, sh->profile) && !ini_has(&sh->conf, sh->profile)) {
        bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                          "AWS profile '%s' (AWS_PROFILE) was not found in %s or %s",
                          sh->profile, sh->cred_path, sh->conf_path);
        ini_free(&sh->cred);
        ini_free(&sh->conf);
        return -1;
    }
    return 0;
}

static void shared_free(struct shared *sh)
{
    ini_free(&sh->cred);
    ini_free(&sh->conf);
}

/* 1 found, 0 no keys in this file, -1 half a key pair. */
static int keys_from(const struct ini *ini, const char *profile, const char *path,
                     const char *source, struct bq_creds *out, struct bq_http_error *err)
{
    const char *akid = ini_get(ini, profile, "aws_access_key_id");
    const char *secret = ini_get(ini, profile, "aws_secret_access_key");
    if (!akid && !secret)
        return 0;
    if (!akid || !secret)
        return bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0, "profile '%s' in %s has %s but no %s",
                                 profile, path, akid ? "aws_access_key_id" : "aws_secret_access_key",
                                 akid ? "aws_secret_access_key" : "aws_access_key_id");
    set_creds(out, akid, secret, ini_get(ini, profile, "aws_session_token"), source);
    return 1;
}

int bq_creds_from_shared_files(struct bq_creds *out, struct bq_http_error *err)
{
    struct shared sh;
    if (shared_load(&sh, err) < 0)
        return -1;
    int rc = keys_from(&sh.cred, sh.profile, sh.cred_path, "shared-credentials-file", out, err);
    if (rc == 0)
        rc = keys_from(&sh.conf, sh.profile, sh.conf_path, "shared-config-file", out, err);
    if (rc == 0) {
        /* Profiles that get credentials some other way: say so rather than
         * fall through to IMDS and fail there obscurely. */
        static const char *const other[] = { "role_arn", "credential_process", "sso_session",
                                             "sso_start_url", "web_identity_token_file" };
        for (size_t i = 0; i < sizeof other / sizeof *other; i++)
            if (ini_get(&sh.conf, sh.profile, other[i]) || ini_get(&sh.cred, sh.profile, other[i])) {
                rc = bq_http_error_set(err, BQ_HTTP_ERR_CONFIG, 0,
                                       "profile '%s' uses %s, which bqlua does not support: "
                                       "export its credentials (aws configure export-credentials) instead",
                                       sh.profile, other[i]);
                break;
            }
    }
    shared_free(&sh);
    return rc;
}

int bq_creds_profile_region(char **region, struct bq_http_error *err)
{
    *region = NULL;
    struct shared sh;
    if (shared_load(&sh, err) < 0)
        return -1;
    const char *r = ini_get(&sh.conf, sh.profile, "region");
    if (r)
        *region = bq_xstrdup(r);
    shared_free(&sh);
    return 0;
}
