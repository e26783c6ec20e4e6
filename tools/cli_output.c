/*
 * Output helpers of the rlboard command: times and seconds as the command
 * prints them, JSON values, one-line JSON documents on standard output,
 * and the final flush that turns a write error into an exit status.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "rlboard.h"

/* Formats a time as rlb_format_time() does, or "-" when it cannot. */
const char *cli_format_time(int64_t us, char out[40])
{
  if (rlb_format_time(us, out) != 0)
    strcpy(out, "-");
  return out;
}

/* Rounds seconds to milliseconds, the precision the command prints. */
double cli_round_ms(double seconds)
{
  char text[64];

  snprintf(text, sizeof(text), "%.3f", seconds);
  return strtod(text, NULL);
}

/* Makes a JSON string. Text that is not valid UTF-8 gets '?' in place of
 * each byte above 0x7f. */
json_t *cli_json_text(const char *text)
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

json_t *cli_json_time(int64_t us)
{
  char text[40];

  if (rlb_format_time(us, text) != 0)
    return json_null();
  return json_string(text);
}

/* Prints value on one line and releases it. */
int cli_print_json(const struct cli *cli, json_t *value)
{
  int rc;

  if (value == NULL) {
    cli_error_line(cli, "failed to build the JSON output: out of memory");
    return EX_OSERR;
  }
  rc = json_dumpf(value, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15));
  json_decref(value);
  if (rc != 0) {
    cli_error_line(cli, "failed to write the JSON output");
    return EX_IOERR;
  }
  putchar('\n');
  return 0;
}

/* Flushes standard output and reports a write error as EX_IOERR. */
int cli_finish_output(const struct cli *cli, int status)
{
  if (fflush(stdout) == 0 && !ferror(stdout))
    return status;
  cli_error_line(cli, "failed to write to standard output: %s",
                 strerror(errno));
  return status == 0 || status == EX_TEMPFAIL ? EX_IOERR : status;
}
