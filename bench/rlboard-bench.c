/*
 * rlboard-bench: measures rlboard's check, record, concurrent readers,
 * snapshot and restore, next to the same operations on the SQLite store
 * that rlboard replaces, and compares the results with the project's
 * targets.
 *
 * Each per-call number is the median over batches of the batch time divided
 * by the calls in the batch (see harness.c). Every board has a unique name
 * and is unlinked at the end, also after SIGINT, SIGTERM or SIGHUP; the
 * SQLite files live in a private temporary directory that is removed the
 * same way. The exit status is 0 when every measurement ran, whether or not
 * the targets were met, and 1 when a measurement failed.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "rlboard.h"

#define EXIT_USAGE 64

#define SMALL_CAPACITY 1024
#define LARGE_CAPACITY 65536
#define LARGE_EVENTS 10000
#define LARGE_MODELS 250 /* times 4 codes: 1,000 (code, model) keys */
#define RECORD_CAPACITY 65536
#define READERS_CAPACITY 4096
#define SNAPSHOT_CAPACITY 65536

#define WRITER_RATE_HZ 1000
#define WRITER_MODELS 16
#define WRITER_DURATION_S 2.0
#define READER_CHECKS_PER_CLOCK_READ 256

/* Timed records last 50 ms, so that all of a batch's events have expired
 * soon after it and rlb_cleanup() can empty the board before the next. */
#define RECORD_DURATION_S 0.05

#define LONG_DURATION_S 3600.0
#define BENCH_JOB "bench-job"

static const char *const codes[] = {"E101", "E102", "E103", "E104"};

/* The sizes of a run: --quick or the default. */
typedef struct run_settings {
  const char *mode;
  bench_plan plan;
  int64_t reader_window_ns;
  int repetitions; /* snapshot and restore */
} run_settings;

typedef struct results {
  double clock_ns;
  double check_ns;
  double check_large_ns;
  double check_any_ns;
  double record_ns;
  double sqlite_check_ns;
  double sqlite_record_ns;
  double sqlite_percall_check_ns;
  double readers1_ops;
  double readers2_ops;
  double snapshot_65536_ms;
  double restore_65536_ms;
  double bytes_per_slot;
  int sqlite_synchronous;
  double record_evictions;
  double record_expired_reused;
  double readers_busy;
  double writer_records_per_s;
  double load_before[3]; /* getloadavg(): 1, 5 and 15 minutes */
  double load_after[3];
  char clocksource[32];
  int failures;
} results;

/* One target: value <= limit (at_most) or value >= limit. */
typedef struct target {
  const char *text;
  double value;
  double limit;
  int at_most;
} target;

/* A sink for loop results, so that the compiler keeps the timed calls. */
static volatile long sink;

static void sleep_until(int64_t ns)
{
  struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};

  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

/* ---- Timed operations ---- */

typedef struct check_context {
  rlb_board *board;
  const char *code;
  const char *model;
} check_context;

typedef struct record_context {
  rlb_board *board;
  long recorded; /* events recorded since the last cleanup */
} record_context;

typedef struct sqlite_context {
  bench_sqlite *store;
  const char *path;
} sqlite_context;

static int run_clock(void *context, long n)
{
  struct timespec ts;
  long sum = 0;
  long i;

  (void)context;
  for (i = 0; i < n; i++) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sum += ts.tv_nsec;
  }
  sink = sum;
  return 0;
}

/* Calls rlb_check n times and fails unless every call returned "limited",
 * so that a broken board cannot produce a fast, wrong number. */
static int run_check(void *context, long n)
{
  const check_context *c = context;
  double seconds_left;
  long limited = 0;
  long i;
  int rc = 0;

  for (i = 0; i < n; i++) {
    rc = rlb_check(c->board, c->code, c->model, &seconds_left);
    limited += rc == 1;
  }
  if (limited != n) {
    bench_error("rlb_check(%s, %s) was not limited in %ld of %ld calls, "
                "last result %d (%s)",
                c->code ? c->code : "any", c->model ? c->model : "any",
                n - limited, n, rc, rc < 0 ? rlb_strerror(rc) : "clear");
    return -1;
  }
  return 0;
}

/*
 * Empties the record board before each batch, so that every timed record
 * takes a free slot and none evicts or reuses an expired slot. It waits for
 * the previous batch's events to expire and removes them with
 * rlb_cleanup().
 */
