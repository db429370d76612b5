/* json.encode(v), json.decode(s), json.null, on json-c.
 *
 * Why json-c: it is maintained, in Debian, keeps 64-bit integers exact and
 * strings binary-safe (embedded NULs), has a strict mode and a depth limit,
 * and the credentials layer parses the ECS/IMDS JSON with the same library.
 * Objects are encoded with sorted keys, so output is deterministic. */
#include "bind.h"
#include "limit.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <lauxlib.h>

#define JSON_MAX_DEPTH 1000

/* A json-c tree owned by a userdata, so a Lua error mid-way frees it. */
struct box {
    json_object *root;
};

static int box_gc(lua_State *L)
{
    struct box *b = lua_touserdata(L, 1);
    if (b->root) {
        json_object_put(b->root);
        b->root = NULL;
    }
    return 0;
}

static struct box *push_box(lua_State *L)
{
    struct box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->root = NULL;
    if (luaL_newmetatable(L, "bqlua.json.box")) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
    return b;
}

/* --- encode ------------------------------------------------------------------ */

struct key {
    const char *s;
    size_t len;
};

static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Where an encoded value goes. Every value is attached the moment it exists,
 * so the boxed root owns the whole tree and a Lua error mid-way leaks nothing. */
struct slot {
    json_object **root;       /* the box's root, or */
    json_object *arr;         /* append to this array, or */
    json_object *obj;         /* obj[key] */
    const char *key;
};

static void attach(lua_State *L, const struct slot *at, json_object *v)
{
    int rc = 0;
    if (at->root)
        *at->root = v;
    else if (at->arr)
        rc = json_object_array_add(at->arr, v);
    else
        rc = json_object_object_add_ex(at->obj, at->key, v, JSON_C_OBJECT_ADD_KEY_IS_NEW);
    if (rc != 0) {
        json_object_put(v);
        luaL_error(L, "json.encode: out of memory");
    }
}

static json_object *new_or_fail(lua_State *L, json_object *o)
{
    if (!o)
        luaL_error(L, "json.encode: out of memory");
    return o;
}

static void encode_value(lua_State *L, int idx, int depth, const struct slot *at);

/* The shortest text that reads back as the same double (json-c's default is
 * 17 digits: 0.1 would come out as 0.10000000000000001), kept a float. */
static json_object *new_double(lua_State *L, double d)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (!strpbrk(buf, ".eEn"))
        strcat(buf, ".0");
    return new_or_fail(L, json_object_new_double_s(d, buf));
}

static void encode_table(lua_State *L, int idx, int depth, const struct slot *at)
{
    if (depth > JSON_MAX_DEPTH)
        luaL_error(L, "json.encode: nesting deeper than %d (a cycle?)", JSON_MAX_DEPTH);
    luaL_checkstack(L, 8, "json.encode");
    if (bq_push_backing(L, idx))                      /* a read-only proxy: its table */
        idx = lua_gettop(L);
    size_t nkeys = 0, nstr = 0;
    lua_Integer maxint = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        nkeys++;
        if (lua_type(L, -1) == LUA_TSTRING)
            nstr++;
        else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0)
            maxint = lua_tointeger(L, -1) > maxint ? lua_tointeger(L, -1) : maxint;
        else
            luaL_error(L, "json.encode: table keys must be strings or positive integers, not %s",
                       lua_type(L, -1) == LUA_TNUMBER ? "other numbers" : luaL_typename(L, -1));
    }
    if (nstr && nstr != nkeys)
        luaL_error(L, "json.encode: table mixes string and integer keys");
    if (!nstr && nkeys) {
        if ((size_t)maxint != nkeys)
            luaL_error(L, "json.encode: sparse array (largest index %I, %I values)",
                       maxint, (lua_Integer)nkeys);
        json_object *arr = new_or_fail(L, json_object_new_array_ext((int)nkeys));
        attach(L, at, arr);
        struct slot child = { .arr = arr };
        for (size_t i = 1; i <= nkeys; i++) {
            lua_rawgeti(L, idx, (lua_Integer)i);
            encode_value(L, lua_gettop(L), depth + 1, &child);
            lua_pop(L, 1);
        }
        return;
    }
    json_object *obj = new_or_fail(L, json_object_new_object());
    attach(L, at, obj);
    if (!nkeys)
        return;
    struct key *keys = lua_newuserdatauv(L, nkeys * sizeof *keys, 0);
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        keys[k].s = lua_tolstring(L, -1, &keys[k].len);   /* alive: the table holds it */
        k++;
    }
    qsort(keys, nkeys, sizeof *keys, key_cmp);
    for (k = 0; k < nkeys; k++) {
        /* json-c keys are C strings: refuse what would not survive the trip */
        if (!bq_utf8_valid(keys[k].s, keys[k].len) || memchr(keys[k].s, 0, keys[k].len))
            luaL_error(L, "json.encode: a key is not valid UTF-8 text");
        lua_pushlstring(L, keys[k].s, keys[k].len);
        lua_rawget(L, idx);
        struct slot child = { .obj = obj, .key = keys[k].s };
        encode_value(L, lua_gettop(L), depth + 1, &child);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);                                    /* keys */
}

