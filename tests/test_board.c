/*
 * The board's event semantics: expiry, hashing, filters, order, cleanup,
 * eviction, several processes, recovery after a writer dies holding the
 * lock, and rejection of bad input without any change to the board.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout.h"
#include "support.h"

static char name[64];
static rlb_board *board;

static void setup(void)
{
  board = test_board_open(name, sizeof(name));
}

static void teardown(void)
{
  test_board_remove(board);
  board = NULL;
}

static void record_ok(const char *code, double duration, const char *job,
                      const char *model, char *id)
{
  int rc = rlb_record(board, code, duration, job, model, id);

  ck_assert_msg(rc == 0, "rlb_record: %s", rlb_strerror(rc));
}

static size_t list_all(const char *code, const char *model, rlb_event **events)
{
  size_t count = 0;
  int rc = rlb_list(board, code, model, events, &count);

  ck_assert_int_eq(rc, 0);
  return count;
}

/* ---- exact semantics ---------------------------------------------------- */

START_TEST(test_record_expiry_is_ttl_factor_of_duration)
{
  rlb_event *events;

  record_ok("E101", 60, "job-1", "m1", NULL);
  ck_assert_uint_eq(list_all(NULL, NULL, &events), 1);
  ck_assert(llabs(events[0].expires_at_us - events[0].recorded_at_us -
                  48000000) <= 1000);
  ck_assert(fabs(events[0].seconds_left - 48.0) < 0.5);
  rlb_events_free(events);
}
END_TEST

START_TEST(test_record_keeps_duration_unscaled)
{
  rlb_event *events;

  record_ok("E101", 60, "job-1", "m1", NULL);
  list_all(NULL, NULL, &events);
  ck_assert(events[0].duration_seconds == 60.0);
  rlb_events_free(events);
}
END_TEST

START_TEST(test_record_returns_lowercase_uuid)
{
  char id[RLB_ID_LEN + 1];
  rlb_event *events;
  size_t i;

  record_ok("E101", 60, "job-1", "m1", id);
  ck_assert_uint_eq(strlen(id), 36);
  for (i = 0; i < 36; i++)
    ck_assert(id[i] == '-' || (id[i] >= '0' && id[i] <= '9') ||
              (id[i] >= 'a' && id[i] <= 'f'));
  ck_assert(id[14] == '4');
  list_all(NULL, NULL, &events);
  ck_assert_str_eq(events[0].id, id);
  rlb_events_free(events);
}
END_TEST

START_TEST(test_job_hash_known_value)
{
  char hash[RLB_HASH_LEN + 1];
  rlb_event *events;

  ck_assert_int_eq(rlb_job_hash("job-1", hash), 0);
  ck_assert_str_eq(hash, "9af12d10801c5d48");
  record_ok("E101", 60, "job-1", NULL, NULL);
  list_all(NULL, NULL, &events);
  ck_assert_str_eq(events[0].source_job_hash, "9af12d10801c5d48");
  ck_assert_int_eq(events[0].has_model, 0);
  rlb_events_free(events);
}
END_TEST

START_TEST(test_check_filters_absent_and_given)
{
  struct {
    const char *code, *model;
    int limited;
  } cases[] = {
      {NULL, NULL, 1},   {"E101", NULL, 1}, {NULL, "m1", 1},
      {"E101", "m1", 1}, {"E102", NULL, 1}, {"E102", "m1", 0},
      {NULL, "m2", 0},   {"E103", NULL, 0}, {"E101", "m2", 0},
  };
  size_t i;

  record_ok("E101", 60, "job-1", "m1", NULL);
  record_ok("E102", 60, "job-2", NULL, NULL);
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    double left = -1;
    int rc = rlb_check(board, cases[i].code, cases[i].model, &left);
    ck_assert_msg(rc == cases[i].limited, "check(%s, %s) = %d",
                  cases[i].code ? cases[i].code : "any",
                  cases[i].model ? cases[i].model : "any", rc);
    ck_assert(cases[i].limited ? left > 47.0 : left == 0.0);
  }
}
END_TEST

