/*
 * The rlboard command: a shell interface to a rate-limit board. This file
 * contains main(), the table of subcommands with their options and help
 * texts, and the dispatch to the cli_run_* function of each subcommand.
 * Options are parsed with getopt_long, and every value is checked before
 * the library is called. Each failure is reported as one line on standard
 * error that names the value at fault. Exit statuses follow sysexits.h and
 * are listed in the output of `rlboard --help`.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "demo.h"
#include "rlboard.h"

static const struct subcommand *find_subcommand(const char *name);

/* Option tables */

#define OPTION(name, has_arg, value)                                           \
  {                                                                            \
    name, has_arg, NULL, value                                                 \
  }
#define CODE_OPTION OPTION("code", required_argument, OPT_CODE)
#define MODEL_OPTION OPTION("model", required_argument, OPT_MODEL)
#define JSON_OPTION OPTION("json", no_argument, OPT_JSON)
#define COMMON_OPTIONS                                                         \
  OPTION("board", required_argument, OPT_BOARD),                               \
      OPTION("help", no_argument, 'h'), OPTION("verbose", no_argument, 'v'),   \
      OPTION(NULL, 0, 0)

static const struct option create_options[] = {
    OPTION("capacity", required_argument, OPT_CAPACITY),
    OPTION("mode", required_argument, OPT_MODE),
    OPTION("ttl-factor", required_argument, OPT_TTL_FACTOR),
    OPTION("jitter-ms", required_argument, OPT_JITTER_MS),
    OPTION("probe-timeout-ms", required_argument, OPT_PROBE_TIMEOUT_MS),
    COMMON_OPTIONS};
static const struct option record_options[] = {
    CODE_OPTION, OPTION("duration", required_argument, OPT_DURATION),
    OPTION("job", required_argument, OPT_JOB), MODEL_OPTION, COMMON_OPTIONS};
static const struct option filter_json_options[] = {
    CODE_OPTION, MODEL_OPTION, JSON_OPTION, COMMON_OPTIONS};
static const struct option json_options[] = {JSON_OPTION, COMMON_OPTIONS};
static const struct option common_options[] = {COMMON_OPTIONS};
static const struct option clear_options[] = {
    OPTION("id", required_argument, OPT_ID), CODE_OPTION, MODEL_OPTION,
    OPTION("all", no_argument, OPT_ALL), COMMON_OPTIONS};
static const struct option wait_options[] = {
    CODE_OPTION, MODEL_OPTION,
    OPTION("timeout", required_argument, OPT_TIMEOUT),
    OPTION("jitter-ms", required_argument, OPT_JITTER_MS), COMMON_OPTIONS};
static const struct option probe_options[] = {
    CODE_OPTION,
    MODEL_OPTION,
    OPTION("token", required_argument, OPT_TOKEN),
    OPTION("success", no_argument, OPT_SUCCESS),
    OPTION("failure", no_argument, OPT_FAILURE),
    COMMON_OPTIONS};
static const struct option snapshot_options[] = {
    OPTION("every", required_argument, OPT_EVERY), COMMON_OPTIONS};
static const struct option retry_after_options[] = {
    OPTION("ms", no_argument, OPT_MS), COMMON_OPTIONS};

/* Help texts. The limits they quote are checked against the header here. */

_Static_assert(RLB_CODE_MAX == 31, "record and filter help quote 31");
_Static_assert(RLB_MODEL_MAX == 95, "record and filter help quote 95");
_Static_assert(RLB_JOB_MAX == 1024, "record help quotes 1024");
_Static_assert((long)RLB_DURATION_MAX == 2592000L, "help quotes 2592000");
_Static_assert(RLB_CAPACITY_MIN == 1 && RLB_CAPACITY_MAX == 1048576 &&
                   RLB_CAPACITY_DEFAULT == 4096,
               "create help quotes the capacity limits");
_Static_assert(RLB_MODE_DEFAULT == 0600, "create help quotes 0600");
_Static_assert((int)RLB_TTL_FACTOR_MAX == 4, "create help quotes 4");
_Static_assert(RLB_JITTER_MS_MAX == 600000 && RLB_JITTER_MS_DEFAULT == 500,
               "help quotes the jitter limits");
