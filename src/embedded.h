/* The Lua modules from lua/, embedded at build time (scripts/embed_lua.py). */
#ifndef BQ_EMBEDDED_H
#define BQ_EMBEDDED_H

#include <stddef.h>

struct bq_embedded {
    const char *name;       /* module name: "bq.tsv" */
    const char *chunkname;  /* "@lua/bq/tsv.lua" */
    const char *source;
    size_t len;
};

extern const struct bq_embedded bq_embedded_modules[];   /* ends with a NULL name */

#endif
