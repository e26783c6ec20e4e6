/*
 * Declarations shared by the files of rlboard-bench: the batch timing
 * harness, the registry of boards, files and child processes removed at
 * exit or on a signal, and the SQLite baseline that reproduces the store
 * rlboard replaces.
 */
#ifndef RLB_BENCH_H
#define RLB_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Returns CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);

/* Returns CLOCK_REALTIME in microseconds since the epoch. */
int64_t bench_wall_us(void);

/* Prints a one-line error to stderr, prefixed with the program name. */
void bench_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * One timed operation. run() performs n calls and returns 0, or -1 after it
 * has printed an error. prepare() runs before every batch, outside the
 * timed region, and may be NULL. max_calls bounds the calls in one batch
 * (0 for no bound).
 */
typedef struct bench_op {
  const char *name;
  int (*prepare)(void *context);
  int (*run)(void *context, long n);
  void *context;
  long max_calls;
} bench_op;

/* How many batches to time and how long each batch should take. */
typedef struct bench_plan {
  int batches;
  int64_t batch_ns;
} bench_plan;

/*
 * Times op in batches: a calibration that doubles the batch size until a
 * batch takes at least 1 ms and scales it to plan->batch_ns, one warm-up
 * batch, then plan->batches timed batches. Stores the median of the
 * per-call times (batch time / calls) in *ns_per_call. Returns 0 or -1.
 */
int bench_measure(const bench_op *op, const bench_plan *plan,
                  double *ns_per_call);

/*
 * Times count operations as bench_measure() does, interleaving their
 * batches, so that the ratios between them hold up when the machine's load
 * changes during the run. Stores one median per operation in ns_per_call.
 */
int bench_measure_group(const bench_op *ops, int count, const bench_plan *plan,
                        double *ns_per_call);

/* Returns the median of n values, reordering them. n must be positive. */
double bench_median(double *values, size_t n);

/*
 * Creates the private temporary directory under parent and installs the
 * handlers that clean up on SIGINT, SIGTERM and SIGHUP. Returns 0 or -1.
 */
int bench_cleanup_init(const char *parent);

/*
 * Returns the path of name inside the temporary directory and registers it
 * with the -wal, -shm and -journal files SQLite may create beside it. The
 * string is owned by the registry. Returns NULL when the registry is full.
 */
const char *bench_temp_path(const char *name);

/*
 * Writes a new board name, unique to this process, into out and registers
 * it, so that the board is unlinked at exit or on a signal even when the
 * program stops half-way. Returns 0 or -1 when the registry is full.
 */
int bench_board_name(char *out, size_t size);

/* Unlinks a registered board now and removes it from the registry. */
void bench_board_remove(const char *name);

/* Registers a child process, killed with SIGKILL on a signal. */
void bench_child_add(pid_t pid);

/* Removes a reaped child process from the registry. */
void bench_child_remove(pid_t pid);

/* Resets the signal handlers to their defaults. Each child calls it first. */
void bench_child_reset_signals(void);

/* Unlinks every registered board and temporary file, removes the
 * temporary directory. */
void bench_cleanup_all(void);

/*
 * The SQLite baseline: the existing store's table and indexes in a WAL file,
 * with statements prepared once and reused.
 */
typedef struct bench_sqlite bench_sqlite;

/* Opens or creates the file at path with the store's schema, WAL mode, the
 * default synchronous setting and a 30 s busy timeout. */
int bench_sqlite_open(bench_sqlite **store, const char *path);
void bench_sqlite_close(bench_sqlite *store);

/* Returns the file's PRAGMA synchronous value (0 OFF .. 3 EXTRA). */
int bench_sqlite_synchronous(bench_sqlite *store);

/*
 * Inserts one event the way the store records it, in its own implicit
 * transaction. The row gets a fresh version 4 UUID and the job hash, the
 * first 16 hex digits of SHA-256 over job followed by a colon. recorded_at
 * is now and expires_at now + 0.8 * duration, both ISO 8601 UTC text.
 * Returns 0 or -1.
 */
int bench_sqlite_record(bench_sqlite *store, const char *code,
                        double duration_seconds, const char *job,
                        const char *model);

/*
 * Runs the store's check with the prepared statement: the latest expires_at
 * among rows for (code, model) that expire after now. Returns 1 when a row
 * matched, 0 when none did, -1 on error.
 */
int bench_sqlite_check(bench_sqlite *store, const char *code,
                       const char *model);

/* Deletes every row, outside any timed region. Returns 0 or -1. */
int bench_sqlite_delete_all(bench_sqlite *store);

/*
 * Runs the same check as the existing store does it: opens a new
 * connection, sets WAL mode and a 30 s busy timeout, prepares, steps,
 * finalizes and closes. Returns 1, 0 or -1 as bench_sqlite_check().
 */
int bench_sqlite_check_per_call(const char *path, const char *code,
                                const char *model);

#endif /* RLB_BENCH_H */
