/*
 * The subcommands of the rlboard command that move events between a board
 * and a SQLite file: snapshot, once or every --every seconds until SIGINT
 * or SIGTERM, and restore.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

#include "cli.h"
#include "rlboard.h"

/* Subcommand: snapshot */

static volatile sig_atomic_t stop_signal;

static void record_stop_signal(int signal_number)
{
  stop_signal = signal_number;
}

/*
 * Installs handlers for SIGINT and SIGTERM and blocks both outside the
 * sleeps. A signal that arrives during a snapshot stays pending until the
 * next pselect(), which unblocks it atomically, so it is never lost
 * between testing stop_signal and starting to sleep. wait_mask receives the
 * mask to sleep with.
 */
static int install_stop_handlers(sigset_t *wait_mask)
{
  struct sigaction action;
  sigset_t stop_set;

  memset(&action, 0, sizeof(action));
  action.sa_handler = record_stop_signal;
  sigemptyset(&action.sa_mask);
  sigemptyset(&stop_set);
  sigaddset(&stop_set, SIGINT);
  sigaddset(&stop_set, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &stop_set, wait_mask) != 0)
    return -errno;
  sigdelset(wait_mask, SIGINT);
  sigdelset(wait_mask, SIGTERM);
  if (sigaction(SIGINT, &action, NULL) != 0 ||
      sigaction(SIGTERM, &action, NULL) != 0)
    return -errno;
  return 0;
}