static void encode_value(lua_State *L, int idx, int depth, const struct slot *at)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        attach(L, at, new_or_fail(L, json_object_new_boolean(lua_toboolean(L, idx))));
        return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            attach(L, at, new_or_fail(L, json_object_new_int64((int64_t)lua_tointeger(L, idx))));
            return;
        }
        if (!isfinite(lua_tonumber(L, idx)))
            luaL_error(L, "json.encode: cannot encode %s", lua_tostring(L, idx));
        attach(L, at, new_double(L, lua_tonumber(L, idx)));
        return;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (len > INT32_MAX || !bq_utf8_valid(s, len))
            luaL_error(L, "json.encode: string is not valid UTF-8");
        attach(L, at, new_or_fail(L, json_object_new_string_len(s, (int)len)));
        return;
    }
    case LUA_TTABLE:
        encode_table(L, idx, depth, at);
        return;
    case LUA_TNIL:
        attach(L, at, NULL);
        return;
    case LUA_TUSERDATA:
        if (bq_is_null(L, idx)) {
            attach(L, at, NULL);
            return;
        }
        /* fall through */
    default:
        luaL_error(L, "json.encode: cannot encode a %s", luaL_typename(L, idx));
    }
}

static int l_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    struct box *b = push_box(L);                      /* v box */
    struct slot root = { .root = &b->root };
    encode_value(L, 1, 0, &root);
    size_t len = 4;
    const char *s = "null";
    if (b->root) {
        s = json_object_to_json_string_length(
            b->root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (!s)
            return luaL_error(L, "json.encode: out of memory");
    }
    lua_pushlstring(L, s, len);
    json_object_put(b->root);                         /* now, not at the next GC */
    b->root = NULL;
    return 1;
}

/* --- decode ------------------------------------------------------------------ */

