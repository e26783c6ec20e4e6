/*
 * Code that every subcommand of the rlboard command uses. It writes
 * one-line error messages with quoted values and maps library codes to exit
 * statuses. It parses and checks the options and arguments with
 * getopt_long, chooses the board and opens it.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "rlboard.h"

#define S(x) RLBOARD_STRINGIFY(x)

/* Values longer than this are cut in messages. */
#define QUOTE_MAX 100

/* Messages */

/* Writes "rlboard: SUBCOMMAND: MESSAGE" as one line on standard error. */
void cli_error_line(const struct cli *cli, const char *format, ...)
{
  va_list args;

  fputs("rlboard: ", stderr);
  if (cli->command != NULL)
    fprintf(stderr, "%s: ", cli->command);
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
  fputc('\n', stderr);
}

/*
 * Returns value ready to print inside quotes on one line: control
 * characters become \xNN and the text is cut after QUOTE_MAX bytes. The
 * result lives in one of four static buffers, so one message can quote up
 * to four values.
 */
const char *cli_quote(const char *value)
{
  static char buffers[4][QUOTE_MAX * 4 + 4];
  static unsigned next;
  char *out = buffers[next++ % 4];
  size_t used = 0;
  size_t i;

  if (value == NULL)
    value = "";
  for (i = 0; value[i] != '\0' && i < QUOTE_MAX; i++) {
    unsigned char c = (unsigned char)value[i];

    if (c < 0x20 || c == 0x7f)
      used += (size_t)sprintf(out + used, "\\x%02x", c);
    else
      out[used++] = (char)c;
  }
  if (value[i] != '\0') {
    memcpy(out + used, "...", 3);
    used += 3;
  }
  out[used] = '\0';
  return out;
}

/* Reports a usage error on one line and returns EX_USAGE. */
int cli_usage_error(const struct cli *cli, const char *format, ...)
{
  char message[1024];
  va_list args;

  va_start(args, format);
  vsnprintf(message, sizeof(message), format, args);
  va_end(args);
  cli_error_line(cli, "%s", message);
  return EX_USAGE;
}

int cli_invalid_value(const struct cli *cli, const char *option,
                      const char *value, const char *allowed)
{
  return cli_usage_error(cli, "invalid %s '%s': %s", option, cli_quote(value),
                         allowed);
}

int cli_require(const struct cli *cli, const char *value, const char *option)
{
  if (value != NULL)
    return 0;
  return cli_usage_error(cli,
                         "missing %s; run 'rlboard %s --help' for the usage",
                         option, cli->command);
}

/* Maps a library return code to the exit status listed in --help. */
int cli_exit_status(int rc)
{
  switch (rc) {
  case -ENOENT:
  case RLB_ENOTFOUND:
    return EX_NOINPUT;
  case -EACCES:
  case -EPERM:
    return EX_NOPERM;
  case RLB_ENOTSQLITE:
  case RLB_ENOTABLE:
    return EX_DATAERR;
  case -EIO:
  case -ENOSPC:
  case -EROFS:
  case RLB_ESQLITE:
    return EX_IOERR;
  case RLB_EPROBEHELD:
    return EX_UNAVAILABLE;
  case RLB_ETIMEDOUT:
    return EX_TEMPFAIL;
  case RLB_EINVALNAME:
  case RLB_EINVALCODE:
  case RLB_EINVALMODEL:
  case RLB_EINVALJOB:
  case RLB_EINVALDURATION:
  case RLB_EINVALCAPACITY:
  case RLB_EINVALTTL:
  case RLB_EINVALMODE:
  case RLB_EINVALARG:
  case RLB_EINVALID:
  case RLB_EINVALRETRY:
    return EX_USAGE;
  default:
    return EXIT_FAILED;
  }
}

/* Finds the option and value that an input error of the library names. */
static const char *rejected_option(const struct cli *cli, int rc,
                                   const char **value)
{
  switch (rc) {
  case RLB_EINVALNAME:
    *value = cli->board_name;
    return "board name";
  case RLB_EINVALCODE:
    *value = cli->code;
    return "--code";
  case RLB_EINVALMODEL:
    *value = cli->model;
    return "--model";
  case RLB_EINVALJOB:
    *value = cli->job;
    return "--job";
  case RLB_EINVALDURATION:
    *value = cli->duration_text;
    return "--duration";
  case RLB_EINVALCAPACITY:
    *value = cli->capacity_text;
    return "--capacity";
  case RLB_EINVALTTL:
    *value = cli->ttl_factor_text;
    return "--ttl-factor";
  case RLB_EINVALMODE:
    *value = cli->mode_text;
    return "--mode";
  case RLB_EINVALID:
    *value = cli->id;
    return "--id";
  case RLB_EINVALRETRY:
    *value = cli->args[0];
    return "Retry-After value";
  default:
    return NULL;
  }
}

