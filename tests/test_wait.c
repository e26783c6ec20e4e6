/*
 * rlb_wait(), rlb_clear() and rlb_clear_id() across processes: waiters
 * sleep without polling until the limit is over, spread out over the
 * jitter window when released together, wake within milliseconds of a
 * clear, and honour their timeouts and signals.
 *
 * Waiters are forked children that report their outcome and the
 * CLOCK_MONOTONIC time of their return through a shared anonymous mapping.
 * Bounds on those times come from the behaviour's specification (expiry,
 * jitter window) plus a margin for a loaded machine.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define NS_PER_SEC INT64_C(1000000000)
#define NS_PER_MS INT64_C(1000000)
/* Scheduling slack allowed on top of a specified return time. */
#define MARGIN_NS (300 * NS_PER_MS)

/* What a forked waiter reports. */
typedef struct waiter_report {
  int64_t returned_ns;
  int rc;
} waiter_report;

static char name[64];
static rlb_board *board;
static waiter_report *reports;
#define MAX_WAITERS 32

static int64_t now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* Opens a fresh board with the given jitter setting. */
static void open_board(uint32_t jitter_ms)
{
  rlb_options opts;
  int rc;

  test_board_name(name, sizeof(name));
  rlb_options_init(&opts);
  opts.flags = RLB_CREATE | RLB_EXCLUSIVE;
  opts.capacity = 64;
  opts.jitter_ms = jitter_ms;
  rc = rlb_open(&board, name, &opts);
  ck_assert_msg(rc == 0, "rlb_open(%s): %s", name, rlb_strerror(rc));
}

static void setup(void)
{
  reports = mmap(NULL, MAX_WAITERS * sizeof(*reports), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ck_assert_ptr_ne(reports, MAP_FAILED);
  board = NULL;
}

static void teardown(void)
{
  test_board_remove(board);
  board = NULL;
  munmap(reports, MAX_WAITERS * sizeof(*reports));
}

static void record_ok(const char *code, double duration, const char *model,
                      char *id)
{
  int rc = rlb_record(board, code, duration, "job-wait", model, id);

  ck_assert_msg(rc == 0, "rlb_record: %s", rlb_strerror(rc));
}

/*
 * Returns a CLOCK_MONOTONIC time no later than the moment the latest event
 * matching model expires: the clock is read before the check.
 */
static int64_t expiry_of(const char *model)
{
  int64_t before = now_ns();
  double left = 0.0;

  ck_assert_int_eq(rlb_check(board, NULL, model, &left), 1);
  return before + (int64_t)(left * 1e9);
}

/* Forks a child that waits on the board and reports into reports[slot]. */
static pid_t spawn_waiter(int slot, const char *code, const char *model,
                          double timeout, int jitter_ms)
{
  pid_t pid = fork();

  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int rc = rlb_wait(board, code, model, timeout, jitter_ms);

    reports[slot].returned_ns = now_ns();
    reports[slot].rc = rc;
    _exit(0);
  }
  return pid;
}

/* Waits for a child and fails the test unless it exited normally. */
static void reap(pid_t pid)
{
  int status;

  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), 0);
}

static uint32_t waiters_now(void)
{
  rlb_stats st;

  ck_assert_int_eq(rlb_stats_get(board, &st), 0);
  return st.waiters;
}

/* Polls until n processes are blocked in rlb_wait(), for at most 10 s. */
static void await_waiters(uint32_t n)
{
  int64_t give_up = now_ns() + 10 * NS_PER_SEC;

  while (waiters_now() < n && now_ns() < give_up)
    test_sleep_ms(5);
  ck_assert_uint_eq(waiters_now(), n);
}

/* ---- release at expiry -------------------------------------------------- */

