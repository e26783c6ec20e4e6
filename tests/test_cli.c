/*
 * The rlboard command, run as a child process: exit statuses, the shape of
 * standard output, one-line errors on standard error, board selection, and
 * bad input that leaves the board unchanged.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define OUTPUT_MAX 65536
#define ARG_MAX_COUNT 64
#define RUN_TIMEOUT_SECONDS 60.0

/* A child process of the command and what it wrote. */
struct run {
  pid_t pid;
  int fds[2]; /* standard output and standard error, -1 at EOF */
  size_t used[2];
  char out[OUTPUT_MAX];
  char err[OUTPUT_MAX];
  int status; /* exit status, or 128 + the signal that ended it */
};

static char board[64];
static char other_board[64];
static struct run r;

static void setup(void)
{
  test_board_name(board, sizeof(board));
  test_board_name(other_board, sizeof(other_board));
}

static void teardown(void)
{
  rlb_unlink(board);
  rlb_unlink(other_board);
}

/* Child processes */

/* Starts the command with argv (argv[0] included); env is "NAME=VALUE" to
 * set, or NULL. RLBOARD is unset unless env sets it. */
static void run_start(struct run *run, const char *env, char *const argv[])
{
  int out_pipe[2];
  int err_pipe[2];

  ck_assert_int_eq(pipe(out_pipe), 0);
  ck_assert_int_eq(pipe(err_pipe), 0);
  run->pid = fork();
  ck_assert_int_ge(run->pid, 0);
  if (run->pid == 0) {
    char variable[256];
    char *value;

    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    close(out_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[0]);
    close(err_pipe[1]);
    unsetenv("RLBOARD");
    if (env != NULL) {
      snprintf(variable, sizeof(variable), "%s", env);
      value = strchr(variable, '=');
      *value = '\0';
      setenv(variable, value + 1, 1);
    }
    execv(RLB_CLI_PATH, argv);
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  run->fds[0] = out_pipe[0];
  run->fds[1] = err_pipe[0];
  run->used[0] = 0;
  run->used[1] = 0;
  run->out[0] = '\0';
  run->err[0] = '\0';
}

/* Reads what is ready on the pipes, waiting at most timeout_ms. */
static void run_read(struct run *run, int timeout_ms)
{
  struct pollfd fds[2] = {{run->fds[0], POLLIN, 0}, {run->fds[1], POLLIN, 0}};
  char *buffers[2] = {run->out, run->err};
  int i;

  if (poll(fds, 2, timeout_ms) <= 0)
    return;
  for (i = 0; i < 2; i++) {
    char scratch[4096];
    size_t room = OUTPUT_MAX - 1 - run->used[i];
    char *target = room > 0 ? buffers[i] + run->used[i] : scratch;
    ssize_t got;

    if (fds[i].fd < 0 || fds[i].revents == 0)
      continue;
    got = read(fds[i].fd, target, room > 0 ? room : sizeof(scratch));
    if (got <= 0) {
      close(run->fds[i]);
      run->fds[i] = -1;
    } else if (room > 0) {
      run->used[i] += (size_t)got;
      buffers[i][run->used[i]] = '\0';
    }
  }
}

static void run_kill(struct run *run)
{
  kill(run->pid, SIGKILL);
  waitpid(run->pid, NULL, 0);
}

/* Reads until standard error contains text; fails after timeout seconds. */
static void run_wait_for_stderr(struct run *run, const char *text,
                                double timeout)
{
  double deadline = test_now() + timeout;

  while (strstr(run->err, text) == NULL && run->fds[1] >= 0) {
    if (test_now() > deadline) {
      run_kill(run);
      ck_abort_msg("no '%s' on standard error in %.0f s", text, timeout);
    }
    run_read(run, 100);
  }
  ck_assert_msg(strstr(run->err, text) != NULL,
                "standard error ended without '%s': %s", text, run->err);
}

/* Reads both pipes to the end and reaps the child, killing it after
 * RUN_TIMEOUT_SECONDS. */
static void run_finish(struct run *run)
{
  double deadline = test_now() + RUN_TIMEOUT_SECONDS;
  int status;

  while (run->fds[0] >= 0 || run->fds[1] >= 0) {
    if (test_now() > deadline) {
      run_kill(run);
      ck_abort_msg("rlboard did not finish in %.0f s; stderr: %s",
                   RUN_TIMEOUT_SECONDS, run->err);
    }
    run_read(run, 100);
  }
  while (waitpid(run->pid, &status, 0) < 0 && errno == EINTR)
    ;
  run->status =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs `rlboard ARGS...` (a NULL-terminated list) to completion. */
static void run_args(struct run *run, const char *env, va_list args)
{
  static char program[] = "rlboard";
  char *argv[ARG_MAX_COUNT];
  int count = 0;
  const char *arg;

  argv[count++] = program;
  while ((arg = va_arg(args, const char *)) != NULL) {
    ck_assert_int_lt(count, ARG_MAX_COUNT - 1);
    argv[count++] = (char *)arg;
  }
  argv[count] = NULL;
  run_start(run, env, argv);
  run_finish(run);
}

static void run_env(struct run *run, const char *env, ...)
{
  va_list args;

  va_start(args, env);
  run_args(run, env, args);
  va_end(args);
}

#define CLI(...) run_env(&r, NULL, __VA_ARGS__, (const char *)NULL)
#define CLI_ENV(env, ...) run_env(&r, env, __VA_ARGS__, (const char *)NULL)

/* Output checks */

static int count_lines(const char *text)
{
  int lines = 0;

  for (; *text != '\0'; text++)
    lines += *text == '\n';
  return lines;
}

/* Asserts the run wrote nothing on standard error. */
static void assert_no_stderr(void)
{
  ck_assert_msg(r.err[0] == '\0', "unexpected standard error: %s", r.err);
}

/* Asserts exactly one line on standard error that contains fragment. */
static void assert_one_error_line(const char *fragment)
{
  ck_assert_int_eq(count_lines(r.err), 1);
  ck_assert_msg(r.err[strlen(r.err) - 1] == '\n', "error line unterminated");
  ck_assert_msg(strncmp(r.err, "rlboard: ", 9) == 0,
                "error line without 'rlboard: ': %s", r.err);
  ck_assert_msg(strstr(r.err, fragment) != NULL, "error line without '%s': %s",
                fragment, r.err);
}

static int is_uuid(const char *text, size_t length)
{
  size_t i;

  if (length != 36)
    return 0;
  for (i = 0; i < length; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;

    if (dash ? text[i] != '-' : strchr("0123456789abcdef", text[i]) == NULL)
      return 0;
  }
  return 1;
}

static json_t *parse_json(const char *text)
{
  json_error_t error;
  json_t *value = json_loads(text, 0, &error);

  ck_assert_msg(value != NULL, "invalid JSON (%s): %s", error.text, text);
  return value;
}

/* Records an event on name and returns its id in id (37 bytes). */
static void record_on(const char *name, const char *code, const char *duration,
                      const char *model, char *id)
{
  if (model != NULL)
    CLI("--board", name, "record", "--code", code, "--duration", duration,
        "--job", "job-1", "--model", model);
  else
    CLI("--board", name, "record", "--code", code, "--duration", duration,
        "--job", "job-1");
  ck_assert_msg(r.status == 0, "record failed: %s", r.err);
  if (id != NULL) {
    ck_assert_uint_eq(strlen(r.out), 37);
    memcpy(id, r.out, 36);
    id[36] = '\0';
  }
}

static void record_event(const char *code, const char *duration,
                         const char *model, char *id)
{
  record_on(board, code, duration, model, id);
}

/* Returns the events of the board as JSON text without seconds_left, which
 * changes from one call to the next, and the number of records, or "no
 * board". The caller frees the text. */
static char *board_state(const char *name)
{
  json_t *events;
  json_t *event;
  json_t *stats;
  char *listing;
  char *state;
  size_t i;

  CLI("--board", name, "stats", "--json");
  if (r.status == 66)
    return strdup("no board");
  ck_assert_int_eq(r.status, 0);
  stats = parse_json(r.out);

  CLI("--board", name, "list", "--json");
  ck_assert_int_eq(r.status, 0);
  events = parse_json(r.out);
  json_array_foreach(events, i, event)
  {
    json_object_del(event, "seconds_left");
  }
  listing = json_dumps(events, JSON_SORT_KEYS | JSON_COMPACT);
  ck_assert_int_ge(
      asprintf(&state, "%s records=%lld", listing,
               json_integer_value(json_object_get(stats, "records"))),
      0);
  free(listing);
  json_decref(events);
  json_decref(stats);
  return state;
}

static void unlink_board(void)
{
  CLI("--board", board, "unlink");
  ck_assert_msg(r.status == 0, "unlink failed: %s", r.err);
}

/* The sequence every user sees first */

START_TEST(test_cli_record_check_list_sequence)
{
  json_t *events;
  json_t *event;
  double seconds;

  CLI("--board", board, "record", "--code", "E101", "--duration", "60", "--job",
      "job-1", "--model", "m1");
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(is_uuid(r.out, strlen(r.out) - 1), "not an id: %s", r.out);
  ck_assert_str_eq(r.out + 36, "\n");
  assert_no_stderr();

  CLI("--board", board, "check", "--model", "m1");
  ck_assert_int_eq(r.status, 75);
  seconds = strtod(r.out, NULL);
  ck_assert_double_gt(seconds, 47.0);
  ck_assert_double_le(seconds, 48.0);
  ck_assert_int_eq(count_lines(r.out), 1);

  CLI("--board", board, "check", "--model", "m2");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "");
  assert_no_stderr();

  CLI("--board", board, "check");
  ck_assert_int_eq(r.status, 75);

  CLI("--board", board, "list", "--json");
  ck_assert_int_eq(r.status, 0);
  events = parse_json(r.out);
  ck_assert(json_is_array(events));
  ck_assert_uint_eq(json_array_size(events), 1);
  event = json_array_get(events, 0);
  ck_assert_str_eq(json_string_value(json_object_get(event, "error_code")),
                   "E101");
  ck_assert_str_eq(json_string_value(json_object_get(event, "model")), "m1");
  ck_assert_str_eq(json_string_value(json_object_get(event, "source_job_hash")),
                   "9af12d10801c5d48");
  ck_assert_double_eq(
      json_number_value(json_object_get(event, "duration_seconds")), 60.0);
  json_decref(events);

  CLI("--board", board, "record", "--code", "E101", "--duration", "-5", "--job",
      "j");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--duration '-5'");
  ck_assert_str_eq(r.out, "");
  unlink_board();
}
END_TEST

/* record */

START_TEST(test_cli_record_output_is_lowercase_uuid)
{
  char id[37];

  record_event("E103", "1.5", NULL, id);
  ck_assert_msg(is_uuid(id, strlen(id)), "not an id: %s", id);
  assert_no_stderr();
  unlink_board();
}
END_TEST

START_TEST(test_cli_record_creates_missing_board)
{
  CLI("--board", board, "stats");
  ck_assert_int_eq(r.status, 66);
  record_event("E101", "60", NULL, NULL);
  CLI("--board", board, "stats");
  ck_assert_int_eq(r.status, 0);
  unlink_board();
}
END_TEST

#define TEN_X "xxxxxxxxxx"

/* Arguments after "record", and a fragment the error line must contain. */
static const struct bad_record {
  const char *args[10];
  const char *fragment;
} bad_records[] = {
    {{"--code", "E101", "--duration", "-5", "--job", "j"}, "'-5'"},
    {{"--code", "E101", "--duration", "0", "--job", "j"}, "--duration '0'"},
    {{"--code", "E101", "--duration", "nan", "--job", "j"}, "'nan'"},
    {{"--code", "E101", "--duration", "inf", "--job", "j"}, "'inf'"},
    {{"--code", "E101", "--duration", "2592001", "--job", "j"}, "2592000"},
    {{"--code", "E101", "--duration", "", "--job", "j"}, "--duration ''"},
    {{"--code", "E101", "--duration", "60x", "--job", "j"}, "'60x'"},
    {{"--code", "E101", "--duration", " 60", "--job", "j"}, "' 60'"},
    {{"--code", "E101", "--duration", "0x10", "--job", "j"}, "'0x10'"},
    {{"--code", "E101", "--duration", "1e999", "--job", "j"}, "'1e999'"},
    {{"--code", "", "--duration", "60", "--job", "j"}, "--code ''"},
    {{"--code", TEN_X TEN_X TEN_X "xx", "--duration", "60", "--job", "j"},
     "--code"},
    {{"--code", "E1\n01", "--duration", "60", "--job", "j"}, "E1\\x0a01"},
    {{"--code", "E101", "--duration", "60", "--job", ""}, "--job ''"},
    {{"--code", "E101", "--duration", "60", "--job", "j", "--model", ""},
     "--model ''"},
    {{"--code", "E101", "--duration", "60", "--job", "j", "--model",
      TEN_X TEN_X TEN_X TEN_X TEN_X TEN_X TEN_X TEN_X TEN_X "xxxxxx"},
     "--model"},
    {{"--duration", "60", "--job", "j"}, "missing --code"},
    {{"--code", "E101", "--job", "j"}, "missing --duration"},
    {{"--code", "E101", "--duration", "60"}, "missing --job"},
    {{"--code", "E101", "--duration", "60", "--job", "j", "--bogus"},
     "unknown option '--bogus'"},
    {{"--code", "E101", "--duration", "60", "--job", "j", "extra"},
     "unexpected argument 'extra'"},
    {{"--code", "E101", "--duration", "60", "--job"}, "missing value"},
};

START_TEST(test_cli_record_bad_input_changes_nothing)
{
  const struct bad_record *bad = &bad_records[_i];
  char *argv[ARG_MAX_COUNT];
  char *before;
  char *after;
  int count = 0;
  int i;

  record_event("E101", "60", "m1", NULL);
  before = board_state(board);

  argv[count++] = (char *)"rlboard";
  argv[count++] = (char *)"--board";
  argv[count++] = board;
  argv[count++] = (char *)"record";
  for (i = 0; bad->args[i] != NULL; i++)
    argv[count++] = (char *)bad->args[i];
  argv[count] = NULL;
  run_start(&r, NULL, argv);
  run_finish(&r);
  ck_assert_int_eq(r.status, 64);
  ck_assert_str_eq(r.out, "");
  assert_one_error_line(bad->fragment);

  after = board_state(board);
  ck_assert_str_eq(after, before);
  free(before);
  free(after);
  unlink_board();
}
END_TEST

START_TEST(test_cli_record_long_job_rejected)
{
  char job[RLB_JOB_MAX + 2];

  memset(job, 'j', sizeof(job) - 1);
  job[sizeof(job) - 1] = '\0';
  CLI("--board", board, "record", "--code", "E101", "--duration", "60", "--job",
      job);
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--job");
  ck_assert_msg(strstr(r.err, "1024") != NULL, "no limit named: %s", r.err);
  CLI("--board", board, "stats");
  ck_assert_int_eq(r.status, 66);
}
END_TEST

/* check */

START_TEST(test_cli_check_prints_three_decimals)
{
  const char *dot;

  record_event("E101", "60", "m1", NULL);
  CLI("--board", board, "check", "--code", "E101");
  ck_assert_int_eq(r.status, 75);
  dot = strchr(r.out, '.');
  ck_assert_ptr_nonnull(dot);
  ck_assert_str_eq(dot + 4, "\n");
  ck_assert_int_eq(count_lines(r.out), 1);
  assert_no_stderr();
  unlink_board();
}
END_TEST

START_TEST(test_cli_check_code_filter)
{
  record_event("E101", "60", NULL, NULL);
  CLI("--board", board, "check", "--code", "E102");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "");
  CLI("--board", board, "check", "--code", "E101");
  ck_assert_int_eq(r.status, 75);
  CLI("--board", board, "check", "--model", "m1");
  ck_assert_int_eq(r.status, 0);
  unlink_board();
}
END_TEST

