/* curl_lazy: libcurl is dlopen'ed on first use (see curl_lazy.c). */
#ifndef BQ_CURL_LAZY_H
#define BQ_CURL_LAZY_H

/* NULL when libcurl is loaded (loading it if need be), else why it is not. */
const char *bq_curl_load_error(void);

#endif