START_TEST(test_wait_clear_board_returns_at_once)
{
  int64_t start;

  open_board(RLB_JITTER_MS_MAX);
  record_ok("E101", 600, "m1", NULL);
  start = now_ns();
  /* Never limited, so no jitter: the 600 s window would show. */
  ck_assert_int_eq(rlb_wait(board, NULL, "m2", 10, -1), 0);
  ck_assert_int_eq(rlb_wait(board, "E102", "m1", 10, -1), 0);
  ck_assert_int_lt(now_ns() - start, 5 * NS_PER_SEC);
}
END_TEST

START_TEST(test_wait_returns_at_expiry)
{
  int64_t expiry;

  open_board(0);
  record_ok("E101", 1.25, "m1", NULL);
  expiry = expiry_of("m1");
  ck_assert_int_eq(rlb_wait(board, NULL, "m1", 10, -1), 0);
  ck_assert_int_ge(now_ns(), expiry);
  ck_assert_int_lt(now_ns(), expiry + MARGIN_NS);
  ck_assert_int_eq(rlb_check(board, NULL, "m1", NULL), 0);
  ck_assert_uint_eq(waiters_now(), 0);
}
END_TEST

START_TEST(test_wait_new_event_extends_wait)
{
  int64_t second_expiry;
  pid_t pid;

  open_board(0);
  record_ok("E101", 1.25, "m1", NULL);
  pid = spawn_waiter(0, NULL, "m1", 10, -1);
  await_waiters(1);
  test_sleep_ms(500);
  record_ok("E103", 2.5, "m1", NULL);
  second_expiry = expiry_of("m1");
  reap(pid);
  ck_assert_int_eq(reports[0].rc, 0);
  ck_assert_int_ge(reports[0].returned_ns, second_expiry);
  ck_assert_int_lt(reports[0].returned_ns, second_expiry + MARGIN_NS);
}
END_TEST

/*
 * 32 waiters on one limit, released together: none returns before the
 * expiry, each returns within the 400 ms window plus the margin, and the
 * returns spread over the window. The chance that 32 uniform delays fall
 * within a quarter of the window is below 1e-18.
 */
START_TEST(test_wait_jitter_spreads_32_waiters)
{
  const int64_t window = 400 * NS_PER_MS;
  pid_t pids[MAX_WAITERS];
  int64_t expiry, first = INT64_MAX, last = INT64_MIN;
  int i;

  open_board(400);
  record_ok("E101", 1.25, "m1", NULL);
  expiry = expiry_of("m1");
  for (i = 0; i < MAX_WAITERS; i++)
    pids[i] = spawn_waiter(i, NULL, "m1", 10, -1);
  for (i = 0; i < MAX_WAITERS; i++)
    reap(pids[i]);

  for (i = 0; i < MAX_WAITERS; i++) {
    int64_t t = reports[i].returned_ns;

    ck_assert_int_eq(reports[i].rc, 0);
    ck_assert_int_ge(t, expiry);
    ck_assert_int_lt(t, expiry + window + MARGIN_NS);
    if (t < first)
      first = t;
    if (t > last)
      last = t;
  }
  ck_assert_int_gt(last - first, 10 * NS_PER_MS);
  ck_assert_int_ge(last - first, window / 4);
  ck_assert_uint_eq(waiters_now(), 0);
}
END_TEST

/* A waiter on a 5 s limit uses almost no CPU over a 1 s wait: it sleeps
 * on the futex instead of polling. */
START_TEST(test_wait_sleeps_without_polling)
{
  struct rusage usage;
  int64_t cpu_us;
  int status;
  pid_t pid;

  open_board(0);
  record_ok("E101", 5, "m1", NULL);
  pid = spawn_waiter(0, NULL, "m1", 1.0, -1);
  ck_assert_int_eq(wait4(pid, &status, 0, &usage), pid);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(reports[0].rc, RLB_ETIMEDOUT);
  cpu_us = (int64_t)usage.ru_utime.tv_sec * 1000000 + usage.ru_utime.tv_usec +
           (int64_t)usage.ru_stime.tv_sec * 1000000 + usage.ru_stime.tv_usec;
  ck_assert_int_lt(cpu_us, 50000);
}
END_TEST

