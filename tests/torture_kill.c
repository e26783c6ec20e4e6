/*
 * Crash tests: a child process is killed with SIGKILL at a named point
 * inside a write (the kill points of the rlboard_fault build), and the
 * board must stay readable and be repaired by the next process that takes
 * the lock. Readers must neither hang nor return a half-written event, and
 * every acknowledged event must survive unless the killed operation was
 * removing it.
 */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <urcu/system.h>

#include "internal.h"
#include "support.h"

#define ACKED_MAX 12
#define RESTORE_ROWS 4

/* An event the test recorded and got an id for. */
typedef struct acked_event {
  char id[RLB_ID_LEN + 1];
  char code[16];
  char model[24];
  char job[24];
  double duration;
} acked_event;

/* The operation that the killed child performs. */
typedef enum kill_op {
  OP_RECORD,        /* record one event on a board with room */
  OP_RECORD_REUSED, /* record into the slot of a cleared event */
  OP_RECORD_FULL,   /* record on a full board, which evicts */
  OP_CLEAR_ID,      /* clear one acknowledged event by id */
  OP_CLEAR,         /* clear by the error code of one acknowledged event */
  OP_CLEANUP,       /* remove expired events */
  OP_RESTORE,       /* restore a snapshot of other events */
  OP_REPAIR         /* record after another writer died holding the lock */
} kill_op;

typedef struct kill_case {
  const char *point;
  kill_op op;
  int target;       /* acknowledged event the operation removes, or -1 */
  int victim_whole; /* the recorded event may survive, complete */
} kill_case;

static const kill_case kill_cases[] = {
    {"slot_odd", OP_RECORD, -1, 0},     {"slot_half", OP_RECORD_REUSED, -1, 0},
    {"slot_written", OP_RECORD, -1, 1}, {"slot_clear", OP_RECORD_FULL, 0, 0},
    {"slot_clear", OP_CLEAR_ID, 2, 0},  {"index_delete", OP_CLEAR_ID, 3, 0},
    {"index_delete", OP_CLEAR, 1, 0},   {"cleanup", OP_CLEANUP, -1, 0},
    {"restore", OP_RESTORE, -1, 0},     {"rebuild", OP_REPAIR, -1, 0},
};

/* The event that killed children record. */
#define VICTIM_CODE "KILL"
#define VICTIM_MODEL "victim"
#define VICTIM_JOB "job-victim"
#define VICTIM_DURATION 600.0

static char name[64];
static rlb_board *board;
static acked_event acked[ACKED_MAX];
static size_t acked_count;
static acked_event restore_rows[RESTORE_ROWS];
static char snapshot_path[128];

static void print_violation(void *context, const char *message)
{
  (void)context;
  fprintf(stderr, "violation: %s\n", message);
}

static void teardown(void)
{
  test_board_remove(board);
  board = NULL;
  acked_count = 0;
  if (snapshot_path[0] != '\0') {
    unlink(snapshot_path);
    snapshot_path[0] = '\0';
  }
}

/* Records acked[i] with the fields of event number i. */
static void record_acked(rlb_board *b, acked_event *ev, const char *prefix,
                         int i, double duration)
{
  int rc;

  snprintf(ev->code, sizeof(ev->code), "%s%d", prefix, i);
  snprintf(ev->model, sizeof(ev->model), "model-%s%d", prefix, i);
  snprintf(ev->job, sizeof(ev->job), "job-%s%d", prefix, i);
  ev->duration = duration;
  rc = rlb_record(b, ev->code, ev->duration, ev->job, ev->model, ev->id);
  ck_assert_msg(rc == 0, "rlb_record %s: %s", ev->code, rlb_strerror(rc));
}

/* Returns 1 when ev has exactly the fields of want. */
static int event_is(const rlb_event *ev, const acked_event *want)
{
  char hash[RLB_HASH_LEN + 1];

  rlb_job_hash(want->job, hash);
  return strcmp(ev->id, want->id) == 0 &&
         strcmp(ev->error_code, want->code) == 0 && ev->has_model == 1 &&
         strcmp(ev->model, want->model) == 0 &&
         strcmp(ev->source_job_hash, hash) == 0 &&
         ev->duration_seconds == want->duration;
}