START_TEST(test_check_picks_latest_expiry)
{
  double left;

  record_ok("E101", 10, "a", "m1", NULL);
  record_ok("E101", 100, "b", "m1", NULL);
  record_ok("E101", 50, "c", "m1", NULL);
  ck_assert_int_eq(rlb_check(board, "E101", "m1", &left), 1);
  ck_assert(left > 79.0 && left <= 80.0);
  ck_assert_int_eq(rlb_check(board, NULL, NULL, &left), 1);
  ck_assert(left > 79.0 && left <= 80.0);
}
END_TEST

START_TEST(test_check_after_clear_falls_back_to_next)
{
  char id[RLB_ID_LEN + 1];
  double left;

  record_ok("E101", 10, "a", "m1", NULL);
  record_ok("E101", 100, "b", "m1", id);
  ck_assert_int_eq(rlb_clear_id(board, id), 0);
  ck_assert_int_eq(rlb_check(board, NULL, "m1", &left), 1);
  ck_assert(left > 7.0 && left <= 8.0);
}
END_TEST

START_TEST(test_list_orders_latest_expiry_first)
{
  const double durations[] = {10, 30, 20, 5};
  rlb_event *events;
  size_t i, n;

  for (i = 0; i < 4; i++)
    record_ok("E101", durations[i], "job", i % 2 ? "m1" : "m2", NULL);
  n = list_all(NULL, NULL, &events);
  ck_assert_uint_eq(n, 4);
  ck_assert(events[0].duration_seconds == 30);
  ck_assert(events[1].duration_seconds == 20);
  ck_assert(events[2].duration_seconds == 10);
  ck_assert(events[3].duration_seconds == 5);
  rlb_events_free(events);
}
END_TEST

START_TEST(test_list_filters)
{
  rlb_event *events;

  record_ok("E101", 10, "job", "m1", NULL);
  record_ok("E102", 20, "job", "m1", NULL);
  record_ok("E101", 30, "job", NULL, NULL);
  ck_assert_uint_eq(list_all("E101", NULL, &events), 2);
  rlb_events_free(events);
  ck_assert_uint_eq(list_all(NULL, "m1", &events), 2);
  ck_assert_str_eq(events[0].error_code, "E102");
  rlb_events_free(events);
  ck_assert_uint_eq(list_all("E101", "m1", &events), 1);
  ck_assert(events[0].duration_seconds == 10);
  rlb_events_free(events);
  ck_assert_uint_eq(list_all("E104", NULL, &events), 0);
  ck_assert_ptr_null(events);
}
END_TEST

START_TEST(test_short_event_expires)
{
  double left;

  record_ok("E103", 0.125, "job", "m1", NULL);
  ck_assert_int_eq(rlb_check(board, NULL, "m1", &left), 1);
  test_sleep_ms(150);
  ck_assert_int_eq(rlb_check(board, NULL, "m1", &left), 0);
  ck_assert(left == 0.0);
}
END_TEST

START_TEST(test_cleanup_counts_expired)
{
  rlb_stats st;
  size_t removed = 99;

  record_ok("E101", 0.05, "a", "m1", NULL);
  record_ok("E101", 0.05, "b", NULL, NULL);
  record_ok("E102", 0.05, "c", "m2", NULL);
  record_ok("E101", 60, "d", "m1", NULL);
  test_sleep_ms(100);
  ck_assert_int_eq(rlb_cleanup(board, &removed), 0);
  ck_assert_uint_eq(removed, 3);
  ck_assert_int_eq(rlb_cleanup(board, &removed), 0);
  ck_assert_uint_eq(removed, 0);
  ck_assert_int_eq(rlb_stats_get(board, &st), 0);
  ck_assert_uint_eq(st.stored, 1);
  ck_assert_uint_eq(st.cleaned, 3);
}
END_TEST

/* ---- eviction ----------------------------------------------------------- */

