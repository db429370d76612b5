/* log.debug/info/warn/error(fmt, ...): string.format, then one log line. */
#include "bind.h"
#include "log.h"

#include <lauxlib.h>
#include <lualib.h>

static int log_at(lua_State *L, enum bq_log_level level)
{
    if (!bq_log_enabled(level))
        return 0;
    int n = lua_gettop(L);
    size_t len;
    const char *msg;
    if (n <= 1) {
        luaL_checkany(L, 1);
        msg = luaL_tolstring(L, 1, &len);
    } else {
        luaL_checkstring(L, 1);
        lua_pushvalue(L, lua_upvalueindex(1));       /* the real string.format */
        lua_insert(L, 1);
        lua_call(L, n, 1);
        msg = lua_tolstring(L, -1, &len);
    }
    bq_log_msg(level, msg, len);
    return 0;
}

static int l_log_debug(lua_State *L) { return log_at(L, BQ_LOG_DEBUG); }
static int l_log_info(lua_State *L) { return log_at(L, BQ_LOG_INFO); }
static int l_log_warn(lua_State *L) { return log_at(L, BQ_LOG_WARN); }
static int l_log_error(lua_State *L) { return log_at(L, BQ_LOG_ERROR); }

static const luaL_Reg log_funcs[] = {
    { "debug", l_log_debug },
    { "info", l_log_info },
    { "warn", l_log_warn },
    { "error", l_log_error },
    { NULL, NULL },
};

int bq_open_log(lua_State *L)
{
    luaL_newlibtable(L, log_funcs);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, LUA_STRLIBNAME);
    lua_getfield(L, -1, "format");                   /* lib loaded strlib format */
    lua_replace(L, -3);
    lua_pop(L, 1);                                   /* lib format */
    luaL_setfuncs(L, log_funcs, 1);
    return 1;
}
