/*
 * The rlboard command: a shell interface to a rate-limit board. Each
 * subcommand is one function in the table at the end of this file. Options
 * are parsed with getopt_long, and every value is checked before the
 * library is called. Each failure is reported as one line on standard error
 * that names the value at fault. Exit statuses follow sysexits.h and are
 * listed in the output of `rlboard --help`.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

#include "demo.h"
#include "rlboard.h"

#define S(x) RLBOARD_STRINGIFY(x)

/* Exit status of a failure without a more specific sysexits.h status: the
 * board is corrupt, the lock timed out, verify found violations. */
#define EXIT_FAILED 1

/* Returned by the parsers after --help or --version was printed. */
#define EXIT_DONE (-1)

/* Values longer than this are cut in messages. */
#define QUOTE_MAX 100

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
  const char *board_name; /* the board in use, after resolve_board() */
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

static const struct subcommand *find_subcommand(const char *name);

/* Messages */

#if defined(__GNUC__)
#define PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define PRINTF_LIKE(a, b)
#endif

static void error_line(const struct cli *cli, const char *format, ...)
    PRINTF_LIKE(2, 3);

/* Writes "rlboard: SUBCOMMAND: MESSAGE" as one line on standard error. */
static void error_line(const struct cli *cli, const char *format, ...)
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
static const char *quote(const char *value)
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

static int usage_error(const struct cli *cli, const char *format, ...)
    PRINTF_LIKE(2, 3);

/* Reports a usage error on one line and returns EX_USAGE. */
static int usage_error(const struct cli *cli, const char *format, ...)
{
  char message[1024];
  va_list args;

  va_start(args, format);
  vsnprintf(message, sizeof(message), format, args);
  va_end(args);
  error_line(cli, "%s", message);
  return EX_USAGE;
}

static int invalid_value(const struct cli *cli, const char *option,
                         const char *value, const char *allowed)
{
  return usage_error(cli, "invalid %s '%s': %s", option, quote(value), allowed);
}

/* Maps a library return code to the exit status listed in --help. */
static int exit_status(int rc)
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
static int fail(const struct cli *cli, int rc, const char *action)
{
  const char *value = NULL;
  const char *option = rejected_option(cli, rc, &value);

  if (option != NULL && value != NULL)
    error_line(cli, "invalid %s '%s': %s (%s)", option, quote(value),
               rlb_strerror(rc), rlb_error_name(rc));
  else
    error_line(cli, "%s on board '%s': %s (%s)", action, quote(cli->board_name),
               rlb_strerror(rc), rlb_error_name(rc));
  return exit_status(rc);
}

static int fail_board_not_found(const struct cli *cli)
{
  error_line(cli,
             "board '%s' not found; 'rlboard create' or 'rlboard record' "
             "creates it",
             quote(cli->board_name));
  return EX_NOINPUT;
}