static void push_json(lua_State *L, json_object *o, int depth)
{
    luaL_checkstack(L, 4, "json.decode");
    switch (json_object_get_type(o)) {
    case json_type_null:
        bq_push_null(L);
        break;
    case json_type_boolean:
        lua_pushboolean(L, json_object_get_boolean(o));
        break;
    case json_type_double: {
        double d = json_object_get_double(o);
        if (!isfinite(d))   /* json-c takes NaN and Infinity even in strict mode */
            luaL_error(L, "json.decode: NaN and Infinity are not JSON numbers");
        lua_pushnumber(L, d);
        break;
    }
    case json_type_int: {
        int64_t v = json_object_get_int64(o);
        uint64_t u = json_object_get_uint64(o);
        if (v == INT64_MAX && u > (uint64_t)INT64_MAX)
            lua_pushnumber(L, (lua_Number)u);     /* beyond Lua's integers */
        else
            lua_pushinteger(L, (lua_Integer)v);
        break;
    }
    case json_type_string:
        lua_pushlstring(L, json_object_get_string(o), (size_t)json_object_get_string_len(o));
        break;
    case json_type_array: {
        size_t n = json_object_array_length(o);
        lua_createtable(L, n > INT32_MAX ? INT32_MAX : (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            push_json(L, json_object_array_get_idx(o, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case json_type_object: {
        lua_createtable(L, 0, json_object_object_length(o));
        json_object_object_foreach(o, key, val) {
            lua_pushstring(L, key);
            push_json(L, val, depth + 1);
            lua_rawset(L, -3);
        }
        break;
    }
    }
}

/* An integer literal (no fraction or exponent) beyond what json-c keeps:
 * below INT64_MIN or above UINT64_MAX, which json-c would clamp silently.
 * JSON has no leading zeros, so comparing lengths, then digits, orders them. */
static bool int_overflows(const char *t, size_t n)
{
    if (memchr(t, '.', n) || memchr(t, 'e', n) || memchr(t, 'E', n))
        return false;
    bool neg = t[0] == '-';
    const char *d = t + neg, *lim = neg ? "9223372036854775808" : "18446744073709551615";
    size_t dn = n - neg, ln = strlen(lim);
    return dn > ln || (dn == ln && memcmp(d, lim, ln) > 0);
}

/* Where the number token starting at s[i] ends (one past its last byte). */
static size_t number_end(const char *s, size_t len, size_t i)
{
    while (i < len && s[i] && strchr("0123456789+-.eE", s[i]))
        i++;
    return i;
}

/* One pass over the text, outside strings: the number of values (for the
 * size check below) and of integer literals that overflow (int_overflows). */
static size_t scan_document(const char *s, size_t len, size_t *overflows)
{
    size_t values = 1;
    bool in_string = false;
    *overflows = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == ',' || c == '[' || c == '{') {
            values++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            i = number_end(s, len, i) - 1;
            if (int_overflows(s + start, i + 1 - start))
                ++*overflows;
        }
    }
    return values;
}

/* json-c builds its tree with malloc, outside the Lua heap cap: refuse a
 * document whose tree would not fit in what the cap leaves (about 96 bytes a
 * value), so that the cap still bounds the process. */
static void check_tree_size(lua_State *L, size_t values, size_t len)
{
    uint64_t need = (uint64_t)values * 96 + len;
    uint64_t cap = bq_limits_memory_cap(), used = bq_limits_memory_used();
    if (used + need > cap)
        luaL_error(L, "json.decode: the document needs about %d MiB, more than the memory limit leaves",
                   (int)(need >> 20) + 1);
}

/* The text with ".0" after each of the n overflowing integer literals, so
 * that json-c reads them as doubles, as Lua reads such numerals (floats),
 * instead of clamping them; at[k] is where the k-th ".0" went. NULL on OOM. */
static char *float_overflows(const char *s, size_t len, size_t n, size_t *at, size_t *outlen)
{
    char *o = malloc(len + 2 * n + 1), *p = o;
    if (!o)
        return NULL;
    size_t k = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\' && i + 1 < len)
                *p++ = s[i++];
            else if (c == '"')
                in_string = false;
            *p++ = s[i];
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            i = number_end(s, len, i) - 1;
            memcpy(p, s + start, i + 1 - start);
            p += i + 1 - start;
            if (int_overflows(s + start, i + 1 - start) && k < n) {
                at[k++] = (size_t)(p - o);
                *p++ = '.';
                *p++ = '0';
            }
        } else {
            in_string = c == '"';
            *p++ = c;
        }
    }
    *p = '\0';
    *outlen = (size_t)(p - o);
    return o;
}

static int l_json_decode(lua_State *L)
{
    size_t len, overflows;
    const char *s = luaL_checklstring(L, 1, &len);
    if (len >= INT32_MAX)
        return luaL_argerror(L, 1, "text too long");
    check_tree_size(L, scan_document(s, len, &overflows), len);
    struct box *b = push_box(L);
    char *copy = NULL;
    size_t *at = NULL;
    if (overflows) {
        at = malloc(overflows * sizeof *at);
        if (!at || !(copy = float_overflows(s, len, overflows, at, &len))) {
            free(at);
            return luaL_error(L, "json.decode: out of memory");
        }
        s = copy;
    }
    json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
    if (!tok) {
        free(copy);
        free(at);
        return luaL_error(L, "json.decode: out of memory");
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    /* Lua strings end in a NUL: passing it lets json-c finish a top-level
     * number ("1"), which it would otherwise wait to see continue. */
    b->root = json_tokener_parse_ex(tok, s, (int)len + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    size_t trailing = len;
    for (size_t i = end; i < len && trailing == len; i++)
        if (!strchr(" \t\r\n", s[i]))
            trailing = i;
    /* positions in what the script passed: without the ".0"s added before them */
    for (size_t k = overflows; k-- > 0;) {
        if (at[k] < end)
            end -= 2;
        if (at[k] < trailing)
            trailing -= 2;
    }
    len -= 2 * overflows;
    free(copy);
    free(at);
    if (jerr == json_tokener_continue || (jerr != json_tokener_success && end >= len))
        return luaL_error(L, "json.decode: unexpected end of input");
    if (jerr != json_tokener_success)
        return luaL_error(L, "json.decode: %s at byte %d", json_tokener_error_desc(jerr), (int)end + 1);
    if (trailing < len)
        return luaL_error(L, "json.decode: trailing characters at byte %d", (int)trailing + 1);
    push_json(L, b->root, 0);
    return 1;
}

static const luaL_Reg json_funcs[] = {
    { "encode", l_json_encode },
    { "decode", l_json_decode },
    { NULL, NULL },
};

int bq_open_json(lua_State *L)
{
    luaL_newlib(L, json_funcs);
    bq_push_null(L);
    lua_setfield(L, -2, "null");
    return 1;
}
