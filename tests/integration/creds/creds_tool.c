/* creds_tool: drives the credential chain for run_creds.py and prints what it
 * got WITHOUT any secret: the source, the key id, the expiration and whether
 * the secret and token are the ones the test server derives from the key id
 * ("secret-for-<akid>", "token-for-<akid>").
 *
 *   creds_tool [--gets N] [--advance SECONDS] [--min-valid SECONDS] [--threads N]
 *
 * --advance moves the provider's clock forward between gets (time is scaled,
 * so a refresh happens without waiting). */
#include "credentials.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static time_t offset;

static time_t fake_now(void)
{
    return time(NULL) + __atomic_load_n(&offset, __ATOMIC_RELAXED);
}

static struct bq_creds_provider *prov;
static int min_valid = 300;

static int show(int i, const struct bq_creds *c)
{
    char want_secret[256], want_token[256];
    snprintf(want_secret, sizeof want_secret, "secret-for-%s", c->access_key_id);
    snprintf(want_token, sizeof want_token, "token-for-%s", c->access_key_id);
    printf("get %d: source=%s akid=%s secret_matches=%s token_matches=%s expires_in=%lld\n", i,
           c->source, c->access_key_id,
           strcmp(c->secret_access_key, want_secret) == 0 ? "yes" : "no",
           c->session_token && strcmp(c->session_token, want_token) == 0 ? "yes" : "no",
           c->expiration ? (long long)(c->expiration - fake_now()) : -1LL);
    return 0;
}

static void *worker(void *arg)
{
    struct bq_creds c;
    struct bq_http_error e;
    intptr_t ok = bq_creds_get(prov, min_valid, &c, &e) == 0;
    bq_creds_clear(&c);
    (void)arg;
    return (void *)ok;
}

int main(int argc, char **argv)
{
    int gets = 1, threads = 0;
    long advance = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--gets") == 0) gets = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--advance") == 0) advance = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--min-valid") == 0) min_valid = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
        else { fprintf(stderr, "creds_tool: unknown option %s\n", argv[i]); return 2; }
    }
    bq_creds_set_clock(fake_now);
    prov = bq_creds_provider_new(NULL);
    double t0 = bq_monotonic();
    int rc = 0;
    if (threads > 0) {
        pthread_t th[64];
        if (threads > 64) threads = 64;
        for (int i = 0; i < threads; i++)
            pthread_create(&th[i], NULL, worker, NULL);
        int good = 0;
        for (int i = 0; i < threads; i++) {
            void *r;
            pthread_join(th[i], &r);
            good += r != NULL;
        }
        printf("threads: %d of %d got credentials\n", good, threads);
        rc = good == threads ? 0 : 1;
    }
    for (int i = 1; i <= gets && rc == 0; i++) {
        struct bq_creds c;
        struct bq_http_error e;
        if (bq_creds_get(prov, min_valid, &c, &e) == 0) {
            show(i, &c);
        } else {
            printf("get %d: error kind=%s status=%ld message=%s\n", i, bq_http_err_kind_name(e.kind),
                   e.status, e.message);
            rc = 1;
        }
        bq_creds_clear(&c);
        __atomic_add_fetch(&offset, advance, __ATOMIC_RELAXED);
    }
    printf("elapsed: %.2f\n", bq_monotonic() - t0);
    bq_creds_provider_free(prov);
    bq_http_thread_cleanup();
    return rc;
}
