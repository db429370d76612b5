/* curl_lazy: libcurl, loaded on first use.
 *
 * Debian's libcurl pulls in some twenty libraries (GSSAPI, LDAP, SSH, RTMP,
 * IDN, ...) whose loading and constructors cost ~8 ms, six times the start-up
 * of a plain Lua interpreter. bqlua only needs curl once a binding talks HTTP,
 * so the binary does not link libcurl: these definitions of the curl_*
 * functions http.c uses forward to the real ones, dlopen'ed on the first call.
 * If libcurl cannot be loaded, they fail the way curl reports failures
 * (NULL handles, CURLE_FAILED_INIT) and bq_curl_load_error() says why. */
#define CURL_DISABLE_TYPECHECK 1
#include "curl_lazy.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#define BQ_LIBCURL_SONAME "libcurl.so.4"

#define CURL_FUNCS(X) \
    X(CURLcode, curl_global_init, (long)) \
    X(curl_version_info_data *, curl_version_info, (CURLversion)) \
    X(CURL *, curl_easy_init, (void)) \
    X(void, curl_easy_cleanup, (CURL *)) \
    X(void, curl_easy_reset, (CURL *)) \
    X(CURLcode, curl_easy_setopt, (CURL *, CURLoption, ...)) \
    X(CURLcode, curl_easy_getinfo, (CURL *, CURLINFO, ...)) \
    X(const char *, curl_easy_strerror, (CURLcode)) \
    X(void, curl_free, (void *)) \
    X(CURLM *, curl_multi_init, (void)) \
    X(CURLMcode, curl_multi_cleanup, (CURLM *)) \
    X(CURLMcode, curl_multi_add_handle, (CURLM *, CURL *)) \
    X(CURLMcode, curl_multi_remove_handle, (CURLM *, CURL *)) \
    X(CURLMcode, curl_multi_perform, (CURLM *, int *)) \
    X(CURLMcode, curl_multi_poll, (CURLM *, struct curl_waitfd *, unsigned, int, int *)) \
    X(CURLMsg *, curl_multi_info_read, (CURLM *, int *)) \
    X(CURLMcode, curl_multi_setopt, (CURLM *, CURLMoption, ...)) \
    X(CURLSH *, curl_share_init, (void)) \
    X(CURLSHcode, curl_share_setopt, (CURLSH *, CURLSHoption, ...)) \
    X(struct curl_slist *, curl_slist_append, (struct curl_slist *, const char *)) \
    X(void, curl_slist_free_all, (struct curl_slist *)) \
    X(CURLU *, curl_url, (void)) \
    X(void, curl_url_cleanup, (CURLU *)) \
    X(CURLUcode, curl_url_get, (CURLU *, CURLUPart, char **, unsigned int)) \
    X(CURLUcode, curl_url_set, (CURLU *, CURLUPart, const char *, unsigned int))

static struct {
#define FIELD(ret, name, args) ret (*name) args;
    CURL_FUNCS(FIELD)
#undef FIELD
} real;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[256];

