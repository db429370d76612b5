#include "sandbox.h"
#include "bind.h"
#include "embedded.h"
#include "limit.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lualib.h>

/* ==========================================================================
 * Policy. Everything a script can reach is named here.
 * ========================================================================== */

/* Base functions the script gets as they are. */
static const char *const base_allowed[] = {
    "assert", "error", "ipairs", "pairs", "pcall", "xpcall", "select", "tonumber",
    "tostring", "type", "rawequal", "getmetatable", "print", NULL,
};
/* Base functions the script gets wrapped (see the l_* functions below):
 * load (text only), setmetatable (no __gc), collectgarbage (some options),
 * rawset/rawget/rawlen/next (see through and protect read-only tables),
 * require (standard libraries, bundled modules, siblings). */

/* Standard libraries, opened linit-style: never luaL_openlibs. */
static const luaL_Reg std_libs[] = {
    { LUA_GNAME, luaopen_base },
    { LUA_STRLIBNAME, luaopen_string },
    { LUA_TABLIBNAME, luaopen_table },
    { LUA_MATHLIBNAME, luaopen_math },
    { LUA_UTF8LIBNAME, luaopen_utf8 },
    { LUA_COLIBNAME, luaopen_coroutine },
    { LUA_OSLIBNAME, luaopen_os },
    { NULL, NULL },
};
/* Libraries the script sees whole (read-only). os is filtered below. */
static const char *const libs_whole[] = { "string", "table", "math", "utf8", "coroutine", NULL };
static const char *const os_allowed[] = { "time", "clock", "date", "difftime", NULL };
/* Removed from the real tables, so no path (string methods included) reaches them. */
static const char *const string_removed[] = { "dump", NULL };

/* Bindings: each is exposed read-only to the script and to bundled modules. */
static const luaL_Reg bindings[] = {
    { "log", bq_open_log },
    { "task", bq_open_task },
    { "json", bq_open_json },
    { "db", bq_open_db },
    { "rds", bq_open_rds },
    { "s3", bq_open_s3 },
    { NULL, NULL },
};

/* os.getenv never shows these (plus BQLUA_MASK_ENV). */
static const char *const secret_env[] = {
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN", NULL,
};
static const char *const gc_allowed[] = { "collect", "count", "step", NULL };

/* Registry keys (addresses are unique). */
static const char key_host_env = 'h';   /* the environment of bundled modules */
static const char key_loaded_host = 'l';
static const char key_loaded_script = 's';
static const char key_loading = 'w';    /* sentinel while a module loads (cycles) */

static bq_sibling_loader sibling_loader;

void bq_sandbox_set_sibling_loader(bq_sibling_loader fn) { sibling_loader = fn; }

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

/* Makes the table at idx safe to expose: nested plain tables become proxies
 * in place (task.shard, ...), then pushes the proxy of the table itself. */
static void push_readonly_deep(lua_State *L, int idx, const char *name)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {                       /* key value */
        if (lua_type(L, -1) == LUA_TTABLE && !lua_getmetatable(L, -1)) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.%s", name,
                     lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?");
            push_readonly_deep(L, -1, sub);          /* key value proxy */
            lua_pushvalue(L, -3);
            lua_insert(L, -2);                       /* key value key proxy */
            lua_rawset(L, idx);                      /* replacing a value is fine during next */
        } else if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pop(L, 1);                           /* its metatable */
        }
        lua_pop(L, 1);                               /* key */
    }
    bq_push_readonly(L, idx, name);
}

/* ==========================================================================
 * Wrapped base functions
 * ========================================================================== */

static int l_rawget(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    if (bq_push_backing(L, 1))
        lua_replace(L, 1);
    lua_rawget(L, 1);
    return 1;
}

static int l_rawset(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    if (bq_push_backing(L, 1))
        return luaL_argerror(L, 1, "read-only table");
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

static int l_rawlen(lua_State *L)
{
    int t = lua_type(L, 1);
    luaL_argexpected(L, t == LUA_TTABLE || t == LUA_TSTRING, 1, "table or string");
    if (bq_push_backing(L, 1))
        lua_replace(L, 1);
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, 1));
    return 1;
}