/* Returns 1 when ev is the complete event that a killed child recorded. */
static int event_is_victim(const rlb_event *ev)
{
  char hash[RLB_HASH_LEN + 1];

  rlb_job_hash(VICTIM_JOB, hash);
  return strcmp(ev->error_code, VICTIM_CODE) == 0 && ev->has_model == 1 &&
         strcmp(ev->model, VICTIM_MODEL) == 0 &&
         strcmp(ev->source_job_hash, hash) == 0 &&
         ev->duration_seconds == VICTIM_DURATION;
}

/* Returns 1 when the event's expiry is its recording time plus 0.8 times
 * its duration, as the board's TTL factor makes it. */
static int expiry_consistent(const rlb_event *ev)
{
  int64_t ttl_us = llround(RLB_TTL_FACTOR_DEFAULT * ev->duration_seconds * 1e6);

  return ev->expires_at_us - ev->recorded_at_us == ttl_us &&
         ev->seconds_left > 0.0;
}

static const acked_event *find_acked(const rlb_event *ev)
{
  size_t i;

  for (i = 0; i < acked_count; i++)
    if (event_is(ev, &acked[i]))
      return &acked[i];
  for (i = 0; i < RESTORE_ROWS; i++)
    if (restore_rows[i].id[0] != '\0' && event_is(ev, &restore_rows[i]))
      return &restore_rows[i];
  return NULL;
}

/*
 * Lists the board and checks each event: well formed, and either an
 * acknowledged event or a restored row with all its fields, or the killed
 * child's complete event where victim_allowed. Returns whether each
 * acknowledged event is listed in present[] and the victim's count.
 */
static size_t list_and_match(rlb_board *b, int victim_allowed,
                             int present[ACKED_MAX])
{
  rlb_event *events = NULL;
  size_t count = 0, i, victims = 0;
  int rc;

  memset(present, 0, sizeof(int) * ACKED_MAX);
  rc = rlb_list(b, NULL, NULL, &events, &count);
  ck_assert_msg(rc == 0, "rlb_list: %s", rlb_strerror(rc));
  for (i = 0; i < count; i++) {
    const rlb_event *ev = &events[i];
    const acked_event *match = find_acked(ev);

    ck_assert_msg(expiry_consistent(ev), "event %s has an inconsistent expiry",
                  ev->id);
    if (match != NULL) {
      if (match >= acked && match < acked + acked_count)
        present[match - acked] = 1;
      continue;
    }
    ck_assert_msg(victim_allowed && event_is_victim(ev),
                  "listed event %s (%s) was never acknowledged", ev->id,
                  ev->error_code);
    victims++;
  }
  rlb_events_free(events);
  return victims;
}

/* Opens the test's board in a child process, without creating it. */
static rlb_board *open_existing(void)
{
  rlb_options opts;
  rlb_board *b = NULL;

  rlb_options_init(&opts);
  opts.flags = 0;
  if (rlb_open(&b, name, &opts) != 0)
    return NULL;
  return b;
}

static int run_op(rlb_board *b, kill_op op, int target)
{
  char id[RLB_ID_LEN + 1];
  rlb_restore_result restored;
  size_t removed;

  switch (op) {
  case OP_RECORD:
  case OP_RECORD_REUSED:
  case OP_RECORD_FULL:
  case OP_REPAIR:
    return rlb_record(b, VICTIM_CODE, VICTIM_DURATION, VICTIM_JOB, VICTIM_MODEL,
                      id);
  case OP_CLEAR_ID:
    return rlb_clear_id(b, acked[target].id);
  case OP_CLEAR:
    return rlb_clear(b, acked[target].code, NULL, &removed);
  case OP_CLEANUP:
    return rlb_cleanup(b, &removed);
  case OP_RESTORE:
    return rlb_restore(b, snapshot_path, &restored, NULL, NULL);
  }
  return -1;
}

/*
 * Runs op in a child with RLB_KILL_POINT=point and returns its wait
 * status. The child exits with 10 + n when it could not open the board,
 * and 20 when the operation returned instead of being killed.
 */
static int run_killed(const char *point, kill_op op, int target)
{
  pid_t pid = fork();
  int status;

  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    rlb_board *b = open_existing();

    if (b == NULL)
      _exit(10);
    setenv("RLB_KILL_POINT", point, 1);
    run_op(b, op, target);
    _exit(20);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return status;
}

