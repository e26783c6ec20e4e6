/*
 * Access to a board's name: a name removed while processes are attached,
 * and the permissions of the segment: mode 0600 by default, another user
 * rejected with EACCES, and a group mode applied whatever the umask.
 *
 * The permission cases run a probe as the user nobody through setpriv(1),
 * so they need root; without it they print "skipped: ..." and pass. The
 * probe is this executable, started with --probe-open NAME.
 */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "support.h"

#define SETPRIV "/usr/bin/setpriv"

static char name[64];
static rlb_board *board;
static char snapshot_path[128];
static char self_path[4096];

static void teardown(void)
{
  test_board_remove(board);
  board = NULL;
  rlb_unlink(name);
  if (snapshot_path[0] != '\0')
    unlink(snapshot_path);
  snapshot_path[0] = '\0';
}

static void print_violation(void *context, const char *message)
{
  (void)context;
  fprintf(stderr, "violation: %s\n", message);
}

/* Collects violations into a buffer, one per line. */
typedef struct violations {
  char text[2048];
  int count;
} violations;

static void collect_violation(void *context, const char *message)
{
  violations *v = context;
  size_t used = strlen(v->text);

  snprintf(v->text + used, sizeof(v->text) - used, "%s\n", message);
  v->count++;
}

/* ---- a removed name ------------------------------------------------------ */

/* Runs in a child attached to the board: waits for the parent to remove the
 * name, then checks the stats and a record through its own handle. */
static int attached_child(int ready_fd, int go_fd)
{
  rlb_board *b = NULL;
  rlb_stats stats;
  char c = 'r';

  if (rlb_open(&b, name, NULL) != 0)
    return 2;
  if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1)
    return 3;
  if (rlb_stats_get(b, &stats) != 0 || stats.name_removed != 1)
    return 4;
  /* The old segment still works for the processes attached to it. */
  if (rlb_record(b, "E103", 60, "job-child", NULL, NULL) != 0)
    return 5;
  rlb_close(b);
  return 0;
}

START_TEST(test_removed_name_reported_and_restored)
{
  char ids[3][RLB_ID_LEN + 1];
  int ready[2], go[2], status, i;
  rlb_snapshot_result snap;
  rlb_restore_result restored;
  rlb_stats stats, fresh_stats;
  rlb_board *fresh = NULL;
  violations found;
  rlb_event *events;
  size_t count;
  pid_t pid;
  char c;

  board = test_board_open(name, sizeof(name));
  for (i = 0; i < 3; i++) {
    char job[16];
    snprintf(job, sizeof(job), "job-%d", i);
    ck_assert_int_eq(rlb_record(board, "E101", 600, job, "m", ids[i]), 0);
  }
  ck_assert_int_eq(pipe(ready), 0);
  ck_assert_int_eq(pipe(go), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0)
    _exit(attached_child(ready[1], go[0]));
  ck_assert_int_eq(read(ready[0], &c, 1), 1);

  ck_assert_int_eq(rlb_unlink(name), 0);
  ck_assert_int_eq(write(go[1], &c, 1), 1);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "attached child failed with %d", WEXITSTATUS(status));

  ck_assert_int_eq(rlb_stats_get(board, &stats), 0);
  ck_assert_int_eq(stats.name_removed, 1);
  memset(&found, 0, sizeof(found));
  ck_assert_int_eq(rlb_verify(board, collect_violation, &found), 1);
  ck_assert_int_eq(found.count, 1);
  ck_assert_msg(strncmp(found.text, "board name was removed; ", 24) == 0,
                "violation: %s", found.text);

  /* The way back: snapshot from an attached process, create the name
   * again, restore. */
  snprintf(snapshot_path, sizeof(snapshot_path), "/tmp/%s.sqlite", name);
  ck_assert_int_eq(rlb_snapshot(board, snapshot_path, &snap), 0);
  ck_assert_uint_eq(snap.events, 4);
  ck_assert_int_eq(rlb_open(&fresh, name, NULL), 0);
  ck_assert_int_eq(rlb_stats_get(fresh, &fresh_stats), 0);
  ck_assert_int_eq(fresh_stats.name_removed, 0);
  ck_assert_uint_ne(fresh_stats.board_id, stats.board_id);
  ck_assert_int_eq(rlb_restore(fresh, snapshot_path, &restored, NULL, NULL), 0);
  ck_assert_uint_eq(restored.restored, 4);
  ck_assert_int_eq(rlb_verify(fresh, print_violation, NULL), 0);
  ck_assert_int_eq(rlb_list(fresh, "E101", NULL, &events, &count), 0);
  ck_assert_uint_eq(count, 3);
  for (i = 0; i < 3; i++) {
    size_t j;
    int listed = 0;
    for (j = 0; j < count; j++)
      listed |= strcmp(events[j].id, ids[i]) == 0;
    ck_assert_msg(listed, "event %s was not restored", ids[i]);
  }
  rlb_events_free(events);
  rlb_close(fresh);
}
END_TEST

/* ---- permissions --------------------------------------------------------- */

static mode_t segment_mode(const char *board_name)
{
  char path[256];
  struct stat st;

  snprintf(path, sizeof(path), "/dev/shm/%s", board_name);
  ck_assert_int_eq(stat(path, &st), 0);
  return st.st_mode & 07777;
}

/* Runs argv, stores its standard output and error in out, and returns its
 * wait status. */
