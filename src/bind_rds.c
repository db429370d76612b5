/* rds: rds.token{host=, port=3306, user=, region=} (SPEC §3 rds). The token is
 * minted in the db service (credentials never reach this layer). */
#include "bind.h"
#include "bind_db.h"
#include "db.h"
#include "util.h"

#include <lauxlib.h>

static const char *const token_options[] = { "host", "port", "user", "region", NULL };

/* Pushes the token string; run protected so the secure buffer is always freed. */
static int push_token(lua_State *L)
{
    const struct bq_buf *b = lua_touserdata(L, 1);
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    return 1;
}

/* May raise. */
static int l_rds_token(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    bq_check_options(L, 1, token_options);
    const char *host = bq_db_opt_string(L, 1, "host", true);
    unsigned port = bq_db_opt_port(L, 1);
    const char *user = bq_db_opt_string(L, 1, "user", true);
    const char *region = bq_db_opt_region(L, 1);
    if (!region)
        return luaL_argerror(L, 1, "region is required (region=, --region or AWS_REGION)");

    struct bq_buf tok = { 0 };
    struct bq_db_error err;
    if (bq_db_rds_token(host, port, user, region, &tok, &err) != 0) {
        bq_buf_free_secure(&tok);
        return bq_db_raise(L, "rds.token", &err);
    }
    lua_pushcfunction(L, push_token);
    lua_pushlightuserdata(L, &tok);
    int rc = lua_pcall(L, 1, 1, 0);
    bq_buf_free_secure(&tok);
    if (rc != LUA_OK)
        return lua_error(L);
    return 1;
}

static const luaL_Reg rds_funcs[] = {
    { "token", l_rds_token },
    { NULL, NULL },
};

int bq_open_rds(lua_State *L)
{
    luaL_newlib(L, rds_funcs);
    return 1;
}