static void assert_killed(int status, const char *point)
{
  ck_assert_msg(WIFSIGNALED(status),
                "child at kill point %s exited with %d instead of dying", point,
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  ck_assert_int_eq(WTERMSIG(status), SIGKILL);
}

static uint64_t recoveries(rlb_board *b)
{
  rlb_stats st;

  ck_assert_int_eq(rlb_stats_get(b, &st), 0);
  return st.recoveries;
}

/* Makes a snapshot file of RESTORE_ROWS events from another board. */
static void make_snapshot(void)
{
  rlb_board *source;
  int i, rc;

  snprintf(snapshot_path, sizeof(snapshot_path), "/tmp/%s.sqlite", name);
  source = test_board_open_capacity(NULL, 0, 8);
  for (i = 0; i < RESTORE_ROWS; i++)
    record_acked(source, &restore_rows[i], "R", i, 700.0 + i);
  rc = rlb_snapshot(source, snapshot_path, NULL);
  ck_assert_msg(rc == 0, "rlb_snapshot: %s", rlb_strerror(rc));
  test_board_remove(source);
}

/* Creates the board for a case and records the acknowledged events. */
static void prepare(const kill_case *kc)
{
  uint32_t capacity = kc->op == OP_RECORD_FULL ? 8 : 16;
  size_t n = kc->op == OP_RECORD_FULL ? 8 : 4, i;

  memset(restore_rows, 0, sizeof(restore_rows));
  board = test_board_open_capacity(name, sizeof(name), capacity);
  for (i = 0; i < n; i++)
    record_acked(board, &acked[i], "E", (int)i, 600.0 + (double)i);
  acked_count = n;
  if (kc->op == OP_CLEANUP) {
    /* Three events that expire after 0.8 ms, for cleanup to remove. */
    acked_event expired[3];
    for (i = 0; i < 3; i++)
      record_acked(board, &expired[i], "OLD", (int)i, 0.001);
    test_sleep_ms(20);
  }
  if (kc->op == OP_RECORD_REUSED) {
    /* The freed slot is the next one taken, and it still contains the
     * strings of the cleared event. */
    acked_count--;
    ck_assert_int_eq(rlb_clear_id(board, acked[acked_count].id), 0);
  }
  if (kc->op == OP_RESTORE)
    make_snapshot();
  if (kc->op == OP_REPAIR) {
    /* The first writer dies inside a slot; the test's child then dies
     * while repairing after it. */
    assert_killed(run_killed("slot_odd", OP_RECORD, -1), "slot_odd");
  }
}

START_TEST(test_kill_point_leaves_board_repairable)
{
  const kill_case *kc = &kill_cases[_i];
  int present[ACKED_MAX];
  size_t removed, i;
  double left;
  int rc;

  prepare(kc);
  assert_killed(run_killed(kc->point, kc->op, kc->target), kc->point);

  /* Before any repair: the dead writer left board_seq odd, and readers
   * read the slots without waiting for it. */
  ck_assert_uint_eq(CMM_LOAD_SHARED(board->hdr->board_seq) & 1u, 1);
  list_and_match(board, kc->victim_whole, present);
  for (i = 0; i < acked_count; i++) {
    if ((int)i == kc->target)
      continue;
    ck_assert_msg(present[i],
                  "acknowledged event %s is missing after the "
                  "kill",
                  acked[i].code);
    ck_assert_int_eq(rlb_check(board, acked[i].code, acked[i].model, &left), 1);
  }
  if (!kc->victim_whole)
    ck_assert_int_eq(rlb_check(board, VICTIM_CODE, NULL, &left), 0);
  ck_assert_uint_eq(recoveries(board), 0);

  /* The next writer repairs the board and succeeds. */
  if (kc->op == OP_CLEANUP) {
    rc = rlb_cleanup(board, &removed);
    ck_assert_msg(rc == 0, "rlb_cleanup: %s", rlb_strerror(rc));
    ck_assert_uint_eq(removed, 2);
  } else {
    record_acked(board, &acked[acked_count], "NEXT", 0, 60);
    acked_count++;
  }
  ck_assert_uint_eq(recoveries(board), 1);
  ck_assert_int_eq(rlb_verify(board, print_violation, NULL), 0);
  ck_assert_uint_eq(CMM_LOAD_SHARED(board->hdr->board_seq) & 1u, 0);

  /* Repair keeps every acknowledged event, and drops a half-written one. */
  list_and_match(board, kc->victim_whole, present);
  for (i = 0; i < acked_count; i++)
    if ((int)i != kc->target)
      ck_assert_msg(present[i],
                    "acknowledged event %s is missing after "
                    "repair",
                    acked[i].code);
  if (kc->op == OP_RESTORE) {
    rlb_restore_result result;
    rc = rlb_restore(board, snapshot_path, &result, NULL, NULL);
    ck_assert_msg(rc == 0, "rlb_restore: %s", rlb_strerror(rc));
    ck_assert_uint_eq(result.restored + result.duplicate, RESTORE_ROWS);
    ck_assert_int_eq(rlb_verify(board, print_violation, NULL), 0);
  }
}
END_TEST

/* ---- every locking path after a dead owner ------------------------------ */

typedef enum lock_path {
  PATH_RECORD,
  PATH_CLEANUP,
  PATH_CLEAR,
  PATH_CLEAR_ID,
  PATH_VERIFY,
  PATH_PROBE,
  PATH_RESTORE,
  PATH_COUNT
} lock_path;

static const char *const lock_path_names[PATH_COUNT] = {
    "record", "cleanup", "clear", "clear_id", "verify", "probe", "restore"};

START_TEST(test_lock_dead_owner_every_path)
{
  const kill_case record_case = {"slot_odd", OP_RECORD, -1, 0};
  const char *path = lock_path_names[_i];
  rlb_restore_result restored;
  uint64_t token;
  size_t removed = 0;
  int rc = -1;

  prepare(&record_case);
  if (_i == PATH_RESTORE)
    make_snapshot();
  assert_killed(run_killed("slot_odd", OP_RECORD, -1), "slot_odd");

  switch ((lock_path)_i) {
  case PATH_RECORD:
    rc = rlb_record(board, "NEXT", 60, "job-next", NULL, NULL);
    break;
  case PATH_CLEANUP:
    rc = rlb_cleanup(board, &removed);
    break;
  case PATH_CLEAR:
    rc = rlb_clear(board, acked[1].code, NULL, &removed);
    ck_assert_uint_eq(removed, 1);
    break;
  case PATH_CLEAR_ID:
    rc = rlb_clear_id(board, acked[0].id);
    break;
  case PATH_VERIFY:
    rc = rlb_verify(board, print_violation, NULL);
    break;
  case PATH_PROBE:
    rc = rlb_probe_acquire(board, "NONE", NULL, &token);
    break;
  case PATH_RESTORE:
    rc = rlb_restore(board, snapshot_path, &restored, NULL, NULL);
    ck_assert_uint_eq(restored.restored, RESTORE_ROWS);
    break;
  case PATH_COUNT:
    break;
  }
  ck_assert_msg(rc == 0, "%s after a dead owner: %s", path, rlb_strerror(rc));
  ck_assert_uint_eq(recoveries(board), 1);
  ck_assert_int_eq(rlb_verify(board, print_violation, NULL), 0);
}
END_TEST

/* Two writers die in a row at the same point; the third repairs once. */
START_TEST(test_lock_repeated_deaths_repaired)
{
  const kill_case record_case = {"slot_odd", OP_RECORD, -1, 0};
  int present[ACKED_MAX];
  size_t i;

  prepare(&record_case);
  assert_killed(run_killed("slot_odd", OP_RECORD, -1), "slot_odd");
  assert_killed(run_killed("slot_odd", OP_RECORD, -1), "slot_odd");
  ck_assert_int_eq(rlb_verify(board, print_violation, NULL), 0);
  ck_assert_uint_eq(recoveries(board), 2);
  ck_assert_uint_eq(list_and_match(board, 0, present), 0);
  for (i = 0; i < acked_count; i++)
    ck_assert(present[i]);
}
END_TEST

static Suite *make_kill_suite(void)
{
  Suite *s = suite_create("kill");
  TCase *points = tcase_create("points");
  TCase *lock = tcase_create("lock");

  tcase_add_checked_fixture(points, NULL, teardown);
  tcase_add_loop_test(points, test_kill_point_leaves_board_repairable, 0,
                      (int)(sizeof(kill_cases) / sizeof(kill_cases[0])));
  tcase_set_timeout(points, 30);
  suite_add_tcase(s, points);

  tcase_add_checked_fixture(lock, NULL, teardown);
  tcase_add_loop_test(lock, test_lock_dead_owner_every_path, 0, PATH_COUNT);
  tcase_add_test(lock, test_lock_repeated_deaths_repaired);
  tcase_set_timeout(lock, 30);
  suite_add_tcase(s, lock);
  return s;
}

int main(void)
{
  SRunner *runner = srunner_create(make_kill_suite());
  int failed;

  srunner_run_all(runner, CK_ENV);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