static int l_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    if (bq_push_backing(L, 1))
        lua_replace(L, 1);
    if (lua_next(L, 1))
        return 2;
    lua_pushnil(L);
    return 1;
}

/* setmetatable refuses __gc: a finalizer would run script code at collection
 * time, outside every limit (Redis's CVE-2015-4335 class). */
static int l_setmetatable(lua_State *L)
{
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (t == LUA_TTABLE && lua_getfield(L, 2, "__gc") != LUA_TNIL)   /* see note */
        return luaL_argerror(L, 2, "__gc metamethods are not allowed in the sandbox");
    lua_settop(L, 2);
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_setmetatable(L, 1);
    return 1;
}
/* note: lua_getfield honours an __index on the metatable-to-be, so a __gc
 * hidden behind one is refused too; Lua itself only looks raw, which the
 * check covers. */

static int l_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (!in_list(gc_allowed, opt))
        return luaL_argerror(L, 1, lua_pushfstring(L, "option '%s' is not allowed in the sandbox", opt));
    lua_pushvalue(L, lua_upvalueindex(1));           /* the real collectgarbage */
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* load: text chunks only; the default environment is the script's globals. */
static int l_load(lua_State *L)
{
    int n = lua_gettop(L);
    /* Exactly chunk, name, mode[, env]: extra arguments would shift the call
     * and hand the real (binary-capable) load back to the script. */
    lua_settop(L, n >= 4 ? 4 : 3);
    /* The caller's mode without 'b': "bt" and nil load text, "b" loads
     * nothing, each refused with Lua's own message. */
    char mode[8] = "t";
    if (!lua_isnoneornil(L, 3)) {
        size_t len;
        const char *m = luaL_checklstring(L, 3, &len);
        size_t k = 0;
        for (size_t i = 0; i < len && k < sizeof mode - 1; i++)
            if (m[i] != 'b')
                mode[k++] = m[i];
        mode[k] = '\0';
    }
    lua_pushstring(L, mode);
    lua_replace(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));           /* the real load */
    lua_insert(L, 1);
    /* No message handler: the parser passes the current one to its runtime
     * errors (C stack overflow), which would hand the host's traceback
     * wrapper, metatable and all, to the script. */
    if (lua_pcall(L, n >= 4 ? 4 : 3, LUA_MULTRET, 0) != LUA_OK)
        return lua_error(L);
    return lua_gettop(L);
}

/* coroutine.close: Lua 5.4.4 does not count the C calls of a close made
 * from a __close handler (fixed upstream in 5.4.5), so a chain of coroutines
 * whose handlers close the previous one overflows the C stack. Bound the
 * nesting here; the real close is the upvalue. */
#define CO_CLOSE_MAX_NESTING 8
static int co_close_depth;

static int l_coclose(lua_State *L)
{
    if (co_close_depth >= CO_CLOSE_MAX_NESTING)
        return luaL_error(L, "coroutine.close nested more than %d deep", CO_CLOSE_MAX_NESTING);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    co_close_depth++;
    int st = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    co_close_depth--;
    if (st != LUA_OK)
        return lua_error(L);
    return lua_gettop(L);
}

static int l_getenv(lua_State *L)
{
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    const struct bq_options *o = bq_host(L)->opts;
    /* getenv("SECRET=pre") matches "SECRET=pre..." and returns the rest: only
     * plain variable names are looked up. */
    bool masked = memchr(name, '=', len) || strlen(name) != len || in_list(secret_env, name);
    for (size_t i = 0; !masked && i < o->n_mask_env; i++)
        masked = strcmp(o->mask_env[i], name) == 0;
    const char *v = masked ? NULL : getenv(name);
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    return 1;
}