/* Prints library diagnostics on standard error, for --verbose. */
static void log_to_stderr(void *context, int level, const char *message)
{
  const struct cli *cli = context;
  const char *label = level == RLB_LOG_ERROR     ? "error"
                      : level == RLB_LOG_WARNING ? "warning"
                                                 : "info";

  error_line(cli, "library %s: %s", label, message);
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
    return invalid_value(cli, option, arg, allowed);
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
    return invalid_value(cli, "--id", arg,
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
    return invalid_value(cli, option, arg, allowed);
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
    return invalid_value(cli, option, arg, allowed);
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
    return invalid_value(cli, "--mode", arg,
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
    return invalid_value(cli, "--ttl-factor", arg, allowed);
  }
  cli->ttl_factor_text = arg;
  cli->ttl_factor = value;
  return 0;
}

static int store_token(struct cli *cli, const char *arg)
{
  if (parse_whole(arg, 10, UINT64_MAX, &cli->token) != 0)
    return invalid_value(cli, "--token", arg,
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
    return usage_error(cli, "option %d is not handled", option);
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
    return usage_error(cli, "missing value for option '%s'", quote(name));
  if (optopt >= OPT_BOARD)
    return usage_error(cli, "option '%s' takes no value", quote(name));
  if (optopt >= '0' && optopt <= '9')
    return usage_error(cli,
                       "unknown option '%s'; put '--' before an argument "
                       "that starts with '-'",
                       quote(name));
  return usage_error(cli,
                     "unknown option '%s'; run 'rlboard %s%s--help' for the "
                     "options",
                     quote(name), subcommand, space);
}

/*
 * Parses the options before the subcommand and stores in *first the index
 * of the subcommand. Returns 0, EXIT_DONE after --version or the command's
 * help, or EX_USAGE.
 */
static int parse_global(struct cli *cli, int argc, char **argv, int *first)
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
    return usage_error(cli,
                       "unexpected argument '%s'; run 'rlboard %s --help' "
                       "for the usage",
                       quote(argument), sub->name);
  cli->args[cli->arg_count++] = argument;
  return 0;
}

/*
 * Parses the options and positional arguments after the subcommand, in any
 * order; "--" ends the options. argv[0] is the subcommand. The "+" in the
 * option string stops getopt_long() at each positional argument instead of
 * moving it, so that a negative-looking value after "--" stays a value.
 */
static int parse_subcommand(struct cli *cli, const struct subcommand *sub,
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
static int resolve_board(struct cli *cli)
{
  const char *source = "--board";
  const char *name = cli->board;

  if (name == NULL) {
    name = getenv("RLBOARD");
    source = "RLBOARD";
  }
  if (name == NULL || name[0] == '\0') {
    name = RLB_DEFAULT_BOARD;
    source = "default board";
  }
  if (rlb_name_check(name) != 0)
    return invalid_value(
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
static int open_existing(struct cli *cli, rlb_board **board)
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
    return fail(cli, rc, "failed to open");
  return 0;
}

/* Opens the board, creating it with the default settings when missing. */
static int open_or_create(struct cli *cli, rlb_board **board)
{
  int rc = rlb_open(board, cli->board_name, NULL);

  if (rc != 0)
    return fail(cli, rc, "failed to open or create");
  return 0;
}

/* Opens a board that must exist and reports a missing one. */
static int open_required(struct cli *cli, rlb_board **board)
{
  int status = open_existing(cli, board);

  if (status == 0 && *board == NULL)
    return fail_board_not_found(cli);
  return status;
}

/* Output */

/* Formats a time as rlb_format_time() does, or "-" when it cannot. */
static const char *format_time(int64_t us, char out[40])
{
  if (rlb_format_time(us, out) != 0)
    strcpy(out, "-");
  return out;
}

/* Rounds seconds to milliseconds, the precision the command prints. */
static double round_ms(double seconds)
{
  char text[64];

  snprintf(text, sizeof(text), "%.3f", seconds);
  return strtod(text, NULL);
}

/* Makes a JSON string. Text that is not valid UTF-8 gets '?' in place of
 * each byte above 0x7f. */
static json_t *json_text(const char *text)
{
  json_t *value = json_string(text);
  char *copy;
  size_t i;

  if (value != NULL)
    return value;
  copy = strdup(text);
  if (copy == NULL)
    return NULL;
  for (i = 0; copy[i] != '\0'; i++) {
    if ((unsigned char)copy[i] >= 0x80)
      copy[i] = '?';
  }
  value = json_string(copy);
  free(copy);
  return value;
}

static json_t *json_time(int64_t us)
{
  char text[40];

  if (rlb_format_time(us, text) != 0)
    return json_null();
  return json_string(text);
}

/* Prints value on one line and releases it. */
static int print_json(const struct cli *cli, json_t *value)
{
  int rc;

  if (value == NULL) {
    error_line(cli, "failed to build the JSON output: out of memory");
    return EX_OSERR;
  }
  rc = json_dumpf(value, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15));
  json_decref(value);
  if (rc != 0) {
    error_line(cli, "failed to write the JSON output");
    return EX_IOERR;
  }
  putchar('\n');
  return 0;
}

/* Flushes standard output and reports a write error as EX_IOERR. */
static int finish_output(const struct cli *cli, int status)
{
  if (fflush(stdout) == 0 && !ferror(stdout))
    return status;
  error_line(cli, "failed to write to standard output: %s", strerror(errno));
  return status == 0 || status == EX_TEMPFAIL ? EX_IOERR : status;
}

/* Subcommands: create, record, check */

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
  int status = open_required(cli, &board);
  int rc;

  if (status != 0 || !has_settings(cli)) {
    rlb_close(board);
    return status;
  }
  rc = rlb_stats_get(board, &stats);
  rlb_close(board);
  if (rc != 0)
    return fail(cli, rc, "failed to read the settings");
  error_line(cli,
             "board '%s' exists already and keeps its settings: capacity "
             "%" PRIu32 ", ttl-factor %.15g, jitter-ms %" PRIu32
             ", probe-timeout-ms %" PRIu32 "; unlink it to create it anew",
             quote(cli->board_name), stats.capacity, stats.ttl_factor,
             stats.jitter_ms, stats.probe_timeout_ms);
  return 0;
}

static int run_create(struct cli *cli)
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
    return fail(cli, rc, "failed to create");
  rlb_close(board);
  return 0;
}

