/*
 * Tests of rlb_parse_time() and rlb_format_time(): every form of timestamp
 * that the SQLite store's files hold, read by instant, and the exact text of
 * Python's datetime.isoformat() for aware UTC times. The expected values
 * were computed with Python's datetime module.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "rlboard.h"

typedef struct time_case {
  const char *text;
  int64_t us;
} time_case;

static const time_case valid_cases[] = {
    {"2026-12-04T15:20:23.123456+00:00", INT64_C(1796397623123456)},
    {"2026-12-04T15:20:23+00:00", INT64_C(1796397623000000)},
    {"2026-12-04 15:20:23.123456", INT64_C(1796397623123456)},
    {"2026-12-04T15:20:23Z", INT64_C(1796397623000000)},
    {"2026-12-04T20:50:23.5+05:30", INT64_C(1796397623500000)},
    {"2026-12-04T10:20:23-05:00", INT64_C(1796397623000000)},
    {"2026-12-04T20:50:23+0530", INT64_C(1796397623000000)},
    {"2026-12-04T15:20:23.123456789+00:00", INT64_C(1796397623123456)},
    {"2024-02-29T23:59:59.999999+00:00", INT64_C(1709251199999999)},
    {"1969-12-31T23:59:59.999999+00:00", INT64_C(-1)},
    {"0001-01-01T00:00:00+00:00", INT64_C(-62135596800000000)},
    {"9999-12-31T23:59:59.999999+00:00", INT64_C(253402300799999999)},
    {"2026-01-01T00:30:00+01:00", INT64_C(1767223800000000)},
    {"2000-03-01T00:00:00-23:59", INT64_C(951955140000000)},
    {"1970-01-01T00:00:00", INT64_C(0)},
    {"2000-02-29 12:00:00Z", INT64_C(951825600000000)},
};

static const char *const invalid_cases[] = {
    "",
    "2026-12-04",
    "2026-12-04T15:20",
    "2026-12-04T15:20:23+00",
    "2026-12-04T15:20:23+0:00",
    "2026-12-04T15:20:23 +00:00",
    "2026-12-04T15:20:23+00:00 ",
    " 2026-12-04T15:20:23",
    "2026-12-04t15:20:23",
    "2026-12-04T15:20:23z",
    "2026-12-04T15:20:23.",
    "2026-12-04T15:20:23.1234567890",
    "2026-12-04T15:20:23,5",
    "2026-12-04T15:20:23+24:00",
    "2026-12-04T15:20:23+05:60",
    "2026-12-04T15:20:23+05:30:00",
    "2026-13-04T15:20:23",
    "2026-00-04T15:20:23",
    "2026-12-00T15:20:23",
    "2026-12-32T15:20:23",
    "2026-02-29T15:20:23",
    "2100-02-29T15:20:23",
    "2026-04-31T15:20:23",
    "2026-12-04T24:00:00",
    "2026-12-04T15:60:23",
    "2026-12-04T15:20:60",
    "0000-12-04T15:20:23",
    "26-12-04T15:20:23",
    "20261204T152023",
    "2026-12-04T15:20:23UTC",
    "1796397623",
    "2026-12-04T15:20:2a",
    "+2026-12-04T15:20:23",
};

START_TEST(test_parse_time_valid_forms)
{
  const time_case *c = &valid_cases[_i];
  int64_t us = 0;

  ck_assert_int_eq(rlb_parse_time(c->text, &us), 0);
  ck_assert_msg(us == c->us, "%s: got %lld, expected %lld", c->text,
                (long long)us, (long long)c->us);
}
END_TEST

START_TEST(test_parse_time_invalid_forms)
{
  const char *text = invalid_cases[_i];
  int64_t us = 42;

  ck_assert_msg(rlb_parse_time(text, &us) == RLB_EINVALTIME, "accepted \"%s\"",
                text);
  ck_assert_int_eq(us, 42);
}
END_TEST

START_TEST(test_parse_time_null_arguments)
{
  int64_t us;

  ck_assert_int_eq(rlb_parse_time(NULL, &us), RLB_EINVALTIME);
  ck_assert_int_eq(rlb_parse_time("2026-12-04T15:20:23", NULL), RLB_EINVALTIME);
}
END_TEST

START_TEST(test_format_time_store_text)
{
  char out[40];

  ck_assert_int_eq(rlb_format_time(INT64_C(1796397623123456), out), 0);
  ck_assert_str_eq(out, "2026-12-04T15:20:23.123456+00:00");
  ck_assert_int_eq(rlb_format_time(INT64_C(1796397623000000), out), 0);
  ck_assert_str_eq(out, "2026-12-04T15:20:23+00:00");
  ck_assert_int_eq(rlb_format_time(INT64_C(1796397623000001), out), 0);
  ck_assert_str_eq(out, "2026-12-04T15:20:23.000001+00:00");
  ck_assert_int_eq(rlb_format_time(INT64_C(1796397623500000), out), 0);
  ck_assert_str_eq(out, "2026-12-04T15:20:23.500000+00:00");
}
END_TEST

START_TEST(test_format_time_epoch_edges)
{
  char out[40];

  ck_assert_int_eq(rlb_format_time(0, out), 0);
  ck_assert_str_eq(out, "1970-01-01T00:00:00+00:00");
  ck_assert_int_eq(rlb_format_time(-1, out), 0);
  ck_assert_str_eq(out, "1969-12-31T23:59:59.999999+00:00");
  ck_assert_int_eq(rlb_format_time(INT64_C(1709251199999999), out), 0);
  ck_assert_str_eq(out, "2024-02-29T23:59:59.999999+00:00");
  ck_assert_int_eq(rlb_format_time(INT64_C(-62135596800000000), out), 0);
  ck_assert_str_eq(out, "0001-01-01T00:00:00+00:00");
  ck_assert_int_eq(rlb_format_time(INT64_C(253402300799999999), out), 0);
  ck_assert_str_eq(out, "9999-12-31T23:59:59.999999+00:00");
}
END_TEST

START_TEST(test_format_time_out_of_range)
{
  char out[40];

  ck_assert_int_eq(rlb_format_time(INT64_C(-62135596800000001), out),
                   RLB_EINVALTIME);
  ck_assert_int_eq(rlb_format_time(INT64_C(253402300800000000), out),
                   RLB_EINVALTIME);
  ck_assert_int_eq(rlb_format_time(INT64_MIN, out), RLB_EINVALTIME);
  ck_assert_int_eq(rlb_format_time(INT64_MAX, out), RLB_EINVALTIME);
  ck_assert_int_eq(rlb_format_time(0, NULL), RLB_EINVALTIME);
}
END_TEST

/* Every formatted time parses back to the same instant, across the whole
 * supported range, with and without a fraction. */
