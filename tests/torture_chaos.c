/*
 * The chaos run: 4 writer processes and 2 reader processes on one board,
 * while a killer sends SIGKILL to a random writer every 1 to 10 ms and
 * starts a new one in its place. It runs for RLB_CHAOS_SECONDS seconds
 * (30 by default) and prints one summary line.
 *
 * Every event carries what a reader needs to validate it: the code names
 * the writer and the kind ("W2" payload, "F2" filler), the model is a
 * unique counter value v in hex, the job is "job-<v>", and the duration is
 * a function of v and the kind. A reader recomputes the job hash, the
 * duration and the expiry (recorded + 0.8 * duration) from the model, so a
 * torn or mixed event fails validation.
 *
 * "Lost" must be unambiguous, so the two kinds play different roles.
 * Payload events expire after about 9 days, never during the run;
 * at most capacity / 2 of them are recorded, paced over the run, and each
 * acknowledged one (rlb_record returned 0) is appended with its id to a
 * shared log. Filler events expire after 0.8 ms to 0.8 s and arrive faster
 * than they expire, so the board stays full and records evict and reuse
 * expired slots all the time. Eviction takes the event that expires
 * soonest, which is always a filler while payload fills
 * at most half the board, and clears remove only fillers. So every payload
 * id in the log must be on the board at the end: one that is missing is
 * lost.
 *
 * Every write is timed: a wait over one second, or RLB_ELOCKTIMEOUT, fails
 * the run as a hang.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu/arch.h>
#include <urcu/uatomic.h>

#include "rlboard.h"
#include "support.h"

#define WRITERS 4
#define READERS 2
#define CAPACITY 8192
#define PAYLOAD_MAX (CAPACITY / 2)
#define SECONDS_DEFAULT 30
#define HANG_NS INT64_C(1000000000)
#define LOCK_TIMEOUT_MS 5000
#define ERROR_TEXT 512

/* One acknowledged payload record. */
typedef struct ack_entry {
  uint32_t done; /* set last, once the entry is complete */
  uint32_t writer;
  uint64_t v;
  char id[RLB_ID_LEN + 1];
} ack_entry;

/* State shared by the test process, the writers and the readers. */
typedef struct chaos_state {
  char board_name[64];
  int64_t start_ns; /* CLOCK_MONOTONIC */
  int64_t end_ns;
  int64_t start_wall_us;
  uint32_t stop;
  uint32_t error_set;
  char first_error[ERROR_TEXT];

  uint64_t next_v;
  uint64_t payload_attempts;
  uint64_t acked;
  uint64_t hangs;
  uint64_t lock_timeouts;
  uint64_t write_errors;
  uint64_t max_write_ns;
  uint64_t max_read_ns;
  uint64_t reads_validated;
  uint64_t torn_reads;

  uint64_t ack_count;
  ack_entry acks[PAYLOAD_MAX];
} chaos_state;

static chaos_state *state;

static int64_t now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Keeps the first error message of the run. */
static void note_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void note_error(const char *fmt, ...)
{
  va_list ap;

  if (uatomic_cmpxchg(&state->error_set, 0, 1) != 0)
    return;
  va_start(ap, fmt);
  vsnprintf(state->first_error, sizeof(state->first_error), fmt, ap);
  va_end(ap);
}

static void raise_max(uint64_t *max, uint64_t value)
{
  uint64_t old = uatomic_read(max);

  while (value > old) {
    uint64_t seen = uatomic_cmpxchg(max, old, value);
    if (seen == old)
      break;
    old = seen;
  }
}

/* Records the duration of one write and counts it as a hang when long. */
static void time_write(int64_t started)
{
  int64_t took = now_ns() - started;

  raise_max(&state->max_write_ns, (uint64_t)took);
  if (took > HANG_NS) {
    uatomic_inc(&state->hangs);
    note_error("a write took %.3f s", (double)took / 1e9);
  }
}

static void time_read(int64_t started)
{
  int64_t took = now_ns() - started;

  raise_max(&state->max_read_ns, (uint64_t)took);
  if (took > HANG_NS) {
    uatomic_inc(&state->hangs);
    note_error("a read took %.3f s", (double)took / 1e9);
  }
}

/* Dies with the test process, so that no writer or reader outlives it. */
static void die_with_parent(pid_t parent)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent)
    _exit(1);
}

