/*
 * rlboard: a shared-memory rate-limit board for worker processes on one
 * host.
 *
 * A board is a POSIX shared-memory segment that contains a fixed ring of
 * rate-limit events. A worker that receives "slow down" from an API records
 * an event; every worker checks the board before each request. Writers
 * serialize on one robust process-shared mutex inside the segment. Readers
 * (check, list, stats) take no lock and write nothing to shared memory.
 *
 * Conventions for every function below:
 * - The return value is 0 (or a documented non-negative value) on success
 *   and a negative error code on failure: a negated errno value for system
 *   errors, or one of the RLB_E* codes, which lie in a reserved range below
 *   RLB_ERROR_BASE. rlb_strerror() and rlb_error_name() describe any code.
 * - A function that fails with an input error changes nothing.
 * - The library never writes to stdout or stderr. Diagnostics go to the
 *   callback installed with rlb_set_log_callback().
 * - Strings are NUL-terminated UTF-8 or ASCII. Lengths are in bytes and
 *   exclude the terminator.
 * - Expiry decisions use CLOCK_MONOTONIC, so every process that shares a
 *   board must share one time namespace (the default on Linux).
 */
#ifndef RLBOARD_H
#define RLBOARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version, kept only here. The build system reads these three lines. */
#define RLBOARD_VERSION_MAJOR 1
#define RLBOARD_VERSION_MINOR 0
#define RLBOARD_VERSION_PATCH 0

#define RLBOARD_STRINGIFY_(x) #x
#define RLBOARD_STRINGIFY(x) RLBOARD_STRINGIFY_(x)
#define RLBOARD_VERSION_STRING                                                 \
  RLBOARD_STRINGIFY(RLBOARD_VERSION_MAJOR)                                     \
  "." RLBOARD_STRINGIFY(RLBOARD_VERSION_MINOR) "." RLBOARD_STRINGIFY(          \
      RLBOARD_VERSION_PATCH)
#define RLBOARD_VERSION_NUMBER                                                 \
  (RLBOARD_VERSION_MAJOR * 10000 + RLBOARD_VERSION_MINOR * 100 +               \
   RLBOARD_VERSION_PATCH)

#if defined(_WIN32)
#define RLB_EXPORT
#elif defined(__GNUC__)
#define RLB_EXPORT __attribute__((visibility("default")))
#else
#define RLB_EXPORT
#endif

/* Limits. Inputs beyond them are rejected, never truncated. */
#define RLB_NAME_MAX 200           /* board name, without the leading slash */
#define RLB_CODE_MAX 31            /* error_code */
#define RLB_MODEL_MAX 95           /* model */
#define RLB_JOB_MAX 1024           /* job id; only its hash is stored */
#define RLB_ID_LEN 36              /* event id, a lowercase UUID */
#define RLB_HASH_LEN 16            /* source_job_hash, lowercase hex */
#define RLB_DURATION_MAX 2592000.0 /* seconds (30 days) */
#define RLB_CAPACITY_MIN 1
#define RLB_CAPACITY_MAX 1048576
#define RLB_CAPACITY_DEFAULT 4096
#define RLB_TTL_FACTOR_DEFAULT 0.8
#define RLB_TTL_FACTOR_MAX 4.0
#define RLB_MODE_DEFAULT 0600
#define RLB_JITTER_MS_DEFAULT 500
#define RLB_JITTER_MS_MAX 600000
#define RLB_PROBE_TIMEOUT_MS_DEFAULT 30000
#define RLB_PROBE_TIMEOUT_MS_MAX 3600000
#define RLB_DEFAULT_BOARD "rlboard"

/* Results of rlb_probe_acquire() other than errors. */
#define RLB_PROBE_TAKEN 0
#define RLB_PROBE_LIMITED 1
#define RLB_PROBE_NOT_NEEDED 2

/*
 * Error codes. System errors are negated errno values (-ENOENT for a board
 * that does not exist, -EACCES for a board of another user, -ENOSPC when
 * /dev/shm is full). The library's own codes follow.
 */