START_TEST(test_eviction_takes_expired_then_soonest)
{
  rlb_board *small = test_board_open_capacity(NULL, 0, 4);
  char expired_id[RLB_ID_LEN + 1], soonest_id[RLB_ID_LEN + 1];
  rlb_event *events;
  rlb_stats st;
  size_t n, i;

  ck_assert_int_eq(rlb_record(small, "E1", 20, "j", NULL, NULL), 0);
  ck_assert_int_eq(rlb_record(small, "E1", 10, "j", NULL, soonest_id), 0);
  ck_assert_int_eq(rlb_record(small, "E1", 0.05, "j", NULL, expired_id), 0);
  ck_assert_int_eq(rlb_record(small, "E1", 30, "j", NULL, NULL), 0);
  test_sleep_ms(100);

  /* The board is full: the expired event goes first, uncounted. */
  ck_assert_int_eq(rlb_record(small, "E2", 40, "j", NULL, NULL), 0);
  ck_assert_int_eq(rlb_stats_get(small, &st), 0);
  ck_assert_uint_eq(st.evictions, 0);
  ck_assert_uint_eq(st.expired_reused, 1);

  /* Every slot is live: the one that expires soonest is evicted. */
  ck_assert_int_eq(rlb_record(small, "E3", 50, "j", NULL, NULL), 0);
  ck_assert_int_eq(rlb_stats_get(small, &st), 0);
  ck_assert_uint_eq(st.evictions, 1);
  ck_assert_int_eq(rlb_list(small, NULL, NULL, &events, &n), 0);
  ck_assert_uint_eq(n, 4);
  for (i = 0; i < n; i++) {
    ck_assert_str_ne(events[i].id, soonest_id);
    ck_assert_str_ne(events[i].id, expired_id);
  }
  ck_assert(events[0].duration_seconds == 50);
  ck_assert(events[3].duration_seconds == 20);
  rlb_events_free(events);
  test_board_remove(small);
}
END_TEST

START_TEST(test_eviction_keeps_index_exact)
{
  rlb_board *small = test_board_open_capacity(NULL, 0, 2);
  double left;

  ck_assert_int_eq(rlb_record(small, "E1", 10, "j", "a", NULL), 0);
  ck_assert_int_eq(rlb_record(small, "E1", 20, "j", "b", NULL), 0);
  ck_assert_int_eq(rlb_record(small, "E2", 30, "j", "c", NULL), 0);
  ck_assert_int_eq(rlb_check(small, NULL, "a", &left), 0);
  ck_assert_int_eq(rlb_check(small, "E1", NULL, &left), 1);
  ck_assert(left > 15.0 && left <= 16.0);
  ck_assert_int_eq(rlb_check(small, "E2", "c", &left), 1);
  test_board_remove(small);
}
END_TEST

START_TEST(test_clear_many_keeps_index_exact)
{
  const char *models[] = {"m1", "m2", "m3"};
  char code[8];
  size_t removed = 0;
  double left;
  int i;

  for (i = 0; i < 3000; i++) {
    snprintf(code, sizeof(code), "E%d", 101 + i % 4);
    record_ok(code, 10 + i % 500, "job", i % 7 ? models[i % 3] : NULL, NULL);
  }
  ck_assert_int_eq(rlb_clear(board, NULL, "m1", &removed), 0);
  ck_assert_uint_gt(removed, 0);
  ck_assert_int_eq(rlb_verify(board, NULL, NULL), 0);
  ck_assert_int_eq(rlb_check(board, NULL, "m1", &left), 0);
  ck_assert_int_eq(rlb_check(board, NULL, "m2", &left), 1);
  ck_assert(left > 390.0 && left <= 408.0);
  ck_assert_int_eq(rlb_clear(board, "E101", NULL, &removed), 0);
  ck_assert_int_eq(rlb_verify(board, NULL, NULL), 0);
  ck_assert_int_eq(rlb_check(board, "E101", NULL, &left), 0);
  ck_assert_int_eq(rlb_check(board, "E102", "m2", &left), 1);
}
END_TEST