START_TEST(test_cli_check_json_limited)
{
  json_t *answer;
  double seconds;

  record_event("E101", "60", "m1", NULL);
  CLI("--board", board, "check", "--model", "m1", "--json");
  ck_assert_int_eq(r.status, 75);
  ck_assert_int_eq(count_lines(r.out), 1);
  answer = parse_json(r.out);
  ck_assert(json_is_true(json_object_get(answer, "limited")));
  seconds = json_number_value(json_object_get(answer, "seconds_left"));
  ck_assert_double_gt(seconds, 47.0);
  ck_assert_double_le(seconds, 48.0);
  ck_assert_uint_eq(json_object_size(answer), 2);
  json_decref(answer);
  unlink_board();
}
END_TEST

START_TEST(test_cli_check_json_clear)
{
  json_t *answer;

  record_event("E101", "60", "m1", NULL);
  CLI("--board", board, "check", "--model", "m2", "--json");
  ck_assert_int_eq(r.status, 0);
  answer = parse_json(r.out);
  ck_assert(json_is_false(json_object_get(answer, "limited")));
  ck_assert(json_is_number(json_object_get(answer, "seconds_left")));
  ck_assert_double_eq(
      json_number_value(json_object_get(answer, "seconds_left")), 0.0);
  json_decref(answer);
  unlink_board();
}
END_TEST