/*
 * Reports a failed library call as "ACTION on board 'NAME': MESSAGE
 * (CODE)", or names the rejected value for an input error, and returns the
 * exit status for rc.
 */
int cli_fail(const struct cli *cli, int rc, const char *action)
{
  const char *value = NULL;
  const char *option = rejected_option(cli, rc, &value);

  if (option != NULL && value != NULL)
    cli_error_line(cli, "invalid %s '%s': %s (%s)", option, cli_quote(value),
                   rlb_strerror(rc), rlb_error_name(rc));
  else
    cli_error_line(cli, "%s on board '%s': %s", action,
                   cli_quote(cli->board_name), cli_describe_error(rc));
  return cli_exit_status(rc);
}

/* The library's last error message, kept for cli_describe_error(). */
static char last_library_error[256];

void cli_log_keep_error(void *context, int level, const char *message)
{
  size_t i;

  if (level == RLB_LOG_ERROR) {
    /* The message may quote a path or a SQLite text; control characters
     * become '?' so that the error stays on one line. */
    snprintf(last_library_error, sizeof(last_library_error), "%s", message);
    for (i = 0; last_library_error[i] != '\0'; i++)
      if ((unsigned char)last_library_error[i] < 0x20 ||
          last_library_error[i] == 0x7f)
        last_library_error[i] = '?';
  }
  if (context != NULL)
    cli_log_to_stderr(context, level, message);
}

/*
 * Describes a library code as "message (NAME)". A SQLite error also gets
 * the detail that the library logged with it, such as "no such column",
 * because the code alone does not say what to fix.
 */
const char *cli_describe_error(int rc)
{
  static char text[512];

  if (rc == RLB_ESQLITE && last_library_error[0] != '\0')
    snprintf(text, sizeof(text), "%s (%s): %s", rlb_strerror(rc),
             rlb_error_name(rc), last_library_error);
  else
    snprintf(text, sizeof(text), "%s (%s)", rlb_strerror(rc),
             rlb_error_name(rc));
  return text;
}

int cli_fail_board_not_found(const struct cli *cli)
{
  cli_error_line(cli,
                 "board '%s' not found; 'rlboard create' or 'rlboard record' "
                 "creates it",
                 cli_quote(cli->board_name));
  return EX_NOINPUT;
}

/* Prints library diagnostics on standard error, for --verbose. */
void cli_log_to_stderr(void *context, int level, const char *message)
{
  const struct cli *cli = context;
  const char *label = level == RLB_LOG_ERROR     ? "error"
                      : level == RLB_LOG_WARNING ? "warning"
                                                 : "info";

  cli_error_line(cli, "library %s: %s", label, message);
}

/* Number parsing */

/*
 * Parses a decimal number such as "60", "0.5" or "1e3": digits with an
 * optional sign, fraction and exponent. Rejects empty text, spaces,
 * trailing characters, hexadecimal, NaN, infinity and overflow.
 */
static int parse_number(const char *text, double *out)
{
  char *end;
  double value;

  if (text[0] == '\0' || strspn(text, "0123456789.eE+-") != strlen(text))
    return -1;
  errno = 0;
  value = strtod(text, &end);
  if (*end != '\0' || end == text || errno == ERANGE || !isfinite(value))
    return -1;
  *out = value;
  return 0;
}

/* Parses a whole number in base 8 or 10, digits only, of at most max. */
static int parse_whole(const char *text, int base, uint64_t max, uint64_t *out)
{
  const char *digits = base == 8 ? "01234567" : "0123456789";
  unsigned long long value;
  char *end;

  if (text[0] == '\0' || strspn(text, digits) != strlen(text))
    return -1;
  errno = 0;
  value = strtoull(text, &end, base);
  if (*end != '\0' || errno == ERANGE || value > max)
    return -1;
  *out = value;
  return 0;
}

