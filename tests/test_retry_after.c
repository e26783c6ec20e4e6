/*
 * rlb_parse_retry_after(): delay seconds, the three HTTP-date formats,
 * retry-after-ms, past and future dates against a fixed clock, clamping,
 * and rejection of everything outside the grammar.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"

/* Sun, 06 Nov 1994 08:49:37 GMT, the example date of RFC 7231. */
#define EXAMPLE_EPOCH INT64_C(784111777)
/* 2026-01-01T00:00:00Z */
#define NEW_YEAR_2026 INT64_C(1767225600)
#define US_PER_SEC INT64_C(1000000)

/* Parses value and fails the test unless it succeeds with expected. */
static void expect_seconds(const char *value, int is_ms, int64_t now_us,
                           double expected)
{
  double seconds = -1.0;
  int rc = rlb_parse_retry_after(value, is_ms, now_us, &seconds);

  ck_assert_msg(rc == 0, "'%s': %s", value, rlb_strerror(rc));
  ck_assert_msg(seconds == expected, "'%s': %.6f, expected %.6f", value,
                seconds, expected);
}

/* Fails the test unless value is rejected with RLB_EINVALRETRY. */
static void expect_invalid(const char *value, int is_ms)
{
  double seconds = 12345.0;
  int rc =
      rlb_parse_retry_after(value, is_ms, EXAMPLE_EPOCH * US_PER_SEC, &seconds);

  ck_assert_msg(rc == RLB_EINVALRETRY, "'%s' gave %s", value,
                rlb_error_name(rc));
  ck_assert_msg(seconds == 12345.0, "'%s' changed the output", value);
}

START_TEST(test_retry_after_delay_seconds)
{
  expect_seconds("120", 0, 0, 120.0);
  expect_seconds("0", 0, 0, 0.0);
  expect_seconds("007", 0, 0, 7.0);
  expect_seconds("1.5", 0, 0, 1.5);
  expect_seconds("0.25", 0, 0, 0.25);
}
END_TEST

START_TEST(test_retry_after_trims_whitespace)
{
  expect_seconds(" 120 ", 0, 0, 120.0);
  expect_seconds("\t5\r\n", 0, 0, 5.0);
  expect_seconds("  Sun, 06 Nov 1994 08:49:37 GMT\t", 0,
                 (EXAMPLE_EPOCH - 37) * US_PER_SEC, 37.0);
}
END_TEST

START_TEST(test_retry_after_imf_fixdate)
{
  expect_seconds("Sun, 06 Nov 1994 08:49:37 GMT", 0,
                 (EXAMPLE_EPOCH - 37) * US_PER_SEC, 37.0);
  /* The clock's microseconds count. */
  expect_seconds("Sun, 06 Nov 1994 08:49:37 GMT", 0,
                 (EXAMPLE_EPOCH - 37) * US_PER_SEC + 500000, 36.5);
}
END_TEST

START_TEST(test_retry_after_rfc850_date)
{
  expect_seconds("Sunday, 06-Nov-94 08:49:37 GMT", 0,
                 (EXAMPLE_EPOCH - 37) * US_PER_SEC, 37.0);
}
END_TEST

START_TEST(test_retry_after_asctime_date)
{
  expect_seconds("Sun Nov  6 08:49:37 1994", 0,
                 (EXAMPLE_EPOCH - 37) * US_PER_SEC, 37.0);
  expect_seconds("Sun Nov 06 08:49:37 1994", 0,
                 (EXAMPLE_EPOCH - 37) * US_PER_SEC, 37.0);
}
END_TEST

START_TEST(test_retry_after_past_date_is_zero)
{
  int64_t later = (EXAMPLE_EPOCH + 100) * US_PER_SEC;

  expect_seconds("Sun, 06 Nov 1994 08:49:37 GMT", 0, later, 0.0);
  expect_seconds("Sunday, 06-Nov-94 08:49:37 GMT", 0, later, 0.0);
  expect_seconds("Sun Nov  6 08:49:37 1994", 0, later, 0.0);
  expect_seconds("Thu, 01 Jan 1970 00:00:00 GMT", 0, later, 0.0);
}
END_TEST

START_TEST(test_retry_after_two_digit_year_window)
{
  int64_t now = NEW_YEAR_2026 * US_PER_SEC;

  /* 26 is this year: one minute ahead. */
  expect_seconds("Thursday, 01-Jan-26 00:01:00 GMT", 0, now, 60.0);
  /* 2075 lies within 50 years, so it stays in the future and clamps. */
  expect_seconds("Tuesday, 01-Jan-75 00:00:00 GMT", 0, now, RLB_DURATION_MAX);
  /* 2077 would be more than 50 years ahead, so it is 1977: in the past. */
  expect_seconds("Saturday, 01-Jan-77 00:00:00 GMT", 0, now, 0.0);
}
END_TEST

START_TEST(test_retry_after_calendar_checks)
{
  int64_t before_2024 = (INT64_C(1709164800) - 10) * US_PER_SEC;

  /* 29 February exists in 2024. */
  expect_seconds("Thu, 29 Feb 2024 00:00:00 GMT", 0, before_2024, 10.0);
  expect_invalid("Wed, 29 Feb 2023 00:00:00 GMT", 0);
  expect_invalid("Mon, 31 Apr 2024 00:00:00 GMT", 0);
  expect_invalid("Sun, 00 Nov 1994 08:49:37 GMT", 0);
  /* A leap second is the first second of the next minute. */
  expect_seconds("Sat, 31 Dec 2016 23:59:60 GMT", 0,
                 (INT64_C(1483228800) - 1) * US_PER_SEC, 1.0);
}
END_TEST