static int prepare_record(void *context)
{
  record_context *c = context;
  size_t removed;
  int rc;

  if (c->recorded == 0)
    return 0;
  sleep_until(bench_now_ns() + (int64_t)(RECORD_DURATION_S * 1e9) + 1000000);
  rc = rlb_cleanup(c->board, &removed);
  if (rc < 0) {
    bench_error("rlb_cleanup failed: %s", rlb_strerror(rc));
    return -1;
  }
  if ((long)removed != c->recorded) {
    bench_error("rlb_cleanup removed %zu events, expected %ld", removed,
                c->recorded);
    return -1;
  }
  c->recorded = 0;
  return 0;
}

static int run_record(void *context, long n)
{
  record_context *c = context;
  char id[RLB_ID_LEN + 1];
  long i;
  int rc;

  for (i = 0; i < n; i++) {
    rc = rlb_record(c->board, "E101", RECORD_DURATION_S, BENCH_JOB, "model-a",
                    id);
    if (rc != 0) {
      bench_error("rlb_record failed: %s", rlb_strerror(rc));
      return -1;
    }
  }
  c->recorded += n;
  return 0;
}

static int run_sqlite_check(void *context, long n)
{
  const sqlite_context *c = context;
  long i;

  for (i = 0; i < n; i++) {
    if (bench_sqlite_check(c->store, "E101", "model-a") != 1) {
      bench_error("SQLite check was not limited");
      return -1;
    }
  }
  return 0;
}

static int prepare_sqlite_record(void *context)
{
  const sqlite_context *c = context;

  return bench_sqlite_delete_all(c->store);
}

static int run_sqlite_record(void *context, long n)
{
  const sqlite_context *c = context;
  long i;

  for (i = 0; i < n; i++) {
    if (bench_sqlite_record(c->store, "E101", RECORD_DURATION_S, BENCH_JOB,
                            "model-a") != 0)
      return -1;
  }
  return 0;
}

static int run_sqlite_percall_check(void *context, long n)
{
  const sqlite_context *c = context;
  long i;

  for (i = 0; i < n; i++) {
    if (bench_sqlite_check_per_call(c->path, "E101", "model-a") != 1) {
      bench_error("SQLite per-call check was not limited");
      return -1;
    }
  }
  return 0;
}

/* ---- Boards ---- */

/* Creates a new board with a unique, registered name. */
static int create_board(rlb_board **board, char *name, size_t size,
                        uint32_t capacity)
{
  rlb_options opts;
  int rc;

  if (bench_board_name(name, size) != 0)
    return -1;
  rlb_options_init(&opts);
  opts.flags = RLB_CREATE | RLB_EXCLUSIVE;
  opts.capacity = capacity;
  rc = rlb_open(board, name, &opts);
  if (rc != 0) {
    bench_error("creating board %s with capacity %u failed: %s", name, capacity,
                rlb_strerror(rc));
    bench_board_remove(name);
    return -1;
  }
  return 0;
}

static void destroy_board(rlb_board *board, const char *name)
{
  rlb_close(board);
  bench_board_remove(name);
}

/*
 * Records count events over keys (code, model) pairs: event i has code
 * codes[k % 4] and model "model-<k / 4>" with k = i % keys, and a duration
 * of LONG_DURATION_S plus i % 600 s, so every event stays live for the run
 * and the expiries differ.
 */
static int fill_board(rlb_board *board, uint32_t count, uint32_t keys)
{
  char model[32];
  uint32_t i;
  uint32_t k;
  int rc;

  for (i = 0; i < count; i++) {
    k = i % keys;
    snprintf(model, sizeof(model), "model-%03u", k / 4);
    rc = rlb_record(board, codes[k % 4], LONG_DURATION_S + (double)(i % 600),
                    BENCH_JOB, model, NULL);
    if (rc != 0) {
      bench_error("rlb_record while filling a board failed: %s",
                  rlb_strerror(rc));
      return -1;
    }
  }
  return 0;
}

static int measure_op(const run_settings *run, const char *name,
                      int (*prepare)(void *), int (*fn)(void *, long),
                      void *context, long max_calls, double *out)
{
  bench_op op = {name, prepare, fn, context, max_calls};

  return bench_measure(&op, &run->plan, out);
}

