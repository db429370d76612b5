/* bind_db: helpers the db and rds bindings share (option reading, errors). */
#ifndef BQ_BIND_DB_H
#define BQ_BIND_DB_H

#include <stdbool.h>

#include <lua.h>

struct bq_db_error;

/* Field `name` of the options table at idx: a string, or NULL when absent
 * (raises "bad argument" when required and absent, or not a string). */
const char *bq_db_opt_string(lua_State *L, int idx, const char *name, bool required);
/* Field `port`: an integer 1..65535, 3306 when absent. May raise. */
unsigned bq_db_opt_port(lua_State *L, int idx);
/* Field `region`, else --region / AWS_REGION, else the profile's region;
 * NULL when none. The string lives on the Lua stack or in the options. */
const char *bq_db_opt_region(lua_State *L, int idx);
/* Raises the error: "bad argument" for misuse, the limit sentinel when the
 * script is being stopped, else the structured error. Never returns. */
int bq_db_raise(lua_State *L, const char *fname, const struct bq_db_error *err);

#endif
