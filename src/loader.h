/* loader: reads the task script (file, stdin, -e, later S3), checks its
 * SHA-256 when asked, and compiles it as text only. */
#ifndef BQ_LOADER_H
#define BQ_LOADER_H

#include <lua.h>

#include "cli.h"
#include "sandbox.h"

/* Fills host->script_name/script_dir. */
void bq_loader_describe(const struct bq_options *o, struct bq_host *host);

/* Pushes the compiled chunk and returns 0; or prints one line and returns
 * the exit code (3: cannot load, 4: memory limit while compiling). */
int bq_loader_load(lua_State *L, const struct bq_options *o);

#endif