/*
 * Measures clock_ns, check_ns and check_any_ns on a board with one live
 * event, and check_large_ns on a board with LARGE_EVENTS live events over
 * 1,000 keys, with interleaved batches.
 */
static int measure_checks(const run_settings *run, results *r)
{
  char small_name[RLB_NAME_MAX + 1];
  char large_name[RLB_NAME_MAX + 1];
  rlb_board *small;
  rlb_board *large;
  check_context check, check_any, check_large;
  double ns[4];
  int status = -1;
  int rc;

  if (create_board(&small, small_name, sizeof(small_name), SMALL_CAPACITY) != 0)
    return -1;
  if (create_board(&large, large_name, sizeof(large_name), LARGE_CAPACITY) !=
      0) {
    destroy_board(small, small_name);
    return -1;
  }
  rc = rlb_record(small, "E101", LONG_DURATION_S, BENCH_JOB, "model-a", NULL);
  if (rc != 0) {
    bench_error("rlb_record failed: %s", rlb_strerror(rc));
    goto out;
  }
  if (fill_board(large, LARGE_EVENTS, LARGE_MODELS * 4) != 0)
    goto out;

  check = (check_context){small, "E101", "model-a"};
  check_any = (check_context){small, NULL, NULL};
  /* Key 500 of the fill: code E101, model-125. */
  check_large = (check_context){large, "E101", "model-125"};
  {
    bench_op ops[] = {{"clock", NULL, run_clock, NULL, 0},
                      {"check", NULL, run_check, &check, 0},
                      {"check_any", NULL, run_check, &check_any, 0},
                      {"check_large", NULL, run_check, &check_large, 0}};

    if (bench_measure_group(ops, 4, &run->plan, ns) != 0)
      goto out;
  }
  r->clock_ns = ns[0];
  r->check_ns = ns[1];
  r->check_any_ns = ns[2];
  r->check_large_ns = ns[3];
  status = 0;

out:
  destroy_board(small, small_name);
  destroy_board(large, large_name);
  return status;
}

static int measure_record(const run_settings *run, results *r)
{
  char name[RLB_NAME_MAX + 1];
  rlb_board *board;
  record_context record;
  rlb_stats stats;
  int status = 0;

  if (create_board(&board, name, sizeof(name), RECORD_CAPACITY) != 0)
    return -1;
  record = (record_context){board, 0};
  if (measure_op(run, "record", prepare_record, run_record, &record,
                 RECORD_CAPACITY, &r->record_ns) != 0)
    status = -1;
  if (rlb_stats_get(board, &stats) == 0) {
    r->record_evictions = (double)stats.evictions;
    r->record_expired_reused = (double)stats.expired_reused;
  }
  destroy_board(board, name);
  return status;
}

static int measure_sqlite(const run_settings *run, results *r)
{
  const char *check_path = bench_temp_path("check.sqlite");
  const char *record_path = bench_temp_path("record.sqlite");
  bench_sqlite *store = NULL;
  sqlite_context c;
  int status = 0;

  if (check_path == NULL || record_path == NULL)
    return -1;

  /* One live row, as on the board of check_ns. */
  if (bench_sqlite_open(&store, check_path) != 0)
    return -1;
  r->sqlite_synchronous = bench_sqlite_synchronous(store);
  if (bench_sqlite_record(store, "E101", LONG_DURATION_S, BENCH_JOB,
                          "model-a") != 0) {
    bench_sqlite_close(store);
    return -1;
  }
  c = (sqlite_context){store, check_path};
  if (measure_op(run, "sqlite_check", NULL, run_sqlite_check, &c, 0,
                 &r->sqlite_check_ns) != 0)
    status = -1;
  if (measure_op(run, "sqlite_percall_check", NULL, run_sqlite_percall_check,
                 &c, 0, &r->sqlite_percall_check_ns) != 0)
    status = -1;
  bench_sqlite_close(store);

  if (bench_sqlite_open(&store, record_path) != 0)
    return -1;
  c = (sqlite_context){store, record_path};
  if (measure_op(run, "sqlite_record", prepare_sqlite_record, run_sqlite_record,
                 &c, 0, &r->sqlite_record_ns) != 0)
    status = -1;
  bench_sqlite_close(store);
  return status;
}

/* ---- Concurrent readers ---- */