/* os.exit([code]): unwinds like a limit so that cleanup runs and pcall cannot
 * catch it. true = 0, false = 1, or an integer 0-255. */
static int l_exit(lua_State *L)
{
    int code;
    if (lua_isnoneornil(L, 1) || (lua_isboolean(L, 1) && lua_toboolean(L, 1)))
        code = 0;
    else if (lua_isboolean(L, 1))
        code = 1;
    else {
        int isint;
        lua_Integer v = lua_tointegerx(L, 1, &isint);
        if (!isint || lua_type(L, 1) != LUA_TNUMBER || v < 0 || v > 255)
            return luaL_argerror(L, 1, "expected a boolean or an integer from 0 to 255");
        code = (int)v;
    }
    return bq_limits_exit(L, code);
}

/* ==========================================================================
 * require
 * ========================================================================== */

static const struct bq_embedded *find_embedded(const char *name)
{
    for (const struct bq_embedded *m = bq_embedded_modules; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

/* Module names are dotted identifiers: no '/', no '..', nothing to escape with. */
static bool module_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 200 || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
        return false;
    for (const char *p = s; *p; p++)
        if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return false;
    return true;
}

/* luaL_loadbufferx without the host's message handler (see l_load). */
struct parse_args {
    const char *src, *name;
    size_t len;
    int status;
};

static int parse_unhandled(lua_State *L)
{
    struct parse_args *a = lua_touserdata(L, 1);
    a->status = luaL_loadbufferx(L, a->src, a->len, a->name, "t");
    return 1;                                        /* the chunk or the message */
}

static int load_text(lua_State *L, const char *src, size_t len, const char *name)
{
    struct parse_args a = { src, name, len, LUA_OK };
    lua_pushcfunction(L, parse_unhandled);
    lua_pushlightuserdata(L, &a);
    int st = lua_pcall(L, 1, 1, 0);
    return st != LUA_OK ? st : a.status;
}

/* Loads a local sibling module: SCRIPT_DIR/a/b.lua for "a.b", never outside
 * the script's folder (symbolic links included). Pushes the chunk. */
static int load_local_sibling(lua_State *L, const char *dir, const char *relpath)
{
    char path[PATH_MAX], real[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, relpath) >= sizeof path)
        return 0;
    if (!realpath(path, real))
        return 0;
    size_t dl = strlen(dir);
    if (strncmp(real, dir, dl) != 0 || (real[dl] != '/' && dl != 1))
        return luaL_error(L, "module file '%s' resolves outside the script's folder", relpath);
    FILE *f = fopen(real, "rb");
    if (!f)
        return luaL_error(L, "cannot open module file '%s': %s", relpath, strerror(errno));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t got;
    do {
        char *p = luaL_prepbuffer(&b);
        got = fread(p, 1, LUAL_BUFFERSIZE, f);
        luaL_addsize(&b, got);
    } while (got == LUAL_BUFFERSIZE);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return luaL_error(L, "cannot read module file '%s'", relpath);
    luaL_pushresult(&b);
    size_t len;
    const char *src = lua_tolstring(L, -1, &len);
    lua_pushfstring(L, "@%s", relpath);
    int st = load_text(L, src, len, lua_tostring(L, -1));
    if (st != LUA_OK)
        return lua_error(L);
    lua_replace(L, -3);                              /* chunk name */
    lua_pop(L, 1);                                   /* chunk */
    return 1;
}

/* require's core. Bundled modules run in the host environment on the real
 * libraries and are cached once; the script gets read-only views of them.
 * Siblings are the script's own code and run in its globals. */
