/*
 * The subcommands of the rlboard command that act on the whole board:
 * create, stats, verify and unlink. The file also has retry-after, which
 * converts a Retry-After header value and needs no board.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>

#include "cli.h"
#include "rlboard.h"

/* Subcommand: create */

static int has_settings(const struct cli *cli)
{
  return cli->capacity_text != NULL || cli->mode_text != NULL ||
         cli->ttl_factor_text != NULL || cli->jitter_ms_text != NULL ||
         cli->probe_timeout_ms_text != NULL;
}

/* Opens an existing board, to check that it is a usable board, and notes
 * when settings were requested that it does not take. */
static int note_existing_board(struct cli *cli)
{
  rlb_board *board;
  rlb_stats stats;
  int status = cli_open_required(cli, &board);
  int rc;

  if (status != 0 || !has_settings(cli)) {
    rlb_close(board);
    return status;
  }
  rc = rlb_stats_get(board, &stats);
  rlb_close(board);
  if (rc != 0)
    return cli_fail(cli, rc, "failed to read the settings");
  cli_error_line(cli,
                 "board '%s' exists already and keeps its settings: capacity "
                 "%" PRIu32 ", ttl-factor %.15g, jitter-ms %" PRIu32
                 ", probe-timeout-ms %" PRIu32 "; unlink it to create it anew",
                 cli_quote(cli->board_name), stats.capacity, stats.ttl_factor,
                 stats.jitter_ms, stats.probe_timeout_ms);
  return 0;
}

int cli_run_create(struct cli *cli)
{
  rlb_options options;
  rlb_board *board = NULL;
  int rc;

  rlb_options_init(&options);
  options.flags = RLB_CREATE | RLB_EXCLUSIVE;
  if (cli->capacity_text != NULL)
    options.capacity = cli->capacity;
  if (cli->mode_text != NULL)
    options.mode = cli->mode;
  if (cli->ttl_factor_text != NULL)
    options.ttl_factor = cli->ttl_factor;
  if (cli->jitter_ms_text != NULL)
    options.jitter_ms = cli->jitter_ms;
  if (cli->probe_timeout_ms_text != NULL)
    options.probe_timeout_ms = cli->probe_timeout_ms;

  rc = rlb_open(&board, cli->board_name, &options);
  if (rc == -EEXIST)
    return note_existing_board(cli);
  if (rc != 0)
    return cli_fail(cli, rc, "failed to create");
  rlb_close(board);
  return 0;
}

/* Subcommands: stats, verify, unlink */

/* Fields of stats output: "key value" lines, or members of object. */
struct report {
  json_t *object;
};

static void put_uint(struct report *report, const char *key, uint64_t value)
{
  if (report->object != NULL)
    json_object_set_new(report->object, key, json_integer((json_int_t)value));
  else
    printf("%s %" PRIu64 "\n", key, value);
}

static void put_real(struct report *report, const char *key, double value)
{
  if (report->object != NULL)
    json_object_set_new(report->object, key, json_real(value));
  else
    printf("%s %.15g\n", key, value);
}

static void put_text(struct report *report, const char *key, const char *value)
{
  if (report->object != NULL)
    json_object_set_new(report->object, key, cli_json_text(value));
  else
    printf("%s %s\n", key, value);
}

static void put_bool(struct report *report, const char *key, int value)
{
  if (report->object != NULL)
    json_object_set_new(report->object, key, json_boolean(value));
  else
    printf("%s %s\n", key, value ? "true" : "false");
}

/* Writes every field of stats. board_id is written as 16 hex digits
 * because it is an identifier and may not fit a signed JSON integer. */
static void put_stats(struct report *report, const char *name,
                      const rlb_stats *stats)
{
  char board_id[17];
  char created_at[40];
  char mode[8];

  snprintf(board_id, sizeof(board_id), "%016" PRIx64, stats->board_id);
  snprintf(mode, sizeof(mode), "%04o", (unsigned)stats->mode);
  put_text(report, "name", name);
  put_uint(report, "capacity", stats->capacity);
  put_uint(report, "live", stats->live);
  put_uint(report, "stored", stats->stored);
  put_uint(report, "records", stats->records);
  put_uint(report, "evictions", stats->evictions);
  put_uint(report, "expired_reused", stats->expired_reused);
  put_uint(report, "cleaned", stats->cleaned);
  put_uint(report, "cleared", stats->cleared);
  put_uint(report, "restored", stats->restored);
  put_uint(report, "recoveries", stats->recoveries);
  put_text(report, "board_id", board_id);
  put_text(report, "created_at",
           cli_format_time(stats->created_at_us, created_at));
  put_real(report, "ttl_factor", stats->ttl_factor);
  put_uint(report, "jitter_ms", stats->jitter_ms);
  put_uint(report, "probe_timeout_ms", stats->probe_timeout_ms);
  put_uint(report, "layout_version", stats->layout_version);
  put_uint(report, "waiters", stats->waiters);
  put_uint(report, "segment_bytes", stats->segment_bytes);
  put_bool(report, "name_removed", stats->name_removed);
  put_bool(report, "probe_held", stats->probe_held);
  put_text(report, "mode", mode);
}

int cli_run_stats(struct cli *cli)
{
  struct report report = {NULL};
  rlb_stats stats;
  rlb_board *board;
  int status = cli_open_required(cli, &board);
  int rc;

  if (status != 0)
    return status;
  rc = rlb_stats_get(board, &stats);
  if (rc != 0) {
    rlb_close(board);
    return cli_fail(cli, rc, "failed to read the statistics");
  }
  if (cli->json) {
    report.object = json_object();
    if (report.object == NULL) {
      rlb_close(board);
      return cli_print_json(cli, NULL);
    }
  }
  put_stats(&report, rlb_name(board), &stats);
  rlb_close(board);
  return cli->json ? cli_print_json(cli, report.object) : 0;
}

static void print_violation(void *context, const char *message)
{
  (void)context;
  printf("%s\n", message);
}

int cli_run_verify(struct cli *cli)
{
  rlb_board *board;
  int status = cli_open_required(cli, &board);
  int rc;

  if (status != 0)
    return status;
  rc = rlb_verify(board, print_violation, NULL);
  rlb_close(board);
  if (rc < 0)
    return cli_fail(cli, rc, "failed to verify");
  if (rc > 0) {
    cli_error_line(cli, "board '%s' has %d violation%s",
                   cli_quote(cli->board_name), rc, rc == 1 ? "" : "s");
    return EXIT_FAILED;
  }
  return 0;
}

int cli_run_unlink(struct cli *cli)
{
  int rc = rlb_unlink(cli->board_name);

  if (rc == -ENOENT)
    return cli_fail_board_not_found(cli);
  if (rc != 0)
    return cli_fail(cli, rc, "failed to remove the name");
  return 0;
}

/* Subcommand: retry-after */

int cli_run_retry_after(struct cli *cli)
{
  const char *value = cli->args[0];
  double seconds;
  int status = cli_require(cli, value, "VALUE");

  if (status != 0)
    return status;
  if (rlb_parse_retry_after(value, cli->ms, 0, &seconds) != 0)
    return cli_invalid_value(cli, "Retry-After value", value,
                             cli->ms
                                 ? "must be a number of milliseconds"
                                 : "must be a number of seconds or an HTTP "
                                   "date (IMF-fixdate, RFC 850 or asctime)");
  printf("%.3f\n", seconds);
  return 0;
}
