/*
 * Timestamps as text, in the forms that the SQLite store's files hold.
 *
 * The store writes Python's datetime.isoformat() of an aware UTC time:
 * "2026-12-04T15:20:23.123456+00:00", without the fraction when it is zero.
 * Older files hold naive times, "Z" suffixes, other offsets or a space in
 * place of the "T". Parsing turns each of these into microseconds since the
 * epoch by instant. The calendar arithmetic on the proleptic Gregorian
 * calendar is done here, so neither TZ nor the C library's time zone code
 * is involved.
 */
#include <string.h>

#include "internal.h"

#define US_PER_SECOND INT64_C(1000000)
#define SECONDS_PER_DAY INT64_C(86400)

/* Python's datetime covers years 1 to 9999, and so do these functions. */
#define YEAR_MIN 1
#define YEAR_MAX 9999

/*
 * Returns the number of days from 1970-01-01 to the given date of the
 * proleptic Gregorian calendar. The year is shifted to start in March so
 * that the leap day falls at the end of a year; an era is 400 years.
 */
static int64_t days_from_civil(int64_t year, unsigned month, unsigned day)
{
  int64_t era;
  unsigned year_of_era, day_of_year, day_of_era;

  year -= month <= 2;
  era = (year >= 0 ? year : year - 399) / 400;
  year_of_era = (unsigned)(year - era * 400);
  day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + (int64_t)day_of_era - 719468;
}

/* The inverse of days_from_civil(). */
static void civil_from_days(int64_t days, int64_t *year, unsigned *month,
                            unsigned *day)
{
  int64_t era;
  unsigned day_of_era, year_of_era, day_of_year, month_index;

  days += 719468;
  era = (days >= 0 ? days : days - 146096) / 146097;
  day_of_era = (unsigned)(days - era * 146097);
  year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 -
                 day_of_era / 146096) /
                365;
  day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  month_index = (5 * day_of_year + 2) / 153;
  *day = day_of_year - (153 * month_index + 2) / 5 + 1;
  *month = month_index < 10 ? month_index + 3 : month_index - 9;
  *year = (int64_t)year_of_era + era * 400 + (*month <= 2);
}