/* Counters a child process writes into memory shared with the parent. */
typedef struct child_result {
  int64_t operations;
  int64_t busy;
  int64_t elapsed_ns;
  int failed;
} child_result;

/* The schedule of one readers run, in CLOCK_MONOTONIC nanoseconds. */
typedef struct readers_schedule {
  const char *board;
  int64_t start_ns;
  int64_t end_ns;
} readers_schedule;

static int open_existing(rlb_board **board, const char *name)
{
  rlb_options opts;

  rlb_options_init(&opts);
  opts.flags = 0;
  return rlb_open(board, name, &opts);
}

/* Checks (E101, model-0) from start_ns to end_ns as fast as possible. */
static void reader_main(const readers_schedule *s, child_result *out)
{
  rlb_board *board;
  double seconds_left;
  int64_t started;
  int64_t now;
  int rc;
  int i;

  if (open_existing(&board, s->board) != 0) {
    out->failed = 1;
    return;
  }
  sleep_until(s->start_ns);
  started = bench_now_ns();
  do {
    for (i = 0; i < READER_CHECKS_PER_CLOCK_READ; i++) {
      rc = rlb_check(board, "E101", "model-0", &seconds_left);
      if (rc >= 0)
        out->operations++;
      else if (rc == RLB_EBUSY)
        out->busy++;
      else
        out->failed = 1;
    }
    now = bench_now_ns();
  } while (now < s->end_ns);
  out->elapsed_ns = now - started;
  rlb_close(board);
}

/*
 * Records WRITER_RATE_HZ events a second, paced by absolute sleeps, from
 * 100 ms before the readers start until 100 ms after they stop. Events
 * last WRITER_DURATION_S and rotate over WRITER_MODELS models.
 */
static void writer_main(const readers_schedule *s, child_result *out)
{
  const int64_t period_ns = 1000000000 / WRITER_RATE_HZ;
  const int64_t stop_ns = s->end_ns + 100000000;
  rlb_board *board;
  char model[32];
  int64_t next = s->start_ns - 100000000;
  int64_t started;

  if (open_existing(&board, s->board) != 0) {
    out->failed = 1;
    return;
  }
  sleep_until(next);
  started = bench_now_ns();
  while (next < stop_ns) {
    snprintf(model, sizeof(model), "model-%d",
             (int)(out->operations % WRITER_MODELS));
    if (rlb_record(board, "E101", WRITER_DURATION_S, "writer-job", model,
                   NULL) != 0)
      out->failed = 1;
    out->operations++;
    next += period_ns;
    sleep_until(next);
  }
  out->elapsed_ns = bench_now_ns() - started;
  rlb_close(board);
}

static pid_t spawn_child(void (*body)(const readers_schedule *, child_result *),
                         const readers_schedule *s, child_result *out,
                         unsigned alarm_seconds)
{
  pid_t pid = fork();

  if (pid < 0) {
    bench_error("fork failed: %s", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    bench_child_reset_signals();
    alarm(alarm_seconds); /* a child that hangs is killed by SIGALRM */
    body(s, out);
    _exit(out->failed ? 1 : 0);
  }
  bench_child_add(pid);
  return pid;
}

/* Waits for every child; returns -1 when one failed or did not exit. */
static int reap_children(const pid_t *pids, int count)
{
  int status = 0;
  int wstatus;
  int i;

  for (i = 0; i < count; i++) {
    if (pids[i] <= 0)
      continue;
    while (waitpid(pids[i], &wstatus, 0) < 0 && errno == EINTR)
      ;
    bench_child_remove(pids[i]);
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
      bench_error("benchmark process %ld failed", (long)pids[i]);
      status = -1;
    }
  }
  return status;
}

/*
 * Runs readers reader processes and one writer on a fresh board for the
 * window and stores the sum of the readers' checks per second in *ops.
 */