/* Option values */

static int store_text(struct cli *cli, const char *option, const char *arg,
                      size_t max, const char **out)
{
  char allowed[96];
  size_t length = strlen(arg);
  size_t i;

  for (i = 0; i < length; i++) {
    unsigned char c = (unsigned char)arg[i];

    if (c < 0x20 || c == 0x7f)
      break;
  }
  if (length == 0 || length > max || i < length) {
    snprintf(allowed, sizeof(allowed),
             "must be 1 to %zu bytes without control characters", max);
    return cli_invalid_value(cli, option, arg, allowed);
  }
  *out = arg;
  return 0;
}

/* Checks the shape of an event id: 8-4-4-4-12 hexadecimal digits. */
static int store_id(struct cli *cli, const char *arg)
{
  size_t i;

  for (i = 0; arg[i] != '\0' && i < RLB_ID_LEN; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;

    if (dash ? arg[i] != '-' : strchr("0123456789abcdef", arg[i]) == NULL)
      break;
  }
  if (i != RLB_ID_LEN || arg[i] != '\0')
    return cli_invalid_value(cli, "--id", arg,
                             "must be an event id as 'rlboard list' prints it: "
                             "a lowercase UUID of 36 characters");
  cli->id = arg;
  return 0;
}

/* Stores seconds in (0, RLB_DURATION_MAX], or [0, ...] with allow_zero. */
static int store_seconds(struct cli *cli, const char *option, const char *arg,
                         int allow_zero, const char **text, double *out)
{
  char allowed[96];
  double value;

  if (parse_number(arg, &value) != 0 || value > RLB_DURATION_MAX ||
      (allow_zero ? value < 0 : value <= 0)) {
    snprintf(allowed, sizeof(allowed),
             allow_zero ? "must be a number from 0 to %.15g seconds"
                        : "must be a number greater than 0 and at most "
                          "%.15g seconds",
             RLB_DURATION_MAX);
    return cli_invalid_value(cli, option, arg, allowed);
  }
  *text = arg;
  *out = value;
  return 0;
}

static int store_uint32(struct cli *cli, const char *option, const char *arg,
                        uint32_t min, uint32_t max, const char *unit,
                        const char **text, uint32_t *out)
{
  char allowed[96];
  uint64_t value;

  if (parse_whole(arg, 10, max, &value) != 0 || value < min) {
    snprintf(allowed, sizeof(allowed),
             "must be a whole number from %" PRIu32 " to %" PRIu32 " %s", min,
             max, unit);
    return cli_invalid_value(cli, option, arg, allowed);
  }
  *text = arg;
  *out = (uint32_t)value;
  return 0;
}

static int store_mode(struct cli *cli, const char *arg)
{
  uint64_t value;

  if (parse_whole(arg, 8, 0777, &value) != 0 || (value & 0600) != 0600 ||
      (value & 0111) != 0)
    return cli_invalid_value(cli, "--mode", arg,
                             "must be an octal mode with read and write for "
                             "the owner and no execute bits, such as 0600, "
                             "0640 or 0660");
  cli->mode_text = arg;
  cli->mode = (uint32_t)value;
  return 0;
}

static int store_ttl_factor(struct cli *cli, const char *arg)
{
  char allowed[96];
  double value;

  if (parse_number(arg, &value) != 0 || value <= 0 ||
      value > RLB_TTL_FACTOR_MAX) {
    snprintf(allowed, sizeof(allowed),
             "must be a number greater than 0 and at most %.15g",
             RLB_TTL_FACTOR_MAX);
    return cli_invalid_value(cli, "--ttl-factor", arg, allowed);
  }
  cli->ttl_factor_text = arg;
  cli->ttl_factor = value;
  return 0;
}

static int store_token(struct cli *cli, const char *arg)
{
  if (parse_whole(arg, 10, UINT64_MAX, &cli->token) != 0)
    return cli_invalid_value(cli, "--token", arg,
                             "must be the whole number that 'rlboard probe "
                             "acquire' printed");
  cli->token_text = arg;
  return 0;
}