/* ---- the encoding of events ---------------------------------------------- */

static double event_duration(int payload, uint64_t v)
{
  if (payload)
    return 1e6 + (double)(v % 1000);
  return 0.001 + (double)(v % 1000) / 1000.0;
}

static void event_fields(int payload, unsigned writer, uint64_t v, char code[8],
                         char model[24], char job[32])
{
  snprintf(code, 8, "%c%u", payload ? 'W' : 'F', writer);
  snprintf(model, 24, "%" PRIx64, v);
  snprintf(job, 32, "job-%" PRIu64, v);
}

static int valid_uuid4(const char *id)
{
  size_t i;

  if (strlen(id) != RLB_ID_LEN || id[14] != '4')
    return 0;
  for (i = 0; i < RLB_ID_LEN; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;
    char c = id[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return 0;
  }
  return 1;
}

/*
 * Validates one event read from the board against its own encoding.
 * slack_s bounds how far seconds_left may exceed the TTL, for a read whose
 * clock was taken before the event's record. Returns NULL or what failed.
 */
static const char *event_problem(const rlb_event *ev, double slack_s)
{
  char code[8], model[24], job[32], hash[RLB_HASH_LEN + 1];
  unsigned writer;
  int payload;
  uint64_t v;
  char *end;
  double duration, ttl;
  int64_t wall;

  if (!valid_uuid4(ev->id))
    return "id is not a version 4 UUID";
  if ((ev->error_code[0] != 'W' && ev->error_code[0] != 'F') ||
      ev->error_code[1] < '0' || ev->error_code[1] >= '0' + WRITERS ||
      ev->error_code[2] != '\0')
    return "error code is not W<n> or F<n>";
  payload = ev->error_code[0] == 'W';
  writer = (unsigned)(ev->error_code[1] - '0');
  if (!ev->has_model || ev->model[0] == '\0')
    return "model is missing";
  errno = 0;
  v = strtoull(ev->model, &end, 16);
  if (errno != 0 || *end != '\0' || v >= uatomic_read(&state->next_v))
    return "model is not a counter value that was handed out";
  event_fields(payload, writer, v, code, model, job);
  if (strcmp(model, ev->model) != 0)
    return "model is not in canonical hex";
  rlb_job_hash(job, hash);
  if (strcmp(hash, ev->source_job_hash) != 0)
    return "job hash does not match the model";
  duration = event_duration(payload, v);
  if (ev->duration_seconds != duration)
    return "duration does not match the model";
  ttl = RLB_TTL_FACTOR_DEFAULT * duration;
  if (ev->expires_at_us - ev->recorded_at_us != llround(ttl * 1e6))
    return "expiry is not recorded + 0.8 * duration";
  if (!(ev->seconds_left > 0.0) || ev->seconds_left > ttl + slack_s)
    return "seconds left is outside (0, TTL]";
  wall = wall_us();
  if (ev->recorded_at_us < state->start_wall_us - 1000000 ||
      ev->recorded_at_us > wall + 1000000)
    return "recorded time lies outside the run";
  return NULL;
}

static void count_torn(const rlb_event *ev, const char *problem)
{
  uatomic_inc(&state->torn_reads);
  note_error("torn read: event %.36s code %.8s model %.24s: %s", ev->id,
             ev->error_code, ev->model, problem);
}

/* ---- writers --------------------------------------------------------------
 */

/* Returns 1 when the next record may be a payload record: their number is
 * paced over the run so that they keep arriving until its end. */
static int take_payload_turn(void)
{
  int64_t span = state->end_ns - state->start_ns;
  int64_t elapsed = now_ns() - state->start_ns;
  uint64_t allowed =
      (uint64_t)((double)PAYLOAD_MAX * (double)elapsed / (double)span) + 1;

  if (allowed > PAYLOAD_MAX)
    allowed = PAYLOAD_MAX;
  if (uatomic_read(&state->payload_attempts) >= allowed)
    return 0;
  return uatomic_add_return(&state->payload_attempts, 1) <= PAYLOAD_MAX;
}

static void log_ack(unsigned writer, uint64_t v, const char *id)
{
  uint64_t i = uatomic_add_return(&state->ack_count, 1) - 1;
  ack_entry *e;

  if (i >= PAYLOAD_MAX) {
    note_error("the acknowledgment log is full");
    return;
  }
  e = &state->acks[i];
  e->writer = writer;
  e->v = v;
  memcpy(e->id, id, sizeof(e->id));
  cmm_smp_wmb();
  uatomic_set(&e->done, 1);
}

static void write_failed(const char *what, int rc)
{
  if (rc == RLB_ELOCKTIMEOUT)
    uatomic_inc(&state->lock_timeouts);
  else
    uatomic_inc(&state->write_errors);
  note_error("%s: %s", what, rlb_strerror(rc));
}

static void writer_main(unsigned writer)
{
  char code[8], model[24], job[32], id[RLB_ID_LEN + 1];
  rlb_options opts;
  rlb_board *b = NULL;
  uint64_t round = 0;
  int rc;

  rlb_options_init(&opts);
  opts.flags = 0;
  opts.lock_timeout_ms = LOCK_TIMEOUT_MS;
  rc = rlb_open(&b, state->board_name, &opts);
  if (rc != 0) {
    write_failed("writer open", rc);
    _exit(2);
  }
  while (!uatomic_read(&state->stop)) {
    int payload = take_payload_turn();
    uint64_t v = uatomic_add_return(&state->next_v, 1) - 1;
    int64_t started;
    size_t removed;

    event_fields(payload, writer, v, code, model, job);
    started = now_ns();
    rc = rlb_record(b, code, event_duration(payload, v), job, model, id);
    time_write(started);
    if (rc != 0) {
      write_failed("rlb_record", rc);
      continue;
    }
    uatomic_inc(&state->acked);
    if (payload)
      log_ack(writer, v, id);

    round++;
    if (round % 256 == 0) {
      started = now_ns();
      rc = rlb_cleanup(b, &removed);
      time_write(started);
      if (rc != 0)
        write_failed("rlb_cleanup", rc);
    }
    if (round % 8192 == 0) {
      snprintf(code, sizeof(code), "F%u", writer);
      started = now_ns();
      rc = rlb_clear(b, code, NULL, &removed);
      time_write(started);
      if (rc != 0)
        write_failed("rlb_clear", rc);
    }
  }
  rlb_close(b);
  _exit(0);
}

/* ---- readers --------------------------------------------------------------
 */

static void read_list(rlb_board *b)
{
  rlb_event *events = NULL;
  size_t count = 0, i;
  int64_t started = now_ns();
  int rc = rlb_list(b, NULL, NULL, &events, &count);

  time_read(started);
  if (rc != 0) {
    uatomic_inc(&state->torn_reads);
    note_error("rlb_list: %s", rlb_strerror(rc));
    return;
  }
  for (i = 0; i < count; i++) {
    const char *problem = event_problem(&events[i], 1.0);
    if (problem == NULL && i > 0 &&
        events[i].expires_at_us > events[i - 1].expires_at_us)
      problem = "list is not ordered by expiry, latest first";
    if (problem != NULL)
      count_torn(&events[i], problem);
    else
      uatomic_inc(&state->reads_validated);
  }
  rlb_events_free(events);
}

/* Checks one rlb_check() result for an acknowledged payload event whose
 * TTL is ttl: limited, and for no less than its own time left. */
static int check_limited(rlb_board *b, const char *code, const char *model,
                         double ttl, const ack_entry *e)
{
  double left = -1.0;
  int64_t started = now_ns();
  int rc = rlb_check(b, code, model, &left);
  double floor_s = ttl - (double)(now_ns() - state->start_ns) / 1e9 - 1e-6;

  time_read(started);
  if (rc != 1 || left < floor_s) {
    uatomic_inc(&state->torn_reads);
    note_error("rlb_check(%s, %s) for acknowledged event %.36s returned %d "
               "with %.3f s left",
               code ? code : "any", model ? model : "any", e->id, rc, left);
    return 0;
  }
  return 1;
}

/* Reads one acknowledged payload event back through every kind of key and
 * through a filtered list. */
static void read_acked(rlb_board *b, const ack_entry *e)
{
  char code[8], model[24], job[32];
  double ttl = RLB_TTL_FACTOR_DEFAULT * event_duration(1, e->v);
  rlb_event *events = NULL;
  size_t count = 0;
  int64_t started;
  int rc;

  event_fields(1, e->writer, e->v, code, model, job);
  if (!check_limited(b, code, model, ttl, e) ||
      !check_limited(b, NULL, model, ttl, e) ||
      !check_limited(b, code, NULL, ttl, e) ||
      !check_limited(b, NULL, NULL, ttl, e))
    return;
  uatomic_add(&state->reads_validated, 4);

  started = now_ns();
  rc = rlb_list(b, NULL, model, &events, &count);
  time_read(started);
  if (rc != 0 || count != 1 || strcmp(events[0].id, e->id) != 0) {
    uatomic_inc(&state->torn_reads);
    note_error("list of model %s returned %d with %zu events, expected "
               "event %.36s",
               model, rc, count, e->id);
  } else if (event_problem(&events[0], 1.0) != NULL) {
    count_torn(&events[0], event_problem(&events[0], 1.0));
  } else {
    uatomic_inc(&state->reads_validated);
  }
  rlb_events_free(events);
}

static void reader_main(unsigned reader)
{
  rlb_options opts;
  rlb_board *b = NULL;
  unsigned seed = (unsigned)getpid() ^ reader;
  int rc;

  rlb_options_init(&opts);
  opts.flags = 0;
  rc = rlb_open(&b, state->board_name, &opts);
  if (rc != 0) {
    note_error("reader open: %s", rlb_strerror(rc));
    _exit(2);
  }
  while (!uatomic_read(&state->stop)) {
    uint64_t acks = uatomic_read(&state->ack_count);
    int i;

    read_list(b);
    for (i = 0; i < 32 && acks > 0; i++) {
      uint64_t pick = (uint64_t)rand_r(&seed) % acks;
      const ack_entry *e = &state->acks[pick < PAYLOAD_MAX ? pick : 0];
      if (uatomic_read(&e->done)) {
        cmm_smp_rmb();
        read_acked(b, e);
      }
    }
  }
  rlb_close(b);
  _exit(0);
}

/* ---- the killer and the final count ---------------------------------------
 */

static pid_t start_child(void (*main_fn)(unsigned), unsigned n)
{
  pid_t parent = getpid();
  pid_t pid = fork();

  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    die_with_parent(parent);
    main_fn(n);
  }
  return pid;
}