START_TEST(test_cli_check_missing_board_is_clear)
{
  CLI("--board", board, "check");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "");
  assert_no_stderr();
  CLI("--board", board, "stats");
  ck_assert_int_eq(r.status, 66);
}
END_TEST

START_TEST(test_cli_check_bad_filter_rejected)
{
  CLI("--board", board, "check", "--model", "");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--model ''");
  CLI("--board", board, "check", "--json=yes");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("'--json' takes no value");
}
END_TEST

/* list */

START_TEST(test_cli_list_table)
{
  char id[37];
  char *second_line;

  record_event("E101", "60", "m1", id);
  CLI("--board", board, "list");
  ck_assert_int_eq(r.status, 0);
  assert_no_stderr();
  ck_assert_int_eq(count_lines(r.out), 2);
  ck_assert_msg(strncmp(r.out, "id ", 3) == 0, "no header: %s", r.out);
  ck_assert_ptr_nonnull(strstr(r.out, "error_code"));
  ck_assert_ptr_nonnull(strstr(r.out, "source_job_hash"));
  ck_assert_ptr_nonnull(strstr(r.out, "seconds_left\n"));
  second_line = strchr(r.out, '\n') + 1;
  ck_assert_msg(strncmp(second_line, id, 36) == 0, "row: %s", second_line);
  ck_assert_ptr_nonnull(strstr(second_line, " E101 "));
  ck_assert_ptr_nonnull(strstr(second_line, " m1 "));
  ck_assert_ptr_nonnull(strstr(second_line, " 9af12d10801c5d48 "));
  ck_assert_ptr_nonnull(strstr(second_line, " 60.000 "));
  unlink_board();
}
END_TEST

START_TEST(test_cli_list_json_fields)
{
  json_t *events;
  json_t *event;
  int64_t recorded;
  int64_t expires;
  char id[37];

  record_event("E104", "60", NULL, id);
  CLI("--board", board, "list", "--json");
  ck_assert_int_eq(r.status, 0);
  ck_assert_int_eq(count_lines(r.out), 1);
  events = parse_json(r.out);
  event = json_array_get(events, 0);
  ck_assert_uint_eq(json_object_size(event), 8);
  ck_assert_str_eq(json_string_value(json_object_get(event, "id")), id);
  ck_assert(json_is_null(json_object_get(event, "model")));
  ck_assert_int_eq(
      rlb_parse_time(json_string_value(json_object_get(event, "recorded_at")),
                     &recorded),
      0);
  ck_assert_int_eq(
      rlb_parse_time(json_string_value(json_object_get(event, "expires_at")),
                     &expires),
      0);
  ck_assert_int_eq(expires - recorded, 48000000);
  ck_assert_msg(strstr(json_string_value(json_object_get(event, "expires_at")),
                       "+00:00") != NULL,
                "expires_at is not UTC");
  ck_assert(json_is_number(json_object_get(event, "seconds_left")));
  json_decref(events);
  unlink_board();
}
END_TEST

START_TEST(test_cli_list_expires_last_first)
{
  json_t *events;
  double first;
  double second;

  record_event("E101", "60", "m1", NULL);
  record_event("E102", "120", "m1", NULL);
  record_event("E103", "30", "m2", NULL);
  CLI("--board", board, "list", "--json");
  ck_assert_int_eq(r.status, 0);
  events = parse_json(r.out);
  ck_assert_uint_eq(json_array_size(events), 3);
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(events, 0),
                                                     "error_code")),
                   "E102");
  first = json_number_value(
      json_object_get(json_array_get(events, 1), "seconds_left"));
  second = json_number_value(
      json_object_get(json_array_get(events, 2), "seconds_left"));
  ck_assert_double_gt(first, second);
  json_decref(events);

  CLI("--board", board, "list", "--json", "--model", "m1", "--code", "E101");
  events = parse_json(r.out);
  ck_assert_uint_eq(json_array_size(events), 1);
  json_decref(events);
  unlink_board();
}
END_TEST