static int run_readers(const run_settings *run, int readers, double *ops,
                       results *r)
{
  char name[RLB_NAME_MAX + 1];
  rlb_board *board;
  child_result *shared;
  readers_schedule s;
  pid_t pids[3] = {0, 0, 0};
  unsigned alarm_seconds = (unsigned)(run->reader_window_ns / 1000000000) + 30;
  int status;
  int i;

  if (create_board(&board, name, sizeof(name), READERS_CAPACITY) != 0)
    return -1;
  shared = mmap(NULL, 3 * sizeof(child_result), PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) {
    bench_error("mmap of the result area failed: %s", strerror(errno));
    destroy_board(board, name);
    return -1;
  }
  memset(shared, 0, 3 * sizeof(child_result));

  /* The children open the board in the 300 ms before the window. */
  s.board = name;
  s.start_ns = bench_now_ns() + 300000000;
  s.end_ns = s.start_ns + run->reader_window_ns;
  pids[0] = spawn_child(writer_main, &s, &shared[0], alarm_seconds);
  for (i = 0; i < readers; i++)
    pids[1 + i] = spawn_child(reader_main, &s, &shared[1 + i], alarm_seconds);
  status = reap_children(pids, 1 + readers);

  *ops = 0.0;
  for (i = 0; i < readers; i++) {
    if (shared[1 + i].elapsed_ns > 0)
      *ops += (double)shared[1 + i].operations * 1e9 /
              (double)shared[1 + i].elapsed_ns;
    r->readers_busy += (double)shared[1 + i].busy;
  }
  if (shared[0].elapsed_ns > 0)
    r->writer_records_per_s =
        (double)shared[0].operations * 1e9 / (double)shared[0].elapsed_ns;
  for (i = 0; i < 1 + readers; i++) {
    if (pids[i] < 0)
      status = -1;
  }
  munmap(shared, 3 * sizeof(child_result));
  destroy_board(board, name);
  return status;
}

/* ---- Snapshot and restore ---- */

static int time_restore(const char *path, double *ms)
{
  char name[RLB_NAME_MAX + 1];
  rlb_board *board;
  rlb_restore_result result;
  int64_t start;
  int rc;

  if (create_board(&board, name, sizeof(name), SNAPSHOT_CAPACITY) != 0)
    return -1;
  start = bench_now_ns();
  rc = rlb_restore(board, path, &result, NULL, NULL);
  *ms = (double)(bench_now_ns() - start) / 1e6;
  destroy_board(board, name);
  if (rc != 0) {
    bench_error("rlb_restore failed: %s", rlb_strerror(rc));
    return -1;
  }
  if (result.restored != SNAPSHOT_CAPACITY) {
    bench_error("rlb_restore restored %zu of %u events", result.restored,
                SNAPSHOT_CAPACITY);
    return -1;
  }
  return 0;
}

static int time_snapshot(rlb_board *board, const char *path, double *ms)
{
  rlb_snapshot_result result;
  int64_t start = bench_now_ns();
  int rc = rlb_snapshot(board, path, &result);

  *ms = (double)(bench_now_ns() - start) / 1e6;
  if (rc != 0) {
    bench_error("rlb_snapshot failed: %s", rlb_strerror(rc));
    return -1;
  }
  if (result.events != SNAPSHOT_CAPACITY) {
    bench_error("rlb_snapshot wrote %zu of %u events", result.events,
                SNAPSHOT_CAPACITY);
    return -1;
  }
  return 0;
}

/* Times one warm-up and run->repetitions timed calls of snapshot (when
 * board is not NULL) or restore, and stores the median in *ms. */
static int time_repeated(const run_settings *run, rlb_board *board,
                         const char *path, double *ms)
{
  double *times = calloc((size_t)run->repetitions + 1, sizeof(*times));
  int status = 0;
  int i;

  if (times == NULL)
    return -1;
  for (i = 0; i <= run->repetitions && status == 0; i++) {
    if (board != NULL)
      status = time_snapshot(board, path, &times[i]);
    else
      status = time_restore(path, &times[i]);
  }
  if (status == 0)
    *ms = bench_median(times + 1, (size_t)run->repetitions);
  free(times);
  return status;
}

