/* bind: what the Lua bindings share (the binding layer sits between the
 * sandbox and the plain-C services). */
#ifndef BQ_BIND_H
#define BQ_BIND_H

#include <stdbool.h>
#include <stddef.h>

#include <lauxlib.h>
#include <lua.h>

/* Binding openers: each pushes its table. The sandbox lists them. */
int bq_open_log(lua_State *L);
int bq_open_task(lua_State *L);
int bq_open_json(lua_State *L);
int bq_open_db(lua_State *L);
int bq_open_rds(lua_State *L);
int bq_open_s3(lua_State *L);

/* The ECS task ARN from ECS_CONTAINER_METADATA_URI_V4 (asked once, short
 * timeouts), or NULL outside ECS or when the endpoint does not answer. */
const char *bq_task_id(void);

/* S3 for the loader (bind_s3.c): the process's S3 service, a whole-object
 * fetch (*data malloc'd; *absent tells NoSuchKey apart), and the sibling
 * loader for scripts from S3. */
struct bq_options;
struct bq_s3;
struct bq_s3 *bq_s3_service(const struct bq_options *o);
int bq_s3_fetch(const struct bq_options *o, const char *bucket, const char *key, const char *version_id,
                char **data, size_t *len, char *errbuf, size_t errlen, bool *absent);
void bq_s3_install_sibling_loader(void);

/* The null sentinel shared by json and db (json.null == db.null). */
void bq_push_null(lua_State *L);
bool bq_is_null(lua_State *L, int idx);

/* An operational failure (SPEC §3): raises {code=, message=, status=,
 * retryable=, request_id=, uri=} with a __tostring. NULL fields are left out. */
struct bq_error_info {
    const char *code;
    const char *message;
    long status;
    bool retryable;
    const char *request_id;
    const char *uri;
};
int bq_raise_error(lua_State *L, const struct bq_error_info *e);
void bq_push_error(lua_State *L, const struct bq_error_info *e);

/* Pushes a read-only proxy of the table at idx (the same proxy for the same
 * table): writes through it raise, and the sandbox's rawset refuses it. */
void bq_push_readonly(lua_State *L, int idx, const char *name);
/* If the value at idx is a read-only proxy, pushes its table and returns true. */
bool bq_push_backing(lua_State *L, int idx);

/* Raises "bad argument" when the options table at idx has a key not in
 * allowed (NULL-terminated); idx may be absent or nil. */
void bq_check_options(lua_State *L, int idx, const char *const allowed[]);

/* Sets the metatable named tname on the userdata at the top, creating it with
 * methods (and __index = methods, __metatable locked) on first use. */
void bq_set_class(lua_State *L, const char *tname, const luaL_Reg *methods, const luaL_Reg *meta);

#endif
