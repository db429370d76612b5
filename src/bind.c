#include "bind.h"

#include <string.h>

#include <lauxlib.h>

static const char key_null = 'n';

static int null_tostring(lua_State *L)
{
    lua_pushliteral(L, "null");
    return 1;
}

void bq_push_null(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &key_null) != LUA_TNIL)
        return;
    lua_pop(L, 1);
    lua_newuserdatauv(L, 0, 0);
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, null_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "bqlua.null");
    lua_setfield(L, -2, "__name");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &key_null);
}

bool bq_is_null(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TUSERDATA)
        return false;
    idx = lua_absindex(L, idx);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &key_null);
    bool yes = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    return yes;
}

/* --- structured errors ------------------------------------------------------ */

static int error_tostring(lua_State *L)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (lua_getfield(L, 1, "code") == LUA_TSTRING) {
        luaL_addvalue(&b);
        luaL_addstring(&b, ": ");
    } else {
        lua_pop(L, 1);
    }
    if (lua_getfield(L, 1, "message") == LUA_TSTRING)
        luaL_addvalue(&b);
    else
        lua_pop(L, 1);
    if (lua_getfield(L, 1, "uri") == LUA_TSTRING) {
        luaL_addstring(&b, " (");
        luaL_addvalue(&b);
        luaL_addstring(&b, ")");
    } else {
        lua_pop(L, 1);
    }
    luaL_pushresult(&b);
    return 1;
}

void bq_push_error(lua_State *L, const struct bq_error_info *e)
{
    lua_createtable(L, 0, 6);
    if (e->code) {
        lua_pushstring(L, e->code);
        lua_setfield(L, -2, "code");
    }
    lua_pushstring(L, e->message ? e->message : "unknown error");
    lua_setfield(L, -2, "message");
    if (e->status) {
        lua_pushinteger(L, e->status);
        lua_setfield(L, -2, "status");
    }
    lua_pushboolean(L, e->retryable);
    lua_setfield(L, -2, "retryable");
    if (e->request_id) {
        lua_pushstring(L, e->request_id);
        lua_setfield(L, -2, "request_id");
    }
    if (e->uri) {
        lua_pushstring(L, e->uri);
        lua_setfield(L, -2, "uri");
    }
    if (luaL_newmetatable(L, "bqlua.error")) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
}

int bq_raise_error(lua_State *L, const struct bq_error_info *e)
{
    bq_push_error(L, e);
    return lua_error(L);
}

/* --- read-only proxies --------------------------------------------------------
 * A proxy is an empty table whose metatable reads from the real table and
 * refuses writes; the sandbox's rawset/rawget/rawlen/next see through it. */

static const char key_readonly = 'r';   /* weak: proxy -> backing table */
static const char key_proxies = 'p';    /* weak: backing table -> proxy */

static void push_weak_registry(lua_State *L, const void *key)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

/* Pushes the table behind proxy at idx, or nothing and returns false. */
bool bq_push_backing(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return false;
    idx = lua_absindex(L, idx);
    push_weak_registry(L, &key_readonly);
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);                               /* ro backing|nil */
    lua_remove(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return false;
    }
    return true;
}

static int ro_newindex(lua_State *L)
{
    return luaL_error(L, "attempt to modify read-only table '%s'",
                      lua_tostring(L, lua_upvalueindex(1)));
}

static int ro_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    if (!bq_push_backing(L, 1))
        return luaL_argerror(L, 1, "not a read-only table");
    lua_insert(L, 2);                                /* proxy backing key */
    return lua_next(L, 2) ? 2 : (lua_pushnil(L), 1);
}

static int ro_pairs(lua_State *L)
{
    lua_pushcfunction(L, ro_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int ro_len(lua_State *L)
{
    bq_push_backing(L, 1);
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
    return 1;
}

void bq_push_readonly(lua_State *L, int idx, const char *name)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 6, "read-only proxy");
    push_weak_registry(L, &key_proxies);
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) == LUA_TTABLE) {           /* proxies proxy */
        lua_remove(L, -2);
        return;
    }
    lua_pop(L, 1);
    lua_newtable(L);                                 /* proxies proxy */
    lua_createtable(L, 0, 6);                        /* proxies proxy mt */
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, name);
    lua_pushcclosure(L, ro_newindex, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, ro_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushcfunction(L, ro_len);
    lua_setfield(L, -2, "__len");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);                         /* proxies proxy */
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);                               /* proxies[t] = proxy */
    lua_remove(L, -2);                               /* proxy */
    push_weak_registry(L, &key_readonly);
    lua_pushvalue(L, -2);
    lua_pushvalue(L, idx);
    lua_rawset(L, -3);                               /* readonly[proxy] = t */
    lua_pop(L, 1);                                   /* proxy */
}

/* --- options and classes ------------------------------------------------------ */

void bq_check_options(lua_State *L, int idx, const char *const allowed[])
{
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        bool known = false;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (const char *const *a = allowed; *a && !known; a++)
                known = strcmp(*a, lua_tostring(L, -1)) == 0;
        if (!known) {
            const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1);
            luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s'", k));
        }
    }
}

void bq_set_class(lua_State *L, const char *tname, const luaL_Reg *methods, const luaL_Reg *meta)
{
    if (luaL_newmetatable(L, tname)) {
        if (meta)
            luaL_setfuncs(L, meta, 0);
        if (methods) {
            lua_newtable(L);
            luaL_setfuncs(L, methods, 0);
            lua_setfield(L, -2, "__index");
        }
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
}