static int measure_snapshot(const run_settings *run, results *r)
{
  const char *path = bench_temp_path("snapshot.sqlite");
  char name[RLB_NAME_MAX + 1];
  rlb_board *board;
  rlb_stats stats;
  int status = 0;
  int rc;

  if (path == NULL)
    return -1;
  if (create_board(&board, name, sizeof(name), SNAPSHOT_CAPACITY) != 0)
    return -1;
  if (fill_board(board, SNAPSHOT_CAPACITY, LARGE_MODELS * 4) != 0) {
    destroy_board(board, name);
    return -1;
  }
  rc = rlb_stats_get(board, &stats);
  if (rc != 0 || stats.live != SNAPSHOT_CAPACITY) {
    bench_error("the snapshot board holds %u live events, expected %u",
                rc == 0 ? stats.live : 0, SNAPSHOT_CAPACITY);
    destroy_board(board, name);
    return -1;
  }
  r->bytes_per_slot = (double)stats.segment_bytes / (double)stats.capacity;

  if (time_repeated(run, board, path, &r->snapshot_65536_ms) != 0)
    status = -1;
  destroy_board(board, name);
  if (status == 0 && time_repeated(run, NULL, path, &r->restore_65536_ms) != 0)
    status = -1;
  return status;
}

/* ---- Report ---- */

static double ratio(double a, double b)
{
  if (isnan(a) || isnan(b) || b == 0.0)
    return NAN;
  return a / b;
}

static int fill_targets(const results *r, target *t)
{
  target list[] = {
      {"check_ns <= 2 x clock_ns", ratio(r->check_ns, r->clock_ns), 2.0, 1},
      {"check_large_ns <= 1.5 x check_ns",
       ratio(r->check_large_ns, r->check_ns), 1.5, 1},
      {"sqlite_check_ns / check_ns >= 50",
       ratio(r->sqlite_check_ns, r->check_ns), 50.0, 0},
      {"sqlite_record_ns / record_ns >= 10",
       ratio(r->sqlite_record_ns, r->record_ns), 10.0, 0},
      {"readers2_ops / readers1_ops >= 1.7",
       ratio(r->readers2_ops, r->readers1_ops), 1.7, 0},
      {"snapshot_65536_ms <= 250", r->snapshot_65536_ms, 250.0, 1},
      {"restore_65536_ms <= 250", r->restore_65536_ms, 250.0, 1},
  };
  size_t n = sizeof(list) / sizeof(list[0]);

  memcpy(t, list, sizeof(list));
  return (int)n;
}

static int target_met(const target *t)
{
  if (isnan(t->value))
    return 0;
  return t->at_most ? t->value <= t->limit : t->value >= t->limit;
}

/* The metrics in output order, with their JSON keys. */
static int list_metrics(const results *r, const char **keys, double *values)
{
  const char *k[] = {"clock_ns",          "check_ns",
                     "check_large_ns",    "check_any_ns",
                     "record_ns",         "sqlite_check_ns",
                     "sqlite_record_ns",  "sqlite_percall_check_ns",
                     "readers1_ops",      "readers2_ops",
                     "snapshot_65536_ms", "restore_65536_ms",
                     "bytes_per_slot"};
  double v[] = {r->clock_ns,          r->check_ns,
                r->check_large_ns,    r->check_any_ns,
                r->record_ns,         r->sqlite_check_ns,
                r->sqlite_record_ns,  r->sqlite_percall_check_ns,
                r->readers1_ops,      r->readers2_ops,
                r->snapshot_65536_ms, r->restore_65536_ms,
                r->bytes_per_slot};
  size_t n = sizeof(k) / sizeof(k[0]);

  memcpy(keys, k, sizeof(k));
  memcpy(values, v, sizeof(v));
  return (int)n;
}

static int list_ratios(const results *r, const char **keys, double *values)
{
  const char *k[] = {"check/clock",
                     "check_large/check",
                     "check_any/check",
                     "sqlite_check/check",
                     "sqlite_percall_check/check",
                     "sqlite_record/record",
                     "readers2/readers1"};
  double v[] = {ratio(r->check_ns, r->clock_ns),
                ratio(r->check_large_ns, r->check_ns),
                ratio(r->check_any_ns, r->check_ns),
                ratio(r->sqlite_check_ns, r->check_ns),
                ratio(r->sqlite_percall_check_ns, r->check_ns),
                ratio(r->sqlite_record_ns, r->record_ns),
                ratio(r->readers2_ops, r->readers1_ops)};
  size_t n = sizeof(k) / sizeof(k[0]);

  memcpy(keys, k, sizeof(k));
  memcpy(values, v, sizeof(v));
  return (int)n;
}

static json_t *json_number(double value)
{
  return isnan(value) ? json_null() : json_real(value);
}