/* Checks and stores one option of a subcommand. Returns 0 or EX_USAGE. */
static int store_option(struct cli *cli, int option, char *arg)
{
  switch (option) {
  case OPT_CODE:
    return store_text(cli, "--code", arg, RLB_CODE_MAX, &cli->code);
  case OPT_MODEL:
    return store_text(cli, "--model", arg, RLB_MODEL_MAX, &cli->model);
  case OPT_JOB:
    return store_text(cli, "--job", arg, RLB_JOB_MAX, &cli->job);
  case OPT_ID:
    return store_id(cli, arg);
  case OPT_DURATION:
    return store_seconds(cli, "--duration", arg, 0, &cli->duration_text,
                         &cli->duration);
  case OPT_TIMEOUT:
    return store_seconds(cli, "--timeout", arg, 1, &cli->timeout_text,
                         &cli->timeout);
  case OPT_EVERY:
    return store_seconds(cli, "--every", arg, 0, &cli->every_text, &cli->every);
  case OPT_CAPACITY:
    return store_uint32(cli, "--capacity", arg, RLB_CAPACITY_MIN,
                        RLB_CAPACITY_MAX, "events", &cli->capacity_text,
                        &cli->capacity);
  case OPT_JITTER_MS:
    return store_uint32(cli, "--jitter-ms", arg, 0, RLB_JITTER_MS_MAX,
                        "milliseconds", &cli->jitter_ms_text, &cli->jitter_ms);
  case OPT_PROBE_TIMEOUT_MS:
    return store_uint32(cli, "--probe-timeout-ms", arg, 1,
                        RLB_PROBE_TIMEOUT_MS_MAX, "milliseconds",
                        &cli->probe_timeout_ms_text, &cli->probe_timeout_ms);
  case OPT_MODE:
    return store_mode(cli, arg);
  case OPT_TTL_FACTOR:
    return store_ttl_factor(cli, arg);
  case OPT_TOKEN:
    return store_token(cli, arg);
  case OPT_BOARD:
    cli->board = arg;
    return 0;
  case OPT_JSON:
    cli->json = 1;
    return 0;
  case OPT_ALL:
    cli->all = 1;
    return 0;
  case OPT_SUCCESS:
    cli->success = 1;
    return 0;
  case OPT_FAILURE:
    cli->failure = 1;
    return 0;
  case OPT_MS:
    cli->ms = 1;
    return 0;
  case 'h':
    cli->help = 1;
    return 0;
  case 'v':
    cli->verbose = 1;
    return 0;
  default:
    return cli_usage_error(cli, "option %d is not handled", option);
  }
}

/* Command-line parsing */

/* Copies the option's name out of argument, without any "=VALUE". */
static const char *option_name(const char *argument)
{
  static char name[64];
  size_t length = strcspn(argument, "=");

  if (length >= sizeof(name))
    length = sizeof(name) - 1;
  memcpy(name, argument, length);
  name[length] = '\0';
  return name;
}

/*
 * Reports the error behind a getopt_long() result of '?' or ':'. glibc sets
 * optopt to the character of an unknown short option, to the value of a
 * known long option that lacks or must not have a value, and to 0 for an
 * unknown long option.
 */
static int option_error(const struct cli *cli, int result, char **argv)
{
  char short_option[3] = {'-', (char)optopt, '\0'};
  const char *name = option_name(argv[optind - 1]);
  const char *subcommand = cli->command != NULL ? cli->command : "";
  const char *space = cli->command != NULL ? " " : "";

  if (optopt > 0 && optopt < OPT_BOARD)
    name = short_option;
  if (result == ':')
    return cli_usage_error(cli, "missing value for option '%s'",
                           cli_quote(name));
  if (optopt >= OPT_BOARD)
    return cli_usage_error(cli, "option '%s' takes no value", cli_quote(name));
  if (optopt >= '0' && optopt <= '9')
    return cli_usage_error(cli,
                           "unknown option '%s'; put '--' before an argument "
                           "that starts with '-'",
                           cli_quote(name));
  return cli_usage_error(
      cli,
      "unknown option '%s'; run 'rlboard %s%s--help' for the "
      "options",
      cli_quote(name), subcommand, space);
}

/*
 * Parses the options before the subcommand and stores in *first the index
 * of the subcommand. Returns 0, EXIT_DONE after --version or the command's
 * help, or EX_USAGE.
 */