/* ---- several processes -------------------------------------------------- */

/* Runs fn in a child process and returns its exit status. */
static int run_child(void (*fn)(void))
{
  int status;
  pid_t pid = fork();

  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    fn();
    _exit(0);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static void child_record(void)
{
  rlb_board *b;

  if (rlb_open(&b, name, NULL) != 0)
    _exit(1);
  if (rlb_record(b, "E101", 60, "job-1", "m1", NULL) != 0)
    _exit(2);
  rlb_close(b);
}

START_TEST(test_record_in_child_seen_by_parent)
{
  rlb_event *events;
  double left;

  ck_assert_int_eq(run_child(child_record), 0);
  ck_assert_int_eq(rlb_check(board, NULL, "m1", &left), 1);
  ck_assert_uint_eq(list_all(NULL, NULL, &events), 1);
  ck_assert_str_eq(events[0].source_job_hash, "9af12d10801c5d48");
  rlb_events_free(events);
}
END_TEST

#define CREATORS 24

START_TEST(test_open_race_initializes_once)
{
  char shared_name[64];
  int fds[2];
  uint64_t ids[CREATORS];
  rlb_board *b;
  rlb_stats st;
  int i;

  test_board_name(shared_name, sizeof(shared_name));
  ck_assert_int_eq(pipe(fds), 0);
  for (i = 0; i < CREATORS; i++) {
    if (fork() == 0) {
      uint64_t id = 0;
      if (rlb_open(&b, shared_name, NULL) == 0 &&
          rlb_record(b, "E101", 60, "job", NULL, NULL) == 0 &&
          rlb_stats_get(b, &st) == 0)
        id = st.board_id;
      if (write(fds[1], &id, sizeof(id)) != sizeof(id))
        _exit(1);
      _exit(0);
    }
  }
  close(fds[1]);
  for (i = 0; i < CREATORS; i++)
    ck_assert_int_eq(read(fds[0], &ids[i], sizeof(ids[i])), sizeof(ids[i]));
  close(fds[0]);
  while (wait(NULL) > 0)
    ;
  for (i = 0; i < CREATORS; i++) {
    ck_assert(ids[i] != 0);
    ck_assert(ids[i] == ids[0]);
  }
  ck_assert_int_eq(rlb_open(&b, shared_name, NULL), 0);
  ck_assert_int_eq(rlb_stats_get(b, &st), 0);
  ck_assert_uint_eq(st.stored, CREATORS);
  ck_assert_uint_eq(st.records, CREATORS);
  test_board_remove(b);
}
END_TEST

/* ---- a writer that dies holding the lock -------------------------------- */

/* Maps the board's segment and takes its lock, then dies by SIGKILL. */
static void child_die_holding_lock(void)
{
  char path[128];
  struct stat sb;
  rlb_header *h;
  int fd;

  snprintf(path, sizeof(path), "/%s", name);
  fd = shm_open(path, O_RDWR, 0);
  if (fd < 0 || fstat(fd, &sb) != 0)
    _exit(1);
  h = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (h == MAP_FAILED)
    _exit(1);
  pthread_mutex_lock(&h->lock.mutex);
  /* Leave the board as a writer would in the middle of a record. */
  h->board_seq |= 1u;
  raise(SIGKILL);
}

static void kill_lock_holder(void)
{
  int status;
  pid_t pid = fork();

  ck_assert_int_ge(pid, 0);
  if (pid == 0)
    child_die_holding_lock();
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFSIGNALED(status));
  ck_assert_int_eq(WTERMSIG(status), SIGKILL);
}

static uint64_t recoveries(void)
{
  rlb_stats st;

  ck_assert_int_eq(rlb_stats_get(board, &st), 0);
  return st.recoveries;
}