START_TEST(test_format_time_round_trip)
{
  const int64_t low = INT64_C(-62135596800000000);
  const int64_t high = INT64_C(253402300799999999);
  uint64_t state = 0x9e3779b97f4a7c15u;
  char out[40];
  int i;

  for (i = 0; i < 100000; i++) {
    int64_t us, back = 0;

    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    us = low + (int64_t)(state % (uint64_t)(high - low));
    if (i % 2 == 0)
      us -= us % 1000000;
    ck_assert_int_eq(rlb_format_time(us, out), 0);
    ck_assert_int_eq(rlb_parse_time(out, &back), 0);
    ck_assert_msg(back == us, "%s: got %lld, expected %lld", out,
                  (long long)back, (long long)us);
  }
}
END_TEST

static Suite *make_timefmt_suite(void)
{
  Suite *s = suite_create("timefmt");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 30);
  tcase_add_loop_test(tc, test_parse_time_valid_forms, 0,
                      sizeof(valid_cases) / sizeof(valid_cases[0]));
  tcase_add_loop_test(tc, test_parse_time_invalid_forms, 0,
                      sizeof(invalid_cases) / sizeof(invalid_cases[0]));
  tcase_add_test(tc, test_parse_time_null_arguments);
  tcase_add_test(tc, test_format_time_store_text);
  tcase_add_test(tc, test_format_time_epoch_edges);
  tcase_add_test(tc, test_format_time_out_of_range);
  tcase_add_test(tc, test_format_time_round_trip);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(make_timefmt_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
