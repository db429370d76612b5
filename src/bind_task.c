/* task: what the run is (SPEC §3): args, script, id, shard, remaining(), sleep(). */
#include "bind.h"
#include "limit.h"
#include "sandbox.h"
#include "util.h"

#include <lauxlib.h>

static int l_task_remaining(lua_State *L)
{
    double left = bq_limits_remaining();
    if (left < 0)
        lua_pushnil(L);
    else
        lua_pushnumber(L, left);
    return 1;
}

/* Sleeps, but a limit or SIGTERM ends the sleep (and the script) at once. */
static int l_task_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0 && s <= 1e9, 1, "expected seconds from 0 to 1e9");
    if (!bq_sleep_cancellable((double)s))
        bq_limits_raise(L);
    bq_limits_check(L);
    return 0;
}

static const luaL_Reg task_funcs[] = {
    { "remaining", l_task_remaining },
    { "sleep", l_task_sleep },
    { NULL, NULL },
};

int bq_open_task(lua_State *L)
{
    const struct bq_host *h = bq_host(L);
    const struct bq_options *o = h->opts;
    luaL_newlib(L, task_funcs);
    lua_createtable(L, o->nargs, 0);
    for (int i = 0; i < o->nargs; i++) {
        lua_pushstring(L, o->args[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "args");
    lua_pushstring(L, h->script_name);
    lua_setfield(L, -2, "script");
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, o->shard_index);
    lua_setfield(L, -2, "index");
    lua_pushinteger(L, o->shard_count);
    lua_setfield(L, -2, "count");
    lua_setfield(L, -2, "shard");
    /* task.id: the ECS task ARN, set by the deploy layer when it is known. */
    return 1;
}
