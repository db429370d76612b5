/* sandbox: the script's Lua state (SPEC §2). The policy is data at the top
 * of sandbox.c; everything a script can reach is listed there. */
#ifndef BQ_SANDBOX_H
#define BQ_SANDBOX_H

#include <lua.h>

#include "cli.h"

/* What the host knows about the run; reachable from any thread of the state
 * through lua_getextraspace. */
struct bq_host {
    const struct bq_options *opts;
    const char *script_name;  /* as the user named it: path, s3:// URI, "-", "(command line)" */
    char *script_dir;         /* folder of a local script, for require; NULL otherwise */
};

static inline struct bq_host *bq_host(lua_State *L)
{
    return *(struct bq_host **)lua_getextraspace(L);
}

/* Builds the sandboxed state, runs the self-check (aborts on failure).
 * Returns NULL only when the state cannot be created at all. */
lua_State *bq_sandbox_new(struct bq_host *host);

/* The module loader for a script-relative require; installed by the S3 layer
 * for scripts loaded from S3. Pushes the loaded chunk and returns 1, returns
 * 0 when there is no such module, or raises. */
typedef int (*bq_sibling_loader)(lua_State *L, const char *name, const char *relpath);
void bq_sandbox_set_sibling_loader(bq_sibling_loader fn);

#endif