START_TEST(test_cli_list_missing_board_is_empty)
{
  CLI("--board", board, "list", "--json");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "[]\n");
  CLI("--board", board, "list");
  ck_assert_int_eq(r.status, 0);
  ck_assert_int_eq(count_lines(r.out), 1);
  assert_no_stderr();
}
END_TEST

/* Board selection */

START_TEST(test_cli_board_from_environment)
{
  char variable[96];

  snprintf(variable, sizeof(variable), "RLBOARD=%s", board);
  CLI_ENV(variable, "record", "--code", "E101", "--duration", "60", "--job",
          "job-1");
  ck_assert_int_eq(r.status, 0);
  CLI("--board", board, "check");
  ck_assert_int_eq(r.status, 75);
  CLI_ENV(variable, "check");
  ck_assert_int_eq(r.status, 75);
  unlink_board();
}
END_TEST

START_TEST(test_cli_board_option_overrides_environment)
{
  char variable[96];

  snprintf(variable, sizeof(variable), "RLBOARD=%s", other_board);
  CLI_ENV(variable, "--board", board, "record", "--code", "E101", "--duration",
          "60", "--job", "job-1");
  ck_assert_int_eq(r.status, 0);
  CLI_ENV(variable, "check");
  ck_assert_int_eq(r.status, 0);
  CLI("--board", board, "check");
  ck_assert_int_eq(r.status, 75);
  unlink_board();
}
END_TEST

START_TEST(test_cli_board_after_subcommand)
{
  char slashed[80];

  record_event("E101", "60", NULL, NULL);
  CLI("check", "--board", board);
  ck_assert_int_eq(r.status, 75);
  snprintf(slashed, sizeof(slashed), "/%s", board);
  CLI("check", "--board", slashed);
  ck_assert_int_eq(r.status, 75);
  CLI("--board", other_board, "check", "--board", board);
  ck_assert_int_eq(r.status, 75);
  unlink_board();
}
END_TEST

START_TEST(test_cli_board_invalid_name)
{
  CLI("--board", "a/b", "record", "--code", "E101", "--duration", "60", "--job",
      "j");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--board 'a/b'");

  CLI_ENV("RLBOARD=..", "check");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("RLBOARD '..'");
}
END_TEST

/* create */

static json_t *stats_json(const char *name)
{
  CLI("--board", name, "stats", "--json");
  ck_assert_msg(r.status == 0, "stats failed: %s", r.err);
  return parse_json(r.out);
}

static long long stats_integer(json_t *stats, const char *key)
{
  json_t *value = json_object_get(stats, key);

  ck_assert_msg(json_is_integer(value), "stats key %s not an integer", key);
  return json_integer_value(value);
}

START_TEST(test_cli_create_prints_nothing)
{
  json_t *stats;

  CLI("--board", board, "create");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "");
  assert_no_stderr();
  stats = stats_json(board);
  ck_assert_int_eq(stats_integer(stats, "capacity"), RLB_CAPACITY_DEFAULT);
  json_decref(stats);

  CLI("--board", board, "create");
  ck_assert_int_eq(r.status, 0);
  assert_no_stderr();
  unlink_board();
}
END_TEST

START_TEST(test_cli_create_settings)
{
  json_t *stats;
  double seconds;

  CLI("--board", board, "create", "--capacity", "8", "--ttl-factor", "0.5",
      "--jitter-ms", "0", "--probe-timeout-ms", "1000");
  ck_assert_int_eq(r.status, 0);
  stats = stats_json(board);
  ck_assert_int_eq(stats_integer(stats, "capacity"), 8);
  ck_assert_int_eq(stats_integer(stats, "jitter_ms"), 0);
  ck_assert_int_eq(stats_integer(stats, "probe_timeout_ms"), 1000);
  ck_assert_double_eq(json_number_value(json_object_get(stats, "ttl_factor")),
                      0.5);
  json_decref(stats);

  record_event("E101", "10", NULL, NULL);
  CLI("--board", board, "check");
  ck_assert_int_eq(r.status, 75);
  seconds = strtod(r.out, NULL);
  ck_assert_double_gt(seconds, 4.0);
  ck_assert_double_le(seconds, 5.0);
  unlink_board();
}
END_TEST

START_TEST(test_cli_create_existing_keeps_settings)
{
  json_t *stats;

  CLI("--board", board, "create", "--capacity", "8");
  ck_assert_int_eq(r.status, 0);
  CLI("--board", board, "create", "--capacity", "16");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "");
  assert_one_error_line("keeps its settings");
  stats = stats_json(board);
  ck_assert_int_eq(stats_integer(stats, "capacity"), 8);
  json_decref(stats);
  unlink_board();
}
END_TEST

START_TEST(test_cli_create_mode)
{
  char path[128];
  struct stat info;

  CLI("--board", board, "create", "--mode", "0640");
  ck_assert_int_eq(r.status, 0);
  snprintf(path, sizeof(path), "/dev/shm/%s", board);
  ck_assert_int_eq(stat(path, &info), 0);
  ck_assert_uint_eq(info.st_mode & 0777, 0640);
  unlink_board();
}
END_TEST

static const struct bad_create {
  const char *option;
  const char *value;
} bad_creates[] = {
    {"--capacity", "0"},         {"--capacity", "1048577"},
    {"--capacity", "-1"},        {"--capacity", "12abc"},
    {"--capacity", ""},          {"--capacity", "99999999999999999999"},
    {"--mode", "0400"},          {"--mode", "01777"},
    {"--mode", "0689"},          {"--ttl-factor", "0"},
    {"--ttl-factor", "4.5"},     {"--ttl-factor", "nan"},
    {"--jitter-ms", "-1"},       {"--jitter-ms", "600001"},
    {"--probe-timeout-ms", "0"}, {"--probe-timeout-ms", "3600001"},
};

START_TEST(test_cli_create_bad_input_creates_nothing)
{
  const struct bad_create *bad = &bad_creates[_i];
  char fragment[96];

  CLI("--board", board, "create", bad->option, bad->value);
  ck_assert_int_eq(r.status, 64);
  snprintf(fragment, sizeof(fragment), "invalid %s '%s'", bad->option,
           bad->value);
  assert_one_error_line(fragment);
  CLI("--board", board, "stats");
  ck_assert_int_eq(r.status, 66);
}
END_TEST

/* cleanup, stats, verify, unlink */

START_TEST(test_cli_cleanup_prints_count)
{
  record_event("E101", "0.05", NULL, NULL);
  record_event("E101", "60", NULL, NULL);
  test_sleep_ms(300);
  CLI("--board", board, "cleanup");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "1\n");
  assert_no_stderr();
  CLI("--board", board, "cleanup");
  ck_assert_str_eq(r.out, "0\n");
  unlink_board();
}
END_TEST

