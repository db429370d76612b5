#include "limit.h"
#include "util.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

/* The hook runs every HOOK_COUNT VM instructions; once a limit has tripped,
 * at every instruction of the thread it caught. */
#define HOOK_COUNT 1000

static struct {
    /* allocator (touched only by the thread that runs Lua) */
    size_t used;
    uint64_t cap;
    bool refused_pending;     /* last growth was refused; Lua may retry it after a GC */
    bool recheck;             /* the main thread's hook was armed at 1 to settle a refusal */
    bool refused_final;
    const void *refused_ptr;
    size_t refused_osize, refused_nsize;

    /* time */
    double timeout, deadline;  /* deadline: bq_monotonic() seconds, 0 = none */
    long budget;               /* hook calls left for host-run user code; <0 = none */

    int exit_code;             /* os.exit */
    lua_State *main;

    /* watchdog */
    pthread_t watchdog;
    atomic_bool cleanup;
    atomic_int urgent;         /* a second signal: stop now */
    void (*on_hard_stop[4])(void);   /* run in order by the watchdog */
    int n_on_hard_stop;
} lim = { .budget = -1 };

/* Distinct addresses: the sentinels are light userdata, raised without allocating. */
static const char limit_sentinel = 'L';
static const char budget_sentinel = 'B';

/* --- allocator ------------------------------------------------------------ */

static void hook(lua_State *L, lua_Debug *ar);

static void trip_memory(void)
{
    /* Headroom for unwinding and closing handles, once: a script that keeps
     * catching memory errors must not earn a megabyte per refusal. */
    if (!lim.refused_final)
        lim.cap += 1u << 20;
    lim.refused_final = true;
    bq_cancel_set(BQ_CANCEL_MEMORY);
    /* The script is done: stop it at its next instruction, not 1000 later
     * (lua_sethook is safe to call at any point, as from a signal handler). */
    if (lim.main)
        lua_sethook(lim.main, hook, LUA_MASKCOUNT, 1);
}

void *bq_limits_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    size_t old = ptr ? osize : 0;   /* with ptr == NULL, osize is a type tag */
    if (nsize == 0) {
        free(ptr);
        lim.used -= old;
        return NULL;
    }
    bool same = lim.refused_pending && ptr == lim.refused_ptr &&
                osize == lim.refused_osize && nsize == lim.refused_nsize;
    if (lim.refused_pending) {
        /* Lua retries a refused request once, after a full collection. Any
         * other request means there was no retry: the refusal was final. */
        lim.refused_pending = false;
        if (!same)
            trip_memory();
    }
    if (nsize > old && (uint64_t)(lim.used + (nsize - old)) > lim.cap) {
        if (same) {
            trip_memory();
        } else {
            lim.refused_pending = true;
            lim.refused_ptr = ptr;
            lim.refused_osize = osize;
            lim.refused_nsize = nsize;
            /* lauxlib's buffers call the allocator directly and never retry:
             * if the refusal still stands at the next instruction, it is
             * final (see hook), even when no other allocation follows. */
            if (lim.main) {
                lim.recheck = true;
                lua_sethook(lim.main, hook, LUA_MASKCOUNT, 1);
            }
        }
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p)
        return NULL;   /* the system is out of memory: Lua raises a memory error */
    lim.used = lim.used - old + nsize;
    return p;
}

size_t bq_limits_memory_used(void) { return lim.used; }
uint64_t bq_limits_memory_cap(void) { return lim.cap; }
bool bq_limits_memory_refused(void) { return lim.refused_final || lim.refused_pending; }

/* --- the hook --------------------------------------------------------------- */

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    if (lim.refused_pending) {
        /* An instruction runs: a retry would have come already. */
        lim.refused_pending = false;
        trip_memory();
    }
    if (lim.recheck) {
        lim.recheck = false;
        if (!bq_cancelled() && lim.budget != 0)   /* the retry succeeded: back to normal */
            lua_sethook(lim.main, hook, LUA_MASKCOUNT, HOOK_COUNT);
    }
    if (bq_cancelled()) {
        /* Stay armed: fire at every instruction of this thread and of the
         * main thread, so nothing between here and the host catches it for long. */
        lua_sethook(L, hook, LUA_MASKCOUNT, 1);
        if (lim.main && lim.main != L)
            lua_sethook(lim.main, hook, LUA_MASKCOUNT, 1);
        bq_limits_raise(L);
    }
    if (lim.budget >= 0 && lim.budget-- == 0) {
        lim.budget = 0;
        /* Stay armed, so a pcall loop in the code cannot outlive its budget. */
        lua_sethook(L, hook, LUA_MASKCOUNT, 1);
        lua_pushlightuserdata(L, (void *)&budget_sentinel);
        lua_error(L);
    }
}

void bq_limits_attach(lua_State *L)
{
    lim.main = L;
    lua_sethook(L, hook, LUA_MASKCOUNT, HOOK_COUNT);
}

int bq_limits_raise(lua_State *L)
{
    /* Armed at every instruction from now on, so a pcall around os.exit or
     * task.sleep does not buy the script another 1000 instructions. */
    lua_sethook(L, hook, LUA_MASKCOUNT, 1);
    if (lim.main && lim.main != L)
        lua_sethook(lim.main, hook, LUA_MASKCOUNT, 1);
    lua_pushlightuserdata(L, (void *)&limit_sentinel);
    return lua_error(L);
}

