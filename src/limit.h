/* limits: the memory cap, the deadline, signals and the watchdog (SPEC §2).
 *
 * Once a limit trips (bq_cancel_set in util.h), the instruction-count hook
 * raises a sentinel error at every chance it gets, so pcall, coroutines,
 * message handlers and __close handlers cannot swallow it: the script
 * unwinds to the host, which closes handles and exits with the limit's code.
 * What no hook reaches (a pattern-matching blowup, a stuck C call) is ended
 * by the watchdog thread a grace period after the trip. */
#ifndef BQ_LIMIT_H
#define BQ_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

/* Seconds the script gets to unwind after a trip before the watchdog acts. */
#define BQ_LIMITS_GRACE 3.0
/* Seconds cleanup (closing handles, aborting uploads) gets after that. */
#define BQ_LIMITS_CLEANUP_GRACE 5.0

/* Installs SIGTERM/SIGINT handlers (they only set the flag), ignores SIGPIPE,
 * and starts the watchdog. timeout 0 = no deadline. */
void bq_limits_init(uint64_t memory_cap, double timeout);

/* The lua_Alloc for the script's state: refuses growth beyond the cap,
 * never refuses a free or a shrink. */
void *bq_limits_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
size_t bq_limits_memory_used(void);
uint64_t bq_limits_memory_cap(void);
/* True when an allocation was refused and not satisfied by a retry. */
bool bq_limits_memory_refused(void);

/* Installs the instruction-count hook on L (threads created later inherit it). */
void bq_limits_attach(lua_State *L);

/* Seconds left before the deadline, or a negative number when there is none. */
double bq_limits_remaining(void);

/* Raises the limit sentinel if a limit has tripped; returns otherwise.
 * For C functions that wait (task.sleep, network calls). May raise. */
void bq_limits_check(lua_State *L);
/* Raises the limit sentinel unconditionally. Never returns. */
int bq_limits_raise(lua_State *L);
/* True if the value at idx is the limit sentinel. */
bool bq_limits_is_sentinel(lua_State *L, int idx);

/* os.exit(code): records the code and unwinds like a limit. Never returns. */
int bq_limits_exit(lua_State *L, int code);
int bq_limits_exit_code(void);

/* A budget of VM instructions for host-run user code (an error object's
 * __tostring): past it the hook raises; 0 clears it. Does not trip a limit. */
void bq_limits_set_budget(long instructions);
bool bq_limits_budget_exhausted(void);

/* The host has unwound and is cleaning up: the watchdog allows cleanup
 * BQ_LIMITS_CLEANUP_GRACE more seconds. */
void bq_limits_enter_cleanup(void);

/* Registers fn for the watchdog to call, from its thread, just before a hard
 * stop: a last chance to abort uploads. Each fn must be thread-safe and
 * brief; registering the same fn twice is a no-op; up to four. */
void bq_limits_on_hard_stop(void (*fn)(void));

/* One line naming the limit that was hit, e.g. "memory limit of 256 MiB
 * exceeded (--memory-limit)"; and the process exit code for the trip. */
const char *bq_limits_describe(char *buf, size_t len);
int bq_limits_trip_exit_code(void);

#endif