static const char *const stats_keys[] = {
    "name",           "capacity",   "live",           "stored",
    "records",        "evictions",  "expired_reused", "cleaned",
    "cleared",        "restored",   "recoveries",     "board_id",
    "created_at",     "ttl_factor", "jitter_ms",      "probe_timeout_ms",
    "layout_version", "waiters",    "segment_bytes",  "name_removed",
    "probe_held",     "mode"};

#define STATS_KEY_COUNT (sizeof(stats_keys) / sizeof(stats_keys[0]))

START_TEST(test_cli_stats_json_keys)
{
  json_t *stats;
  size_t i;

  record_event("E101", "60", NULL, NULL);
  stats = stats_json(board);
  assert_no_stderr();
  ck_assert_int_eq(count_lines(r.out), 1);
  for (i = 0; i < STATS_KEY_COUNT; i++)
    ck_assert_msg(json_object_get(stats, stats_keys[i]) != NULL,
                  "stats --json lacks %s", stats_keys[i]);
  ck_assert_uint_eq(json_object_size(stats), STATS_KEY_COUNT);
  ck_assert_int_eq(stats_integer(stats, "records"), 1);
  ck_assert_int_eq(stats_integer(stats, "live"), 1);
  ck_assert(json_is_false(json_object_get(stats, "name_removed")));
  ck_assert_uint_eq(
      strlen(json_string_value(json_object_get(stats, "board_id"))), 16);
  json_decref(stats);
  unlink_board();
}
END_TEST

START_TEST(test_cli_stats_text_lines)
{
  char expected[96];
  size_t i;

  record_event("E101", "60", NULL, NULL);
  CLI("--board", board, "stats");
  ck_assert_int_eq(r.status, 0);
  ck_assert_int_eq(count_lines(r.out), (int)STATS_KEY_COUNT);
  for (i = 0; i < STATS_KEY_COUNT; i++) {
    snprintf(expected, sizeof(expected), "%s%s ", i == 0 ? "" : "\n",
             stats_keys[i]);
    ck_assert_msg(i == 0 ? strncmp(r.out, expected, strlen(expected)) == 0
                         : strstr(r.out, expected) != NULL,
                  "stats lacks the line of %s", stats_keys[i]);
  }
  ck_assert_ptr_nonnull(strstr(r.out, "\nrecords 1\n"));
  unlink_board();
}
END_TEST

START_TEST(test_cli_stats_missing_board)
{
  CLI("--board", board, "stats");
  ck_assert_int_eq(r.status, 66);
  ck_assert_str_eq(r.out, "");
  assert_one_error_line("not found");
}
END_TEST

START_TEST(test_cli_verify_consistent_board)
{
  record_event("E101", "60", NULL, NULL);
  CLI("--board", board, "verify");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "");
  assert_no_stderr();
  unlink_board();
  CLI("--board", board, "verify");
  ck_assert_int_eq(r.status, 66);
  assert_one_error_line("not found");
}
END_TEST

START_TEST(test_cli_unlink_keeps_foreign_segment)
{
  char path[128];
  struct stat sb;
  FILE *f;

  snprintf(path, sizeof(path), "/dev/shm/%s", board);
  f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_gt(fputs("not a board, another program's memory", f), 0);
  ck_assert_int_eq(fclose(f), 0);
  CLI("--board", board, "unlink");
  ck_assert_int_eq(r.status, 1);
  assert_one_error_line("not an rlboard board");
  ck_assert_int_eq(stat(path, &sb), 0);
  ck_assert_int_eq(unlink(path), 0);
}
END_TEST

START_TEST(test_cli_empty_board_name_rejected)
{
  CLI("--board", "", "create");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--board");
  CLI("--board", "--help", "create");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("'--help'");
}
END_TEST

START_TEST(test_cli_unlink_removes_board)
{
  record_event("E101", "60", NULL, NULL);
  CLI("--board", board, "unlink");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "");
  assert_no_stderr();
  CLI("--board", board, "stats");
  ck_assert_int_eq(r.status, 66);
  CLI("--board", board, "unlink");
  ck_assert_int_eq(r.status, 66);
  assert_one_error_line("not found");
}
END_TEST

/* clear */

START_TEST(test_cli_clear_by_id)
{
  char id[37];

  record_event("E101", "60", "m1", id);
  record_event("E101", "30", "m1", NULL);
  CLI("--board", board, "clear", "--id", id);
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "1\n");
  assert_no_stderr();
  CLI("--board", board, "clear", "--id", id);
  ck_assert_int_eq(r.status, 66);
  assert_one_error_line(id);
  unlink_board();
}
END_TEST

START_TEST(test_cli_clear_by_filters)
{
  record_event("E101", "60", "m1", NULL);
  record_event("E101", "60", "m1", NULL);
  record_event("E101", "60", "m2", NULL);
  record_event("E102", "60", "m1", NULL);
  CLI("--board", board, "clear", "--code", "E101", "--model", "m1");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "2\n");
  CLI("--board", board, "check", "--model", "m2");
  ck_assert_int_eq(r.status, 75);
  CLI("--board", board, "clear", "--all");
  ck_assert_str_eq(r.out, "2\n");
  CLI("--board", board, "check");
  ck_assert_int_eq(r.status, 0);
  unlink_board();
}
END_TEST

START_TEST(test_cli_clear_usage_errors)
{
  char *before;
  char *after;

  record_event("E101", "60", "m1", NULL);
  before = board_state(board);
  CLI("--board", board, "clear");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("missing --id");
  CLI("--board", board, "clear", "--id", "not-an-id");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--id 'not-an-id'");
  CLI("--board", board, "clear", "--all", "--code", "E101");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--all");
  CLI("--board", board, "clear", "--id", "00000000-0000-4000-8000-000000000000",
      "--model", "m1");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--id");
  after = board_state(board);
  ck_assert_str_eq(after, before);
  free(before);
  free(after);
  unlink_board();
}
END_TEST

/* wait */

START_TEST(test_cli_wait_clear_returns_at_once)
{
  CLI("--board", board, "wait", "--jitter-ms", "0");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "");
  assert_no_stderr();
  record_event("E101", "60", "m1", NULL);
  CLI("--board", board, "wait", "--model", "m2", "--jitter-ms", "0",
      "--timeout", "10");
  ck_assert_int_eq(r.status, 0);
  unlink_board();
}
END_TEST

START_TEST(test_cli_wait_times_out)
{
  record_event("E101", "60", NULL, NULL);
  CLI("--board", board, "wait", "--timeout", "0.2", "--jitter-ms", "0");
  ck_assert_int_eq(r.status, 75);
  ck_assert_str_eq(r.out, "");
  assert_one_error_line("timed out");
  unlink_board();
}
END_TEST

START_TEST(test_cli_wait_until_expiry)
{
  record_event("E101", "0.3", NULL, NULL);
  CLI("--board", board, "wait", "--timeout", "30", "--jitter-ms", "0");
  ck_assert_int_eq(r.status, 0);
  CLI("--board", board, "check");
  ck_assert_int_eq(r.status, 0);
  unlink_board();
}
END_TEST