_Static_assert(RLB_PROBE_TIMEOUT_MS_MAX == 3600000 &&
                   RLB_PROBE_TIMEOUT_MS_DEFAULT == 30000,
               "create help quotes the probe timeout limits");
_Static_assert(RLB_NAME_MAX == 200, "common help quotes 200");

#define FILTER_HELP                                                            \
  "  --code CODE       only events with this error code, 1 to 31 bytes\n"      \
  "  --model MODEL     only events with this model, 1 to 95 bytes; events\n"   \
  "                    without a model never match\n"

static const char create_help[] =
    "Usage: rlboard create [--capacity N] [--mode OCTAL] [--ttl-factor F]\n"
    "                      [--jitter-ms N] [--probe-timeout-ms N]\n"
    "\n"
    "Creates the board and prints nothing. An existing board is left as it\n"
    "is and keeps the settings it was created with; when options were\n"
    "given, a note on standard error says so.\n"
    "\n"
    "Options:\n"
    "  --capacity N          number of events the board holds, 1 to 1048576\n"
    "                        (default 4096)\n"
    "  --mode OCTAL          permission bits: owner read and write, group\n"
    "                        and others read or write, no execute bits,\n"
    "                        such as 0660 (default 0600)\n"
    "  --ttl-factor F        events expire after F times their duration,\n"
    "                        greater than 0 and at most 4 (default 0.8)\n"
    "  --jitter-ms N         milliseconds over which 'wait' spreads the\n"
    "                        release of waiters, 0 to 600000 (default 500)\n"
    "  --probe-timeout-ms N  milliseconds until an unreleased probe lapses,\n"
    "                        1 to 3600000 (default 30000)\n";

static const char record_help[] =
    "Usage: rlboard record --code CODE --duration SECONDS --job JOB\n"
    "                      [--model MODEL]\n"
    "\n"
    "Records a rate-limit event and prints its id alone on a line. The\n"
    "event expires after the board's TTL factor times the duration. Creates\n"
    "the board with the default settings when it does not exist.\n"
    "\n"
    "Options:\n"
    "  --code CODE          error code, such as E101, 1 to 31 bytes\n"
    "  --duration SECONDS   wait the API asked for, in seconds, greater than\n"
    "                       0 and at most 2592000 (30 days)\n"
    "  --job JOB            id of the job that met the limit, 1 to 1024\n"
    "                       bytes; only its hash is stored\n"
    "  --model MODEL        model or backend name, 1 to 95 bytes\n";

static const char check_help[] =
    "Usage: rlboard check [--code CODE] [--model MODEL] [--json]\n"
    "\n"
    "Checks whether a matching event is live. When clear, prints nothing and\n"
    "exits 0. When limited, prints the seconds left on the matching event\n"
    "that expires last, such as 47.999, and exits 75. A board that does not\n"
    "exist is clear, because nobody recorded an event on it.\n"
    "\n"
    "Options:\n" FILTER_HELP
    "  --json            print {\"limited\": BOOL, \"seconds_left\": SECONDS}\n"
    "                    instead, with the same exit status\n";

static const char list_help[] =
    "Usage: rlboard list [--code CODE] [--model MODEL] [--json]\n"
    "\n"
    "Lists the live events, the one that expires last first, as a table\n"
    "with a header line; a missing model shows as '-'. Times are UTC,\n"
    "durations and seconds left are in seconds. A board that does not exist\n"
    "has no events.\n"
    "\n"
    "Options:\n" FILTER_HELP
    "  --json            print one JSON array of objects with the keys id,\n"
    "                    error_code, model (null when absent), recorded_at,\n"
    "                    expires_at, source_job_hash, duration_seconds and\n"
    "                    seconds_left\n";

static const char cleanup_help[] =
    "Usage: rlboard cleanup\n"
    "\n"
    "Removes the expired events and prints how many were removed. Creates\n"
    "the board with the default settings when it does not exist.\n";

