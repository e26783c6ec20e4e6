/*
 * Threads of one process share one board handle for a few seconds: writers
 * record, clear by id and by code, and clean up, while readers check, list
 * and read the statistics and validate everything they read. Each event is
 * self-describing (its job hash follows from its code and model, its expiry
 * from its duration), so a torn or mixed-up copy fails the validation. The
 * board must verify clean at the end.
 *
 * Built with RLBOARD_TSAN, the test runs under ThreadSanitizer with the
 * suppressions in tsan.supp for the lock-free readers, whose races with the
 * writers are benign by design.
 *
 * RLB_STRESS_SECONDS sets the duration (default 3).
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define CAPACITY 64
#define WRITERS 2
#define READERS 3
#define CLEANERS 1
#define CODES 3
#define MODELS 3 /* the last one is "no model" */
#define DURATION_MIN 0.02
#define DURATION_STEPS 148 /* durations up to 1.49 s in steps of 10 ms */
#define DURATION_MAX (DURATION_MIN + (DURATION_STEPS - 1) * 0.01)
#define MESSAGE_MAX 256

static const char *const codes[CODES] = {"E101", "E102", "E103"};
static const char *const models[MODELS] = {"model-a", "model-b", NULL};

/* The expected job hash of each (code, model) pair. */
static char hashes[CODES][MODELS][RLB_HASH_LEN + 1];

static rlb_board *board;
static char name[64];
static double ttl_factor;
static double stop_at;

/* The first failure of any thread; the test asserts on it after joining. */
static atomic_int failed;
static char failure[MESSAGE_MAX];

static atomic_ulong records_done;

static void fail_with(const char *format, ...)
    __attribute__((format(printf, 1, 2)));

static void fail_with(const char *format, ...)
{
  va_list args;
  int expected = 0;

  if (!atomic_compare_exchange_strong(&failed, &expected, 1))
    return;
  va_start(args, format);
  vsnprintf(failure, sizeof(failure), format, args);
  va_end(args);
}

static int running(void)
{
  return !atomic_load(&failed) && test_now() < stop_at;
}

static void job_for(int code, int model, char *out, size_t size)
{
  snprintf(out, size, "job-%s-%s", codes[code],
           models[model] != NULL ? models[model] : "none");
}

/* A per-thread xorshift generator: rand() is not thread-safe. */
static uint32_t next_random(uint32_t *state)
{
  uint32_t x = *state;

  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *state = x;
  return x;
}

static int code_index(const char *code)
{
  int i;

  for (i = 0; i < CODES; i++)
    if (strcmp(code, codes[i]) == 0)
      return i;
  return -1;
}

static int model_index(const rlb_event *ev)
{
  int i;

  if (!ev->has_model)
    return MODELS - 1;
  for (i = 0; i < MODELS - 1; i++)
    if (strcmp(ev->model, models[i]) == 0)
      return i;
  return -1;
}

static int id_valid(const char *id)
{
  size_t i;

  if (strlen(id) != RLB_ID_LEN)
    return 0;
  for (i = 0; i < RLB_ID_LEN; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;

    if (dash ? id[i] != '-' : strchr("0123456789abcdef", id[i]) == NULL)
      return 0;
  }
  return 1;
}

/*
 * The maximum seconds left that a read may return for an event of duration
 * seconds. A reader takes the time once per call, and an event recorded
 * during the call took its own time later, so the call's length is added;
 * 1 ms covers the rounding of expiries to microseconds and nanoseconds.
 */
static double max_seconds_left(double duration, double call_seconds)
{
  return ttl_factor * duration + call_seconds + 0.001;
}