int cli_parse_global(struct cli *cli, int argc, char **argv, int *first)
{
  static const struct option options[] = {
      {"board", required_argument, NULL, OPT_BOARD},
      {"help", no_argument, NULL, 'h'},
      {"verbose", no_argument, NULL, 'v'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  int result;

  opterr = 0;
  while ((result = getopt_long(argc, argv, "+:hvV", options, NULL)) != -1) {
    if (result == '?' || result == ':')
      return option_error(cli, result, argv);
    if (result == 'V') {
      printf("rlboard %s\n", rlb_version());
      return EXIT_DONE;
    }
    store_option(cli, result, optarg);
  }
  *first = optind;
  return 0;
}

/* Takes argv[optind] as a positional argument of the subcommand. */
static int take_argument(struct cli *cli, const struct subcommand *sub,
                         char *argument)
{
  if (cli->arg_count >= sub->max_args)
    return cli_usage_error(cli,
                           "unexpected argument '%s'; run 'rlboard %s --help' "
                           "for the usage",
                           cli_quote(argument), sub->name);
  cli->args[cli->arg_count++] = argument;
  return 0;
}

/*
 * Parses the options and positional arguments after the subcommand, in any
 * order; "--" ends the options. argv[0] is the subcommand. The "+" in the
 * option string stops getopt_long() at each positional argument instead of
 * moving it, so that a negative-looking value after "--" stays a value.
 */
int cli_parse_subcommand(struct cli *cli, const struct subcommand *sub,
                         int argc, char **argv)
{
  int status = 0;

  optind = 0; /* glibc: start a new scan */
  opterr = 0;
  while (status == 0) {
    int before = optind == 0 ? 1 : optind;
    int result = getopt_long(argc, argv, "+:hv", sub->options, NULL);

    if (result == -1 && optind >= argc)
      break;
    if (result == -1 && optind == before + 1 &&
        strcmp(argv[before], "--") == 0) {
      while (status == 0 && optind < argc)
        status = take_argument(cli, sub, argv[optind++]);
      break;
    }
    if (result == -1)
      status = take_argument(cli, sub, argv[optind++]);
    else if (result == '?' || result == ':')
      status = option_error(cli, result, argv);
    else
      status = store_option(cli, result, optarg);
  }
  return status;
}

/*
 * Chooses the board: --board, else $RLBOARD when set and not empty, else
 * RLB_DEFAULT_BOARD, and checks its name.
 */
int cli_resolve_board(struct cli *cli)
{
  const char *source = "--board";
  const char *name = cli->board;

  if (name == NULL) {
    name = getenv("RLBOARD");
    source = "RLBOARD";
  } else if (name[0] == '\0' || name[0] == '-') {
    /* An empty --board comes from an unset shell variable, and one that
     * starts with '-' from a missing value before the next option: both
     * would otherwise name a board by accident. */
    return cli_invalid_value(cli, source, name,
                             "must be a board name, not empty and not "
                             "starting with '-'");
  }
  if (name == NULL || name[0] == '\0') {
    name = RLB_DEFAULT_BOARD;
    source = "default board";
  }
  if (rlb_name_check(name) != 0)
    return cli_invalid_value(
        cli, source, name,
        "must be 1 to " S(
            RLB_NAME_MAX) " characters from "
                          "A-Z, a-z, 0-9, '.', '_' and '-' after an optional "
                          "leading slash, and not '.' or '..'");
  cli->board_name = name;
  return 0;
}

/* Boards */

/* Opens the board without creating it. A missing board gives *board NULL
 * and returns 0. */
int cli_open_existing(struct cli *cli, rlb_board **board)
{
  rlb_options options;
  int rc;

  rlb_options_init(&options);
  options.flags = 0;
  *board = NULL;
  rc = rlb_open(board, cli->board_name, &options);
  if (rc == -ENOENT)
    return 0;
  if (rc != 0)
    return cli_fail(cli, rc, "failed to open");
  return 0;
}

/* Opens the board, creating it with the default settings when missing. */
int cli_open_or_create(struct cli *cli, rlb_board **board)
{
  int rc = rlb_open(board, cli->board_name, NULL);

  if (rc != 0)
    return cli_fail(cli, rc, "failed to open or create");
  return 0;
}

/* Opens a board that must exist and reports a missing one. */
int cli_open_required(struct cli *cli, rlb_board **board)
{
  int status = cli_open_existing(cli, board);

  if (status == 0 && *board == NULL)
    return cli_fail_board_not_found(cli);
  return status;
}