START_TEST(test_dead_lock_holder_recovered_by_each_path)
{
  char id[RLB_ID_LEN + 1];
  size_t removed;
  double left;
  int path;

  record_ok("E101", 60, "job-1", "m1", NULL);
  record_ok("E101", 60, "job-2", "m2", id);
  for (path = 0; path < 5; path++) {
    int rc = 0;
    kill_lock_holder();
    /* A reader neither hangs nor fails while the board awaits repair. */
    ck_assert_int_eq(rlb_check(board, NULL, "m1", &left), 1);
    switch (path) {
    case 0:
      rc = rlb_record(board, "E102", 60, "job-2", NULL, NULL);
      break;
    case 1:
      rc = rlb_cleanup(board, &removed);
      break;
    case 2:
      rc = rlb_clear(board, "E999", NULL, &removed);
      break;
    case 3:
      rc = rlb_clear_id(board, id) == 0 ? 0 : -1;
      break;
    case 4:
      rc = rlb_verify(board, NULL, NULL);
      break;
    }
    ck_assert_msg(rc == 0, "path %d: %s", path, rlb_strerror(rc));
    ck_assert_uint_eq(recoveries(), (uint64_t)path + 1);
    ck_assert_int_eq(rlb_verify(board, NULL, NULL), 0);
  }
}
END_TEST

/* ---- bad input ---------------------------------------------------------- */

/* Reads the whole segment, to compare before and after a failed call. */
static char *segment_bytes(size_t *size)
{
  char path[128];
  struct stat sb;
  char *bytes;
  FILE *f;

  snprintf(path, sizeof(path), "/dev/shm/%s", name);
  f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fstat(fileno(f), &sb), 0);
  *size = (size_t)sb.st_size;
  bytes = malloc(*size);
  ck_assert_ptr_nonnull(bytes);
  ck_assert_uint_eq(fread(bytes, 1, *size, f), *size);
  fclose(f);
  return bytes;
}

START_TEST(test_record_bad_input_rejected_unchanged)
{
  char code_long[RLB_CODE_MAX + 2], model_long[RLB_MODEL_MAX + 2];
  char job_long[RLB_JOB_MAX + 2];
  struct {
    const char *code, *job, *model;
    double duration;
    int expected;
  } cases[] = {
      {"E101", "j", "m", -5, RLB_EINVALDURATION},
      {"E101", "j", "m", 0, RLB_EINVALDURATION},
      {"E101", "j", "m", NAN, RLB_EINVALDURATION},
      {"E101", "j", "m", INFINITY, RLB_EINVALDURATION},
      {"E101", "j", "m", -INFINITY, RLB_EINVALDURATION},
      {"E101", "j", "m", RLB_DURATION_MAX * 2, RLB_EINVALDURATION},
      {NULL, "j", "m", 60, RLB_EINVALCODE},
      {"", "j", "m", 60, RLB_EINVALCODE},
      {code_long, "j", "m", 60, RLB_EINVALCODE},
      {"E101", "j", "", 60, RLB_EINVALMODEL},
      {"E101", "j", model_long, 60, RLB_EINVALMODEL},
      {"E101", NULL, "m", 60, RLB_EINVALJOB},
      {"E101", "", "m", 60, RLB_EINVALJOB},
      {"E101", job_long, "m", 60, RLB_EINVALJOB},
  };
  size_t before_size, after_size, i;
  char *before, *after;

  memset(code_long, 'c', sizeof(code_long) - 1);
  code_long[sizeof(code_long) - 1] = '\0';
  memset(model_long, 'm', sizeof(model_long) - 1);
  model_long[sizeof(model_long) - 1] = '\0';
  memset(job_long, 'j', sizeof(job_long) - 1);
  job_long[sizeof(job_long) - 1] = '\0';
  record_ok("E101", 60, "job-1", "m1", NULL);
  before = segment_bytes(&before_size);
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int rc = rlb_record(board, cases[i].code, cases[i].duration, cases[i].job,
                        cases[i].model, NULL);
    ck_assert_msg(rc == cases[i].expected, "case %zu: %s", i,
                  rlb_error_name(rc));
    ck_assert_str_ne(rlb_strerror(rc), "unknown error");
  }
  after = segment_bytes(&after_size);
  ck_assert_uint_eq(after_size, before_size);
  ck_assert(memcmp(before, after, before_size) == 0);
  free(before);
  free(after);
}
END_TEST

