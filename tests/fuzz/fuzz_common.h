/* Shared helpers for the libFuzzer targets: a byte reader over the input and
 * a check that aborts (so libFuzzer records the input) when an invariant of
 * the code under test is broken. */
#ifndef BQ_FUZZ_COMMON_H
#define BQ_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);     \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t fuzz_byte(struct fuzz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* Up to max bytes (the count taken from the input), pointing into the input. */
static inline const char *fuzz_bytes(struct fuzz_in *in, size_t max, size_t *len)
{
    size_t want = max ? fuzz_byte(in) % (max + 1) : 0;
    if (want > in->n)
        want = in->n;
    const char *s = (const char *)in->p;
    in->p += want;
    in->n -= want;
    *len = want;
    return s;
}

/* A NUL-terminated malloc'd copy of data[0..size) (stops at an embedded NUL). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