static int run_capture(const char *const argv[], char *out, size_t size)
{
  int pipefd[2], status;
  size_t used = 0;
  ssize_t n;
  pid_t pid;

  ck_assert_int_eq(pipe(pipefd), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(pipefd[1], STDOUT_FILENO);
    dup2(pipefd[1], STDERR_FILENO);
    close(pipefd[0]);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(pipefd[1]);
  while (used + 1 < size &&
         (n = read(pipefd[0], out + used, size - used - 1)) > 0)
    used += (size_t)n;
  out[used] = '\0';
  close(pipefd[0]);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return status;
}

/* Returns 1 when this process may run programs as nobody. */
static int can_switch_user(void)
{
  if (geteuid() != 0 || access(SETPRIV, X_OK) != 0 ||
      getpwnam("nobody") == NULL || getgrnam("nogroup") == NULL) {
    printf("skipped: running as another user needs root, %s, the user "
           "nobody and the group nogroup\n",
           SETPRIV);
    return 0;
  }
  return 1;
}

/* Opens the board as nobody with the probe and returns its output. */
static int probe_as_nobody(char *out, size_t size)
{
  const char *argv[] = {SETPRIV,
                        "--reuid=nobody",
                        "--regid=nogroup",
                        "--clear-groups",
                        self_path,
                        "--probe-open",
                        name,
                        NULL};

  return run_capture(argv, out, size);
}

START_TEST(test_mode_default_owner_only)
{
  board = test_board_open(name, sizeof(name));
  ck_assert_uint_eq(segment_mode(name), 0600);
}
END_TEST

START_TEST(test_mode_other_user_denied)
{
  char out[512];
  int status;

  board = test_board_open(name, sizeof(name));
  if (!can_switch_user())
    return;
  status = probe_as_nobody(out, sizeof(out));
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
                "probe as nobody: status %d, output %s", status, out);
  ck_assert_msg(strstr(out, "EACCES") != NULL, "probe as nobody: %s", out);
#ifdef RLB_CLI_PATH
  {
    const char *check[] = {
        SETPRIV,      "--reuid=nobody", "--regid=nogroup", "--clear-groups",
        RLB_CLI_PATH, "check",          "--board",         name,
        NULL};
    const char *record[] = {SETPRIV,
                            "--reuid=nobody",
                            "--regid=nogroup",
                            "--clear-groups",
                            RLB_CLI_PATH,
                            "record",
                            "--board",
                            name,
                            "--code",
                            "E101",
                            "--duration",
                            "60",
                            "--job",
                            "job-1",
                            NULL};

    /* 77 is EX_NOPERM, which the command returns for EACCES. */
    status = run_capture(check, out, sizeof(out));
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 77,
                  "rlboard check as nobody: status %d, output %s", status, out);
    ck_assert_msg(strstr(out, "EACCES") != NULL, "rlboard check: %s", out);
    status = run_capture(record, out, sizeof(out));
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 77,
                  "rlboard record as nobody: status %d, output %s", status,
                  out);
  }
#endif
  ck_assert_uint_eq(segment_mode(name), 0600);
}
END_TEST

START_TEST(test_mode_group_ignores_umask)
{
  struct group *nogroup;
  rlb_options opts;
  char out[512];
  int status;

  test_board_name(name, sizeof(name));
  rlb_options_init(&opts);
  opts.flags = RLB_CREATE | RLB_EXCLUSIVE;
  opts.mode = 0660;
  umask(077);
  ck_assert_int_eq(rlb_open(&board, name, &opts), 0);
  ck_assert_uint_eq(segment_mode(name), 0660);
  if (!can_switch_user())
    return;

  /* A member of the segment's group may open it. */
  nogroup = getgrnam("nogroup");
  ck_assert_int_eq(fchown(board->fd, 0, nogroup->gr_gid), 0);
  status = probe_as_nobody(out, sizeof(out));
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "probe as nobody: status %d, output %s", status, out);
}
END_TEST

static Suite *make_access_suite(void)
{
  Suite *s = suite_create("access");
  TCase *removed = tcase_create("removed");
  TCase *mode = tcase_create("mode");

  tcase_add_checked_fixture(removed, NULL, teardown);
  tcase_add_test(removed, test_removed_name_reported_and_restored);
  tcase_set_timeout(removed, 30);
  suite_add_tcase(s, removed);

  tcase_add_checked_fixture(mode, NULL, teardown);
  tcase_add_test(mode, test_mode_default_owner_only);
  tcase_add_test(mode, test_mode_other_user_denied);
  tcase_add_test(mode, test_mode_group_ignores_umask);
  tcase_set_timeout(mode, 30);
  suite_add_tcase(s, mode);
  return s;
}

/* The probe: opens an existing board, prints the result's name, and exits
 * 0 when the open succeeded and 1 when it failed. */
static int probe_open(const char *board_name)
{
  rlb_options opts;
  rlb_board *b = NULL;
  int rc;

  rlb_options_init(&opts);
  opts.flags = 0;
  rc = rlb_open(&b, board_name, &opts);
  printf("%s\n", rlb_error_name(rc));
  rlb_close(b);
  return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
  SRunner *runner;
  ssize_t n;
  int failed;

  if (argc == 3 && strcmp(argv[1], "--probe-open") == 0)
    return probe_open(argv[2]);
  n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
  if (n <= 0)
    return EXIT_FAILURE;
  self_path[n] = '\0';

  runner = srunner_create(make_access_suite());
  srunner_run_all(runner, CK_ENV);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