static int require(const struct cli *cli, const char *value, const char *option)
{
  if (value != NULL)
    return 0;
  return usage_error(cli, "missing %s; run 'rlboard %s --help' for the usage",
                     option, cli->command);
}

static int run_record(struct cli *cli)
{
  char id[RLB_ID_LEN + 1];
  rlb_board *board;
  int status;
  int rc;

  status = require(cli, cli->code, "--code CODE");
  if (status == 0)
    status = require(cli, cli->duration_text, "--duration SECONDS");
  if (status == 0)
    status = require(cli, cli->job, "--job JOB");
  if (status == 0)
    status = open_or_create(cli, &board);
  if (status != 0)
    return status;

  rc = rlb_record(board, cli->code, cli->duration, cli->job, cli->model, id);
  rlb_close(board);
  if (rc != 0)
    return fail(cli, rc, "failed to record the event");
  printf("%s\n", id);
  return 0;
}

static int print_check(const struct cli *cli, int limited, double seconds_left)
{
  if (cli->json)
    return print_json(cli, json_pack("{s:b, s:f}", "limited", limited,
                                     "seconds_left", round_ms(seconds_left)));
  if (limited)
    printf("%.3f\n", seconds_left);
  return 0;
}

/* A board that does not exist counts as clear, because no event was
 * recorded on it. */
static int run_check(struct cli *cli)
{
  double seconds_left = 0;
  rlb_board *board;
  int status = open_existing(cli, &board);
  int rc = 0;

  if (status != 0)
    return status;
  if (board != NULL)
    rc = rlb_check(board, cli->code, cli->model, &seconds_left);
  rlb_close(board);
  if (rc < 0)
    return fail(cli, rc, "failed to check");
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
    return format_time(event->recorded_at_us, out);
  case 4:
    return format_time(event->expires_at_us, out);
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
static void print_table(const rlb_event *events, size_t count)
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
  json_t *model = event->has_model ? json_text(event->model) : json_null();

  return json_pack(
      "{s:o, s:o, s:o, s:o, s:o, s:o, s:f, s:f}", "id", json_text(event->id),
      "error_code", json_text(event->error_code), "model", model, "recorded_at",
      json_time(event->recorded_at_us), "expires_at",
      json_time(event->expires_at_us), "source_job_hash",
      json_text(event->source_job_hash), "duration_seconds",
      event->duration_seconds, "seconds_left", round_ms(event->seconds_left));
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
  return print_json(cli, array);
}

/* A board that does not exist lists no events. */
static int run_list(struct cli *cli)
{
  rlb_event *events = NULL;
  size_t count = 0;
  rlb_board *board;
  int status = open_existing(cli, &board);
  int rc = 0;

  if (status != 0)
    return status;
  if (board != NULL)
    rc = rlb_list(board, cli->code, cli->model, &events, &count);
  rlb_close(board);
  if (rc != 0)
    return fail(cli, rc, "failed to list the events");

  if (cli->json)
    status = print_events_json(cli, events, count);
  else
    print_table(events, count);
  rlb_events_free(events);
  return status;
}

/* Subcommands: cleanup, stats, verify, unlink */

static int run_cleanup(struct cli *cli)
{
  size_t removed = 0;
  rlb_board *board;
  int status = open_or_create(cli, &board);
  int rc;

  if (status != 0)
    return status;
  rc = rlb_cleanup(board, &removed);
  rlb_close(board);
  if (rc != 0)
    return fail(cli, rc, "failed to remove expired events");
  printf("%zu\n", removed);
  return 0;
}

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
    json_object_set_new(report->object, key, json_text(value));
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

  snprintf(board_id, sizeof(board_id), "%016" PRIx64, stats->board_id);
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
  put_text(report, "created_at", format_time(stats->created_at_us, created_at));
  put_real(report, "ttl_factor", stats->ttl_factor);
  put_uint(report, "jitter_ms", stats->jitter_ms);
  put_uint(report, "probe_timeout_ms", stats->probe_timeout_ms);
  put_uint(report, "layout_version", stats->layout_version);
  put_uint(report, "waiters", stats->waiters);
  put_uint(report, "segment_bytes", stats->segment_bytes);
  put_bool(report, "name_removed", stats->name_removed);
  put_bool(report, "probe_held", stats->probe_held);
}

