/*
 * The subcommands of the rlboard command that act on events: record,
 * check, list, cleanup and clear.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "rlboard.h"

/* Subcommands: record, check */

int cli_run_record(struct cli *cli)
{
  char id[RLB_ID_LEN + 1];
  rlb_board *board;
  int status;
  int rc;

  status = cli_require(cli, cli->code, "--code CODE");
  if (status == 0)
    status = cli_require(cli, cli->duration_text, "--duration SECONDS");
  if (status == 0)
    status = cli_require(cli, cli->job, "--job JOB");
  if (status == 0)
    status = cli_open_or_create(cli, &board);
  if (status != 0)
    return status;

  rc = rlb_record(board, cli->code, cli->duration, cli->job, cli->model, id);
  rlb_close(board);
  if (rc != 0)
    return cli_fail(cli, rc, "failed to record the event");
  printf("%s\n", id);
  return 0;
}

static int print_check(const struct cli *cli, int limited, double seconds_left)
{
  if (cli->json)
    return cli_print_json(cli, json_pack("{s:b, s:f}", "limited", limited,
                                         "seconds_left",
                                         cli_round_ms(seconds_left)));
  if (limited)
    printf("%.3f\n", seconds_left);
  return 0;
}

/* A board that does not exist counts as clear, because no event was
 * recorded on it. */
int cli_run_check(struct cli *cli)
{
  double seconds_left = 0;
  rlb_board *board;
  int status = cli_open_existing(cli, &board);
  int rc = 0;

  if (status != 0)
    return status;
  if (board != NULL)
    rc = rlb_check(board, cli->code, cli->model, &seconds_left);
  rlb_close(board);
  if (rc < 0)
    return cli_fail(cli, rc, "failed to check");
  status = print_check(cli, rc == 1, rc == 1 ? seconds_left : 0);
  if (status != 0)
    return status;
  return rc == 1 ? EX_TEMPFAIL : 0;
}

/* Subcommand: list */

enum { LIST_COLUMNS = 8 };

static const char *const list_headers[LIST_COLUMNS] = {"id",
                                                       "error_code",
                                                       "model",
                                                       "recorded_at",
                                                       "expires_at",
                                                       "source_job_hash",
                                                       "duration_seconds",
                                                       "seconds_left"};

static const char *format_cell(const rlb_event *event, int column,
                               char out[128])
{
  switch (column) {
  case 0:
    return event->id;
  case 1:
    return event->error_code;
  case 2:
    return event->has_model ? event->model : "-";
  case 3:
    return cli_format_time(event->recorded_at_us, out);
  case 4:
    return cli_format_time(event->expires_at_us, out);
  case 5:
    return event->source_job_hash;
  case 6:
    snprintf(out, 128, "%.3f", event->duration_seconds);
    return out;
  default:
    snprintf(out, 128, "%.3f", event->seconds_left);
    return out;
  }
}

/* Prints a table with a header line and "-" for an absent model. */
void cli_print_event_table(const rlb_event *events, size_t count)
{
  size_t widths[LIST_COLUMNS];
  char cell[128];
  size_t i;
  int c;

  for (c = 0; c < LIST_COLUMNS; c++)
    widths[c] = strlen(list_headers[c]);
  for (i = 0; i < count; i++) {
    for (c = 0; c < LIST_COLUMNS; c++) {
      size_t length = strlen(format_cell(&events[i], c, cell));

      if (length > widths[c])
        widths[c] = length;
    }
  }

  for (c = 0; c < LIST_COLUMNS - 1; c++)
    printf("%-*s  ", (int)widths[c], list_headers[c]);
  printf("%s\n", list_headers[LIST_COLUMNS - 1]);
  for (i = 0; i < count; i++) {
    for (c = 0; c < LIST_COLUMNS - 1; c++)
      printf("%-*s  ", (int)widths[c], format_cell(&events[i], c, cell));
    printf("%s\n", format_cell(&events[i], LIST_COLUMNS - 1, cell));
  }
}

static json_t *event_json(const rlb_event *event)
{
  json_t *model = event->has_model ? cli_json_text(event->model) : json_null();

  return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:f, s:f}", "id",
                   cli_json_text(event->id), "error_code",
                   cli_json_text(event->error_code), "model", model,
                   "recorded_at", cli_json_time(event->recorded_at_us),
                   "expires_at", cli_json_time(event->expires_at_us),
                   "source_job_hash", cli_json_text(event->source_job_hash),
                   "duration_seconds", event->duration_seconds, "seconds_left",
                   cli_round_ms(event->seconds_left));
}

static int print_events_json(const struct cli *cli, const rlb_event *events,
                             size_t count)
{
  json_t *array = json_array();
  size_t i;

  for (i = 0; array != NULL && i < count; i++) {
    if (json_array_append_new(array, event_json(&events[i])) != 0) {
      json_decref(array);
      array = NULL;
    }
  }
  return cli_print_json(cli, array);
}

/* A board that does not exist lists no events. */
int cli_run_list(struct cli *cli)
{
  rlb_event *events = NULL;
  size_t count = 0;
  rlb_board *board;
  int status = cli_open_existing(cli, &board);
  int rc = 0;

  if (status != 0)
    return status;
  if (board != NULL)
    rc = rlb_list(board, cli->code, cli->model, &events, &count);
  rlb_close(board);
  if (rc != 0)
    return cli_fail(cli, rc, "failed to list the events");

  if (cli->json)
    status = print_events_json(cli, events, count);
  else
    cli_print_event_table(events, count);
  rlb_events_free(events);
  return status;
}

/* Subcommands: cleanup, clear */

int cli_run_cleanup(struct cli *cli)
{
  size_t removed = 0;
  rlb_board *board;
  int status = cli_open_or_create(cli, &board);
  int rc;

  if (status != 0)
    return status;
  rc = rlb_cleanup(board, &removed);
  rlb_close(board);
  if (rc != 0)
    return cli_fail(cli, rc, "failed to remove expired events");
  printf("%zu\n", removed);
  return 0;
}

static int check_clear_options(const struct cli *cli)
{
  int filters = cli->code != NULL || cli->model != NULL;

  if (cli->id != NULL && (filters || cli->all))
    return cli_usage_error(cli, "--id cannot be combined with --code, --model "
                                "or --all");
  if (cli->all && filters)
    return cli_usage_error(cli, "--all cannot be combined with --code or "
                                "--model");
  if (cli->id == NULL && !filters && !cli->all)
    return cli_usage_error(cli,
                           "missing --id ID, --code CODE, --model MODEL or "
                           "--all: name the events to remove");
  return 0;
}

int cli_run_clear(struct cli *cli)
{
  size_t removed = 1;
  rlb_board *board;
  int status = check_clear_options(cli);
  int rc;

  if (status == 0)
    status = cli_open_or_create(cli, &board);
  if (status != 0)
    return status;
  if (cli->id != NULL)
    rc = rlb_clear_id(board, cli->id);
  else
    rc = rlb_clear(board, cli->code, cli->model, &removed);
  rlb_close(board);

  if (rc == RLB_ENOTFOUND) {
    cli_error_line(cli, "no live event with --id '%s' on board '%s'",
                   cli_quote(cli->id), cli_quote(cli->board_name));
    return EX_NOINPUT;
  }
  if (rc != 0)
    return cli_fail(cli, rc, "failed to remove the events");
  printf("%zu\n", removed);
  return 0;
}