static int chaos_seconds(void)
{
  const char *text = getenv("RLB_CHAOS_SECONDS");
  int seconds = text != NULL ? atoi(text) : SECONDS_DEFAULT;

  return seconds > 0 ? seconds : SECONDS_DEFAULT;
}

/* Kills a random writer every 1 to 10 ms until the end of the run and
 * starts another in its place. Returns the number of kills; counts writers
 * that exited on their own in *exited. */
static uint64_t run_killer(pid_t writers[WRITERS], uint64_t *exited)
{
  unsigned seed = (unsigned)getpid();
  uint64_t kills = 0;

  while (now_ns() < state->end_ns) {
    unsigned w = (unsigned)rand_r(&seed) % WRITERS;
    int status;

    test_sleep_ms(1 + rand_r(&seed) % 10);
    kill(writers[w], SIGKILL);
    ck_assert_int_eq(waitpid(writers[w], &status, 0), writers[w]);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      kills++;
    else
      (*exited)++;
    writers[w] = start_child(writer_main, w);
  }
  return kills;
}

static int compare_ids(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Counts the acknowledged payload events that are not on the board, and
 * validates every event that is. */
static uint64_t count_lost(rlb_board *b)
{
  rlb_event *events = NULL;
  const char **ids;
  size_t count = 0, i;
  uint64_t lost = 0, n = uatomic_read(&state->ack_count);

  ck_assert_int_eq(rlb_list(b, NULL, NULL, &events, &count), 0);
  ids = malloc((count + 1) * sizeof(*ids));
  ck_assert_ptr_nonnull(ids);
  for (i = 0; i < count; i++) {
    const char *problem = event_problem(&events[i], 1.0);
    if (problem != NULL)
      count_torn(&events[i], problem);
    ids[i] = events[i].id;
  }
  qsort(ids, count, sizeof(*ids), compare_ids);
  if (n > PAYLOAD_MAX)
    n = PAYLOAD_MAX;
  for (i = 0; i < n; i++) {
    const char *id = state->acks[i].id;
    if (!state->acks[i].done)
      continue;
    if (bsearch(&id, ids, count, sizeof(*ids), compare_ids) == NULL) {
      if (lost == 0)
        fprintf(stderr, "lost: acknowledged event %s (W%u, v %" PRIu64 ")\n",
                id, state->acks[i].writer, state->acks[i].v);
      lost++;
    }
  }
  free(ids);
  rlb_events_free(events);
  return lost;
}

static void print_violation(void *context, const char *message)
{
  (void)context;
  fprintf(stderr, "violation: %s\n", message);
}

START_TEST(test_chaos_kills_lose_nothing)
{
  pid_t writers[WRITERS], readers[READERS];
  uint64_t kills, exited = 0, lost, acked_payload = 0, i;
  int seconds = chaos_seconds(), status, violations;
  rlb_board *board;
  rlb_stats stats;

  state = mmap(NULL, sizeof(*state), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ck_assert_ptr_ne(state, MAP_FAILED);
  board = test_board_open_capacity(state->board_name, sizeof(state->board_name),
                                   CAPACITY);
  state->start_ns = now_ns();
  state->end_ns = state->start_ns + (int64_t)seconds * 1000000000;
  state->start_wall_us = wall_us();

  for (i = 0; i < READERS; i++)
    readers[i] = start_child(reader_main, (unsigned)i);
  for (i = 0; i < WRITERS; i++)
    writers[i] = start_child(writer_main, (unsigned)i);
  kills = run_killer(writers, &exited);

  uatomic_set(&state->stop, 1);
  for (i = 0; i < WRITERS; i++) {
    ck_assert_int_eq(waitpid(writers[i], &status, 0), writers[i]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      exited++;
  }
  for (i = 0; i < READERS; i++) {
    ck_assert_int_eq(waitpid(readers[i], &status, 0), readers[i]);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "reader %d ended with status %d", (int)i, status);
  }

  violations = rlb_verify(board, print_violation, NULL);
  lost = count_lost(board);
  ck_assert_int_eq(rlb_stats_get(board, &stats), 0);
  for (i = 0; i < PAYLOAD_MAX && i < state->ack_count; i++)
    acked_payload += state->acks[i].done;

  printf("chaos: %d s, %d writers, %d readers, capacity %d: kills %" PRIu64
         ", recoveries %" PRIu64 ", records acknowledged %" PRIu64
         " (payload %" PRIu64 "), reads validated %" PRIu64
         ", torn reads %" PRIu64 ", lost records %" PRIu64 ", hangs %" PRIu64
         ", lock timeouts %" PRIu64
         ", max lock wait %.1f ms, max read %.1f ms, evictions %" PRIu64
         ", expired reused %" PRIu64 ", cleaned %" PRIu64
         ", verify violations %d\n",
         seconds, WRITERS, READERS, CAPACITY, kills, stats.recoveries,
         state->acked, acked_payload, state->reads_validated, state->torn_reads,
         lost, state->hangs, state->lock_timeouts,
         (double)state->max_write_ns / 1e6, (double)state->max_read_ns / 1e6,
         stats.evictions, stats.expired_reused, stats.cleaned, violations);
  if (state->error_set)
    printf("chaos: first error: %s\n", state->first_error);
  fflush(stdout);

  ck_assert_int_eq(violations, 0);
  ck_assert_uint_eq(state->torn_reads, 0);
  ck_assert_uint_eq(lost, 0);
  ck_assert_uint_eq(state->hangs, 0);
  ck_assert_uint_eq(state->lock_timeouts, 0);
  ck_assert_uint_eq(state->write_errors, 0);
  ck_assert_uint_eq(exited, 0);
  ck_assert_uint_gt(kills, 0);
  ck_assert_uint_gt(acked_payload, 0);
  ck_assert_uint_gt(state->reads_validated, 0);
  test_board_remove(board);
  munmap(state, sizeof(*state));
}
END_TEST

static Suite *make_chaos_suite(void)
{
  Suite *s = suite_create("chaos");
  TCase *tc = tcase_create("chaos");

  tcase_add_test(tc, test_chaos_kills_lose_nothing);
  tcase_set_timeout(tc, chaos_seconds() + 120);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *runner = srunner_create(make_chaos_suite());
  int failed;

  srunner_run_all(runner, CK_ENV);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