static const char stats_help[] =
    "Usage: rlboard stats [--json]\n"
    "\n"
    "Prints every counter and setting of the board as 'key value' lines:\n"
    "name, capacity, live, stored, records, evictions, expired_reused,\n"
    "cleaned, cleared, restored, recoveries, board_id (16 hex digits),\n"
    "created_at (UTC), ttl_factor, jitter_ms, probe_timeout_ms,\n"
    "layout_version, waiters, segment_bytes (bytes), name_removed and\n"
    "probe_held (true or false). Fails with 66 when the board does not\n"
    "exist.\n"
    "\n"
    "Options:\n"
    "  --json   print one JSON object with the same keys instead\n";

static const char verify_help[] =
    "Usage: rlboard verify\n"
    "\n"
    "Checks every invariant of the board under its write lock and prints\n"
    "each violation on a line. Exits 0 when the board is consistent and 1\n"
    "otherwise; fails with 66 when the board does not exist.\n";

static const char clear_help[] =
    "Usage: rlboard clear --id ID\n"
    "       rlboard clear [--code CODE] [--model MODEL]\n"
    "       rlboard clear --all\n"
    "\n"
    "Removes live events before they expire, wakes every waiter and prints\n"
    "the number removed. Exits 66 when no live event has the given id.\n"
    "\n"
    "Options:\n"
    "  --id ID           the event with this id, as 'rlboard list' prints "
    "it\n" FILTER_HELP "  --all             every live event\n";

static const char wait_help[] =
    "Usage: rlboard wait [--code CODE] [--model MODEL] [--timeout SECONDS]\n"
    "                    [--jitter-ms N]\n"
    "\n"
    "Blocks until no matching event is live, then sleeps a random delay\n"
    "below the jitter so that released workers spread out. While another\n"
    "worker holds the probe, the wait goes on until it reports. Exits 0 when\n"
    "clear and 75 when the timeout passed first. A board that does not exist\n"
    "is clear at once.\n"
    "\n"
    "Options:\n" FILTER_HELP
    "  --timeout SECONDS  give up after this many seconds, 0 to 2592000\n"
    "                     (default: wait without bound)\n"
    "  --jitter-ms N      maximum random delay after the wait, in\n"
    "                     milliseconds, 0 to 600000 (default: the board's)\n";

static const char probe_help[] =
    "Usage: rlboard probe acquire [--code CODE] [--model MODEL]\n"
    "       rlboard probe release --token TOKEN --success|--failure\n"
    "\n"
    "acquire takes the board's half-open probe once no matching event is\n"
    "live and prints its token. It exits 75 without a token while a\n"
    "matching event is live, and 69 while another worker holds the probe.\n"
    "It exits 0 and prints nothing when a probe of the same key succeeded\n"
    "after the key's last event expired: send without a probe then.\n"
    "The probe lapses after the board's probe timeout. release returns the\n"
    "probe: --success when the request went through, which wakes every\n"
    "waiter, or --failure after recording a new event.\n"
    "\n"
    "Options:\n" FILTER_HELP
    "  --token TOKEN     the token that 'probe acquire' printed\n"
    "  --success         the probing request succeeded\n"
    "  --failure         the probing request was rate-limited again\n";

static const char snapshot_help[] =
    "Usage: rlboard snapshot [--every SECONDS] FILE\n"
    "\n"
    "Writes the live events into the rate_limit_events table of the SQLite\n"
    "file FILE, replacing its rows and leaving other tables alone, and\n"
    "prints the number of events and the time taken. Fails with 66 when the\n"
    "board does not exist, so that FILE keeps its rows after a reboot.\n"
    "\n"
    "Options:\n"
    "  --every SECONDS   take a snapshot every SECONDS (greater than 0 and at\n"
    "                    most 2592000) and log each on standard error; on\n"
    "                    SIGINT or SIGTERM take a final one and exit 0\n";