static int is_leap_year(int64_t year)
{
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static unsigned days_in_month(int64_t year, unsigned month)
{
  static const unsigned days[12] = {31, 28, 31, 30, 31, 30,
                                    31, 31, 30, 31, 30, 31};

  if (month == 2 && is_leap_year(year))
    return 29;
  return days[month - 1];
}

/*
 * Reads exactly count decimal digits at *p into *value and advances *p.
 * Returns 0, or -1 when a character is not a digit.
 */
static int read_digits(const char **p, int count, unsigned *value)
{
  unsigned v = 0;
  int i;

  for (i = 0; i < count; i++) {
    char c = (*p)[i];

    if (c < '0' || c > '9')
      return -1;
    v = v * 10 + (unsigned)(c - '0');
  }
  *p += count;
  *value = v;
  return 0;
}

/* Reads "." and 1 to 9 digits, keeping the first six as microseconds. */
static int read_fraction(const char **p, int64_t *us)
{
  int64_t value = 0;
  int digits = 0;

  *us = 0;
  if (**p != '.')
    return 0;
  (*p)++;
  while (**p >= '0' && **p <= '9') {
    if (++digits > 9)
      return -1;
    if (digits <= 6)
      value = value * 10 + (**p - '0');
    (*p)++;
  }
  if (digits == 0)
    return -1;
  for (; digits < 6; digits++)
    value *= 10;
  *us = value;
  return 0;
}

/*
 * Reads what follows the time: nothing (a naive time, taken as UTC), "Z",
 * or "+HH:MM", "-HH:MM", "+HHMM", "-HHMM". Stores the offset east of UTC
 * in seconds. The text must end there.
 */
static int read_offset(const char *p, int64_t *offset_seconds)
{
  unsigned hours, minutes;
  int sign;

  *offset_seconds = 0;
  if (*p == '\0')
    return 0;
  if (*p == 'Z')
    return p[1] == '\0' ? 0 : -1;
  if (*p != '+' && *p != '-')
    return -1;
  sign = *p == '-' ? -1 : 1;
  p++;
  if (read_digits(&p, 2, &hours) != 0)
    return -1;
  if (*p == ':')
    p++;
  if (read_digits(&p, 2, &minutes) != 0 || *p != '\0')
    return -1;
  if (hours > 23 || minutes > 59)
    return -1;
  *offset_seconds = sign * (int64_t)(hours * 3600 + minutes * 60);
  return 0;
}

int rlb_parse_time(const char *text, int64_t *us)
{
  unsigned year, month, day, hour, minute, second;
  int64_t fraction_us, offset_seconds, seconds;
  const char *p = text;

  if (text == NULL || us == NULL)
    return RLB_EINVALTIME;
  if (read_digits(&p, 4, &year) != 0 || *p++ != '-' ||
      read_digits(&p, 2, &month) != 0 || *p++ != '-' ||
      read_digits(&p, 2, &day) != 0)
    return RLB_EINVALTIME;
  if (*p != 'T' && *p != ' ')
    return RLB_EINVALTIME;
  p++;
  if (read_digits(&p, 2, &hour) != 0 || *p++ != ':' ||
      read_digits(&p, 2, &minute) != 0 || *p++ != ':' ||
      read_digits(&p, 2, &second) != 0)
    return RLB_EINVALTIME;
  if (read_fraction(&p, &fraction_us) != 0 ||
      read_offset(p, &offset_seconds) != 0)
    return RLB_EINVALTIME;

  if (year < YEAR_MIN || month < 1 || month > 12 || day < 1 ||
      day > days_in_month(year, month))
    return RLB_EINVALTIME;
  if (hour > 23 || minute > 59 || second > 59)
    return RLB_EINVALTIME;

  seconds = days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 +
            minute * 60 + second - offset_seconds;
  *us = seconds * US_PER_SECOND + fraction_us;
  return 0;
}

/* Floor division, so that times before 1970 land on the right day. */
static int64_t floor_div(int64_t a, int64_t b)
{
  int64_t q = a / b;

  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Writes value as count decimal digits, with leading zeros. */
static char *put_digits(char *p, unsigned value, int count)
{
  int i;

  for (i = count - 1; i >= 0; i--) {
    p[i] = (char)('0' + value % 10);
    value /= 10;
  }
  return p + count;
}

/* Formats by hand rather than with snprintf(): a snapshot formats two
 * times for each of up to a million events. */
int rlb_format_time(int64_t us, char out[40])
{
  int64_t seconds, days, year;
  unsigned second_of_day, fraction, month, day;
  char *p = out;

  if (out == NULL)
    return RLB_EINVALTIME;
  seconds = floor_div(us, US_PER_SECOND);
  fraction = (unsigned)(us - seconds * US_PER_SECOND);
  days = floor_div(seconds, SECONDS_PER_DAY);
  second_of_day = (unsigned)(seconds - days * SECONDS_PER_DAY);
  civil_from_days(days, &year, &month, &day);
  if (year < YEAR_MIN || year > YEAR_MAX)
    return RLB_EINVALTIME;

  p = put_digits(p, (unsigned)year, 4);
  *p++ = '-';
  p = put_digits(p, month, 2);
  *p++ = '-';
  p = put_digits(p, day, 2);
  *p++ = 'T';
  p = put_digits(p, second_of_day / 3600, 2);
  *p++ = ':';
  p = put_digits(p, second_of_day / 60 % 60, 2);
  *p++ = ':';
  p = put_digits(p, second_of_day % 60, 2);
  if (fraction != 0) {
    *p++ = '.';
    p = put_digits(p, fraction, 6);
  }
  memcpy(p, "+00:00", 7);
  return 0;
}