#define RLB_ERROR_BASE (-32000)
#define RLB_ERRORS(X)                                                          \
  X(RLB_EINVALNAME, -32001, "invalid board name")                              \
  X(RLB_EINVALCODE, -32002, "invalid error code")                              \
  X(RLB_EINVALMODEL, -32003, "invalid model")                                  \
  X(RLB_EINVALJOB, -32004, "invalid job id")                                   \
  X(RLB_EINVALDURATION, -32005, "invalid duration")                            \
  X(RLB_EINVALCAPACITY, -32006, "invalid capacity")                            \
  X(RLB_EINVALTTL, -32007, "invalid TTL factor")                               \
  X(RLB_EINVALMODE, -32008, "invalid mode")                                    \
  X(RLB_EINVALARG, -32009, "invalid argument")                                 \
  X(RLB_ENOTBOARD, -32010, "segment is not an rlboard board")                  \
  X(RLB_ELAYOUT, -32011, "board has another layout")                           \
  X(RLB_ECORRUPT, -32012, "board is corrupt")                                  \
  X(RLB_ENOTREADY, -32013, "board creation did not finish in time")            \
  X(RLB_ELOCKTIMEOUT, -32014, "timed out waiting for the board lock")          \
  X(RLB_ENOTRECOVERABLE, -32015, "board lock is not recoverable")              \
  X(RLB_EBUSY, -32016, "board changed too often to read")                      \
  X(RLB_ENOTFOUND, -32017, "no matching event")                                \
  X(RLB_ETIMEDOUT, -32018, "timed out")                                        \
  X(RLB_EINVALID, -32019, "invalid event id")                                  \
  X(RLB_EINVALTIME, -32020, "invalid time")                                    \
  X(RLB_ENOTSQLITE, -32021, "file is not a SQLite database")                   \
  X(RLB_ENOTABLE, -32022, "file has no rate_limit_events table")               \
  X(RLB_ESQLITE, -32023, "SQLite error")                                       \
  X(RLB_EPROBEHELD, -32024, "probe is held by another worker")                 \
  X(RLB_ENOPROBE, -32025, "probe is not held by this token")                   \
  X(RLB_EINVALRETRY, -32026, "invalid Retry-After value")                      \
  X(RLB_EREMOVED, -32027, "board name was removed")                            \
  X(RLB_EEXIST, -32028, "event id already on the board")

enum rlb_error {
#define RLB_ERROR_ENUM_(name, value, message) name = value,
  RLB_ERRORS(RLB_ERROR_ENUM_)
#undef RLB_ERROR_ENUM_
};

/* An opaque handle to an attached board, owned by one process. */
typedef struct rlb_board rlb_board;

/* rlb_options.flags */
#define RLB_CREATE 0x1 /* create the board when it does not exist */
#define RLB_EXCLUSIVE                                                          \
  0x2 /* with RLB_CREATE: fail with -EEXIST if it exists                       \
       */

/*
 * Options for rlb_open(). Initialize with rlb_options_init(). Capacity, TTL
 * factor, mode, jitter and probe timeout apply only when this call creates
 * the board. An existing board keeps the settings it was created with.
 */
typedef struct rlb_options {
  uint32_t flags;            /* RLB_CREATE, RLB_EXCLUSIVE */
  uint32_t capacity;         /* events, RLB_CAPACITY_MIN..MAX */
  double ttl_factor;         /* expiry = factor * duration, (0, 4] */
  uint32_t mode;             /* permission bits, owner rw required */
  uint32_t jitter_ms;        /* release window of rlb_wait() */
  uint32_t probe_timeout_ms; /* lifetime of an unreleased probe */
  uint32_t lock_timeout_ms;  /* bound on waiting for the write lock */
} rlb_options;

/* One event as copied out of the board. */
typedef struct rlb_event {
  char id[RLB_ID_LEN + 1];
  char error_code[RLB_CODE_MAX + 1];
  char model[RLB_MODEL_MAX + 1]; /* empty when has_model is 0 */
  int has_model;
  int64_t recorded_at_us; /* wall clock, microseconds since the epoch */
  int64_t expires_at_us;  /* wall clock, microseconds since the epoch */
  char source_job_hash[RLB_HASH_LEN + 1];
  double duration_seconds; /* as passed by the caller, not scaled */
  double seconds_left;     /* by CLOCK_MONOTONIC at the time of the read */
} rlb_event;