START_TEST(test_filter_bad_input_rejected)
{
  double left;
  size_t removed;
  rlb_event *events;
  size_t n;

  ck_assert_int_eq(rlb_check(board, "", NULL, &left), RLB_EINVALCODE);
  ck_assert_int_eq(rlb_check(board, NULL, "", &left), RLB_EINVALMODEL);
  ck_assert_int_eq(rlb_list(board, "", NULL, &events, &n), RLB_EINVALCODE);
  ck_assert_int_eq(rlb_clear(board, NULL, "", &removed), RLB_EINVALMODEL);
  ck_assert_int_eq(rlb_clear_id(board, "not-an-id"), RLB_EINVALID);
  ck_assert_int_eq(rlb_clear_id(board, "00000000-0000-4000-8000-000000000000"),
                   RLB_ENOTFOUND);
}
END_TEST

START_TEST(test_open_bad_input_rejected)
{
  char long_name[RLB_NAME_MAX + 2];
  const char *names[] = {"",   "/",        "a/b", ".",
                         "..", "bad name", "x\n", long_name};
  struct {
    uint32_t capacity;
    double ttl;
    uint32_t mode;
    int expected;
  } options[] = {
      {0, 0.8, 0600, RLB_EINVALCAPACITY},
      {RLB_CAPACITY_MAX + 1, 0.8, 0600, RLB_EINVALCAPACITY},
      {16, 0, 0600, RLB_EINVALTTL},
      {16, -1, 0600, RLB_EINVALTTL},
      {16, NAN, 0600, RLB_EINVALTTL},
      {16, RLB_TTL_FACTOR_MAX * 2, 0600, RLB_EINVALTTL},
      {16, 0.8, 0700, RLB_EINVALMODE},
      {16, 0.8, 0400, RLB_EINVALMODE},
      {16, 0.8, 01666, RLB_EINVALMODE},
  };
  char fresh[64];
  rlb_options opts;
  rlb_board *b = NULL;
  struct stat sb;
  char path[128];
  size_t i;

  memset(long_name, 'n', sizeof(long_name) - 1);
  long_name[sizeof(long_name) - 1] = '\0';
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    ck_assert_int_eq(rlb_open(&b, names[i], NULL), RLB_EINVALNAME);
    ck_assert_ptr_null(b);
  }
  test_board_name(fresh, sizeof(fresh));
  snprintf(path, sizeof(path), "/dev/shm/%s", fresh);
  for (i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
    rlb_options_init(&opts);
    opts.capacity = options[i].capacity;
    opts.ttl_factor = options[i].ttl;
    opts.mode = options[i].mode;
    ck_assert_int_eq(rlb_open(&b, fresh, &opts), options[i].expected);
    ck_assert_int_ne(stat(path, &sb), 0);
  }
  rlb_options_init(&opts);
  opts.flags = 0;
  ck_assert_int_eq(rlb_open(&b, fresh, &opts), -ENOENT);
  ck_assert_int_ne(stat(path, &sb), 0);
}
END_TEST

START_TEST(test_error_names_and_messages)
{
  ck_assert_str_eq(rlb_error_name(RLB_EINVALDURATION), "RLB_EINVALDURATION");
  ck_assert_str_eq(rlb_strerror(RLB_EINVALDURATION), "invalid duration");
  ck_assert_str_eq(rlb_error_name(-ENOENT), "ENOENT");
  ck_assert_str_eq(rlb_strerror(0), "success");
  ck_assert_str_eq(rlb_version(), RLBOARD_VERSION_STRING);
  ck_assert_int_eq(rlb_version_number(), RLBOARD_VERSION_NUMBER);
}
END_TEST