START_TEST(test_retry_after_ms_header)
{
  expect_seconds("1500", 1, 0, 1.5);
  expect_seconds("0", 1, 0, 0.0);
  expect_seconds(" 250.5 ", 1, 0, 0.2505);
  expect_invalid("-5", 1);
  expect_invalid("1e3", 1);
  expect_invalid("", 1);
  expect_invalid("Sun, 06 Nov 1994 08:49:37 GMT", 1);
}
END_TEST

START_TEST(test_retry_after_clamps_huge_values)
{
  expect_seconds("2592000", 0, 0, RLB_DURATION_MAX);
  expect_seconds("2592001", 0, 0, RLB_DURATION_MAX);
  expect_seconds("99999999999999999999999999", 0, 0, RLB_DURATION_MAX);
  expect_seconds("99999999999999999999999999", 1, 0, RLB_DURATION_MAX);
  expect_seconds("Fri, 31 Dec 9999 23:59:59 GMT", 0, EXAMPLE_EPOCH * US_PER_SEC,
                 RLB_DURATION_MAX);
}
END_TEST

START_TEST(test_retry_after_rejects_garbage)
{
  static const char *const values[] = {
      "",
      "   ",
      "abc",
      "-1",
      "+1",
      "1e3",
      "inf",
      "nan",
      "0x10",
      "1.",
      ".5",
      "1,5",
      "12abc",
      "12 3",
      "Sun, 32 Nov 1994 08:49:37 GMT",
      "Sun, 06 Foo 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 08:60:00 GMT",
      "Sun, 06 Nov 1994 08:49:61 GMT",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 06 Nov 1994 08:49:37 GMT junk",
      "Sun, 06 Nov 1994 08:49:37",
      "sun, 06 Nov 1994 08:49:37 GMT",
      "Sun, 06 nov 1994 08:49:37 GMT",
      "Sun,06 Nov 1994 08:49:37 GMT",
      "Sun, 6 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 94 08:49:37 GMT",
      "Sunday, 06 Nov 1994 08:49:37 GMT",
      "Sun, 06-Nov-94 08:49:37 GMT",
      "Sunday, 06-Nov-1994 08:49:37 GMT",
      "Sun Nov 6 08:49:37 1994",
      "Sun Nov  6 08:49:37 94",
      "Xyz, 06 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 8:49:37 GMT",
  };
  size_t i;

  for (i = 0; i < sizeof(values) / sizeof(values[0]); i++)
    expect_invalid(values[i], 0);
}
END_TEST

START_TEST(test_retry_after_null_arguments)
{
  double seconds;

  ck_assert_int_eq(rlb_parse_retry_after(NULL, 0, 0, &seconds),
                   RLB_EINVALRETRY);
  ck_assert_int_eq(rlb_parse_retry_after("5", 0, 0, NULL), RLB_EINVALARG);
}
END_TEST

/* now_us 0 reads the wall clock: a date 100 s ahead gives about 100 s. */
START_TEST(test_retry_after_now_zero_uses_clock)
{
  char text[64];
  double seconds = -1.0;
  struct tm tm;
  time_t when = time(NULL) + 100;

  gmtime_r(&when, &tm);
  ck_assert_uint_gt(
      strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm), 0);
  ck_assert_int_eq(rlb_parse_retry_after(text, 0, 0, &seconds), 0);
  ck_assert_double_le(seconds, 100.0);
  ck_assert_double_gt(seconds, 90.0);
}
END_TEST

static Suite *make_retry_after_suite(void)
{
  Suite *s = suite_create("retry_after");
  TCase *forms = tcase_create("forms");
  TCase *input = tcase_create("input");

  tcase_set_timeout(forms, 10);
  tcase_add_test(forms, test_retry_after_delay_seconds);
  tcase_add_test(forms, test_retry_after_trims_whitespace);
  tcase_add_test(forms, test_retry_after_imf_fixdate);
  tcase_add_test(forms, test_retry_after_rfc850_date);
  tcase_add_test(forms, test_retry_after_asctime_date);
  tcase_add_test(forms, test_retry_after_past_date_is_zero);
  tcase_add_test(forms, test_retry_after_two_digit_year_window);
  tcase_add_test(forms, test_retry_after_calendar_checks);
  tcase_add_test(forms, test_retry_after_ms_header);
  tcase_add_test(forms, test_retry_after_clamps_huge_values);
  tcase_add_test(forms, test_retry_after_now_zero_uses_clock);
  suite_add_tcase(s, forms);

  tcase_set_timeout(input, 10);
  tcase_add_test(input, test_retry_after_rejects_garbage);
  tcase_add_test(input, test_retry_after_null_arguments);
  suite_add_tcase(s, input);
  return s;
}

int main(void)
{
  SRunner *runner = srunner_create(make_retry_after_suite());
  int failed;

  srunner_run_all(runner, CK_NORMAL);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