/* Counters and settings of a board. */
typedef struct rlb_stats {
  uint32_t capacity;
  uint32_t live;           /* unexpired events */
  uint32_t stored;         /* occupied slots, expired ones included */
  uint64_t records;        /* successful records since creation */
  uint64_t evictions;      /* live events evicted by a record on a full board */
  uint64_t expired_reused; /* expired events overwritten by a record */
  uint64_t cleaned;        /* expired events removed by cleanup */
  uint64_t cleared;        /* events removed early by rlb_clear*() */
  uint64_t restored;       /* events added by rlb_restore() */
  uint64_t recoveries;     /* repairs after a writer died holding the lock */
  uint64_t board_id;       /* random, chosen once at initialization */
  int64_t created_at_us;   /* wall clock */
  double ttl_factor;
  uint32_t jitter_ms;
  uint32_t probe_timeout_ms;
  uint32_t layout_version;
  uint32_t waiters; /* processes blocked in rlb_wait() */
  uint64_t segment_bytes;
  int name_removed; /* 1 when the board's name no longer exists */
  int probe_held;   /* 1 while an unexpired probe is held */
  uint32_t mode;    /* the segment's permission bits, such as 0600 */
} rlb_stats;

/* A log callback. level is one of the RLB_LOG_* values. */
enum { RLB_LOG_ERROR = 0, RLB_LOG_WARNING = 1, RLB_LOG_INFO = 2 };
typedef void (*rlb_log_fn)(void *context, int level, const char *message);

/*
 * Installs a process-wide log callback, or removes it when fn is NULL. The
 * library reports failed system calls, repairs and skipped rows through it.
 * The callback may run on any thread that calls into the library.
 */
RLB_EXPORT void rlb_set_log_callback(rlb_log_fn fn, void *context);

/* Returns a static message for any return code of this library. */
RLB_EXPORT const char *rlb_strerror(int code);

/* Returns the symbolic name of a code, such as "RLB_EINVALDURATION" or
 * "ENOENT". */
RLB_EXPORT const char *rlb_error_name(int code);

/* Returns RLBOARD_VERSION_STRING of the library loaded at run time. */
RLB_EXPORT const char *rlb_version(void);

/* Returns RLBOARD_VERSION_NUMBER of the library loaded at run time. */
RLB_EXPORT int rlb_version_number(void);

/* Fills opts with the defaults: RLB_CREATE, RLB_CAPACITY_DEFAULT, TTL factor
 * 0.8, mode 0600, jitter 500 ms, probe timeout 30 s, lock timeout 10 s. */
RLB_EXPORT void rlb_options_init(rlb_options *opts);

/*
 * Checks a board name: 1 to RLB_NAME_MAX characters from [A-Za-z0-9._-],
 * optionally after one leading slash, and neither "." nor "..".
 * Returns 0 or RLB_EINVALNAME.
 */
RLB_EXPORT int rlb_name_check(const char *name);

/*
 * Opens the board called name, creating it when opts has RLB_CREATE (opts
 * NULL means the defaults of rlb_options_init()). Creation is race-free:
 * among processes that open one name at once exactly one initializes the
 * segment, and the others wait for it, up to 5 s. A creator that died
 * before it finished is detected by the next opener, which initializes the
 * segment again. The memory is reserved with posix_fallocate(), so a full
 * /dev/shm fails with -ENOSPC and leaves no name behind. The mode is set
 * with fchmod(), whatever the umask.
 *
 * Errors: RLB_EINVALNAME, RLB_EINVALCAPACITY, RLB_EINVALTTL, RLB_EINVALMODE,
 * RLB_EINVALARG; -ENOENT without RLB_CREATE; -EEXIST with RLB_EXCLUSIVE;
 * -EACCES; -ENOSPC; -ENOMEM; RLB_ENOTBOARD, RLB_ELAYOUT or RLB_ECORRUPT for
 * a segment of another kind or layout; RLB_ENOTREADY. May block up to 5 s.
 */
RLB_EXPORT int rlb_open(rlb_board **board, const char *name,
                        const rlb_options *opts);

/* Detaches from the board and frees the handle. The board stays. Accepts
 * NULL. Returns 0. */
RLB_EXPORT int rlb_close(rlb_board *board);

/*
 * Removes the board's name. Attached processes keep working on the old
 * segment until they close it; the next rlb_open() with RLB_CREATE makes a
 * new, empty board. A segment of another program under the name is left
 * alone. Errors: RLB_EINVALNAME, -ENOENT, -EACCES, RLB_ENOTBOARD.
 */