static int print_json(const run_settings *run, const results *r)
{
  const char *keys[16];
  double values[16];
  target targets[8];
  json_t *root = json_object();
  json_t *ratios = json_object();
  json_t *list = json_array();
  json_t *item;
  int met = 0;
  int n;
  int i;

  json_object_set_new(root, "version", json_string(rlb_version()));
  json_object_set_new(root, "mode", json_string(run->mode));
  json_object_set_new(root, "batches", json_integer(run->plan.batches));
  json_object_set_new(root, "batch_ms",
                      json_integer(run->plan.batch_ns / 1000000));
  n = list_metrics(r, keys, values);
  for (i = 0; i < n; i++)
    json_object_set_new(root, keys[i], json_number(values[i]));
  json_object_set_new(root, "sqlite_synchronous",
                      json_integer(r->sqlite_synchronous));
  json_object_set_new(root, "record_evictions",
                      json_number(r->record_evictions));
  json_object_set_new(root, "record_expired_reused",
                      json_number(r->record_expired_reused));
  json_object_set_new(root, "readers_busy", json_number(r->readers_busy));
  json_object_set_new(root, "writer_records_per_s",
                      json_number(r->writer_records_per_s));

  n = list_ratios(r, keys, values);
  for (i = 0; i < n; i++)
    json_object_set_new(ratios, keys[i], json_number(values[i]));
  json_object_set_new(root, "ratios", ratios);
  json_object_set_new(root, "clocksource", json_string(r->clocksource));
  json_object_set_new(root, "loadavg_1m_before",
                      json_number(r->load_before[0]));
  json_object_set_new(root, "loadavg_1m_after", json_number(r->load_after[0]));

  n = fill_targets(r, targets);
  for (i = 0; i < n; i++) {
    item = json_object();
    json_object_set_new(item, "target", json_string(targets[i].text));
    json_object_set_new(item, "value", json_number(targets[i].value));
    json_object_set_new(item, "limit", json_real(targets[i].limit));
    json_object_set_new(item, "pass", json_boolean(target_met(&targets[i])));
    json_array_append_new(list, item);
    met += target_met(&targets[i]);
  }
  json_object_set_new(root, "targets", list);
  json_object_set_new(root, "targets_met", json_integer(met));
  json_object_set_new(root, "targets_total", json_integer(n));
  json_object_set_new(root, "measurement_failures", json_integer(r->failures));

  if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
    json_decref(root);
    return -1;
  }
  fputc('\n', stdout);
  json_decref(root);
  return 0;
}

static void print_value(const char *label, double value)
{
  if (isnan(value))
    printf("  %-28s %14s\n", label, "not measured");
  else
    printf("  %-28s %14.2f\n", label, value);
}

static void print_table(const run_settings *run, const results *r)
{
  const char *keys[16];
  double values[16];
  target targets[8];
  int met = 0;
  int n;
  int i;

  printf("rlboard-bench %s, %s run: %d batches of about %d ms per metric,\n"
         "readers over %.1f s windows, snapshot and restore %d times each\n\n",
         rlb_version(), run->mode, run->plan.batches,
         (int)(run->plan.batch_ns / 1000000),
         (double)run->reader_window_ns / 1e9, run->repetitions);

  printf("clocksource %s, load average (1 min) %.2f before, %.2f after\n\n",
         r->clocksource, r->load_before[0], r->load_after[0]);
  printf("  %-28s %14s\n", "metric (median)", "value");
  n = list_metrics(r, keys, values);
  for (i = 0; i < n; i++)
    print_value(keys[i], values[i]);
  printf("\n  SQLite synchronous = %d; record: %.0f evictions, %.0f expired "
         "slots reused;\n  readers: %.0f RLB_EBUSY results, writer at %.0f "
         "records/s\n\n",
         r->sqlite_synchronous, r->record_evictions, r->record_expired_reused,
         r->readers_busy, r->writer_records_per_s);

  printf("  %-28s %14s\n", "ratio", "value");
  n = list_ratios(r, keys, values);
  for (i = 0; i < n; i++)
    print_value(keys[i], values[i]);

  printf("\n  %-36s %10s  %s\n", "target", "value", "result");
  n = fill_targets(r, targets);
  for (i = 0; i < n; i++) {
    int ok = target_met(&targets[i]);

    met += ok;
    if (isnan(targets[i].value))
      printf("  %-36s %10s  MISS\n", targets[i].text, "-");
    else
      printf("  %-36s %10.2f  %s\n", targets[i].text, targets[i].value,
             ok ? "pass" : "MISS");
  }
  printf("\n%d of %d targets met", met, n);
  if (r->failures > 0)
    printf(", %d measurement(s) failed", r->failures);
  printf("\n");
}