static int run_stats(struct cli *cli)
{
  struct report report = {NULL};
  rlb_stats stats;
  rlb_board *board;
  int status = open_required(cli, &board);
  int rc;

  if (status != 0)
    return status;
  rc = rlb_stats_get(board, &stats);
  if (rc != 0) {
    rlb_close(board);
    return fail(cli, rc, "failed to read the statistics");
  }
  if (cli->json) {
    report.object = json_object();
    if (report.object == NULL) {
      rlb_close(board);
      return print_json(cli, NULL);
    }
  }
  put_stats(&report, rlb_name(board), &stats);
  rlb_close(board);
  return cli->json ? print_json(cli, report.object) : 0;
}

static void print_violation(void *context, const char *message)
{
  (void)context;
  printf("%s\n", message);
}

static int run_verify(struct cli *cli)
{
  rlb_board *board;
  int status = open_required(cli, &board);
  int rc;

  if (status != 0)
    return status;
  rc = rlb_verify(board, print_violation, NULL);
  rlb_close(board);
  if (rc < 0)
    return fail(cli, rc, "failed to verify");
  if (rc > 0) {
    error_line(cli, "board '%s' has %d violation%s", quote(cli->board_name), rc,
               rc == 1 ? "" : "s");
    return EXIT_FAILED;
  }
  return 0;
}

static int run_unlink(struct cli *cli)
{
  int rc = rlb_unlink(cli->board_name);

  if (rc == -ENOENT)
    return fail_board_not_found(cli);
  if (rc != 0)
    return fail(cli, rc, "failed to remove the name");
  return 0;
}

/* Subcommands: clear, wait, probe */

static int check_clear_options(const struct cli *cli)
{
  int filters = cli->code != NULL || cli->model != NULL;

  if (cli->id != NULL && (filters || cli->all))
    return usage_error(cli, "--id cannot be combined with --code, --model "
                            "or --all");
  if (cli->all && filters)
    return usage_error(cli, "--all cannot be combined with --code or "
                            "--model");
  if (cli->id == NULL && !filters && !cli->all)
    return usage_error(cli, "missing --id ID, --code CODE, --model MODEL or "
                            "--all: name the events to remove");
  return 0;
}

static int run_clear(struct cli *cli)
{
  size_t removed = 1;
  rlb_board *board;
  int status = check_clear_options(cli);
  int rc;

  if (status == 0)
    status = open_or_create(cli, &board);
  if (status != 0)
    return status;
  if (cli->id != NULL)
    rc = rlb_clear_id(board, cli->id);
  else
    rc = rlb_clear(board, cli->code, cli->model, &removed);
  rlb_close(board);

  if (rc == RLB_ENOTFOUND) {
    error_line(cli, "no live event with --id '%s' on board '%s'",
               quote(cli->id), quote(cli->board_name));
    return EX_NOINPUT;
  }
  if (rc != 0)
    return fail(cli, rc, "failed to remove the events");
  printf("%zu\n", removed);
  return 0;
}

/* A board that does not exist is clear, so the wait ends at once. */
static int run_wait(struct cli *cli)
{
  double timeout = cli->timeout_text != NULL ? cli->timeout : -1;
  int jitter = cli->jitter_ms_text != NULL ? (int)cli->jitter_ms : -1;
  rlb_board *board;
  int status = open_existing(cli, &board);
  int rc;

  if (status != 0 || board == NULL)
    return status;
  rc = rlb_wait(board, cli->code, cli->model, timeout, jitter);
  rlb_close(board);
  if (rc == RLB_ETIMEDOUT) {
    error_line(cli, "timed out after %s seconds: still limited on board '%s'",
               quote(cli->timeout_text), quote(cli->board_name));
    return EX_TEMPFAIL;
  }
  if (rc != 0)
    return fail(cli, rc, "failed to wait");
  return 0;
}

static int probe_acquire(struct cli *cli)
{
  uint64_t token = 0;
  rlb_board *board;
  int status;
  int rc;

  if (cli->token_text != NULL || cli->success || cli->failure)
    return usage_error(cli, "--token, --success and --failure belong to "
                            "'probe release'");
  status = open_or_create(cli, &board);
  if (status != 0)
    return status;
  rc = rlb_probe_acquire(board, cli->code, cli->model, &token);
  rlb_close(board);
  if (rc == RLB_PROBE_LIMITED)
    return EX_TEMPFAIL;
  if (rc == RLB_PROBE_NOT_NEEDED)
    return 0;
  if (rc == RLB_EPROBEHELD) {
    error_line(cli, "the probe on board '%s' is held by another worker",
               quote(cli->board_name));
    return EX_UNAVAILABLE;
  }
  if (rc != 0)
    return fail(cli, rc, "failed to acquire the probe");
  printf("%" PRIu64 "\n", token);
  return 0;
}