static void load(void)
{
    void *h = dlopen(BQ_LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(load_error, sizeof load_error, "cannot load %s: %s", BQ_LIBCURL_SONAME, dlerror());
        return;
    }
#define LOOKUP(ret, name, args)                                                      \
    *(void **)&real.name = dlsym(h, #name);                                          \
    if (!real.name) {                                                                \
        snprintf(load_error, sizeof load_error, "%s lacks %s", BQ_LIBCURL_SONAME, #name); \
        memset(&real, 0, sizeof real);                                               \
        return;                                                                      \
    }
    CURL_FUNCS(LOOKUP)
#undef LOOKUP
}

static bool loaded(void)
{
    pthread_once(&once, load);
    return real.curl_easy_init != NULL;
}

const char *bq_curl_load_error(void)
{
    return loaded() ? NULL : load_error;
}

/* --- plain forwarders ------------------------------------------------------- */

#define FORWARD(ret, name, params, args, fail) \
    ret name params { return loaded() ? real.name args : fail; }
#define FORWARD_VOID(name, params, args) \
    void name params { if (loaded()) real.name args; }

FORWARD(CURLcode, curl_global_init, (long flags), (flags), CURLE_FAILED_INIT)
FORWARD(curl_version_info_data *, curl_version_info, (CURLversion v), (v), NULL)
FORWARD(CURL *, curl_easy_init, (void), (), NULL)
FORWARD_VOID(curl_easy_cleanup, (CURL *c), (c))
FORWARD_VOID(curl_easy_reset, (CURL *c), (c))
FORWARD(const char *, curl_easy_strerror, (CURLcode c), (c), load_error)
FORWARD_VOID(curl_free, (void *p), (p))
FORWARD(CURLM *, curl_multi_init, (void), (), NULL)
FORWARD(CURLMcode, curl_multi_cleanup, (CURLM *m), (m), CURLM_INTERNAL_ERROR)
FORWARD(CURLMcode, curl_multi_add_handle, (CURLM *m, CURL *c), (m, c), CURLM_INTERNAL_ERROR)
FORWARD(CURLMcode, curl_multi_remove_handle, (CURLM *m, CURL *c), (m, c), CURLM_INTERNAL_ERROR)
FORWARD(CURLMcode, curl_multi_perform, (CURLM *m, int *running), (m, running), CURLM_INTERNAL_ERROR)
FORWARD(CURLMcode, curl_multi_poll,
        (CURLM *m, struct curl_waitfd *fds, unsigned n, int timeout_ms, int *numfds),
        (m, fds, n, timeout_ms, numfds), CURLM_INTERNAL_ERROR)
FORWARD(CURLMsg *, curl_multi_info_read, (CURLM *m, int *left), (m, left), NULL)
FORWARD(CURLSH *, curl_share_init, (void), (), NULL)
FORWARD(struct curl_slist *, curl_slist_append, (struct curl_slist *l, const char *s), (l, s), NULL)
FORWARD_VOID(curl_slist_free_all, (struct curl_slist *l), (l))
FORWARD(CURLU *, curl_url, (void), (), NULL)
FORWARD_VOID(curl_url_cleanup, (CURLU *u), (u))
FORWARD(CURLUcode, curl_url_get, (CURLU *u, CURLUPart p, char **out, unsigned int f),
        (u, p, out, f), CURLUE_OUT_OF_MEMORY)
FORWARD(CURLUcode, curl_url_set, (CURLU *u, CURLUPart p, const char *s, unsigned int f),
        (u, p, s, f), CURLUE_OUT_OF_MEMORY)

/* --- variadic ones: the option number says the argument's type --------------- */

CURLcode curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
    if (!loaded())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, opt);
    CURLcode rc;
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        rc = real.curl_easy_setopt(c, opt, va_arg(ap, long));
    else if (opt >= CURLOPTTYPE_OFF_T && opt < CURLOPTTYPE_BLOB)
        rc = real.curl_easy_setopt(c, opt, va_arg(ap, curl_off_t));
    else   /* object, function and blob pointers */
        rc = real.curl_easy_setopt(c, opt, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
    if (!loaded())
        return CURLM_INTERNAL_ERROR;
    va_list ap;
    va_start(ap, opt);
    CURLMcode rc;
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        rc = real.curl_multi_setopt(m, opt, va_arg(ap, long));
    else if (opt >= CURLOPTTYPE_OFF_T && opt < CURLOPTTYPE_BLOB)
        rc = real.curl_multi_setopt(m, opt, va_arg(ap, curl_off_t));
    else
        rc = real.curl_multi_setopt(m, opt, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

CURLcode curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
    if (!loaded())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    CURLcode rc = real.curl_easy_getinfo(c, info, va_arg(ap, void *));   /* always a pointer */
    va_end(ap);
    return rc;
}

CURLSHcode curl_share_setopt(CURLSH *s, CURLSHoption opt, ...)
{
    if (!loaded())
        return CURLSHE_NOT_BUILT_IN;
    va_list ap;
    va_start(ap, opt);
    CURLSHcode rc;
    if (opt == CURLSHOPT_SHARE || opt == CURLSHOPT_UNSHARE)
        rc = real.curl_share_setopt(s, opt, va_arg(ap, int));   /* curl_lock_data, promoted */
    else
        rc = real.curl_share_setopt(s, opt, va_arg(ap, void *));
    va_end(ap);
    return rc;
}