static const char restore_help[] =
    "Usage: rlboard restore FILE\n"
    "\n"
    "Adds each unexpired event of FILE's rate_limit_events table whose id\n"
    "is not on the board, keeping its times. Reports each skipped invalid\n"
    "row as 'skipped ID: REASON' on standard error and prints the line\n"
    "'restored N, expired N, duplicate N, invalid N'. Creates the board\n"
    "with the default settings (4096 events) when it does not exist; run\n"
    "'rlboard create --capacity N' first for a larger file. A row that\n"
    "finds every slot live is counted as invalid, and one line at the end\n"
    "says how many did not fit.\n";

static const char retry_after_help[] =
    "Usage: rlboard retry-after VALUE [--ms]\n"
    "\n"
    "Converts an HTTP Retry-After header value to seconds and prints them:\n"
    "whole or decimal seconds, or an HTTP date (IMF-fixdate, RFC 850 or\n"
    "asctime), where a past date gives 0. Values over 2592000 seconds give\n"
    "2592000. Needs no board.\n"
    "\n"
    "Options:\n"
    "  --ms   VALUE is a retry-after-ms value in milliseconds\n";

static const char unlink_help[] =
    "Usage: rlboard unlink\n"
    "\n"
    "Removes the board's name. Attached processes keep the old board until\n"
    "they close it; the next create or record makes a new, empty board.\n"
    "Fails with 66 when the board does not exist.\n";

static const char common_help[] =
    "\n"
    "Common options, before or after the subcommand:\n"
    "  --board NAME   the board, 1 to 200 characters from A-Z a-z 0-9 . _ -\n"
    "                 with or without a leading slash (default: $RLBOARD,\n"
    "                 else \"" RLB_DEFAULT_BOARD "\")\n"
    "  --verbose      print the library's diagnostics on standard error\n"
    "  --help         print this help\n";

static const char exit_help[] =
    "\n"
    "Exit status:\n"
    "  0   success; check and wait: no matching event is live\n"
    "  1   the board or the library failed (corrupt board, lock timeout,\n"
    "      probe not held), or verify found violations\n"
    "  64  usage error: unknown option, missing option or argument,\n"
    "      malformed or out-of-range value\n"
    "  65  the file is not a SQLite database or has no rate_limit_events\n"
    "      table\n"
    "  66  not found: the board (stats, verify, snapshot, unlink, probe\n"
    "      release), the event (clear --id) or the file (restore)\n"
    "  69  probe acquire: another worker holds the probe\n"
    "  71  a system call failed (out of memory, signal setup)\n"
    "  74  input/output error: standard output, the SQLite file, or a full\n"
    "      /dev/shm\n"
    "  75  check and probe acquire: limited; wait: timed out\n"
    "  77  permission denied on the board or the file\n"
    "Each failure prints one line on standard error that names the value at\n"
    "fault.\n";

/* The subcommands, in the order of `rlboard --help`. */
static const struct subcommand subcommands[] = {
    {"create", cli_run_create, create_options, 0, 1,
     "create the board, or keep an existing one", create_help, NULL},
    {"record", cli_run_record, record_options, 0, 1,
     "record a rate-limit event and print its id", record_help, NULL},
    {"check", cli_run_check, filter_json_options, 0, 1,
     "exit 75 and print the seconds left when limited", check_help, NULL},
    {"list", cli_run_list, filter_json_options, 0, 1,
     "list the live events, the one that expires last first", list_help, NULL},
    {"wait", cli_run_wait, wait_options, 0, 1,
     "block until no matching event is live", wait_help, NULL},
    {"probe", cli_run_probe, probe_options, 1, 1,
     "take or release the half-open probe", probe_help, NULL},
    {"clear", cli_run_clear, clear_options, 0, 1,
     "remove live events before they expire", clear_help, NULL},
    {"cleanup", cli_run_cleanup, common_options, 0, 1,
     "remove the expired events and print how many", cleanup_help, NULL},
    {"stats", cli_run_stats, json_options, 0, 1,
     "print the board's counters and settings", stats_help, NULL},
    {"verify", cli_run_verify, common_options, 0, 1,
     "check the board's invariants", verify_help, NULL},
    {"snapshot", cli_run_snapshot, snapshot_options, 1, 1,
     "write the live events to a SQLite file", snapshot_help, NULL},
    {"restore", cli_run_restore, common_options, 1, 1,
     "add the events of a SQLite file to the board", restore_help, NULL},
    {"retry-after", cli_run_retry_after, retry_after_options, 1, 0,
     "convert an HTTP Retry-After value to seconds", retry_after_help, NULL},
    {"unlink", cli_run_unlink, common_options, 0, 1, "remove the board's name",
     unlink_help, NULL},
    {"demo", NULL, NULL, 0, 0,
     "compare the HTTP 429s of workers with and without a board", NULL,
     rlb_demo_main},
};