RLB_EXPORT int rlb_unlink(const char *name);

/* Copies the board's name, with its leading slash, into a static buffer of
 * the handle. */
RLB_EXPORT const char *rlb_name(const rlb_board *board);

/*
 * Writes the first 16 lowercase hex digits of SHA-256 over job followed by
 * one colon into out, NUL-terminated. Errors: RLB_EINVALJOB.
 */
RLB_EXPORT int rlb_job_hash(const char *job, char out[RLB_HASH_LEN + 1]);

/*
 * Records an event: error_code, duration in seconds, the job that saw the
 * limit and an optional model (NULL for none). The event expires after
 * ttl_factor * duration seconds; duration_seconds keeps the full value.
 * When id is not NULL, the new event's id is written there.
 *
 * A record never evicts a live event while a free or expired slot exists.
 * On a full board it evicts the event that expires soonest and counts it.
 *
 * Errors: RLB_EINVALCODE, RLB_EINVALMODEL (empty or too long),
 * RLB_EINVALJOB, RLB_EINVALDURATION (not a finite number in
 * (0, RLB_DURATION_MAX]), RLB_ELOCKTIMEOUT, RLB_ENOTRECOVERABLE. Takes the
 * write lock, so it may block up to the lock timeout.
 */
RLB_EXPORT int rlb_record(rlb_board *board, const char *error_code,
                          double duration_seconds, const char *job,
                          const char *model, char id[RLB_ID_LEN + 1]);

/*
 * Checks whether a matching event is live. NULL for error_code or model
 * matches any value; a given model does not match events without one.
 * Returns 1 when limited, storing the seconds left on the matching event
 * that expires last in *seconds_left (when not NULL), and 0 when clear,
 * storing 0. Costs O(1) in capacity and in the number of live events.
 * Takes no lock and writes nothing to shared memory. While a writer is
 * changing the board it retries a bounded number of times, then scans the
 * slots instead of waiting (O(capacity), for example after a writer died
 * and before the next writer repairs the board).
 * Errors: RLB_EINVALCODE, RLB_EINVALMODEL.
 */
RLB_EXPORT int rlb_check(rlb_board *board, const char *error_code,
                         const char *model, double *seconds_left);

/*
 * Lists the live events that match the filters (NULL matches any value),
 * the one that expires last first. On success *events points to *count
 * events, which the caller frees with rlb_events_free(). With no match
 * *events is NULL and *count 0. Takes no lock; a slot that a writer is
 * changing is read again, and skipped if it stays half-written.
 * Errors: RLB_EINVALCODE, RLB_EINVALMODEL, -ENOMEM.
 */
RLB_EXPORT int rlb_list(rlb_board *board, const char *error_code,
                        const char *model, rlb_event **events, size_t *count);

/* Frees an array returned by rlb_list(). Accepts NULL. */
RLB_EXPORT void rlb_events_free(rlb_event *events);

/*
 * Removes expired events and stores how many in *removed (when not NULL).
 * Errors: RLB_ELOCKTIMEOUT, RLB_ENOTRECOVERABLE. Takes the write lock.
 */
RLB_EXPORT int rlb_cleanup(rlb_board *board, size_t *removed);

/* Fills *stats. Takes no lock. Errors: RLB_EINVALARG. */
RLB_EXPORT int rlb_stats_get(rlb_board *board, rlb_stats *stats);

/* A violation found by rlb_verify(), one line of text. */
typedef void (*rlb_violation_fn)(void *context, const char *message);

/*
 * Checks every invariant of the board under the write lock: header fields,
 * every sequence counter even, the index agreeing with the slots, the
 * counts. Reports each violation to fn (when not NULL) and returns their
 * number, 0 for a consistent board. A board whose name was removed counts as
 * one violation. Errors: RLB_EINVALARG, -ENOMEM, RLB_ELOCKTIMEOUT,
 * RLB_ENOTRECOVERABLE. Takes the write lock, so it may block up to the lock
 * timeout, and repairs the board first when a writer died holding it.
 */
RLB_EXPORT int rlb_verify(rlb_board *board, rlb_violation_fn fn, void *context);

/*
 * Removes the live event with this id at once and wakes every waiter.
 * Errors: RLB_EINVALID, RLB_ENOTFOUND, RLB_ELOCKTIMEOUT.
 */