START_TEST(test_cli_wait_bad_timeout)
{
  CLI("--board", board, "wait", "--timeout", "-1");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--timeout '-1'");
  CLI("--board", board, "wait", "--jitter-ms", "1.5");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--jitter-ms '1.5'");
}
END_TEST

/* probe */

START_TEST(test_cli_probe_acquire_and_release)
{
  char token[32];
  size_t length;

  CLI("--board", board, "probe", "acquire", "--model", "m1");
  ck_assert_int_eq(r.status, 0);
  assert_no_stderr();
  length = strlen(r.out);
  ck_assert_uint_gt(length, 1);
  ck_assert_uint_lt(length, sizeof(token));
  ck_assert_uint_eq(strspn(r.out, "0123456789"), length - 1);
  memcpy(token, r.out, length - 1);
  token[length - 1] = '\0';

  CLI("--board", board, "probe", "acquire", "--model", "m1");
  ck_assert_int_eq(r.status, 69);
  ck_assert_str_eq(r.out, "");
  assert_one_error_line("held by another worker");

  CLI("--board", board, "probe", "release", "--token", token, "--success");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "");
  assert_no_stderr();

  CLI("--board", board, "probe", "release", "--token", token, "--success");
  ck_assert_int_eq(r.status, 1);
  assert_one_error_line(token);
  unlink_board();
}
END_TEST

START_TEST(test_cli_probe_acquire_when_limited)
{
  record_event("E101", "60", "m1", NULL);
  CLI("--board", board, "probe", "acquire", "--model", "m1");
  ck_assert_int_eq(r.status, 75);
  ck_assert_str_eq(r.out, "");
  unlink_board();
}
END_TEST

START_TEST(test_cli_probe_usage_errors)
{
  CLI("--board", board, "probe");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("missing ACTION");
  CLI("--board", board, "probe", "grab");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("'grab'");
  CLI("--board", board, "probe", "release", "--token", "12");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--success");
  CLI("--board", board, "probe", "release", "--token", "12", "--success",
      "--failure");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--failure");
  CLI("--board", board, "probe", "release", "--token", "-3", "--success");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--token '-3'");
  CLI("--board", board, "probe", "acquire", "--token", "12");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--token");
  CLI("--board", board, "stats");
  ck_assert_int_eq(r.status, 66);
}
END_TEST

/* snapshot and restore */

/* Removes a SQLite file with its -wal, -shm and -journal files. */
static void remove_database(const char *path)
{
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  char name[200];
  size_t i;

  for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
    unlink(name);
  }
}

static void temp_path(char *path, size_t size, const char *suffix)
{
  snprintf(path, size, "/tmp/%s-%s", board, suffix);
  remove_database(path);
}

static long long count_rows(const char *path)
{
  sqlite3 *db;
  sqlite3_stmt *stmt;
  long long rows;

  ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(db,
                                      "SELECT count(*) FROM rate_limit_events",
                                      -1, &stmt, NULL),
                   SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
  rows = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

START_TEST(test_cli_snapshot_then_restore)
{
  char path[160];

  temp_path(path, sizeof(path), "snap.db");
  record_event("E101", "60", "m1", NULL);
  record_event("E102", "60", NULL, NULL);
  CLI("--board", board, "snapshot", path);
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strncmp(r.out, "wrote 2 events in ", 18) == 0, "output: %s",
                r.out);
  ck_assert_int_eq(count_lines(r.out), 1);
  assert_no_stderr();
  ck_assert_int_eq(count_rows(path), 2);

  CLI("--board", other_board, "restore", path);
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "restored 2, expired 0, duplicate 0, invalid 0\n");
  assert_no_stderr();
  CLI("--board", other_board, "restore", path);
  ck_assert_str_eq(r.out, "restored 0, expired 0, duplicate 2, invalid 0\n");
  CLI("--board", other_board, "check", "--model", "m1");
  ck_assert_int_eq(r.status, 75);
  CLI("--board", other_board, "unlink");
  remove_database(path);
  unlink_board();
}
END_TEST

/* Writes a store file with one valid, one expired and one invalid row. */
static void write_store_file(const char *path)
{
  char recorded[40];
  char future[40];
  char past_recorded[40];
  char past_expired[40];
  char *sql;
  sqlite3 *db;
  int64_t now = (int64_t)time(NULL) * 1000000;

  ck_assert_int_eq(rlb_format_time(now, recorded), 0);
  ck_assert_int_eq(rlb_format_time(now - 120000000, past_recorded), 0);
  ck_assert_int_eq(rlb_format_time(now - 72000000, past_expired), 0);
  ck_assert_int_eq(rlb_format_time(now + 3600000000LL, future), 0);
  ck_assert_int_ge(
      asprintf(&sql,
               "CREATE TABLE rate_limit_events(id TEXT PRIMARY KEY, "
               "error_code TEXT NOT NULL, model TEXT, recorded_at TIMESTAMP "
               "NOT NULL, expires_at TIMESTAMP NOT NULL, source_job_hash "
               "TEXT NOT NULL, duration_seconds REAL NOT NULL);"
               "INSERT INTO rate_limit_events VALUES"
               "('0b7e4c1a-2c1e-4a5e-9c1e-1a2b3c4d5e6f', 'E101', 'm1', '%s',"
               " '%s', '9af12d10801c5d48', 4500),"
               "('1b7e4c1a-2c1e-4a5e-9c1e-1a2b3c4d5e6f', 'E101', 'm1', '%s',"
               " '%s', '9af12d10801c5d48', 60),"
               "('not-a-uuid', 'E101', 'm1', '%s', '%s', "
               "'9af12d10801c5d48', 4500);",
               recorded, future, past_recorded, past_expired, recorded, future),
      0);
  ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  free(sql);
}

START_TEST(test_cli_restore_reports_skipped_rows)
{
  char path[160];

  temp_path(path, sizeof(path), "store.db");
  write_store_file(path);
  CLI("--board", board, "restore", path);
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "restored 1, expired 1, duplicate 0, invalid 1\n");
  ck_assert_int_eq(count_lines(r.err), 1);
  ck_assert_msg(strncmp(r.err, "skipped not-a-uuid: ", 20) == 0, "stderr: %s",
                r.err);
  CLI("--board", board, "list", "--json", "--model", "m1");
  ck_assert_ptr_nonnull(strstr(r.out, "0b7e4c1a-2c1e-4a5e-9c1e-1a2b3c4d5e6f"));
  remove_database(path);
  unlink_board();
}
END_TEST

START_TEST(test_cli_restore_bad_files)
{
  char path[160];
  FILE *file;

  temp_path(path, sizeof(path), "missing.db");
  CLI("--board", board, "restore", path);
  ck_assert_int_eq(r.status, 66);
  assert_one_error_line(path);
  CLI("--board", board, "stats");
  ck_assert_int_eq(r.status, 66);

  temp_path(path, sizeof(path), "text.db");
  file = fopen(path, "w");
  ck_assert_ptr_nonnull(file);
  fputs("this is not a database, only text that fills a few lines\n", file);
  fclose(file);
  CLI("--board", board, "restore", path);
  ck_assert_int_eq(r.status, 65);
  assert_one_error_line(path);
  remove_database(path);

  CLI("--board", board, "restore");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("missing FILE");
  rlb_unlink(board);
}
END_TEST