static int do_require(lua_State *L, bool for_script)
{
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    const void *cache_key = for_script ? &key_loaded_script : &key_loaded_host;
    lua_rawgetp(L, LUA_REGISTRYINDEX, cache_key);    /* name cache */
    lua_pushvalue(L, 1);
    if (lua_rawget(L, 2) != LUA_TNIL) {              /* name cache value */
        if (lua_touserdata(L, -1) == (void *)&key_loading)
            return luaL_error(L, "module '%s': loop or previous error while loading", name);
        return 1;
    }
    lua_pop(L, 1);

    const struct bq_embedded *m = find_embedded(name);
    if (m) {
        if (for_script) {
            /* The script gets a read-only view of the host's copy. */
            lua_pushvalue(L, lua_upvalueindex(1));   /* the host require */
            lua_pushvalue(L, 1);
            lua_call(L, 1, 1);                       /* name cache mod */
            if (lua_type(L, -1) == LUA_TTABLE)
                bq_push_readonly(L, -1, name), lua_remove(L, -2);
            lua_pushvalue(L, 1);
            lua_pushvalue(L, -2);
            lua_rawset(L, 2);
            return 1;
        }
        if (load_text(L, m->source, m->len, m->chunkname) != LUA_OK)
            return lua_error(L);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &key_host_env);
        lua_setupvalue(L, -2, 1);                    /* _ENV */
    } else if (for_script) {
        if (!module_name_valid(name))
            return luaL_error(L, "module '%s' not found: invalid module name", name);
        char rel[256];
        snprintf(rel, sizeof rel, "%s.lua", name);
        for (char *p = rel; *p && p < rel + strlen(name); p++)
            if (*p == '.')
                *p = '/';
        const struct bq_host *h = bq_host(L);
        int found = 0;
        if (sibling_loader)
            found = sibling_loader(L, name, rel);
        else if (h->script_dir)
            found = load_local_sibling(L, h->script_dir, rel);
        if (!found)
            return luaL_error(L, "module '%s' not found: not a standard library, not bundled, "
                              "and no %s beside the script", name, rel);
    } else {
        return luaL_error(L, "module '%s' not found among the bundled modules", name);
    }
    /* name cache chunk */
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, (void *)&key_loading);
    lua_rawset(L, 2);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);                               /* name cache result */
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, 1);
    lua_pushvalue(L, -2);
    lua_rawset(L, 2);
    return 1;
}

static int l_require_host(lua_State *L) { return do_require(L, false); }
static int l_require_script(lua_State *L) { return do_require(L, true); }

/* ==========================================================================
 * Building the state
 * ========================================================================== */

static int on_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "bqlua: unprotected Lua error: %s\n", msg ? msg : "(not a string)");
    abort();
}

static _Noreturn void selfcheck_failed(const char *what)
{
    fprintf(stderr, "bqlua: sandbox self-check failed: %s\n", what);
    abort();
}

/* to[name] = from[name]; the field must exist. */
static void copy_field(lua_State *L, int from, int to, const char *name)
{
    from = lua_absindex(L, from);
    to = lua_absindex(L, to);
    lua_getfield(L, from, name);
    if (lua_isnil(L, -1))
        selfcheck_failed(name);
    lua_setfield(L, to, name);
}

/* The script's globals, as promised by SPEC §2. */
static const char *const script_globals[] = {
    "assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "select", "tonumber",
    "tostring", "type", "rawequal", "rawlen", "rawget", "rawset", "setmetatable",
    "getmetatable", "print", "load", "require", "collectgarbage",
    "string", "table", "math", "utf8", "coroutine", "os",
    "log", "task", "json", "db", "rds", "s3",
    "_G", "_VERSION", "arg",
    NULL,
};

static bool is_proxy(lua_State *L, int idx)
{
    bool yes = bq_push_backing(L, idx);
    if (yes)
        lua_pop(L, 1);
    return yes;
}

