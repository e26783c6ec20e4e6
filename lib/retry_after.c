/*
 * Parsing of HTTP Retry-After values (RFC 7231, section 7.1.3): a delay in
 * seconds or an HTTP-date in one of its three formats, and the
 * retry-after-ms header that some APIs send next to it. The parser works
 * by hand on bytes, so neither the locale nor strptime() changes what it
 * accepts, and it accepts only the exact grammar.
 */
#include <stdint.h>
#include <string.h>

#include "internal.h"

#define SECONDS_PER_DAY INT64_C(86400)

static const char *const day_names[7] = {"Mon", "Tue", "Wed", "Thu",
                                         "Fri", "Sat", "Sun"};
static const char *const day_names_long[7] = {
    "Monday", "Tuesday",  "Wednesday", "Thursday",
    "Friday", "Saturday", "Sunday"};
static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr",
                                            "May", "Jun", "Jul", "Aug",
                                            "Sep", "Oct", "Nov", "Dec"};

/* The unparsed rest of the value: [p, end). */
typedef struct cursor {
  const char *p;
  const char *end;
} cursor;

/* A broken-down UTC time, as the date formats spell it. */
typedef struct civil_time {
  int64_t year;
  int month; /* 1-12 */
  int day;   /* 1-31 */
  int hour;
  int minute;
  int second; /* 0-60: RFC 7231 allows a leap second */
} civil_time;

/* ---- calendar arithmetic ------------------------------------------------ */

