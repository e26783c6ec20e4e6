/*
 * Declarations shared by the source files of the rlboard command. They
 * cover the parsed command line, the entry of the subcommand table, the
 * exit statuses that sysexits.h lacks, and the helpers for messages, option
 * parsing, opening boards and output. Each subcommand is a cli_run_*
 * function in one of the cmd_*.c files.
 */
#ifndef RLB_TOOLS_CLI_H
#define RLB_TOOLS_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdint.h>

#include "rlboard.h"

/* Exit status of a failure without a more specific sysexits.h status: the
 * board is corrupt, the lock timed out, verify found violations. */
#define EXIT_FAILED 1

/* Returned by the parsers after --help or --version was printed. */
#define EXIT_DONE (-1)

/* Values of the long options without a short form. They lie above every
 * character, so optopt tells them apart from short options. */
enum {
  OPT_BOARD = 256,
  OPT_CODE,
  OPT_MODEL,
  OPT_JOB,
  OPT_DURATION,
  OPT_JSON,
  OPT_CAPACITY,
  OPT_MODE,
  OPT_TTL_FACTOR,
  OPT_JITTER_MS,
  OPT_PROBE_TIMEOUT_MS,
  OPT_ID,
  OPT_ALL,
  OPT_TIMEOUT,
  OPT_TOKEN,
  OPT_SUCCESS,
  OPT_FAILURE,
  OPT_EVERY,
  OPT_MS
};

/*
 * The parsed command line. Each *_text field is an option's argument as
 * given, or NULL when the option is absent. The field after it is the
 * checked value.
 */
struct cli {
  const char *command;    /* subcommand for messages, or NULL */
  char *board;            /* --board, or NULL */
  const char *board_name; /* the board in use, after cli_resolve_board() */
  int help;
  int verbose;
  const char *code;
  const char *model;
  const char *job;
  const char *id;
  const char *duration_text;
  double duration;
  const char *capacity_text;
  uint32_t capacity;
  const char *mode_text;
  uint32_t mode;
  const char *ttl_factor_text;
  double ttl_factor;
  const char *jitter_ms_text;
  uint32_t jitter_ms;
  const char *probe_timeout_ms_text;
  uint32_t probe_timeout_ms;
  const char *timeout_text;
  double timeout;
  const char *token_text;
  uint64_t token;
  const char *every_text;
  double every;
  int json;
  int all;
  int success;
  int failure;
  int ms;
  char *args[2]; /* positional arguments */
  int arg_count;
};

struct subcommand {
  const char *name;
  int (*run)(struct cli *cli);
  const struct option *options;
  int max_args; /* positional arguments accepted */
  int needs_board;
  const char *summary; /* one line for the list in `rlboard --help` */
  const char *help;    /* usage, description and options */
  /* A subcommand that parses its own options instead of run(). */
  int (*external_main)(int argc, char **argv);
};

#if defined(__GNUC__)
#define PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define PRINTF_LIKE(a, b)
#endif

/* Messages and exit statuses, in cli_common.c */

void cli_error_line(const struct cli *cli, const char *format, ...)
    PRINTF_LIKE(2, 3);
const char *cli_quote(const char *value);
int cli_usage_error(const struct cli *cli, const char *format, ...)
    PRINTF_LIKE(2, 3);
int cli_invalid_value(const struct cli *cli, const char *option,
                      const char *value, const char *allowed);
int cli_require(const struct cli *cli, const char *value, const char *option);
int cli_exit_status(int rc);
int cli_fail(const struct cli *cli, int rc, const char *action);
int cli_fail_board_not_found(const struct cli *cli);
void cli_log_to_stderr(void *context, int level, const char *message);
/* Keeps the library's last error message, and prints every message too
 * when context (the struct cli) is not NULL. */
void cli_log_keep_error(void *context, int level, const char *message);
/* Describes a library code, with the logged detail of a SQLite error. */
const char *cli_describe_error(int rc);

/* Prints events as the table of 'rlboard list' (tools/cmd_events.c); the
 * demo prints the board's last events with it too. */
void cli_print_event_table(const rlb_event *events, size_t count);

/* Command-line parsing, in cli_common.c */

int cli_parse_global(struct cli *cli, int argc, char **argv, int *first);
int cli_parse_subcommand(struct cli *cli, const struct subcommand *sub,
                         int argc, char **argv);
int cli_resolve_board(struct cli *cli);

/* Opening boards, in cli_common.c */

int cli_open_existing(struct cli *cli, rlb_board **board);
int cli_open_or_create(struct cli *cli, rlb_board **board);
int cli_open_required(struct cli *cli, rlb_board **board);

/* Output, in cli_output.c */

const char *cli_format_time(int64_t us, char out[40]);
double cli_round_ms(double seconds);
json_t *cli_json_text(const char *text);
json_t *cli_json_time(int64_t us);
int cli_print_json(const struct cli *cli, json_t *value);
int cli_finish_output(const struct cli *cli, int status);

/* Subcommands, in cmd_board.c */

int cli_run_create(struct cli *cli);
int cli_run_stats(struct cli *cli);
int cli_run_verify(struct cli *cli);
int cli_run_unlink(struct cli *cli);
int cli_run_retry_after(struct cli *cli);

/* Subcommands, in cmd_events.c */

int cli_run_record(struct cli *cli);
int cli_run_check(struct cli *cli);
int cli_run_list(struct cli *cli);
int cli_run_cleanup(struct cli *cli);
int cli_run_clear(struct cli *cli);

/* Subcommands, in cmd_wait.c */

int cli_run_wait(struct cli *cli);
int cli_run_probe(struct cli *cli);

/* Subcommands, in cmd_snapshot.c */

int cli_run_snapshot(struct cli *cli);
int cli_run_restore(struct cli *cli);

#endif
