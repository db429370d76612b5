/* bqlua: runs a Lua 5.4 task in a sandbox (SPEC §1: command line and exit codes). */
#include "cli.h"
#include "curl_lazy.h"
#include "http.h"
#include "limit.h"
#include "loader.h"
#include "log.h"
#include "sandbox.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <expat.h>
#include <json-c/json.h>
#include <lauxlib.h>
#include <mysql.h>
#include <openssl/crypto.h>

enum {
    EXIT_SCRIPT_ERROR = 1,
    EXIT_USAGE = 2,
    EXIT_LOAD = 3,
    EXIT_LIMIT = 4,
};

/* Versions of what is actually linked (libcurl: loaded now, see curl_lazy.c).
 * None of these calls initialises its library. */
static void print_versions(void)
{
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    printf("bqlua %s\n", BQ_VERSION);
    printf("  %s (core %d)\n", LUA_RELEASE, (int)lua_version(NULL));
    if (cv)
        printf("  libcurl %s%s%s\n", cv->version, cv->ssl_version ? " with " : "",
               cv->ssl_version ? cv->ssl_version : "");
    else
        printf("  libcurl: %s\n", bq_curl_load_error());
    printf("  %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("  libmariadb %s\n", mysql_get_client_info());
    printf("  json-c %s\n", json_c_version());
    printf("  %s\n", XML_ExpatVersion());
}

/* --- errors from the script ---------------------------------------------------- */

/* The message handler: records a traceback beside the error, in the
 * registry, and returns the error object itself. Lua also calls the handler
 * for errors it catches internally (a load reader's error), so it must never
 * change the object a script might see. It is C: no hook fires inside it. */
static const char key_traceback = 't';

static int msghandler(lua_State *L)
{
    if (bq_limits_is_sentinel(L, 1))
        return 1;
    luaL_traceback(L, L, NULL, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &key_traceback);
    lua_settop(L, 1);
    return 1;
}

static int tostring_protected(lua_State *L)
{
    luaL_tolstring(L, 1, NULL);
    return 1;
}

/* Turns an error object into text without letting a hostile __tostring hang
 * or crash the host: Lua code in it gets a bounded instruction budget. */
static const char *error_text(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        return lua_tostring(L, idx);
    case LUA_TNUMBER:
    case LUA_TBOOLEAN:
    case LUA_TNIL:
        return luaL_tolstring(L, idx, NULL);
    default:
        break;
    }
    if (luaL_getmetafield(L, idx, "__tostring") == LUA_TNIL)
        return lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, idx));
    lua_pop(L, 1);
    bq_limits_set_budget(10 * 1000 * 1000);
    lua_pushcfunction(L, tostring_protected);
    lua_pushvalue(L, idx);
    int st = lua_pcall(L, 1, 1, 0);
    bq_limits_set_budget(0);
    if (st != LUA_OK || lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        return lua_pushfstring(L, "(error object is a %s value whose __tostring failed)",
                               luaL_typename(L, idx));
    }
    return lua_tostring(L, -1);
}

static void report_script_error(lua_State *L, const struct bq_options *o)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &key_traceback);
    const char *tb = lua_tostring(L, -1);
    lua_insert(L, -2);                               /* traceback error */
    const char *msg = error_text(L, -1);
    if (o->log_format == BQ_LOG_JSON || !tb)
        bq_log_fatal("%s%s%s", msg, tb ? "\n" : "", tb ? tb : "");
    else
        /* bounded, like bq_log_fatal: a 100 MB error string is not a report */
        fprintf(stderr, "bqlua: %.4000s%s\n%s\n", msg, strlen(msg) > 4000 ? "..." : "", tb);
}

/* --- running ---------------------------------------------------------------------- */

static int limit_exit(void)
{
    char why[200];
    if (bq_cancel_get() == BQ_CANCEL_EXIT)
        return bq_limits_exit_code();
    bq_log_fatal("%s", bq_limits_describe(why, sizeof why));
    return bq_limits_trip_exit_code();
}

static int run(lua_State *L, const struct bq_options *o, const struct bq_host *h)
{
    lua_pushcfunction(L, msghandler);
    int handler = lua_gettop(L);

    int rc = bq_loader_load(L, o);
    if (rc)
        return bq_cancelled() && bq_cancel_get() != BQ_CANCEL_MEMORY ? limit_exit() : rc;

    /* arg[0] = the script, arg[1..n] = its arguments; also passed as `...` */
    luaL_checkstack(L, o->nargs + 4, "too many arguments");
    lua_createtable(L, o->nargs, 1);
    lua_pushstring(L, h->script_name);
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < o->nargs; i++) {
        lua_pushstring(L, o->args[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");
    for (int i = 0; i < o->nargs; i++)
        lua_pushstring(L, o->args[i]);

    int st = lua_pcall(L, o->nargs, 1, handler);

    if (bq_cancelled())
        return limit_exit();
    if (st == LUA_ERRMEM || bq_limits_memory_refused()) {
        bq_cancel_set(BQ_CANCEL_MEMORY);
        return limit_exit();
    }
    if (st != LUA_OK) {
        report_script_error(L, o);
        return bq_cancelled() ? limit_exit() : EXIT_SCRIPT_ERROR;
    }
    /* The chunk's result is the exit status, as os.exit takes it. */
    switch (lua_type(L, -1)) {
    case LUA_TNIL:
        return 0;
    case LUA_TBOOLEAN:
        return lua_toboolean(L, -1) ? 0 : 1;
    case LUA_TNUMBER:
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0 && lua_tointeger(L, -1) <= 255)
            return (int)lua_tointeger(L, -1);
        /* fall through */
    default:
        /* error_text: a returned table's __tostring runs protected and bounded */
        bq_log_fatal("the script returned %s; expected nothing, a boolean or an integer from 0 to 255",
                     error_text(L, -1));
        return EXIT_SCRIPT_ERROR;
    }
}

int main(int argc, char **argv)
{
    struct bq_options o;
    char err[600];
    if (bq_cli_parse(&o, argc, argv, err, sizeof err) < 0) {
        fprintf(stderr, "bqlua: %s\n", err);
        return EXIT_USAGE;
    }
    if (o.action == BQ_CLI_HELP) {
        fputs(bq_cli_usage, stdout);
        return 0;
    }
    if (o.action == BQ_CLI_VERSION) {
        print_versions();
        return 0;
    }

    /* Long jobs log through pipes (awslogs): a printed line should go out now. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    bq_log_configure(o.log_format, o.log_level, 2);
    bq_limits_init(o.memory_limit, o.timeout);
    bq_http_set_default_ca_bundle(o.ca_bundle);   /* a copy; curl is not started here */

    struct bq_host host = { .opts = &o };
    bq_loader_describe(&o, &host);
    int code;
    lua_State *L = bq_sandbox_new(&host);
    if (L) {
        code = run(L, &o, &host);
        /* Cleanup still runs after a limit or a signal: closing the state
         * closes connections and aborts uploads through their __gc. */
        bq_limits_enter_cleanup();
        lua_close(L);
    } else {
        code = bq_limits_memory_refused() ? EXIT_LIMIT : EXIT_SCRIPT_ERROR;
        if (code == EXIT_LIMIT)
            bq_log_fatal("the memory limit is too small to start");
    }
    free(host.script_dir);
    bq_cli_free(&o);
    if (fflush(stdout) != 0 && code == 0)
        code = EXIT_SCRIPT_ERROR;   /* output lost (disk full, closed pipe) is a failure */
    return code;
}