START_TEST(test_open_existing_keeps_settings)
{
  rlb_options opts;
  rlb_board *again;
  rlb_stats st;

  rlb_options_init(&opts);
  opts.capacity = 7;
  opts.ttl_factor = 0.5;
  ck_assert_int_eq(rlb_open(&again, name, &opts), 0);
  ck_assert_int_eq(rlb_stats_get(again, &st), 0);
  ck_assert_uint_eq(st.capacity, RLB_CAPACITY_DEFAULT);
  ck_assert(st.ttl_factor == RLB_TTL_FACTOR_DEFAULT);
  rlb_close(again);
  opts.flags = RLB_CREATE | RLB_EXCLUSIVE;
  ck_assert_int_eq(rlb_open(&again, name, &opts), -EEXIST);
}
END_TEST

START_TEST(test_create_mode_default_and_custom)
{
  char path[128], other[64];
  rlb_options opts;
  rlb_board *b;
  struct stat sb;
  mode_t old = umask(077);

  snprintf(path, sizeof(path), "/dev/shm/%s", name);
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_uint_eq(sb.st_mode & 0777, 0600);
  test_board_name(other, sizeof(other));
  rlb_options_init(&opts);
  opts.mode = 0660;
  ck_assert_int_eq(rlb_open(&b, other, &opts), 0);
  snprintf(path, sizeof(path), "/dev/shm/%s", other);
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_uint_eq(sb.st_mode & 0777, 0660);
  test_board_remove(b);
  umask(old);
}
END_TEST

static Suite *make_board_suite(void)
{
  Suite *s = suite_create("board");
  TCase *semantics = tcase_create("semantics");
  TCase *processes = tcase_create("processes");
  TCase *input = tcase_create("input");

  tcase_add_checked_fixture(semantics, setup, teardown);
  tcase_set_timeout(semantics, 30);
  tcase_add_test(semantics, test_record_expiry_is_ttl_factor_of_duration);
  tcase_add_test(semantics, test_record_keeps_duration_unscaled);
  tcase_add_test(semantics, test_record_returns_lowercase_uuid);
  tcase_add_test(semantics, test_job_hash_known_value);
  tcase_add_test(semantics, test_check_filters_absent_and_given);
  tcase_add_test(semantics, test_check_picks_latest_expiry);
  tcase_add_test(semantics, test_check_after_clear_falls_back_to_next);
  tcase_add_test(semantics, test_list_orders_latest_expiry_first);
  tcase_add_test(semantics, test_list_filters);
  tcase_add_test(semantics, test_short_event_expires);
  tcase_add_test(semantics, test_cleanup_counts_expired);
  tcase_add_test(semantics, test_eviction_takes_expired_then_soonest);
  tcase_add_test(semantics, test_eviction_keeps_index_exact);
  tcase_add_test(semantics, test_clear_many_keeps_index_exact);
  tcase_add_test(semantics, test_open_existing_keeps_settings);
  tcase_add_test(semantics, test_create_mode_default_and_custom);
  suite_add_tcase(s, semantics);

  tcase_add_checked_fixture(processes, setup, teardown);
  tcase_set_timeout(processes, 60);
  tcase_add_test(processes, test_record_in_child_seen_by_parent);
  tcase_add_test(processes, test_open_race_initializes_once);
  tcase_add_test(processes, test_dead_lock_holder_recovered_by_each_path);
  suite_add_tcase(s, processes);

  tcase_add_checked_fixture(input, setup, teardown);
  tcase_set_timeout(input, 30);
  tcase_add_test(input, test_record_bad_input_rejected_unchanged);
  tcase_add_test(input, test_filter_bad_input_rejected);
  tcase_add_test(input, test_open_bad_input_rejected);
  tcase_add_test(input, test_error_names_and_messages);
  suite_add_tcase(s, input);
  return s;
}

int main(void)
{
  SRunner *runner = srunner_create(make_board_suite());
  int failed;

  srunner_run_all(runner, CK_NORMAL);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
