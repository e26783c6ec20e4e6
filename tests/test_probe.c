/*
 * The half-open probe: one holder at a time, tokens, release on success
 * and on failure, waiters held while the probe is out, and a dead prober's
 * probe freed at its deadline.
 *
 * Waiters and racing probers are forked children that report through a
 * shared anonymous mapping. The probers of the race start together at a
 * common CLOCK_MONOTONIC moment.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define NS_PER_SEC INT64_C(1000000000)
#define NS_PER_MS INT64_C(1000000)
/* Scheduling slack allowed on top of a specified return time. */
#define MARGIN_NS (300 * NS_PER_MS)
#define MAX_CHILDREN 8

/* What a forked child reports. */
typedef struct child_report {
  int64_t at_ns;
  int rc;
  uint64_t token;
} child_report;

static char name[64];
static rlb_board *board;
static child_report *reports;

static int64_t now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static void sleep_until(int64_t when_ns)
{
  struct timespec ts = {(time_t)(when_ns / NS_PER_SEC),
                        (long)(when_ns % NS_PER_SEC)};

  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
    ;
}

/* Opens a fresh board with the given jitter and probe timeout. */
static void open_board(uint32_t jitter_ms, uint32_t probe_timeout_ms)
{
  rlb_options opts;
  int rc;

  test_board_name(name, sizeof(name));
  rlb_options_init(&opts);
  opts.flags = RLB_CREATE | RLB_EXCLUSIVE;
  opts.capacity = 64;
  opts.jitter_ms = jitter_ms;
  opts.probe_timeout_ms = probe_timeout_ms;
  rc = rlb_open(&board, name, &opts);
  ck_assert_msg(rc == 0, "rlb_open(%s): %s", name, rlb_strerror(rc));
}

