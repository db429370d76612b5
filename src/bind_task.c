/* task: what the run is (SPEC §3): args, script, id, shard, remaining(), sleep(). */
#include "bind.h"
#include "http.h"
#include "limit.h"
#include "log.h"
#include "sandbox.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <lauxlib.h>

/* --- task.id: the ECS task ARN --------------------------------------------------
 * Fargate and ECS set ECS_CONTAINER_METADATA_URI_V4; GET ${URI}/task answers
 * {"TaskARN": ...}. Asked once, only when the variable is set (a run outside
 * ECS makes no request and pays nothing), with short timeouts: the endpoint
 * is link-local, and a missing id must never delay or fail the script. */
static pthread_once_t task_id_once = PTHREAD_ONCE_INIT;
static char *task_id_value;

static void fetch_task_id(void)
{
    const char *base = getenv("ECS_CONTAINER_METADATA_URI_V4");
    if (!base || !*base)
        return;
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
        bq_log(BQ_LOG_WARN, "task.id: ECS_CONTAINER_METADATA_URI_V4 is not an http(s) URL; ignored");
        return;
    }
    char *url = malloc(blen + sizeof "/task");
    if (!url)
        return;
    memcpy(url, base, blen);
    memcpy(url + blen, "/task", sizeof "/task");
    struct bq_http_request req = {
        .method = "GET", .url = url,
        .allow_http = true,      /* the ECS agent's endpoint is plain http on a link-local address */
        .connect_timeout_ms = 500, .timeout_ms = 2000, .max_body = 1 << 20,
    };
    struct bq_http_response resp;
    struct bq_http_error err;
    char shown[300];
    bq_http_redact_url(url, shown, sizeof shown);
    if (bq_http_perform(NULL, &req, &resp, &err) < 0) {
        bq_log(BQ_LOG_WARN, "task.id: %s: %s", shown, err.message);
    } else if (resp.status != 200) {
        bq_log(BQ_LOG_WARN, "task.id: %s answered HTTP %ld", shown, resp.status);
    } else {
        struct json_object *doc = json_tokener_parse(resp.body);
        struct json_object *arn = NULL;
        if (doc && json_object_object_get_ex(doc, "TaskARN", &arn) && json_object_is_type(arn, json_type_string)
            && json_object_get_string_len(arn) > 0)
            task_id_value = strdup(json_object_get_string(arn));
        else
            bq_log(BQ_LOG_WARN, "task.id: %s: no TaskARN in the answer", shown);
        json_object_put(doc);
    }
    bq_http_response_free(&resp);
    free(url);
}

const char *bq_task_id(void)
{
    pthread_once(&task_id_once, fetch_task_id);
    return task_id_value;
}

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
    /* task.id: the ECS task ARN, or nil outside ECS */
    const char *id = bq_task_id();
    if (id) {
        lua_pushstring(L, id);
        lua_setfield(L, -2, "id");
    }
    return 1;
}