RLB_EXPORT int rlb_clear_id(rlb_board *board, const char *id);

/*
 * Removes every live event that matches the filters (NULL matches any) and
 * wakes every waiter. Stores the number removed in *removed.
 * Errors: RLB_EINVALCODE, RLB_EINVALMODEL, RLB_ELOCKTIMEOUT.
 */
RLB_EXPORT int rlb_clear(rlb_board *board, const char *error_code,
                         const char *model, size_t *removed);

/*
 * Blocks until no matching event is live and the board's probe is free,
 * then returns 0. A wait that had to block then sleeps a random delay in
 * [0, jitter_ms) milliseconds, so that waiters released together spread
 * out, and looks at the board again: a new event or a probe taken in the
 * meantime sends it back to waiting. A wait that finds the board clear
 * returns at once, without the delay. jitter_ms < 0 uses the board's
 * setting.
 *
 * The board has one probe (see rlb_probe_acquire()). While it is held and
 * before its deadline, every wait blocks, whatever its filters, because
 * the waiter's own rlb_probe_acquire() would fail with RLB_EPROBEHELD.
 *
 * Sleeps on a futex in the segment that writers bump, and does not poll.
 * Each sleep ends at the latest matching expiry, the probe's deadline or
 * the timeout. timeout_seconds < 0 or infinite waits without bound, and 0
 * only looks. Returns RLB_ETIMEDOUT when the timeout passed while the wait
 * still had to block, and -EINTR when a signal handler ran during a sleep,
 * so that the caller can act on the signal and call again.
 * Errors: RLB_EINVALARG (timeout NaN, jitter_ms over RLB_JITTER_MS_MAX),
 * RLB_EINVALCODE, RLB_EINVALMODEL, RLB_ETIMEDOUT, -EINTR.
 */
RLB_EXPORT int rlb_wait(rlb_board *board, const char *error_code,
                        const char *model, double timeout_seconds,
                        int jitter_ms);

/*
 * Takes the board's half-open probe: the right to send the first request
 * after a limit is over while the other workers wait in rlb_wait(). The
 * board has one probe for all keys. It is taken when no event matching
 * (error_code, model) is live and the probe is free or past its deadline,
 * probe_timeout_ms after it was taken. Returns RLB_PROBE_TAKEN (0) and
 * stores a non-zero token for rlb_probe_release() in *token, or
 * RLB_PROBE_LIMITED (1) without a token while a matching event is still
 * live. Returns RLB_PROBE_NOT_NEEDED (2) and stores 0 when a probe of the
 * same key succeeded after the key's last event expired: the limit is known
 * to be over, so the caller sends without a probe. That is how the waiters
 * released by a success all resume at once. A prober that dies holds the
 * probe until its deadline and no longer.
 *
 * A worker that found its key limited recovers like this:
 *
 *   for (;;) {
 *     if (rlb_wait(board, NULL, model, -1, -1) != 0)
 *       break;
 *     rc = rlb_probe_acquire(board, NULL, model, &token);
 *     if (rc == RLB_PROBE_NOT_NEEDED)
 *       break;  // another worker's probe went through
 *     if (rc == RLB_PROBE_LIMITED || rc == RLB_EPROBEHELD)
 *       continue;  // rlb_wait() blocks until the prober reports
 *     if (rc != RLB_PROBE_TAKEN)
 *       break;
 *     if (send_request() == 429) {
 *       rlb_record(board, "E101", retry_after, job, model, NULL);
 *       rlb_probe_release(board, token, 0);
 *       continue;
 *     }
 *     rlb_probe_release(board, token, 1);
 *     break;  // the limit is over: back to one rlb_check() per request
 *   }
 *
 * Errors: RLB_EINVALARG, RLB_EINVALCODE, RLB_EINVALMODEL, RLB_EPROBEHELD,
 * RLB_ELOCKTIMEOUT, RLB_ENOTRECOVERABLE. Takes the write lock.
 */
RLB_EXPORT int rlb_probe_acquire(rlb_board *board, const char *error_code,
                                 const char *model, uint64_t *token);