/* ---- timeouts and signals ----------------------------------------------- */

START_TEST(test_wait_timeout_honoured)
{
  int64_t start, elapsed;

  open_board(0);
  record_ok("E101", 600, "m1", NULL);
  start = now_ns();
  ck_assert_int_eq(rlb_wait(board, NULL, "m1", 0.5, -1), RLB_ETIMEDOUT);
  elapsed = now_ns() - start;
  ck_assert_int_ge(elapsed, 500 * NS_PER_MS);
  ck_assert_int_lt(elapsed, 1500 * NS_PER_MS);
  ck_assert_uint_eq(waiters_now(), 0);
}
END_TEST

START_TEST(test_wait_timeout_zero_only_looks)
{
  open_board(0);
  ck_assert_int_eq(rlb_wait(board, NULL, "m1", 0, -1), 0);
  record_ok("E101", 600, "m1", NULL);
  ck_assert_int_eq(rlb_wait(board, NULL, "m1", 0, -1), RLB_ETIMEDOUT);
  ck_assert_uint_eq(waiters_now(), 0);
}
END_TEST

static void on_signal(int signo)
{
  (void)signo;
}

/* A signal handler that runs during the sleep ends the wait with -EINTR,
 * and the waiter takes itself off the count. */
START_TEST(test_wait_signal_returns_eintr)
{
  pid_t pid;

  open_board(0);
  record_ok("E101", 600, "m1", NULL);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    reports[0].rc = rlb_wait(board, NULL, "m1", 20, -1);
    _exit(0);
  }
  await_waiters(1);
  ck_assert_int_eq(kill(pid, SIGUSR1), 0);
  reap(pid);
  ck_assert_int_eq(reports[0].rc, -EINTR);
  ck_assert_uint_eq(waiters_now(), 0);
}
END_TEST

START_TEST(test_wait_bad_input_rejected)
{
  char long_model[RLB_MODEL_MAX + 2];

  open_board(0);
  memset(long_model, 'm', sizeof(long_model) - 1);
  long_model[sizeof(long_model) - 1] = '\0';
  ck_assert_int_eq(rlb_wait(NULL, NULL, NULL, 1, 0), RLB_EINVALARG);
  ck_assert_int_eq(rlb_wait(board, NULL, NULL, NAN, 0), RLB_EINVALARG);
  ck_assert_int_eq(rlb_wait(board, NULL, NULL, 1, RLB_JITTER_MS_MAX + 1),
                   RLB_EINVALARG);
  ck_assert_int_eq(rlb_wait(board, "", NULL, 1, 0), RLB_EINVALCODE);
  ck_assert_int_eq(rlb_wait(board, NULL, "", 1, 0), RLB_EINVALMODEL);
  ck_assert_int_eq(rlb_wait(board, NULL, long_model, 1, 0), RLB_EINVALMODEL);
}
END_TEST

/* ---- early clear -------------------------------------------------------- */

/* Four waiters on a 600 s limit return within 200 ms of the clear. */
START_TEST(test_clear_wakes_waiters)
{
  pid_t pids[4];
  int64_t cleared_at;
  size_t removed = 0;
  int i;

  open_board(400);
  record_ok("E101", 600, "m1", NULL);
  for (i = 0; i < 4; i++)
    pids[i] = spawn_waiter(i, NULL, "m1", 20, 0);
  await_waiters(4);
  cleared_at = now_ns();
  ck_assert_int_eq(rlb_clear(board, NULL, "m1", &removed), 0);
  ck_assert_uint_eq(removed, 1);
  for (i = 0; i < 4; i++)
    reap(pids[i]);
  for (i = 0; i < 4; i++) {
    ck_assert_int_eq(reports[i].rc, 0);
    ck_assert_int_ge(reports[i].returned_ns, cleared_at);
    ck_assert_int_lt(reports[i].returned_ns, cleared_at + 200 * NS_PER_MS);
  }
}
END_TEST