static void setup(void)
{
  reports = mmap(NULL, MAX_CHILDREN * sizeof(*reports), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ck_assert_ptr_ne(reports, MAP_FAILED);
  board = NULL;
}

static void teardown(void)
{
  test_board_remove(board);
  board = NULL;
  munmap(reports, MAX_CHILDREN * sizeof(*reports));
}

static void record_ok(const char *code, double duration, const char *model)
{
  int rc = rlb_record(board, code, duration, "job-probe", model, NULL);

  ck_assert_msg(rc == 0, "rlb_record: %s", rlb_strerror(rc));
}

/* Returns a CLOCK_MONOTONIC time no later than the latest expiry among the
 * events that match model. */
static int64_t expiry_of(const char *model)
{
  int64_t before = now_ns();
  double left = 0.0;

  ck_assert_int_eq(rlb_check(board, NULL, model, &left), 1);
  return before + (int64_t)(left * 1e9);
}

/* Takes the probe for model and fails the test unless that works. */
static uint64_t acquire_ok(const char *model)
{
  uint64_t token = 0;
  int rc = rlb_probe_acquire(board, NULL, model, &token);

  ck_assert_msg(rc == 0, "rlb_probe_acquire: %s", rlb_error_name(rc));
  ck_assert_uint_ne(token, 0);
  return token;
}

/* Forks a child that waits on model and reports into reports[slot]. */
static pid_t spawn_waiter(int slot, const char *model, double timeout)
{
  pid_t pid = fork();

  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int rc = rlb_wait(board, NULL, model, timeout, -1);

    reports[slot].at_ns = now_ns();
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

static rlb_stats stats_now(void)
{
  rlb_stats st;

  ck_assert_int_eq(rlb_stats_get(board, &st), 0);
  return st;
}

/* Polls until n processes are blocked in rlb_wait(), for at most 10 s. */
static void await_waiters(uint32_t n)
{
  int64_t give_up = now_ns() + 10 * NS_PER_SEC;

  while (stats_now().waiters < n && now_ns() < give_up)
    test_sleep_ms(5);
  ck_assert_uint_eq(stats_now().waiters, n);
}

/* Fails the test if the child has already exited. */
static void assert_still_waiting(pid_t pid)
{
  int status;

  ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);
}

/* Waits until the limit on model is over, without jitter. */
static void wait_out_limit(const char *model)
{
  ck_assert_int_eq(rlb_wait(board, NULL, model, 10, 0), 0);
}

/* ---- acquire and release ------------------------------------------------ */

START_TEST(test_probe_acquire_while_limited_returns_one)
{
  uint64_t token = 42;

  open_board(0, 30000);
  record_ok("E101", 600, "m1");
  ck_assert_int_eq(rlb_probe_acquire(board, NULL, "m1", &token), 1);
  ck_assert_uint_eq(token, 42);
  ck_assert_int_eq(rlb_probe_acquire(board, "E101", NULL, &token), 1);
  ck_assert_int_eq(stats_now().probe_held, 0);
  /* Another key is clear, so its probe can be taken. */
  token = acquire_ok("m2");
  ck_assert_int_eq(stats_now().probe_held, 1);
}
END_TEST

START_TEST(test_probe_second_acquire_is_held)
{
  uint64_t token, other = 0;

  open_board(0, 30000);
  token = acquire_ok("m1");
  ck_assert_int_eq(stats_now().probe_held, 1);
  ck_assert_int_eq(rlb_probe_acquire(board, NULL, "m1", &other),
                   RLB_EPROBEHELD);
  /* The board has one probe for every key. */
  ck_assert_int_eq(rlb_probe_acquire(board, "E101", "m2", &other),
                   RLB_EPROBEHELD);
  ck_assert_uint_eq(other, 0);
  ck_assert_int_eq(rlb_probe_release(board, token, 1), 0);
  ck_assert_int_eq(stats_now().probe_held, 0);
  other = acquire_ok("m2");
  ck_assert_uint_ne(other, token);
}
END_TEST

START_TEST(test_probe_success_makes_probe_unneeded)
{
  uint64_t token = 42;

  open_board(0, 30000);
  record_ok("E101", 0.125, "m1");
  wait_out_limit("m1");
  token = acquire_ok("m1");
  ck_assert_int_eq(rlb_probe_release(board, token, 1), 0);

  /* The success shows the limit is over: the other waiters send at once. */
  token = 42;
  ck_assert_int_eq(rlb_probe_acquire(board, NULL, "m1", &token),
                   RLB_PROBE_NOT_NEEDED);
  ck_assert_uint_eq(token, 0);
  ck_assert_int_eq(stats_now().probe_held, 0);

  /* Another key still needs its own probe. */
  token = acquire_ok("m2");
  ck_assert_int_eq(rlb_probe_release(board, token, 1), 0);

  /* A new limit on the key needs a new probe once it is over. */
  record_ok("E101", 0.125, "m1");
  ck_assert_int_eq(rlb_probe_acquire(board, NULL, "m1", &token),
                   RLB_PROBE_LIMITED);
  wait_out_limit("m1");
  token = acquire_ok("m1");
  ck_assert_uint_ne(token, 0);
}
END_TEST

START_TEST(test_probe_release_needs_current_token)
{
  uint64_t token;

  open_board(0, 30000);
  token = acquire_ok("m1");
  ck_assert_int_eq(rlb_probe_release(board, 0, 1), RLB_ENOPROBE);
  ck_assert_int_eq(rlb_probe_release(board, token + 1, 1), RLB_ENOPROBE);
  ck_assert_int_eq(stats_now().probe_held, 1);
  ck_assert_int_eq(rlb_probe_release(board, token, 1), 0);
  ck_assert_int_eq(rlb_probe_release(board, token, 1), RLB_ENOPROBE);
}
END_TEST

/* Until another worker takes it over, a probe past its deadline can still
 * be released. After a takeover the old token releases nothing. */
START_TEST(test_probe_expired_probe_taken_over)
{
  uint64_t first, second;

  open_board(0, 300);
  first = acquire_ok("m1");
  test_sleep_ms(400);
  ck_assert_int_eq(stats_now().probe_held, 0);
  ck_assert_int_eq(rlb_probe_release(board, first, 1), 0);

  first = acquire_ok("m2");
  test_sleep_ms(400);
  second = acquire_ok("m2");
  ck_assert_uint_ne(second, first);
  ck_assert_int_eq(rlb_probe_release(board, first, 1), RLB_ENOPROBE);
  ck_assert_int_eq(stats_now().probe_held, 1);
  ck_assert_int_eq(rlb_probe_release(board, second, 1), 0);
}
END_TEST

START_TEST(test_probe_bad_input_rejected)
{
  uint64_t token = 0;

  open_board(0, 30000);
  ck_assert_int_eq(rlb_probe_acquire(NULL, NULL, "m1", &token), RLB_EINVALARG);
  ck_assert_int_eq(rlb_probe_acquire(board, NULL, "m1", NULL), RLB_EINVALARG);
  ck_assert_int_eq(rlb_probe_acquire(board, "", "m1", &token), RLB_EINVALCODE);
  ck_assert_int_eq(rlb_probe_acquire(board, NULL, "", &token), RLB_EINVALMODEL);
  ck_assert_int_eq(rlb_probe_release(NULL, 1, 1), RLB_EINVALARG);
  ck_assert_int_eq(stats_now().probe_held, 0);
}
END_TEST

static int warnings;

static void count_warnings(void *context, int level, const char *message)
{
  (void)context;
  (void)message;
  if (level == RLB_LOG_WARNING)
    warnings++;
}

/* A failure reported without a live event for the probe's key is logged,
 * because the waiters then resume at once. */
START_TEST(test_probe_failure_without_record_logged)
{
  uint64_t token;

  open_board(0, 30000);
  rlb_set_log_callback(count_warnings, NULL);
  warnings = 0;
  token = acquire_ok("m1");
  record_ok("E101", 60, "m1");
  ck_assert_int_eq(rlb_probe_release(board, token, 0), 0);
  ck_assert_int_eq(warnings, 0);

  token = acquire_ok("m2");
  ck_assert_int_eq(rlb_probe_release(board, token, 0), 0);
  ck_assert_int_eq(warnings, 1);
  rlb_set_log_callback(NULL, NULL);
}
END_TEST

/* ---- several processes -------------------------------------------------- */

/* Eight processes race for the probe at one moment after the expiry:
 * exactly one takes it, the others get RLB_EPROBEHELD. */
START_TEST(test_probe_race_has_one_holder)
{
  pid_t pids[MAX_CHILDREN];
  int64_t start;
  int i, holders = 0, held = 0;

  open_board(0, 30000);
  record_ok("E101", 0.25, "m1");
  start = expiry_of("m1") + 100 * NS_PER_MS;
  for (i = 0; i < MAX_CHILDREN; i++) {
    pids[i] = fork();
    ck_assert_int_ge(pids[i], 0);
    if (pids[i] == 0) {
      sleep_until(start);
      reports[i].rc = rlb_probe_acquire(board, NULL, "m1", &reports[i].token);
      _exit(0);
    }
  }
  for (i = 0; i < MAX_CHILDREN; i++)
    reap(pids[i]);
  for (i = 0; i < MAX_CHILDREN; i++) {
    if (reports[i].rc == 0)
      holders++;
    else if (reports[i].rc == RLB_EPROBEHELD)
      held++;
  }
  ck_assert_int_eq(holders, 1);
  ck_assert_int_eq(held, MAX_CHILDREN - 1);
  ck_assert_int_eq(stats_now().probe_held, 1);
}
END_TEST

/*
 * While the probe is held after a limit expired, waiters keep waiting,
 * whatever their filters. A successful release wakes them, and they return
 * within the jitter window plus the margin.
 */
START_TEST(test_probe_success_releases_waiters)
{
  const int64_t window = 200 * NS_PER_MS;
  pid_t pids[4];
  int64_t released_at;
  uint64_t token;
  int i;

  open_board(200, 30000);
  record_ok("E101", 0.25, "m1");
  wait_out_limit("m1");
  token = acquire_ok("m1");
  for (i = 0; i < 3; i++)
    pids[i] = spawn_waiter(i, "m1", 20);
  pids[3] = spawn_waiter(3, "m2", 20);
  await_waiters(4);
  test_sleep_ms(300);
  for (i = 0; i < 4; i++)
    assert_still_waiting(pids[i]);

  released_at = now_ns();
  ck_assert_int_eq(rlb_probe_release(board, token, 1), 0);
  for (i = 0; i < 4; i++)
    reap(pids[i]);
  for (i = 0; i < 4; i++) {
    ck_assert_int_eq(reports[i].rc, 0);
    ck_assert_int_ge(reports[i].at_ns, released_at);
    ck_assert_int_lt(reports[i].at_ns, released_at + window + MARGIN_NS);
  }
  ck_assert_uint_eq(stats_now().waiters, 0);
}
END_TEST

/* A failed probe records a new limit first, so the released waiters find
 * it and wait until it expires. */
START_TEST(test_probe_failure_keeps_waiters_waiting)
{
  const int64_t window = 200 * NS_PER_MS;
  pid_t pids[4];
  int64_t expiry;
  uint64_t token;
  int i;

  open_board(200, 30000);
  record_ok("E101", 0.25, "m1");
  wait_out_limit("m1");
  token = acquire_ok("m1");
  for (i = 0; i < 4; i++)
    pids[i] = spawn_waiter(i, "m1", 20);
  await_waiters(4);

  record_ok("E101", 1.25, "m1");
  expiry = expiry_of("m1");
  ck_assert_int_eq(rlb_probe_release(board, token, 0), 0);
  test_sleep_ms(300);
  for (i = 0; i < 4; i++)
    assert_still_waiting(pids[i]);
  for (i = 0; i < 4; i++)
    reap(pids[i]);
  for (i = 0; i < 4; i++) {
    ck_assert_int_eq(reports[i].rc, 0);
    ck_assert_int_ge(reports[i].at_ns, expiry);
    ck_assert_int_lt(reports[i].at_ns, expiry + window + MARGIN_NS);
  }
}
END_TEST

/*
 * A probe taken while released waiters sleep their jitter sends them back
 * to waiting, because each looks at the board again after its delay. The
 * jitter window is 600 s, so each delay is cut off at the waiter's 3 s
 * timeout, and the waiter finds the probe held then and times out. The
 * parent takes the probe again 100 ms after the release: a waiter whose
 * delay is shorter returns 0, with a chance below 1 in 5000 per waiter.
 */
START_TEST(test_probe_taken_during_jitter_holds_waiters)
{
  pid_t pids[3];
  int64_t started_at;
  uint64_t token;
  int i;

  open_board(RLB_JITTER_MS_MAX, 30000);
  token = acquire_ok("m1");
  started_at = now_ns();
  for (i = 0; i < 3; i++)
    pids[i] = spawn_waiter(i, "m1", 3);
  await_waiters(3);
  ck_assert_int_eq(rlb_probe_release(board, token, 1), 0);
  test_sleep_ms(100);
  /* A probe of another key: the board's one probe holds every wait. */
  token = acquire_ok("m2");

  for (i = 0; i < 3; i++)
    reap(pids[i]);
  for (i = 0; i < 3; i++) {
    ck_assert_int_eq(reports[i].rc, RLB_ETIMEDOUT);
    ck_assert_int_ge(reports[i].at_ns, started_at + 3 * NS_PER_SEC);
  }
  ck_assert_uint_eq(stats_now().waiters, 0);
  ck_assert_int_eq(rlb_probe_release(board, token, 1), 0);
}
END_TEST

/*
 * A prober killed with SIGKILL never releases. Its probe blocks others
 * until the deadline, 1 s after it was taken, and no longer: a waiter then
 * returns and the probe can be taken again.
 */
START_TEST(test_probe_killed_prober_expires)
{
  const int64_t timeout = 1000 * NS_PER_MS;
  uint64_t token = 0;
  int64_t taken_at, free_at = 0, give_up;
  int status, rc;
  pid_t prober, waiter;

  open_board(0, 1000);
  prober = fork();
  ck_assert_int_ge(prober, 0);
  if (prober == 0) {
    reports[0].at_ns = now_ns();
    reports[0].rc = rlb_probe_acquire(board, NULL, "m1", &reports[0].token);
    raise(SIGKILL);
    _exit(1);
  }
  ck_assert_int_eq(waitpid(prober, &status, 0), prober);
  ck_assert(WIFSIGNALED(status));
  ck_assert_int_eq(reports[0].rc, 0);
  taken_at = reports[0].at_ns;

  waiter = spawn_waiter(1, "m1", 10);
  ck_assert_int_eq(rlb_probe_acquire(board, NULL, "m1", &token),
                   RLB_EPROBEHELD);
  give_up = now_ns() + 5 * NS_PER_SEC;
  while (now_ns() < give_up) {
    rc = rlb_probe_acquire(board, NULL, "m1", &token);
    if (rc == 0) {
      free_at = now_ns();
      break;
    }
    ck_assert_int_eq(rc, RLB_EPROBEHELD);
    test_sleep_ms(10);
  }
  ck_assert_int_ne(free_at, 0);
  ck_assert_int_ge(free_at, taken_at + timeout);
  ck_assert_int_lt(free_at, taken_at + timeout + MARGIN_NS);

  reap(waiter);
  ck_assert_int_eq(reports[1].rc, 0);
  ck_assert_int_ge(reports[1].at_ns, taken_at + timeout);
}
END_TEST

static Suite *make_probe_suite(void)
{
  Suite *s = suite_create("probe");
  TCase *tokens = tcase_create("tokens");
  TCase *processes = tcase_create("processes");

  tcase_add_checked_fixture(tokens, setup, teardown);
  tcase_set_timeout(tokens, 30);
  tcase_add_test(tokens, test_probe_acquire_while_limited_returns_one);
  tcase_add_test(tokens, test_probe_second_acquire_is_held);
  tcase_add_test(tokens, test_probe_release_needs_current_token);
  tcase_add_test(tokens, test_probe_success_makes_probe_unneeded);
  tcase_add_test(tokens, test_probe_expired_probe_taken_over);
  tcase_add_test(tokens, test_probe_bad_input_rejected);
  tcase_add_test(tokens, test_probe_failure_without_record_logged);
  suite_add_tcase(s, tokens);

  tcase_add_checked_fixture(processes, setup, teardown);
  tcase_set_timeout(processes, 60);
  tcase_add_test(processes, test_probe_race_has_one_holder);
  tcase_add_test(processes, test_probe_success_releases_waiters);
  tcase_add_test(processes, test_probe_failure_keeps_waiters_waiting);
  tcase_add_test(processes, test_probe_taken_during_jitter_holds_waiters);
  tcase_add_test(processes, test_probe_killed_prober_expires);
  suite_add_tcase(s, processes);
  return s;
}

int main(void)
{
  SRunner *runner = srunner_create(make_probe_suite());
  int failed;

  srunner_run_all(runner, CK_NORMAL);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