/*
 * Releases the probe taken with token and wakes every waiter. success
 * non-zero: the request went through, so the waiters resume after their
 * jitter and rlb_probe_acquire() for the probe's key returns
 * RLB_PROBE_NOT_NEEDED until the key's next event. success 0: the prober has
 * recorded the new limit with rlb_record() before this call, so the waiters
 * wait for it; a failure released while no event of the probe's key is live is
 * logged as a warning. A probe past its deadline can still be released until
 * another worker takes it. Errors: RLB_EINVALARG, RLB_ENOPROBE (token 0, or not
 * the current probe's), RLB_ELOCKTIMEOUT, RLB_ENOTRECOVERABLE.
 */
RLB_EXPORT int rlb_probe_release(rlb_board *board, uint64_t token, int success);

/*
 * Converts an HTTP Retry-After value to seconds: whole or decimal seconds,
 * an IMF-fixdate, an RFC 850 date or an asctime date, or with is_ms set a
 * retry-after-ms value in milliseconds. Past dates give 0; values over
 * RLB_DURATION_MAX give RLB_DURATION_MAX. now_us is the wall clock in
 * microseconds for dates, or 0 for the current time.
 * Errors: RLB_EINVALRETRY.
 */
RLB_EXPORT int rlb_parse_retry_after(const char *value, int is_ms,
                                     int64_t now_us, double *seconds);

/* The outcome of rlb_snapshot(). */
typedef struct rlb_snapshot_result {
  size_t events;      /* rows written */
  double duration_ms; /* wall time of the whole snapshot */
} rlb_snapshot_result;

/*
 * Writes the events live at one moment into the rate_limit_events table of
 * the SQLite file at path, replacing the table's rows in one transaction.
 * Creates the file, the table and its indexes when missing; leaves other
 * tables alone. Uses WAL mode and a 30 s busy timeout, so a writer holding
 * the file delays the snapshot. A file that is not a SQLite database is left
 * unchanged. Errors: RLB_EINVALARG, RLB_ENOTSQLITE, RLB_ESQLITE,
 * RLB_ETIMEDOUT (the file stayed locked past the busy timeout), a negated
 * errno such as -ENOENT or -EACCES when the file cannot be opened, -ENOMEM.
 * May block up to the busy timeout.
 */
RLB_EXPORT int rlb_snapshot(rlb_board *board, const char *path,
                            rlb_snapshot_result *result);

/* Called by rlb_restore() for each skipped row. */
typedef void (*rlb_row_fn)(void *context, const char *id, const char *reason);

/* The outcome of rlb_restore(). */
typedef struct rlb_restore_result {
  size_t restored;
  size_t expired;
  size_t duplicate;
  size_t invalid;
} rlb_restore_result;

/*
 * Adds every unexpired row of the file's rate_limit_events table whose id is
 * not on the board, keeping id, times, hash and duration. Expired rows are
 * counted and skipped; invalid rows are reported to fn with their id and
 * the reason, counted and skipped. A row without a text id is reported as
 * "(row N)", N counting from 1. Never removes or shortens a live event: a
 * row that would need a live event evicted is reported with the reason
 * "board is full of live events" and counted as invalid. Opens the file
 * read-only and never creates it.
 * Errors: RLB_EINVALARG, RLB_ENOTSQLITE, RLB_ENOTABLE, RLB_ESQLITE (such as
 * a table without the expected columns), RLB_ETIMEDOUT, -ENOENT, -EISDIR,
 * -ENOMEM, RLB_ELOCKTIMEOUT; on an error the board is unchanged.
 */
RLB_EXPORT int rlb_restore(rlb_board *board, const char *path,
                           rlb_restore_result *result, rlb_row_fn fn,
                           void *context);

/*
 * Parses a timestamp in any form the existing SQLite store's files hold:
 * ISO 8601 with "T" or a space, with or without a fraction, with an offset
 * such as "+00:00" or "+05:30", with "Z", or naive (taken as UTC). Stores
 * microseconds since the epoch. Errors: RLB_EINVALTIME.
 */
RLB_EXPORT int rlb_parse_time(const char *text, int64_t *us);

/* Formats microseconds since the epoch as the existing store writes them:
 * "2026-12-04T15:20:23.123456+00:00", the fraction left out when zero.
 * out must hold 40 bytes. Returns 0 or RLB_EINVALTIME. */
RLB_EXPORT int rlb_format_time(int64_t us, char out[40]);

#ifdef __cplusplus
}
#endif

#endif /* RLBOARD_H */