static const struct subcommand *find_subcommand(const char *name)
{
  size_t i;

  for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
    if (strcmp(subcommands[i].name, name) == 0)
      return &subcommands[i];
  }
  return NULL;
}

static void print_main_help(void)
{
  size_t i;

  printf("Usage: rlboard [--board NAME] SUBCOMMAND [OPTIONS]\n"
         "       rlboard SUBCOMMAND --help\n"
         "       rlboard --version\n"
         "\n"
         "Records, checks and lists rate-limit events on a board in shared\n"
         "memory that the worker processes of one host share.\n"
         "\n"
         "Subcommands:\n");
  for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
    printf("  %-12s %s\n", subcommands[i].name, subcommands[i].summary);
  printf("\n"
         "check, list and wait treat a board that does not exist as empty,\n"
         "because nobody recorded an event on it. create, record, cleanup,\n"
         "clear, restore and probe acquire create it with the default\n"
         "settings.\n");
  fputs(common_help, stdout);
  puts("  --version      print the version");
  fputs(exit_help, stdout);
}

/*
 * Runs a subcommand that parses its own options, passing on --board and
 * --help given before it.
 */
static int run_external(const struct cli *cli, const struct subcommand *sub,
                        int argc, char **argv)
{
  static char board_option[] = "--board";
  static char help_option[] = "--help";
  char **forward = calloc((size_t)argc + 4, sizeof(char *));
  int count = 0;
  int status;
  int i;

  if (forward == NULL) {
    cli_error_line(cli, "out of memory");
    return EX_OSERR;
  }
  forward[count++] = argv[0];
  if (cli->board != NULL) {
    forward[count++] = board_option;
    forward[count++] = cli->board;
  }
  if (cli->help)
    forward[count++] = help_option;
  for (i = 1; i < argc; i++)
    forward[count++] = argv[i];
  forward[count] = NULL;
  optind = 0; /* glibc: start a new scan */
  status = sub->external_main(count, forward);
  free(forward);
  return status;
}

int main(int argc, char **argv)
{
  const struct subcommand *sub;
  struct cli cli;
  int first = 0;
  int status;

  memset(&cli, 0, sizeof(cli));
  status = cli_parse_global(&cli, argc, argv, &first);
  if (status == 0 && first >= argc && cli.help) {
    print_main_help();
    status = EXIT_DONE;
  } else if (status == 0 && first >= argc) {
    status = cli_usage_error(&cli, "missing subcommand; run 'rlboard --help' "
                                   "for the list");
  }
  if (status != 0)
    return cli_finish_output(&cli, status == EXIT_DONE ? 0 : status);

  sub = find_subcommand(argv[first]);
  if (sub == NULL)
    return cli_usage_error(&cli,
                           "unknown subcommand '%s'; run 'rlboard --help' for "
                           "the list",
                           cli_quote(argv[first]));
  cli.command = sub->name;
  if (sub->external_main != NULL)
    return cli_finish_output(
        &cli, run_external(&cli, sub, argc - first, argv + first));
  status = cli_parse_subcommand(&cli, sub, argc - first, argv + first);
  if (status == 0 && cli.help) {
    fputs(sub->help, stdout);
    fputs(common_help, stdout);
    return cli_finish_output(&cli, 0);
  }
  if (status == 0 && sub->needs_board)
    status = cli_resolve_board(&cli);
  if (status != 0)
    return status;

  rlb_set_log_callback(cli_log_keep_error, cli.verbose ? &cli : NULL);
  return cli_finish_output(&cli, sub->run(&cli));
}