void bq_limits_check(lua_State *L)
{
    if (bq_cancelled())
        bq_limits_raise(L);
}

bool bq_limits_is_sentinel(lua_State *L, int idx)
{
    return lua_touserdata(L, idx) == (void *)&limit_sentinel && lua_islightuserdata(L, idx);
}

int bq_limits_exit(lua_State *L, int code)
{
    if (bq_cancel_set(BQ_CANCEL_EXIT))
        lim.exit_code = code;
    return bq_limits_raise(L);
}

int bq_limits_exit_code(void) { return lim.exit_code; }

void bq_limits_set_budget(long instructions)
{
    lim.budget = instructions > 0 ? instructions / HOOK_COUNT + 1 : -1;
    if (lim.main && !bq_cancelled())     /* an exhausted budget armed it at 1 */
        lua_sethook(lim.main, hook, LUA_MASKCOUNT, HOOK_COUNT);
}

bool bq_limits_budget_exhausted(void) { return lim.budget == 0; }

double bq_limits_remaining(void)
{
    if (lim.deadline == 0)
        return -1;
    double left = lim.deadline - bq_monotonic();
    return left > 0 ? left : 0;
}

/* --- describing a trip ------------------------------------------------------ */

static void human_size(char *buf, size_t len, uint64_t n)
{
    static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;
    while (u < 4 && n >= 1024 && n % 1024 == 0) {
        n /= 1024;
        u++;
    }
    snprintf(buf, len, "%llu %s", (unsigned long long)n, units[u]);
}

static uint64_t configured_cap;

const char *bq_limits_describe(char *buf, size_t len)
{
    char size[32];
    switch (bq_cancel_get()) {
    case BQ_CANCEL_MEMORY:
        human_size(size, sizeof size, configured_cap);
        snprintf(buf, len, "memory limit of %s exceeded (--memory-limit)", size);
        break;
    case BQ_CANCEL_TIMEOUT:
        snprintf(buf, len, "time limit of %g s exceeded (--timeout)", lim.timeout);
        break;
    case BQ_CANCEL_SIGNAL:
        snprintf(buf, len, "stopped by signal %d (%s)", bq_cancel_signal(),
                 strsignal(bq_cancel_signal()));
        break;
    case BQ_CANCEL_EXIT:
        snprintf(buf, len, "os.exit(%d)", lim.exit_code);
        break;
    default:
        snprintf(buf, len, "no limit");
    }
    return buf;
}

int bq_limits_trip_exit_code(void)
{
    switch (bq_cancel_get()) {
    case BQ_CANCEL_MEMORY:
    case BQ_CANCEL_TIMEOUT:
        return 4;
    case BQ_CANCEL_SIGNAL:
        return 128 + bq_cancel_signal();
    case BQ_CANCEL_EXIT:
        return lim.exit_code;
    default:
        return 0;
    }
}

/* --- signals and the watchdog ---------------------------------------------- */

static void on_signal(int signo)
{
    if (bq_cancel_get() == BQ_CANCEL_SIGNAL)
        atomic_store(&lim.urgent, 1);    /* a second Ctrl-C: stop now */
    bq_cancel_set_signal(signo);
}

void bq_limits_on_hard_stop(void (*fn)(void))
{
    for (int i = 0; i < lim.n_on_hard_stop; i++)
        if (lim.on_hard_stop[i] == fn)
            return;
    if (lim.n_on_hard_stop < (int)(sizeof lim.on_hard_stop / sizeof *lim.on_hard_stop))
        lim.on_hard_stop[lim.n_on_hard_stop++] = fn;
}

void bq_limits_enter_cleanup(void) { atomic_store(&lim.cleanup, true); }

static _Noreturn void hard_stop(void)
{
    char why[160], line[200];
    bq_limits_describe(why, sizeof why);
    int n = snprintf(line, sizeof line, "bqlua: %s; the script did not stop in time, ending it\n", why);
    if (write(2, line, (size_t)n) < 0) { /* nothing left to tell */ }
    for (int i = 0; i < lim.n_on_hard_stop; i++)
        lim.on_hard_stop[i]();
    _exit(bq_cancel_get() == BQ_CANCEL_NONE ? 4 : bq_limits_trip_exit_code());
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    double tripped_at = 0, cleanup_at = 0;
    for (;;) {
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        double now = bq_monotonic();
        if (lim.deadline && now >= lim.deadline)
            bq_cancel_set(BQ_CANCEL_TIMEOUT);
        if (atomic_load(&lim.urgent))
            hard_stop();
        if (!bq_cancelled())
            continue;
        if (!tripped_at)
            tripped_at = now;
        if (atomic_load(&lim.cleanup)) {
            if (!cleanup_at)
                cleanup_at = now;
            if (now - cleanup_at > BQ_LIMITS_CLEANUP_GRACE)
                hard_stop();
        } else if (now - tripped_at > BQ_LIMITS_GRACE) {
            hard_stop();
        }
    }
    return NULL;
}

void bq_limits_init(uint64_t memory_cap, double timeout)
{
    lim.cap = configured_cap = memory_cap;
    lim.timeout = timeout;
    lim.deadline = timeout > 0 ? bq_monotonic() + timeout : 0;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    /* The watchdog must not take the signals: block them while creating it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    if (pthread_create(&lim.watchdog, &attr, watchdog_main, NULL) != 0) {
        fputs("bqlua: cannot start the watchdog thread\n", stderr);
        exit(1);
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}