/* Returns 1 when a listed event is whole and matches the filters. */
static int event_valid(const rlb_event *ev, const char *code, const char *model,
                       double call_seconds)
{
  int c = code_index(ev->error_code);
  int m = model_index(ev);
  int64_t span;

  if (!id_valid(ev->id) || c < 0 || m < 0) {
    fail_with("torn event: id '%s', code '%s', model '%s'", ev->id,
              ev->error_code, ev->model);
    return 0;
  }
  if (strcmp(ev->source_job_hash, hashes[c][m]) != 0) {
    fail_with("event %s: job hash %s does not belong to %s/%s", ev->id,
              ev->source_job_hash, ev->error_code, ev->model);
    return 0;
  }
  span = llround(ttl_factor * ev->duration_seconds * 1e6);
  if (ev->expires_at_us - ev->recorded_at_us != span) {
    fail_with("event %s: expiry does not follow from duration %g", ev->id,
              ev->duration_seconds);
    return 0;
  }
  if (!(ev->seconds_left > 0) ||
      ev->seconds_left > max_seconds_left(ev->duration_seconds, call_seconds)) {
    fail_with("event %s: %g seconds left", ev->id, ev->seconds_left);
    return 0;
  }
  if ((code != NULL && strcmp(code, ev->error_code) != 0) ||
      (model != NULL && (!ev->has_model || strcmp(model, ev->model) != 0))) {
    fail_with("event %s does not match the filters %s/%s", ev->id,
              code ? code : "any", model ? model : "any");
    return 0;
  }
  return 1;
}

static void *writer_main(void *arg)
{
  uint32_t seed = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
  char id[RLB_ID_LEN + 1];
  char job[64];

  while (running()) {
    int c = (int)(next_random(&seed) % CODES);
    int m = (int)(next_random(&seed) % MODELS);
    double duration =
        DURATION_MIN + (double)(next_random(&seed) % DURATION_STEPS) * 0.01;
    int rc;

    job_for(c, m, job, sizeof(job));
    rc = rlb_record(board, codes[c], duration, job, models[m], id);
    if (rc != 0) {
      fail_with("rlb_record: %s", rlb_strerror(rc));
      break;
    }
    atomic_fetch_add(&records_done, 1);
    if (next_random(&seed) % 8 == 0) {
      rc = rlb_clear_id(board, id);
      if (rc != 0 && rc != RLB_ENOTFOUND)
        fail_with("rlb_clear_id: %s", rlb_strerror(rc));
    }
  }
  return NULL;
}

static void *cleaner_main(void *arg)
{
  uint32_t seed = (uint32_t)(uintptr_t)arg * 40503u + 7;
  size_t removed;

  while (running()) {
    int c = (int)(next_random(&seed) % CODES);
    int rc = rlb_cleanup(board, &removed);

    if (rc == 0 && next_random(&seed) % 4 == 0)
      rc = rlb_clear(board, codes[c], NULL, &removed);
    if (rc != 0)
      fail_with("rlb_cleanup or rlb_clear: %s", rlb_strerror(rc));
    test_sleep_ms(1);
  }
  return NULL;
}

static void read_check(uint32_t *seed)
{
  int c = (int)(next_random(seed) % (CODES + 1));
  int m = (int)(next_random(seed) % MODELS);
  const char *code = c < CODES ? codes[c] : NULL;
  double left = -1, started = test_now();
  int rc = rlb_check(board, code, models[m], &left);
  double call_seconds = test_now() - started;

  if (rc != 0 && rc != 1)
    fail_with("rlb_check: %s", rlb_strerror(rc));
  else if (rc == 1 &&
           (!(left > 0) || left > max_seconds_left(DURATION_MAX, call_seconds)))
    fail_with("rlb_check: limited with %g seconds left", left);
  else if (rc == 0 && left != 0)
    fail_with("rlb_check: clear with %g seconds left", left);
}

static void read_list(uint32_t *seed)
{
  int c = (int)(next_random(seed) % (CODES + 1));
  int m = (int)(next_random(seed) % MODELS);
  const char *code = c < CODES ? codes[c] : NULL;
  rlb_event *events;
  size_t count, i;
  double started = test_now();
  int rc = rlb_list(board, code, models[m], &events, &count);
  double call_seconds = test_now() - started;

  if (rc != 0) {
    fail_with("rlb_list: %s", rlb_strerror(rc));
    return;
  }
  if (count > CAPACITY)
    fail_with("rlb_list: %zu events on a board of %d", count, CAPACITY);
  for (i = 0; i < count; i++) {
    if (!event_valid(&events[i], code, models[m], call_seconds))
      break;
    if (i > 0 && events[i].expires_at_us > events[i - 1].expires_at_us) {
      fail_with("rlb_list: event %zu expires after the one before it", i);
      break;
    }
  }
  rlb_events_free(events);
}