static double monotonic_seconds(void)
{
  struct timespec now;

  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Sleeps for seconds, or until SIGINT or SIGTERM arrives. */
static void sleep_until_stopped(double seconds, const sigset_t *wait_mask)
{
  double deadline = monotonic_seconds() + seconds;

  while (!stop_signal) {
    double left = deadline - monotonic_seconds();
    struct timespec pause;

    if (left <= 0)
      return;
    pause.tv_sec = (time_t)left;
    pause.tv_nsec = (long)((left - (double)pause.tv_sec) * 1e9);
    pselect(0, NULL, NULL, NULL, &pause, wait_mask);
  }
}

/* Writes the wall clock as rlb_format_time() does, for log lines. */
static const char *log_time(char out[40])
{
  struct timespec now;

  clock_gettime(CLOCK_REALTIME, &now);
  return cli_format_time((int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000,
                         out);
}

/*
 * Moves to a new board when the name of this one was removed (for example
 * by systemd-logind's RemoveIPC at logout). This process is still attached
 * to the old segment, so it first saves the old board's events to path,
 * then opens the name with RLB_CREATE (a new board, or the one another
 * process made since) and restores the file into it. Returns 0 or a
 * library code.
 */
static int follow_board(struct cli *cli, rlb_board **board, const char *path)
{
  rlb_restore_result restored;
  rlb_options options;
  rlb_board *fresh;
  rlb_stats stats;
  char now[40];
  int rc = rlb_stats_get(*board, &stats);

  if (rc != 0 || !stats.name_removed)
    return rc;
  rc = rlb_snapshot(*board, path, NULL);
  if (rc != 0)
    return rc;
  rlb_options_init(&options);
  options.capacity = stats.capacity;
  options.ttl_factor = stats.ttl_factor;
  options.jitter_ms = stats.jitter_ms;
  options.probe_timeout_ms = stats.probe_timeout_ms;
  options.mode = stats.mode;
  rc = rlb_open(&fresh, cli->board_name, &options);
  if (rc != 0)
    return rc;
  rc = rlb_restore(fresh, path, &restored, NULL, NULL);
  if (rc != 0) {
    rlb_close(fresh);
    return rc;
  }
  rlb_close(*board);
  *board = fresh;
  cli_error_line(cli,
                 "%s the name of board '%s' was removed; its events were saved "
                 "and restored into the board now under that name (restored "
                 "%zu, expired %zu, duplicate %zu, invalid %zu)",
                 log_time(now), cli_quote(cli->board_name), restored.restored,
                 restored.expired, restored.duplicate, restored.invalid);
  return 0;
}

/* Takes one snapshot in --every mode and logs its outcome. Returns the
 * library code. */
static int snapshot_logged(struct cli *cli, rlb_board **board, const char *path)
{
  rlb_snapshot_result result;
  char now[40];
  int rc = follow_board(cli, board, path);

  if (rc == 0)
    rc = rlb_snapshot(*board, path, &result);
  if (rc != 0) {
    cli_error_line(cli, "%s snapshot of board '%s' to '%s' failed: %s",
                   log_time(now), cli_quote(cli->board_name), cli_quote(path),
                   cli_describe_error(rc));
    return rc;
  }
  cli_error_line(cli, "%s wrote %zu event%s to '%s' in %.3f ms", log_time(now),
                 result.events, result.events == 1 ? "" : "s", cli_quote(path),
                 result.duration_ms);
  return 0;
}

/* Returns 1 for a failure that may be gone by the next snapshot. */
static int is_transient(int rc)
{
  return rc == RLB_ESQLITE || rc == RLB_ELOCKTIMEOUT || rc == RLB_EBUSY ||
         rc == -ENOENT || rc == -ENOSPC || rc == -EIO || rc == -ENOMEM ||
         rc == -EAGAIN;
}

/*
 * Takes a snapshot every cli->every seconds until SIGINT or SIGTERM, then a
 * final one. A transient failure is logged and retried at the next turn.
 */
static int snapshot_every(struct cli *cli, rlb_board **board, const char *path)
{
  sigset_t wait_mask;
  char now[40];
  int rc = install_stop_handlers(&wait_mask);

  if (rc != 0) {
    cli_error_line(cli, "failed to install signal handlers: %s", strerror(-rc));
    return EX_OSERR;
  }
  cli_error_line(cli, "%s started: board '%s' to '%s' every %s seconds",
                 log_time(now), cli_quote(cli->board_name), cli_quote(path),
                 cli_quote(cli->every_text));
  for (;;) {
    rc = snapshot_logged(cli, board, path);
    if (stop_signal || (rc != 0 && !is_transient(rc)))
      break;
    sleep_until_stopped(cli->every, &wait_mask);
    if (stop_signal)
      cli_error_line(cli, "%s received %s; taking the final snapshot",
                     log_time(now),
                     stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
  }
  cli_error_line(cli, "%s stopped", log_time(now));
  return rc == 0 ? 0 : cli_exit_status(rc);
}

/* A missing board fails, because a snapshot of it would empty the file,
 * which may contain the only copy of the events after a reboot. */
int cli_run_snapshot(struct cli *cli)
{
  const char *path = cli->args[0];
  rlb_snapshot_result result;
  rlb_board *board;
  int status = cli_require(cli, path, "FILE");
  int rc;

  if (status == 0)
    status = cli_open_required(cli, &board);
  if (status != 0)
    return status;
  if (cli->every_text != NULL) {
    status = snapshot_every(cli, &board, path);
    rlb_close(board);
    return status;
  }

  rc = rlb_snapshot(board, path, &result);
  rlb_close(board);
  if (rc != 0) {
    cli_error_line(cli, "snapshot of board '%s' to '%s' failed: %s",
                   cli_quote(cli->board_name), cli_quote(path),
                   cli_describe_error(rc));
    return cli_exit_status(rc);
  }
  printf("wrote %zu event%s in %.3f ms\n", result.events,
         result.events == 1 ? "" : "s", result.duration_ms);
  return 0;
}

/* Subcommand: restore */

/* The reason rlb_restore() gives for a valid row that found no free or
 * expired slot. Such rows are counted and reported once at the end, since a
 * small board can turn away tens of thousands of them. */
static const char board_full_reason[] = "board is full of live events";

static void print_skipped_row(void *context, const char *id, const char *reason)
{
  size_t *full_rows = context;

  if (strcmp(reason, board_full_reason) == 0) {
    (*full_rows)++;
    return;
  }
  fprintf(stderr, "skipped %s: %s\n", cli_quote(id != NULL ? id : "(no id)"),
          cli_quote(reason));
}

int cli_run_restore(struct cli *cli)
{
  const char *path = cli->args[0];
  rlb_restore_result result;
  size_t full_rows = 0;
  struct stat file;
  rlb_board *board;
  rlb_stats stats;
  int status = cli_require(cli, path, "FILE");
  int rc;

  if (status != 0)
    return status;
  if (stat(path, &file) != 0 && errno == ENOENT) {
    cli_error_line(cli, "file '%s' not found", cli_quote(path));
    return EX_NOINPUT;
  }
  status = cli_open_or_create(cli, &board);
  if (status != 0)
    return status;

  rc = rlb_restore(board, path, &result, print_skipped_row, &full_rows);
  if (rlb_stats_get(board, &stats) != 0)
    stats.capacity = 0;
  rlb_close(board);
  if (rc != 0) {
    cli_error_line(cli, "restore of '%s' to board '%s' failed: %s",
                   cli_quote(path), cli_quote(cli->board_name),
                   cli_describe_error(rc));
    return cli_exit_status(rc);
  }
  if (full_rows > 0)
    cli_error_line(cli,
                   "%zu valid rows did not fit: every one of the %u slots of "
                   "board '%s' holds a live event; restore into a board "
                   "created with a larger --capacity",
                   full_rows, (unsigned)stats.capacity,
                   cli_quote(cli->board_name));
  printf("restored %zu, expired %zu, duplicate %zu, invalid %zu\n",
         result.restored, result.expired, result.duplicate, result.invalid);
  return 0;
}