/* Checks what the script will see; aborts the process if anything is off. */
static void self_check(lua_State *L, int sg)
{
    static const char *const never[] = {
        "io", "debug", "package", "dofile", "loadfile", "loadstring", "module", "setfenv",
        "getfenv", "newproxy", "warn", NULL,
    };
    lua_pushnil(L);
    while (lua_next(L, sg)) {
        if (lua_type(L, -2) != LUA_TSTRING || !in_list(script_globals, lua_tostring(L, -2)))
            selfcheck_failed("an unexpected global");
        if (lua_type(L, -1) == LUA_TTABLE && strcmp(lua_tostring(L, -2), "_G") != 0 &&
            strcmp(lua_tostring(L, -2), "arg") != 0 && !is_proxy(L, -1))
            selfcheck_failed(lua_pushfstring(L, "library '%s' is writable", lua_tostring(L, -2)));
        lua_pop(L, 1);
    }
    for (const char *const *n = never; *n; n++)
        if (lua_getfield(L, sg, *n) != LUA_TNIL)
            selfcheck_failed(*n);
        else
            lua_pop(L, 1);
    /* string.dump unreachable, the string metatable locked */
    lua_getfield(L, sg, "string");
    if (lua_getfield(L, -1, "dump") != LUA_TNIL)
        selfcheck_failed("string.dump");
    lua_pop(L, 2);
    lua_pushliteral(L, "");
    if (!lua_getmetatable(L, -1) || lua_getfield(L, -1, "__metatable") == LUA_TNIL)
        selfcheck_failed("string metatable not locked");
    if (lua_getfield(L, -2, "__index") != LUA_TTABLE || lua_getfield(L, -1, "dump") != LUA_TNIL)
        selfcheck_failed("string methods");
    lua_pop(L, 5);
    /* os: only the allowed functions */
    static const char *const os_never[] = { "execute", "remove", "rename", "tmpname", "setlocale", NULL };
    lua_getfield(L, sg, "os");
    for (const char *const *n = os_never; *n; n++) {
        if (lua_getfield(L, -1, *n) != LUA_TNIL)
            selfcheck_failed(*n);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    /* binary chunks refused by load's text mode */
    static const char bin[] = LUA_SIGNATURE "T";
    if (luaL_loadbufferx(L, bin, sizeof bin - 1, "=selfcheck", "t") == LUA_OK)
        selfcheck_failed("binary chunk accepted");
    lua_pop(L, 1);
    /* the globals table is the default environment of load */
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    if (!lua_rawequal(L, -1, sg))
        selfcheck_failed("globals");
    lua_pop(L, 1);
}

static int build(lua_State *L)
{
    struct bq_host *host = lua_touserdata(L, 1);
    *(struct bq_host **)lua_getextraspace(L) = host;

    /* Registry tables: the module caches. */
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &key_loaded_host);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &key_loaded_script);

    /* Open the standard libraries into a host environment H: base fills the
     * current globals table, which becomes H; the others go in as fields. */
    lua_settop(L, 0);
    for (const luaL_Reg *lib = std_libs; lib->name; lib++) {
        luaL_requiref(L, lib->name, lib->func, 0);
        if (lib->func != luaopen_base)
            lua_setfield(L, 1, lib->name);           /* H[name] = lib */
    }
    int H = 1;                                       /* H (the base table) */
    for (const char *const *n = string_removed; *n; n++) {
        lua_getfield(L, H, LUA_STRLIBNAME);
        lua_pushnil(L);
        lua_setfield(L, -2, *n);
        lua_pop(L, 1);
    }
    lua_getfield(L, H, LUA_COLIBNAME);
    lua_getfield(L, -1, "close");
    lua_pushcclosure(L, l_coclose, 1);
    lua_setfield(L, -2, "close");                    /* everyone gets the bounded close */
    lua_pop(L, 1);
    /* Bundled modules load files through nothing: no dofile, loadfile. */
    lua_pushnil(L);
    lua_setfield(L, H, "dofile");
    lua_pushnil(L);
    lua_setfield(L, H, "loadfile");
    lua_pushcfunction(L, l_require_host);
    lua_setfield(L, H, "require");
    for (const luaL_Reg *b = bindings; b->name; b++) {
        luaL_requiref(L, b->name, b->func, 0);
        lua_setfield(L, H, b->name);
    }
    lua_pushvalue(L, H);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &key_host_env);

    /* The script's globals S. */
    lua_createtable(L, 0, 40);
    int S = lua_gettop(L);
    for (const char *const *n = base_allowed; *n; n++)
        copy_field(L, H, S, *n);
    struct { const char *name; lua_CFunction fn; const char *real; } wrapped[] = {
        { "load", l_load, "load" },
        { "collectgarbage", l_collectgarbage, "collectgarbage" },
        { "setmetatable", l_setmetatable, NULL },
        { "rawget", l_rawget, NULL },
        { "rawset", l_rawset, NULL },
        { "rawlen", l_rawlen, NULL },
        { "next", l_next, NULL },
    };
    for (size_t i = 0; i < sizeof wrapped / sizeof *wrapped; i++) {
        int nup = 0;
        if (wrapped[i].real) {
            lua_getfield(L, H, wrapped[i].real);
            nup = 1;
        }
        lua_pushcclosure(L, wrapped[i].fn, nup);
        lua_setfield(L, S, wrapped[i].name);
    }
    lua_pushcfunction(L, l_require_host);
    lua_pushcclosure(L, l_require_script, 1);
    lua_setfield(L, S, "require");
    lua_getfield(L, H, "_VERSION");
    lua_setfield(L, S, "_VERSION");
    lua_pushvalue(L, S);
    lua_setfield(L, S, "_G");

    for (const char *const *n = libs_whole; *n; n++) {
        lua_getfield(L, H, *n);
        bq_push_readonly(L, -1, *n);
        lua_setfield(L, S, *n);
        lua_pop(L, 1);
    }
    /* os: a filtered copy. The host's os keeps the real getenv and exit. */
    lua_createtable(L, 0, 6);
    lua_getfield(L, H, "os");
    for (const char *const *n = os_allowed; *n; n++)
        copy_field(L, -1, -2, *n);
    lua_pop(L, 1);
    lua_pushcfunction(L, l_getenv);
    lua_setfield(L, -2, "getenv");
    lua_pushcfunction(L, l_exit);
    lua_setfield(L, -2, "exit");
    bq_push_readonly(L, -1, "os");
    lua_setfield(L, S, "os");
    lua_pop(L, 1);
    /* The host env gets the same filtered os (bundled modules exit the same way). */
    lua_getfield(L, S, "os");
    lua_setfield(L, H, "os");

    for (const luaL_Reg *b = bindings; b->name; b++) {
        lua_getfield(L, H, b->name);
        push_readonly_deep(L, -1, b->name);
        lua_setfield(L, S, b->name);
        lua_pop(L, 1);
    }

    /* require "string" (and every library and binding by name) answers from
     * the caches, never from the script's globals, which it may reassign. */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &key_loaded_script);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &key_loaded_host);
    for (int k = 0; k < 2; k++) {
        const char *const *names = k == 0 ? libs_whole : (const char *const[]){ "os", NULL };
        for (; *names; names++) {
            copy_field(L, S, -2, *names);
            copy_field(L, H, -1, *names);
        }
    }
    for (const luaL_Reg *b = bindings; b->name; b++) {
        copy_field(L, S, -2, b->name);
        copy_field(L, H, -1, b->name);
    }
    lua_pop(L, 2);

    /* Lock the shared string metatable: scripts cannot reach or change it. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);

    /* S becomes the global table: load's default environment. */
    lua_pushvalue(L, S);
    lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    self_check(L, S);
    return 0;
}

lua_State *bq_sandbox_new(struct bq_host *host)
{
    lua_State *L = lua_newstate(bq_limits_alloc, NULL);
    if (!L)
        return NULL;
    lua_atpanic(L, on_panic);
    lua_pushcfunction(L, build);
    lua_pushlightuserdata(L, host);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "bqlua: cannot build the sandbox: %s\n",
                lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "memory limit too small");
        lua_close(L);
        return NULL;
    }
    bq_limits_attach(L);
    return L;
}