START_TEST(test_clear_id_wakes_waiter)
{
  char id[RLB_ID_LEN + 1];
  int64_t cleared_at;
  pid_t pid;

  open_board(0);
  record_ok("E101", 600, "m1", id);
  pid = spawn_waiter(0, "E101", NULL, 20, -1);
  await_waiters(1);
  cleared_at = now_ns();
  ck_assert_int_eq(rlb_clear_id(board, id), 0);
  reap(pid);
  ck_assert_int_eq(reports[0].rc, 0);
  ck_assert_int_lt(reports[0].returned_ns, cleared_at + 200 * NS_PER_MS);
}
END_TEST

/* Clearing another key wakes the waiter, which finds its own limit still
 * live and goes on waiting until its timeout. */
START_TEST(test_clear_other_key_keeps_waiting)
{
  size_t removed = 0;
  pid_t pid;

  open_board(0);
  record_ok("E101", 600, "m1", NULL);
  record_ok("E101", 600, "m2", NULL);
  pid = spawn_waiter(0, NULL, "m1", 1.0, -1);
  await_waiters(1);
  ck_assert_int_eq(rlb_clear(board, NULL, "m2", &removed), 0);
  ck_assert_uint_eq(removed, 1);
  reap(pid);
  ck_assert_int_eq(reports[0].rc, RLB_ETIMEDOUT);
}
END_TEST

/* A clear that matches nothing removes nothing and leaves waiters alone. */
START_TEST(test_clear_without_match_keeps_limit)
{
  size_t removed = 7;

  open_board(0);
  record_ok("E101", 600, "m1", NULL);
  ck_assert_int_eq(rlb_clear(board, "E104", NULL, &removed), 0);
  ck_assert_uint_eq(removed, 0);
  ck_assert_int_eq(rlb_check(board, NULL, "m1", NULL), 1);
  ck_assert_int_eq(rlb_wait(board, NULL, "m1", 0.2, 0), RLB_ETIMEDOUT);
}
END_TEST

static Suite *make_wait_suite(void)
{
  Suite *s = suite_create("wait");
  TCase *release = tcase_create("release");
  TCase *limits = tcase_create("limits");
  TCase *clear = tcase_create("clear");

  tcase_add_checked_fixture(release, setup, teardown);
  tcase_set_timeout(release, 60);
  tcase_add_test(release, test_wait_clear_board_returns_at_once);
  tcase_add_test(release, test_wait_returns_at_expiry);
  tcase_add_test(release, test_wait_new_event_extends_wait);
  tcase_add_test(release, test_wait_jitter_spreads_32_waiters);
  tcase_add_test(release, test_wait_sleeps_without_polling);
  suite_add_tcase(s, release);

  tcase_add_checked_fixture(limits, setup, teardown);
  tcase_set_timeout(limits, 60);
  tcase_add_test(limits, test_wait_timeout_honoured);
  tcase_add_test(limits, test_wait_timeout_zero_only_looks);
  tcase_add_test(limits, test_wait_signal_returns_eintr);
  tcase_add_test(limits, test_wait_bad_input_rejected);
  suite_add_tcase(s, limits);

  tcase_add_checked_fixture(clear, setup, teardown);
  tcase_set_timeout(clear, 60);
  tcase_add_test(clear, test_clear_wakes_waiters);
  tcase_add_test(clear, test_clear_id_wakes_waiter);
  tcase_add_test(clear, test_clear_other_key_keeps_waiting);
  tcase_add_test(clear, test_clear_without_match_keeps_limit);
  suite_add_tcase(s, clear);
  return s;
}

int main(void)
{
  SRunner *runner = srunner_create(make_wait_suite());
  int failed;

  srunner_run_all(runner, CK_NORMAL);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
