/* credentials: the AWS credential chain, resolved lazily and refreshed
 * before temporary credentials expire.
 *
 * Order (as the SDKs): environment -> shared files (~/.aws/credentials,
 * ~/.aws/config) -> ECS/Fargate container endpoint -> EC2 IMDSv2.
 * The first source that yields credentials is kept for the provider's life;
 * temporary credentials are fetched again from it when they come within
 * min_valid_seconds of their expiration.
 *
 * Secrets live only here and in the callers' copies: never logged, never in
 * an error message, zeroed when freed. `source` may be logged. */
#ifndef BQ_CREDENTIALS_H
#define BQ_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "http.h"

struct bq_creds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;        /* NULL for long-term keys */
    time_t expiration;          /* 0 = never */
    char source[32];            /* "environment", "shared-credentials-file",
                                   "shared-config-file", "container", "imds" */
};

/* Zeroes and frees the strings; the struct is left zeroed. Safe to repeat. */
void bq_creds_clear(struct bq_creds *c);
/* Deep copy into dst (which must be empty or cleared). 0, or -1 on OOM. */
int bq_creds_copy(struct bq_creds *dst, const struct bq_creds *src);

struct bq_creds_provider;

/* Nothing is read or fetched until the first bq_creds_get. ca_bundle (may be
 * NULL: the http default / AWS_CA_BUNDLE) is used for an https FULL_URI. */
struct bq_creds_provider *bq_creds_provider_new(const char *ca_bundle);
void bq_creds_provider_free(struct bq_creds_provider *p);
/* The process-wide provider (created on first call, never freed). */
struct bq_creds_provider *bq_creds_default(void);

/* Copies into *out (clear it with bq_creds_clear) credentials valid for at
 * least min_valid_seconds, refreshing temporary ones when less remains.
 * Thread-safe. When a refresh fails but the current credentials have not
 * expired yet, those are returned; when the source was asked less than 5 s
 * ago, its answer is reused. 0, or -1 with err (no secret in it). */
int bq_creds_get(struct bq_creds_provider *p, int min_valid_seconds, struct bq_creds *out,
                 struct bq_http_error *err);

/* The clock used for expirations (tests scale time with it); NULL = time(). */
typedef time_t (*bq_creds_clock_fn)(void);
void bq_creds_set_clock(bq_creds_clock_fn fn);

/* The `region` of the active profile (AWS_PROFILE, else "default") in the
 * config file, for when --region / AWS_REGION are not given. *region is
 * malloc'd, or NULL when not set. 0, or -1 with err (unreadable file,
 * explicit profile not found). */
int bq_creds_profile_region(char **region, struct bq_http_error *err);

/* --- single sources (used by the chain; exposed for tests; the shared files
 * are read in credentials_files.c) -------------------------------------------
 * Each returns 1 with *out filled, 0 when the source is not configured, or
 * -1 with err when it is configured but broken. */
int bq_creds_from_env(struct bq_creds *out, struct bq_http_error *err);
int bq_creds_from_shared_files(struct bq_creds *out, struct bq_http_error *err);
int bq_creds_from_container(const char *ca_bundle, struct bq_creds *out, struct bq_http_error *err);
int bq_creds_from_imds(struct bq_creds *out, struct bq_http_error *err);

/* May AWS_CONTAINER_CREDENTIALS_FULL_URI be fetched? https: any host; http:
 * loopback (127.0.0.0/8, ::1, localhost) and the ECS/EKS addresses
 * 169.254.170.2, 169.254.170.23, fd00:ec2::23. 0 if allowed, else -1 with err. */
int bq_creds_check_full_uri(const char *url, struct bq_http_error *err);
/* The container Authorization token: AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 * (read each time, trimmed) else AWS_CONTAINER_AUTHORIZATION_TOKEN; CR/LF
 * refused. 1 with *token (free with bq_secure_zero + free), 0 if none, -1. */
int bq_creds_container_token(char **token, struct bq_http_error *err);
/* Parses the JSON that the container endpoint and IMDS return. 0 or -1. */
int bq_creds_parse_json(const char *json, size_t len, const char *source, struct bq_creds *out,
                        struct bq_http_error *err);
/* ISO 8601 "2026-11-28T12:00:00Z" (fractions and +hh:mm offsets accepted). 0 or -1. */
int bq_creds_parse_time(const char *s, time_t *out);

#endif