static int probe_release(struct cli *cli)
{
  rlb_board *board;
  int status = 0;
  int rc;

  if (cli->code != NULL || cli->model != NULL)
    status = usage_error(cli, "--code and --model belong to 'probe "
                              "acquire'; 'probe release' takes --token");
  if (status == 0)
    status = require(cli, cli->token_text, "--token TOKEN");
  if (status == 0 && cli->success == cli->failure)
    status = usage_error(cli, "give exactly one of --success and --failure");
  if (status == 0)
    status = open_required(cli, &board);
  if (status != 0)
    return status;

  rc = rlb_probe_release(board, cli->token, cli->success);
  rlb_close(board);
  if (rc == RLB_ENOPROBE) {
    error_line(cli,
               "the probe is not held by --token '%s': it was released or "
               "timed out",
               quote(cli->token_text));
    return EXIT_FAILED;
  }
  if (rc != 0)
    return fail(cli, rc, "failed to release the probe");
  return 0;
}

static int run_probe(struct cli *cli)
{
  const char *action = cli->args[0];

  if (action == NULL)
    return usage_error(cli, "missing ACTION: 'acquire' or 'release'");
  if (strcmp(action, "acquire") == 0)
    return probe_acquire(cli);
  if (strcmp(action, "release") == 0)
    return probe_release(cli);
  return invalid_value(cli, "ACTION", action, "must be 'acquire' or 'release'");
}

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
  return format_time((int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000, out);
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
  error_line(cli,
             "%s the name of board '%s' was removed; its events were saved "
             "and restored into the board now under that name (restored "
             "%zu, expired %zu, duplicate %zu, invalid %zu)",
             log_time(now), quote(cli->board_name), restored.restored,
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
    error_line(cli, "%s snapshot of board '%s' to '%s' failed: %s (%s)",
               log_time(now), quote(cli->board_name), quote(path),
               rlb_strerror(rc), rlb_error_name(rc));
    return rc;
  }
  error_line(cli, "%s wrote %zu event%s to '%s' in %.3f ms", log_time(now),
             result.events, result.events == 1 ? "" : "s", quote(path),
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
    error_line(cli, "failed to install signal handlers: %s", strerror(-rc));
    return EX_OSERR;
  }
  error_line(cli, "%s started: board '%s' to '%s' every %s seconds",
             log_time(now), quote(cli->board_name), quote(path),
             quote(cli->every_text));
  for (;;) {
    rc = snapshot_logged(cli, board, path);
    if (stop_signal || (rc != 0 && !is_transient(rc)))
      break;
    sleep_until_stopped(cli->every, &wait_mask);
    if (stop_signal)
      error_line(cli, "%s received %s; taking the final snapshot",
                 log_time(now), stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
  }
  error_line(cli, "%s stopped", log_time(now));
  return rc == 0 ? 0 : exit_status(rc);
}

/* A missing board fails, because a snapshot of it would empty the file,
 * which may contain the only copy of the events after a reboot. */
static int run_snapshot(struct cli *cli)
{
  const char *path = cli->args[0];
  rlb_snapshot_result result;
  rlb_board *board;
  int status = require(cli, path, "FILE");
  int rc;

  if (status == 0)
    status = open_required(cli, &board);
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
    error_line(cli, "snapshot of board '%s' to '%s' failed: %s (%s)",
               quote(cli->board_name), quote(path), rlb_strerror(rc),
               rlb_error_name(rc));
    return exit_status(rc);
  }
  printf("wrote %zu event%s in %.3f ms\n", result.events,
         result.events == 1 ? "" : "s", result.duration_ms);
  return 0;
}

/* Subcommands: restore, retry-after */

static void print_skipped_row(void *context, const char *id, const char *reason)
{
  (void)context;
  fprintf(stderr, "skipped %s: %s\n", quote(id != NULL ? id : "(no id)"),
          quote(reason));
}