START_TEST(test_cli_snapshot_missing_board_keeps_file)
{
  char path[160];

  temp_path(path, sizeof(path), "kept.db");
  write_store_file(path);
  CLI("--board", board, "snapshot", path);
  ck_assert_int_eq(r.status, 66);
  assert_one_error_line("not found");
  ck_assert_int_eq(count_rows(path), 3);
  remove_database(path);
}
END_TEST

/* Runs snapshot --every until its first snapshot, then sends signal. */
static void snapshot_every_until(int signal_number)
{
  static char program[] = "rlboard";
  static char board_option[] = "--board";
  static char subcommand[] = "snapshot";
  static char every_option[] = "--every";
  static char every_value[] = "0.2";
  char path[160];
  char *argv[] = {program,      board_option, board, subcommand,
                  every_option, every_value,  path,  NULL};
  const char *last_line;

  temp_path(path, sizeof(path), "every.db");
  record_event("E101", "60", NULL, NULL);
  run_start(&r, NULL, argv);
  run_wait_for_stderr(&r, "wrote 1 event ", 30);
  kill(r.pid, signal_number);
  run_finish(&r);

  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "");
  ck_assert_ptr_nonnull(strstr(r.err, "started"));
  ck_assert_ptr_nonnull(strstr(r.err, "taking the final snapshot"));
  ck_assert_ptr_nonnull(
      strstr(strstr(r.err, "taking the final snapshot"), "wrote 1 event "));
  last_line = r.err + strlen(r.err) - 1;
  while (last_line > r.err && last_line[-1] != '\n')
    last_line--;
  ck_assert_ptr_nonnull(strstr(last_line, "stopped"));
  ck_assert_int_eq(count_rows(path), 1);
  remove_database(path);
  unlink_board();
}

START_TEST(test_cli_snapshot_every_sigterm)
{
  snapshot_every_until(SIGTERM);
}
END_TEST

START_TEST(test_cli_snapshot_every_sigint)
{
  snapshot_every_until(SIGINT);
}
END_TEST

START_TEST(test_cli_snapshot_bad_every)
{
  CLI("--board", board, "snapshot", "--every", "0", "/tmp/unused.db");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("--every '0'");
  CLI("--board", board, "snapshot");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("missing FILE");
}
END_TEST

/* retry-after */

START_TEST(test_cli_retry_after_values)
{
  CLI("retry-after", "120");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "120.000\n");
  assert_no_stderr();
  CLI("retry-after", "1500", "--ms");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "1.500\n");
  CLI("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "0.000\n");
}
END_TEST

START_TEST(test_cli_retry_after_invalid)
{
  CLI("retry-after", "soon");
  ck_assert_int_eq(r.status, 64);
  ck_assert_str_eq(r.out, "");
  assert_one_error_line("'soon'");
  CLI("retry-after");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("missing VALUE");
}
END_TEST

/* Help, version and usage errors */

static const char *const subcommand_names[] = {
    "create",   "record",  "check",       "list",  "wait",
    "probe",    "clear",   "cleanup",     "stats", "verify",
    "snapshot", "restore", "retry-after", "unlink"};

#define SUBCOMMAND_COUNT                                                       \
  (sizeof(subcommand_names) / sizeof(subcommand_names[0]))

START_TEST(test_cli_help_lists_subcommands)
{
  char entry[40];
  size_t i;

  CLI("--help");
  ck_assert_int_eq(r.status, 0);
  assert_no_stderr();
  for (i = 0; i < SUBCOMMAND_COUNT; i++) {
    snprintf(entry, sizeof(entry), "  %s ", subcommand_names[i]);
    ck_assert_msg(strstr(r.out, entry) != NULL, "help lacks %s",
                  subcommand_names[i]);
  }
  ck_assert_ptr_nonnull(strstr(r.out, "Exit status"));
  ck_assert_ptr_nonnull(strstr(r.out, "  75  "));
  ck_assert_ptr_nonnull(strstr(r.out, "  64  "));
}
END_TEST

START_TEST(test_cli_help_of_each_subcommand)
{
  const char *name = subcommand_names[_i];
  char usage[64];

  snprintf(usage, sizeof(usage), "Usage: rlboard %s", name);
  CLI(name, "--help");
  ck_assert_int_eq(r.status, 0);
  assert_no_stderr();
  ck_assert_msg(strncmp(r.out, usage, strlen(usage)) == 0, "help: %s", r.out);
  ck_assert_ptr_nonnull(strstr(r.out, "--board NAME"));
  CLI("--help", name);
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strncmp(r.out, usage, strlen(usage)) == 0, "help: %s", r.out);
}
END_TEST

START_TEST(test_cli_help_names_units)
{
  CLI("record", "--help");
  ck_assert_ptr_nonnull(strstr(r.out, "--duration SECONDS"));
  ck_assert_ptr_nonnull(strstr(r.out, "in seconds"));
  CLI("create", "--help");
  ck_assert_ptr_nonnull(strstr(r.out, "--jitter-ms N"));
  ck_assert_ptr_nonnull(strstr(r.out, "milliseconds"));
  CLI("wait", "--help");
  ck_assert_ptr_nonnull(strstr(r.out, "--timeout SECONDS"));
  CLI("check", "--help");
  ck_assert_ptr_nonnull(strstr(r.out, "does not\nexist is clear"));
}
END_TEST

START_TEST(test_cli_version)
{
  CLI("--version");
  ck_assert_int_eq(r.status, 0);
  ck_assert_str_eq(r.out, "rlboard " RLBOARD_VERSION_STRING "\n");
  assert_no_stderr();
}
END_TEST

START_TEST(test_cli_usage_errors)
{
  CLI("--board", board);
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("missing subcommand");
  CLI("frobnicate");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("unknown subcommand 'frobnicate'");
  CLI("--frobnicate", "check");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("unknown option '--frobnicate'");
  CLI("check", "-x");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("unknown option '-x'");
  CLI("check", "--board");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("missing value for option '--board'");
  CLI("--board", board, "cleanup", "extra");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("unexpected argument 'extra'");
  CLI("--board", board, "stats");
  ck_assert_int_eq(r.status, 66);
}
END_TEST

/* Runs the command with standard output on out_fd and standard error in
 * r.err, and stores its exit status in r.status. */
static void run_with_stdout(int out_fd, char *const argv[])
{
  int err_pipe[2];
  ssize_t got;
  size_t used = 0;
  int status;
  pid_t pid;

  ck_assert_int_eq(pipe(err_pipe), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    close(err_pipe[0]);
    close(err_pipe[1]);
    execv(RLB_CLI_PATH, argv);
    _exit(127);
  }
  close(err_pipe[1]);
  while ((got = read(err_pipe[0], r.err + used, sizeof(r.err) - 1 - used)) > 0)
    used += (size_t)got;
  r.err[used] = '\0';
  close(err_pipe[0]);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  r.status = WEXITSTATUS(status);
}