/* ---- Main ---- */

static void usage(FILE *out)
{
  fprintf(out,
          "Usage: rlboard-bench [--quick] [--json] [--dir DIR]\n"
          "Measures rlboard next to the SQLite store it replaces.\n\n"
          "  --quick    short run: 15 batches of 20 ms per metric, 2 s\n"
          "             reader windows, 3 snapshots and restores\n"
          "  --json     print one JSON object instead of a table\n"
          "  --dir DIR  parent directory of the temporary SQLite files\n"
          "             (default $TMPDIR, else /tmp)\n"
          "  --help     print this help\n\n"
          "The default run takes 41 batches of 50 ms per metric, 5 s\n"
          "reader windows and 7 snapshots and restores. The exit status is\n"
          "0 even when a target is missed, 1 when a measurement failed and\n"
          "64 on a usage error.\n");
}

static void init_results(results *r)
{
  r->clock_ns = r->check_ns = r->check_large_ns = r->check_any_ns = NAN;
  r->record_ns = r->sqlite_check_ns = r->sqlite_record_ns = NAN;
  r->sqlite_percall_check_ns = r->readers1_ops = r->readers2_ops = NAN;
  r->snapshot_65536_ms = r->restore_65536_ms = r->bytes_per_slot = NAN;
  r->sqlite_synchronous = -1;
  r->record_evictions = r->record_expired_reused = NAN;
  r->readers_busy = 0.0;
  r->writer_records_per_s = NAN;
  r->failures = 0;
}

/* Reads the kernel's current clocksource, which sets the cost of
 * clock_gettime(), or leaves "unknown". */
static void read_clocksource(char *out, size_t size)
{
  FILE *f = fopen(
      "/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");

  snprintf(out, size, "unknown");
  if (f == NULL)
    return;
  if (fgets(out, (int)size, f) != NULL)
    out[strcspn(out, "\n")] = '\0';
  fclose(f);
}

static void read_load(double load[3])
{
  if (getloadavg(load, 3) != 3)
    load[0] = load[1] = load[2] = NAN;
}

static void run_all(const run_settings *run, results *r)
{
  r->failures += measure_checks(run, r) != 0;
  r->failures += measure_record(run, r) != 0;
  r->failures += measure_sqlite(run, r) != 0;
  r->failures += run_readers(run, 1, &r->readers1_ops, r) != 0;
  r->failures += run_readers(run, 2, &r->readers2_ops, r) != 0;
  r->failures += measure_snapshot(run, r) != 0;
}

int main(int argc, char **argv)
{
  static const struct option long_options[] = {
      {"quick", no_argument, NULL, 'q'},
      {"json", no_argument, NULL, 'j'},
      {"dir", required_argument, NULL, 'd'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  run_settings run = {"default", {41, 50000000}, 5000000000, 7};
  const char *dir = getenv("TMPDIR");
  int json = 0;
  results r;
  int c;

  while ((c = getopt_long(argc, argv, "qjd:h", long_options, NULL)) != -1) {
    switch (c) {
    case 'q':
      run = (run_settings){"quick", {15, 20000000}, 2000000000, 3};
      break;
    case 'j':
      json = 1;
      break;
    case 'd':
      dir = optarg;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      fprintf(stderr, "Try 'rlboard-bench --help'.\n");
      return EXIT_USAGE;
    }
  }
  if (optind < argc) {
    bench_error("unexpected argument '%s'; see --help", argv[optind]);
    return EXIT_USAGE;
  }
  if (dir == NULL || dir[0] == '\0')
    dir = "/tmp";

  if (bench_cleanup_init(dir) != 0)
    return 1;
  init_results(&r);
  read_clocksource(r.clocksource, sizeof(r.clocksource));
  read_load(r.load_before);
  run_all(&run, &r);
  read_load(r.load_after);
  bench_cleanup_all();

  if (json)
    print_json(&run, &r);
  else
    print_table(&run, &r);
  return r.failures > 0 ? 1 : 0;
}