static int run_restore(struct cli *cli)
{
  const char *path = cli->args[0];
  rlb_restore_result result;
  struct stat file;
  rlb_board *board;
  int status = require(cli, path, "FILE");
  int rc;

  if (status != 0)
    return status;
  if (stat(path, &file) != 0 && errno == ENOENT) {
    error_line(cli, "file '%s' not found", quote(path));
    return EX_NOINPUT;
  }
  status = open_or_create(cli, &board);
  if (status != 0)
    return status;

  rc = rlb_restore(board, path, &result, print_skipped_row, NULL);
  rlb_close(board);
  if (rc != 0) {
    error_line(cli, "restore of '%s' to board '%s' failed: %s (%s)",
               quote(path), quote(cli->board_name), rlb_strerror(rc),
               rlb_error_name(rc));
    return exit_status(rc);
  }
  printf("restored %zu, expired %zu, duplicate %zu, invalid %zu\n",
         result.restored, result.expired, result.duplicate, result.invalid);
  return 0;
}

static int run_retry_after(struct cli *cli)
{
  const char *value = cli->args[0];
  double seconds;
  int status = require(cli, value, "VALUE");

  if (status != 0)
    return status;
  if (rlb_parse_retry_after(value, cli->ms, 0, &seconds) != 0)
    return invalid_value(cli, "Retry-After value", value,
                         cli->ms ? "must be a number of milliseconds"
                                 : "must be a number of seconds or an HTTP "
                                   "date (IMF-fixdate, RFC 850 or asctime)");
  printf("%.3f\n", seconds);
  return 0;
}

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
    "with the default settings when it does not exist.\n";

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
    {"create", run_create, create_options, 0, 1,
     "create the board, or keep an existing one", create_help, NULL},
    {"record", run_record, record_options, 0, 1,
     "record a rate-limit event and print its id", record_help, NULL},
    {"check", run_check, filter_json_options, 0, 1,
     "exit 75 and print the seconds left when limited", check_help, NULL},
    {"list", run_list, filter_json_options, 0, 1,
     "list the live events, the one that expires last first", list_help, NULL},
    {"wait", run_wait, wait_options, 0, 1,
     "block until no matching event is live", wait_help, NULL},
    {"probe", run_probe, probe_options, 1, 1,
     "take or release the half-open probe", probe_help, NULL},
    {"clear", run_clear, clear_options, 0, 1,
     "remove live events before they expire", clear_help, NULL},
    {"cleanup", run_cleanup, common_options, 0, 1,
     "remove the expired events and print how many", cleanup_help, NULL},
    {"stats", run_stats, json_options, 0, 1,
     "print the board's counters and settings", stats_help, NULL},
    {"verify", run_verify, common_options, 0, 1, "check the board's invariants",
     verify_help, NULL},
    {"snapshot", run_snapshot, snapshot_options, 1, 1,
     "write the live events to a SQLite file", snapshot_help, NULL},
    {"restore", run_restore, common_options, 1, 1,
     "add the events of a SQLite file to the board", restore_help, NULL},
    {"retry-after", run_retry_after, retry_after_options, 1, 0,
     "convert an HTTP Retry-After value to seconds", retry_after_help, NULL},
    {"unlink", run_unlink, common_options, 0, 1, "remove the board's name",
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
    error_line(cli, "out of memory");
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
  status = parse_global(&cli, argc, argv, &first);
  if (status == 0 && first >= argc && cli.help) {
    print_main_help();
    status = EXIT_DONE;
  } else if (status == 0 && first >= argc) {
    status = usage_error(&cli, "missing subcommand; run 'rlboard --help' "
                               "for the list");
  }
  if (status != 0)
    return finish_output(&cli, status == EXIT_DONE ? 0 : status);

  sub = find_subcommand(argv[first]);
  if (sub == NULL)
    return usage_error(&cli,
                       "unknown subcommand '%s'; run 'rlboard --help' for "
                       "the list",
                       quote(argv[first]));
  cli.command = sub->name;
  if (sub->external_main != NULL)
    return finish_output(&cli,
                         run_external(&cli, sub, argc - first, argv + first));
  status = parse_subcommand(&cli, sub, argc - first, argv + first);
  if (status == 0 && cli.help) {
    fputs(sub->help, stdout);
    fputs(common_help, stdout);
    return finish_output(&cli, 0);
  }
  if (status == 0 && sub->needs_board)
    status = resolve_board(&cli);
  if (status != 0)
    return status;

  if (cli.verbose)
    rlb_set_log_callback(log_to_stderr, &cli);
  return finish_output(&cli, sub->run(&cli));
}