static void read_stats(uint64_t *last_records)
{
  rlb_stats stats;
  int rc = rlb_stats_get(board, &stats);

  if (rc != 0) {
    fail_with("rlb_stats_get: %s", rlb_strerror(rc));
    return;
  }
  if (stats.stored > CAPACITY || stats.live > stats.stored)
    fail_with("rlb_stats_get: %u live, %u stored on a board of %d", stats.live,
              stats.stored, CAPACITY);
  if (stats.records < *last_records)
    fail_with("rlb_stats_get: records went back from %llu to %llu",
              (unsigned long long)*last_records,
              (unsigned long long)stats.records);
  *last_records = stats.records;
}

static void *reader_main(void *arg)
{
  uint32_t seed = (uint32_t)(uintptr_t)arg * 69069u + 3;
  uint64_t last_records = 0;
  unsigned round = 0;

  while (running()) {
    read_check(&seed);
    if (round % 4 == 0)
      read_list(&seed);
    if (round % 16 == 0)
      read_stats(&last_records);
    round++;
  }
  return NULL;
}

static void print_violation(void *context, const char *message)
{
  (void)context;
  fprintf(stderr, "violation: %s\n", message);
}

static double stress_seconds(void)
{
  const char *text = getenv("RLB_STRESS_SECONDS");
  double seconds = text != NULL ? atof(text) : 0;

  return seconds > 0 ? seconds : 3.0;
}

START_TEST(test_threads_share_one_board)
{
  pthread_t threads[WRITERS + READERS + CLEANERS];
  rlb_stats stats;
  int c, m, i, n = 0;
  char job[64];

  for (c = 0; c < CODES; c++) {
    for (m = 0; m < MODELS; m++) {
      job_for(c, m, job, sizeof(job));
      ck_assert_int_eq(rlb_job_hash(job, hashes[c][m]), 0);
    }
  }
  board = test_board_open_capacity(name, sizeof(name), CAPACITY);
  ck_assert_int_eq(rlb_stats_get(board, &stats), 0);
  ttl_factor = stats.ttl_factor;
  stop_at = test_now() + stress_seconds();

  for (i = 0; i < WRITERS; i++)
    ck_assert_int_eq(pthread_create(&threads[n++], NULL, writer_main,
                                    (void *)(uintptr_t)(i + 1)),
                     0);
  for (i = 0; i < READERS; i++)
    ck_assert_int_eq(pthread_create(&threads[n++], NULL, reader_main,
                                    (void *)(uintptr_t)(i + 1)),
                     0);
  for (i = 0; i < CLEANERS; i++)
    ck_assert_int_eq(pthread_create(&threads[n++], NULL, cleaner_main,
                                    (void *)(uintptr_t)(i + 1)),
                     0);
  for (i = 0; i < n; i++)
    pthread_join(threads[i], NULL);

  ck_assert_msg(!atomic_load(&failed), "%s", failure);
  ck_assert_uint_gt(atomic_load(&records_done), 0);
  ck_assert_int_eq(rlb_stats_get(board, &stats), 0);
  ck_assert_uint_eq(stats.records, atomic_load(&records_done));
  ck_assert_int_eq(rlb_verify(board, print_violation, NULL), 0);
  test_board_remove(board);
}
END_TEST

static Suite *make_stress_suite(void)
{
  Suite *s = suite_create("stress_threads");
  TCase *tc = tcase_create("threads");

  tcase_set_timeout(tc, 60 + stress_seconds() * 4);
  tcase_add_test(tc, test_threads_share_one_board);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *runner = srunner_create(make_stress_suite());
  int failures;

  srunner_run_all(runner, CK_NORMAL);
  failures = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