static int is_leap(int64_t year)
{
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int64_t year, int month)
{
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

  return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* Days from 1970-01-01 to the date in the proleptic Gregorian calendar,
 * after Howard Hinnant's days_from_civil algorithm. */
static int64_t days_from_civil(int64_t year, int month, int day)
{
  int64_t era, yoe, doy, doe;

  year -= month <= 2;
  era = (year >= 0 ? year : year - 399) / 400;
  yoe = year - era * 400;
  doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil(), for the date part of a civil_time. */
static void civil_from_days(int64_t days, civil_time *t)
{
  int64_t era, doe, yoe, doy, mp;

  days += 719468;
  era = (days >= 0 ? days : days - 146096) / 146097;
  doe = days - era * 146097;
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  t->day = (int)(doy - (153 * mp + 2) / 5 + 1);
  t->month = (int)(mp < 10 ? mp + 3 : mp - 9);
  t->year = yoe + era * 400 + (t->month <= 2);
}

static int64_t epoch_seconds(const civil_time *t)
{
  return days_from_civil(t->year, t->month, t->day) * SECONDS_PER_DAY +
         t->hour * 3600 + t->minute * 60 + t->second;
}

static void civil_from_epoch(int64_t seconds, civil_time *t)
{
  int64_t days = seconds / SECONDS_PER_DAY;
  int64_t rest = seconds % SECONDS_PER_DAY;

  if (rest < 0) {
    rest += SECONDS_PER_DAY;
    days--;
  }
  civil_from_days(days, t);
  t->hour = (int)(rest / 3600);
  t->minute = (int)(rest / 60 % 60);
  t->second = (int)(rest % 60);
}

/* Returns the epoch time `years` calendar years after `seconds`. 29
 * February becomes 28 February in a common year. */
static int64_t add_years(int64_t seconds, int years)
{
  civil_time t;

  civil_from_epoch(seconds, &t);
  t.year += years;
  if (t.day > days_in_month(t.year, t.month))
    t.day = days_in_month(t.year, t.month);
  return epoch_seconds(&t);
}

/* ---- tokens ------------------------------------------------------------- */

static int is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static int take_char(cursor *c, char ch)
{
  if (c->p == c->end || *c->p != ch)
    return 0;
  c->p++;
  return 1;
}

/* Takes exactly n digits. */
static int take_digits(cursor *c, int n, int *value)
{
  int v = 0, i;

  if (c->end - c->p < n)
    return 0;
  for (i = 0; i < n; i++) {
    if (!is_digit(c->p[i]))
      return 0;
    v = v * 10 + (c->p[i] - '0');
  }
  c->p += n;
  *value = v;
  return 1;
}

/* Takes one of the names, compared case-sensitively as RFC 7231 requires,
 * and stores its position in the table. */
static int take_name(cursor *c, const char *const *names, int count, int *index)
{
  int i;

  for (i = 0; i < count; i++) {
    size_t len = strlen(names[i]);

    if ((size_t)(c->end - c->p) >= len && memcmp(c->p, names[i], len) == 0) {
      c->p += len;
      *index = i;
      return 1;
    }
  }
  return 0;
}

/* Takes time-of-day: 2DIGIT ":" 2DIGIT ":" 2DIGIT, within range. */
static int take_time(cursor *c, civil_time *t)
{
  if (!take_digits(c, 2, &t->hour) || !take_char(c, ':') ||
      !take_digits(c, 2, &t->minute) || !take_char(c, ':') ||
      !take_digits(c, 2, &t->second))
    return 0;
  return t->hour <= 23 && t->minute <= 59 && t->second <= 60;
}

static int take_month(cursor *c, civil_time *t)
{
  int index;

  if (!take_name(c, month_names, 12, &index))
    return 0;
  t->month = index + 1;
  return 1;
}

/* ---- the three date formats --------------------------------------------- */

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
static int parse_imf_fixdate(cursor c, civil_time *t)
{
  int weekday, year;

  if (!take_name(&c, day_names, 7, &weekday) || !take_char(&c, ',') ||
      !take_char(&c, ' ') || !take_digits(&c, 2, &t->day) ||
      !take_char(&c, ' ') || !take_month(&c, t) || !take_char(&c, ' ') ||
      !take_digits(&c, 4, &year) || !take_char(&c, ' ') || !take_time(&c, t) ||
      !take_char(&c, ' ') || !take_char(&c, 'G') || !take_char(&c, 'M') ||
      !take_char(&c, 'T'))
    return 0;
  t->year = year;
  return c.p == c.end;
}

/* RFC 850 date: "Sunday, 06-Nov-94 08:49:37 GMT". The year is stored as
 * its two digits, which resolve_two_digit_year() completes. */
static int parse_rfc850_date(cursor c, civil_time *t)
{
  int weekday, year;

  if (!take_name(&c, day_names_long, 7, &weekday) || !take_char(&c, ',') ||
      !take_char(&c, ' ') || !take_digits(&c, 2, &t->day) ||
      !take_char(&c, '-') || !take_month(&c, t) || !take_char(&c, '-') ||
      !take_digits(&c, 2, &year) || !take_char(&c, ' ') || !take_time(&c, t) ||
      !take_char(&c, ' ') || !take_char(&c, 'G') || !take_char(&c, 'M') ||
      !take_char(&c, 'T'))
    return 0;
  t->year = year;
  return c.p == c.end;
}

/* asctime date: "Sun Nov  6 08:49:37 1994", where the day is two digits
 * or a space and one digit. */
static int parse_asctime_date(cursor c, civil_time *t)
{
  int weekday, year;

  if (!take_name(&c, day_names, 7, &weekday) || !take_char(&c, ' ') ||
      !take_month(&c, t) || !take_char(&c, ' '))
    return 0;
  if (take_char(&c, ' ')) {
    if (!take_digits(&c, 1, &t->day))
      return 0;
  } else if (!take_digits(&c, 2, &t->day)) {
    return 0;
  }
  if (!take_char(&c, ' ') || !take_time(&c, t) || !take_char(&c, ' ') ||
      !take_digits(&c, 4, &year))
    return 0;
  t->year = year;
  return c.p == c.end;
}

/*
 * Completes the two-digit year of an RFC 850 date. RFC 7231 section
 * 7.1.1.1 reads a date that appears to be more than 50 years in the future
 * as the most recent past year with the same last two digits. The year
 * therefore lands within 50 years of now on either side.
 */
static void resolve_two_digit_year(civil_time *t, int64_t now_s)
{
  civil_time now;
  int64_t when;

  civil_from_epoch(now_s, &now);
  t->year += now.year - now.year % 100;
  when = epoch_seconds(t);
  if (when > add_years(now_s, 50))
    t->year -= 100;
  else if (when <= add_years(now_s, -50))
    t->year += 100;
}

/* Parses an HTTP-date into seconds since the epoch. The weekday name must
 * be a valid one, but it is not compared with the date. */
static int parse_http_date(cursor c, int64_t now_s, int64_t *epoch)
{
  civil_time t;

  memset(&t, 0, sizeof(t));
  if (parse_imf_fixdate(c, &t) || parse_asctime_date(c, &t)) {
    /* The year is read as given. */
  } else if (parse_rfc850_date(c, &t)) {
    resolve_two_digit_year(&t, now_s);
  } else {
    return 0;
  }
  if (t.day < 1 || t.day > days_in_month(t.year, t.month))
    return 0;
  *epoch = epoch_seconds(&t);
  return 1;
}

/* ---- numbers ------------------------------------------------------------ */

/*
 * Parses 1*DIGIT [ "." 1*DIGIT ] covering the whole cursor: no sign, no
 * exponent, no hexadecimal, no inf or nan. Very long values grow past
 * RLB_DURATION_MAX and are clamped by the caller. The fraction is summed as
 * an integer and divided once, so "0.1" gives the double nearest 0.1;
 * digits after the 15th cannot change a double and are only checked.
 */
static int parse_decimal(cursor c, double *value)
{
  double v = 0.0, fraction = 0.0, scale = 1.0;
  int digits = 0;

  if (c.p == c.end || !is_digit(*c.p))
    return 0;
  while (c.p < c.end && is_digit(*c.p))
    v = v * 10.0 + (*c.p++ - '0');
  if (take_char(&c, '.')) {
    if (c.p == c.end || !is_digit(*c.p))
      return 0;
    for (; c.p < c.end && is_digit(*c.p); c.p++) {
      if (digits++ >= 15)
        continue;
      fraction = fraction * 10.0 + (*c.p - '0');
      scale *= 10.0;
    }
  }
  if (c.p != c.end)
    return 0;
  *value = v + fraction / scale;
  return 1;
}

static int is_space(char ch)
{
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

int rlb_parse_retry_after(const char *value, int is_ms, int64_t now_us,
                          double *seconds)
{
  cursor c;
  double result;
  int64_t epoch;

  if (seconds == NULL)
    return RLB_EINVALARG;
  if (value == NULL)
    return RLB_EINVALRETRY;
  c.p = value;
  c.end = value + strlen(value);
  while (c.p < c.end && is_space(*c.p))
    c.p++;
  while (c.end > c.p && is_space(c.end[-1]))
    c.end--;
  if (now_us == 0)
    now_us = rlb__wall_us();

  if (parse_decimal(c, &result)) {
    if (is_ms)
      result /= 1000.0;
  } else if (!is_ms && parse_http_date(c, now_us / 1000000, &epoch)) {
    result = (double)epoch - (double)now_us / 1e6;
    if (result < 0.0)
      result = 0.0;
  } else {
    return RLB_EINVALRETRY;
  }
  if (result > RLB_DURATION_MAX)
    result = RLB_DURATION_MAX;
  *seconds = result;
  return 0;
}