START_TEST(test_cli_stdout_write_error)
{
  static char program[] = "rlboard";
  static char subcommand[] = "retry-after";
  static char value[] = "5";
  char *argv[] = {program, subcommand, value, NULL};
  int full = open("/dev/full", O_WRONLY);

  ck_assert_int_ge(full, 0);
  run_with_stdout(full, argv);
  close(full);
  ck_assert_int_eq(r.status, 74);
  assert_one_error_line("failed to write to standard output");
}
END_TEST

START_TEST(test_cli_negative_argument_hint)
{
  CLI("retry-after", "-5");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("put '--' before");
  CLI("retry-after", "--", "-5");
  ck_assert_int_eq(r.status, 64);
  assert_one_error_line("Retry-After value '-5'");
}
END_TEST

START_TEST(test_cli_verbose_before_and_after)
{
  record_event("E101", "60", NULL, NULL);
  CLI("--verbose", "--board", board, "check");
  ck_assert_int_eq(r.status, 75);
  assert_no_stderr();
  CLI("--board", board, "check", "--verbose");
  ck_assert_int_eq(r.status, 75);
  assert_no_stderr();
  unlink_board();
}
END_TEST

static Suite *make_cli_suite(void)
{
  Suite *s = suite_create("cli");
  TCase *basics = tcase_create("basics");
  TCase *input = tcase_create("input");
  TCase *admin = tcase_create("admin");
  TCase *blocking = tcase_create("blocking");
  TCase *files = tcase_create("files");
  TCase *help = tcase_create("help");
  int bad_record_count = sizeof(bad_records) / sizeof(bad_records[0]);
  int bad_create_count = sizeof(bad_creates) / sizeof(bad_creates[0]);

  tcase_add_checked_fixture(basics, setup, teardown);
  tcase_set_timeout(basics, 120);
  tcase_add_test(basics, test_cli_record_check_list_sequence);
  tcase_add_test(basics, test_cli_record_output_is_lowercase_uuid);
  tcase_add_test(basics, test_cli_record_creates_missing_board);
  tcase_add_test(basics, test_cli_check_prints_three_decimals);
  tcase_add_test(basics, test_cli_check_code_filter);
  tcase_add_test(basics, test_cli_check_json_limited);
  tcase_add_test(basics, test_cli_check_json_clear);
  tcase_add_test(basics, test_cli_check_missing_board_is_clear);
  tcase_add_test(basics, test_cli_list_table);
  tcase_add_test(basics, test_cli_list_json_fields);
  tcase_add_test(basics, test_cli_list_expires_last_first);
  tcase_add_test(basics, test_cli_list_missing_board_is_empty);
  tcase_add_test(basics, test_cli_board_from_environment);
  tcase_add_test(basics, test_cli_board_option_overrides_environment);
  tcase_add_test(basics, test_cli_board_after_subcommand);
  suite_add_tcase(s, basics);

  tcase_add_checked_fixture(input, setup, teardown);
  tcase_set_timeout(input, 120);
  tcase_add_loop_test(input, test_cli_record_bad_input_changes_nothing, 0,
                      bad_record_count);
  tcase_add_test(input, test_cli_record_long_job_rejected);
  tcase_add_test(input, test_cli_check_bad_filter_rejected);
  tcase_add_test(input, test_cli_board_invalid_name);
  tcase_add_loop_test(input, test_cli_create_bad_input_creates_nothing, 0,
                      bad_create_count);
  tcase_add_test(input, test_cli_usage_errors);
  tcase_add_test(input, test_cli_negative_argument_hint);
  tcase_add_test(input, test_cli_stdout_write_error);
  tcase_add_test(input, test_cli_verbose_before_and_after);
  suite_add_tcase(s, input);

  tcase_add_checked_fixture(admin, setup, teardown);
  tcase_set_timeout(admin, 120);
  tcase_add_test(admin, test_cli_create_prints_nothing);
  tcase_add_test(admin, test_cli_create_settings);
  tcase_add_test(admin, test_cli_create_existing_keeps_settings);
  tcase_add_test(admin, test_cli_create_mode);
  tcase_add_test(admin, test_cli_cleanup_prints_count);
  tcase_add_test(admin, test_cli_stats_json_keys);
  tcase_add_test(admin, test_cli_stats_text_lines);
  tcase_add_test(admin, test_cli_stats_missing_board);
  tcase_add_test(admin, test_cli_verify_consistent_board);
  tcase_add_test(admin, test_cli_unlink_removes_board);
  tcase_add_test(admin, test_cli_unlink_keeps_foreign_segment);
  tcase_add_test(admin, test_cli_empty_board_name_rejected);
  tcase_add_test(admin, test_cli_clear_by_id);
  tcase_add_test(admin, test_cli_clear_by_filters);
  tcase_add_test(admin, test_cli_clear_usage_errors);
  suite_add_tcase(s, admin);

  tcase_add_checked_fixture(blocking, setup, teardown);
  tcase_set_timeout(blocking, 120);
  tcase_add_test(blocking, test_cli_wait_clear_returns_at_once);
  tcase_add_test(blocking, test_cli_wait_times_out);
  tcase_add_test(blocking, test_cli_wait_until_expiry);
  tcase_add_test(blocking, test_cli_wait_bad_timeout);
  tcase_add_test(blocking, test_cli_probe_acquire_and_release);
  tcase_add_test(blocking, test_cli_probe_acquire_when_limited);
  tcase_add_test(blocking, test_cli_probe_usage_errors);
  suite_add_tcase(s, blocking);

  tcase_add_checked_fixture(files, setup, teardown);
  tcase_set_timeout(files, 120);
  tcase_add_test(files, test_cli_snapshot_then_restore);
  tcase_add_test(files, test_cli_restore_reports_skipped_rows);
  tcase_add_test(files, test_cli_restore_bad_files);
  tcase_add_test(files, test_cli_snapshot_missing_board_keeps_file);
  tcase_add_test(files, test_cli_snapshot_every_sigterm);
  tcase_add_test(files, test_cli_snapshot_every_sigint);
  tcase_add_test(files, test_cli_snapshot_bad_every);
  tcase_add_test(files, test_cli_retry_after_values);
  tcase_add_test(files, test_cli_retry_after_invalid);
  suite_add_tcase(s, files);

  tcase_set_timeout(help, 60);
  tcase_add_test(help, test_cli_help_lists_subcommands);
  tcase_add_loop_test(help, test_cli_help_of_each_subcommand, 0,
                      (int)SUBCOMMAND_COUNT);
  tcase_add_test(help, test_cli_help_names_units);
  tcase_add_test(help, test_cli_version);
  suite_add_tcase(s, help);
  return s;
}

int main(void)
{
  SRunner *runner = srunner_create(make_cli_suite());
  int failed;

  unsetenv("RLBOARD");
  srunner_run_all(runner, CK_NORMAL);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
