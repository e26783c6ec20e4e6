/*
 * The subcommands of the rlboard command that coordinate workers: wait,
 * which blocks until no matching event is live, and probe, which takes
 * and releases the board's half-open probe.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "rlboard.h"

/* A board that does not exist is clear, so the wait ends at once. */
int cli_run_wait(struct cli *cli)
{
  double timeout = cli->timeout_text != NULL ? cli->timeout : -1;
  int jitter = cli->jitter_ms_text != NULL ? (int)cli->jitter_ms : -1;
  rlb_board *board;
  int status = cli_open_existing(cli, &board);
  int rc;

  if (status != 0 || board == NULL)
    return status;
  rc = rlb_wait(board, cli->code, cli->model, timeout, jitter);
  if (rc == RLB_ETIMEDOUT) {
    /* A wait also goes on while another worker holds the probe, so the
     * message says which of the two it timed out on. */
    int limited = rlb_check(board, cli->code, cli->model, NULL) == 1;

    rlb_close(board);
    cli_error_line(cli, "timed out after %s seconds: %s on board '%s'",
                   cli_quote(cli->timeout_text),
                   limited ? "still limited"
                           : "another worker still holds the probe",
                   cli_quote(cli->board_name));
    return EX_TEMPFAIL;
  }
  rlb_close(board);
  if (rc != 0)
    return cli_fail(cli, rc, "failed to wait");
  return 0;
}

static int probe_acquire(struct cli *cli)
{
  uint64_t token = 0;
  rlb_board *board;
  int status;
  int rc;

  if (cli->token_text != NULL || cli->success || cli->failure)
    return cli_usage_error(cli, "--token, --success and --failure belong to "
                                "'probe release'");
  status = cli_open_or_create(cli, &board);
  if (status != 0)
    return status;
  rc = rlb_probe_acquire(board, cli->code, cli->model, &token);
  rlb_close(board);
  if (rc == RLB_PROBE_LIMITED)
    return EX_TEMPFAIL;
  if (rc == RLB_PROBE_NOT_NEEDED)
    return 0;
  if (rc == RLB_EPROBEHELD) {
    cli_error_line(cli, "the probe on board '%s' is held by another worker",
                   cli_quote(cli->board_name));
    return EX_UNAVAILABLE;
  }
  if (rc != 0)
    return cli_fail(cli, rc, "failed to acquire the probe");
  printf("%" PRIu64 "\n", token);
  return 0;
}

static int probe_release(struct cli *cli)
{
  rlb_board *board;
  int status = 0;
  int rc;

  if (cli->code != NULL || cli->model != NULL)
    status = cli_usage_error(cli, "--code and --model belong to 'probe "
                                  "acquire'; 'probe release' takes --token");
  if (status == 0)
    status = cli_require(cli, cli->token_text, "--token TOKEN");
  if (status == 0 && cli->success == cli->failure)
    status =
        cli_usage_error(cli, "give exactly one of --success and --failure");
  if (status == 0)
    status = cli_open_required(cli, &board);
  if (status != 0)
    return status;

  rc = rlb_probe_release(board, cli->token, cli->success);
  rlb_close(board);
  if (rc == RLB_ENOPROBE) {
    cli_error_line(cli,
                   "the probe is not held by --token '%s': it was released or "
                   "timed out",
                   cli_quote(cli->token_text));
    return EXIT_FAILED;
  }
  if (rc != 0)
    return cli_fail(cli, rc, "failed to release the probe");
  return 0;
}

int cli_run_probe(struct cli *cli)
{
  const char *action = cli->args[0];

  if (action == NULL)
    return cli_usage_error(cli, "missing ACTION: 'acquire' or 'release'");
  if (strcmp(action, "acquire") == 0)
    return probe_acquire(cli);
  if (strcmp(action, "release") == 0)
    return probe_release(cli);
  return cli_invalid_value(cli, "ACTION", action,
                           "must be 'acquire' or 'release'");
}
