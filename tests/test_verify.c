/*
 * rlb_verify(): a consistent board has no violations, and each kind of
 * damage to the slots, the free stack, the heap, the index or the header is
 * reported with a line that names it. The damage is written straight into
 * the segment through the handle's internal pointers.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "support.h"

static char name[64];
static rlb_board *board;

/* The violations of one rlb_verify() call, one per line. */
typedef struct violations {
  char text[8192];
  int count;
} violations;

static void collect(void *context, const char *message)
{
  violations *v = context;
  size_t used = strlen(v->text);

  snprintf(v->text + used, sizeof(v->text) - used, "%s\n", message);
  v->count++;
}

/* Slot 0 contains E101/m0 and slot 1 E102/m1. Slots 2 and 3 contain E103
 * and E104 without a model. Each event expires later than the one before. */
static void setup(void)
{
  static const char *const codes[] = {"E101", "E102", "E103", "E104"};
  static const char *const models[] = {"m0", "m1", NULL, NULL};
  int i;

  board = test_board_open_capacity(name, sizeof(name), 16);
  for (i = 0; i < 4; i++) {
    char job[16];
    int rc;
    snprintf(job, sizeof(job), "job-%d", i);
    rc = rlb_record(board, codes[i], 60.0 + i, job, models[i], NULL);
    ck_assert_int_eq(rc, 0);
  }
}

static void teardown(void)
{
  test_board_remove(board);
  board = NULL;
}

/* Returns the index entry of a kind whose list starts at slot. */
static rlb_entry *entry_of(unsigned kind, uint32_t slot)
{
  uint32_t pos;

  for (pos = 0; pos <= board->index_mask; pos++) {
    rlb_entry *e = &board->index[pos];
    if (e->refs != 0 && e->kind == kind && e->head == slot)
      return e;
  }
  ck_abort_msg("no index entry of kind %u starts at slot %u", kind, slot);
  return NULL;
}

static rlb_entry *entry_any(void)
{
  uint32_t pos;

  for (pos = 0; pos <= board->index_mask; pos++)
    if (board->index[pos].refs != 0 && board->index[pos].kind == RLB_KEY_ANY)
      return &board->index[pos];
  ck_abort_msg("no index entry for the key that matches everything");
  return NULL;
}

static void odd_slot_counter(void)
{
  board->slots[0].seq++;
}

static void invalid_slot_state(void)
{
  board->slots[0].state = 7;
}

static void unterminated_code(void)
{
  memset(board->slots[0].code, 'x', sizeof(board->slots[0].code));
}

static void invalid_id(void)
{
  board->slots[0].id[0] = 'G';
}

static void stored_count(void)
{
  board->hdr->stored++;
}

static void free_stack_duplicate(void)
{
  board->free_stack[0] = board->free_stack[1];
}

static void heap_order(void)
{
  uint32_t last = board->hdr->heap_len - 1;
  uint32_t top = board->heap[0];

  board->heap[0] = board->heap[last];
  board->heap[last] = top;
  board->slots[board->heap[0]].heap_pos = 0;
  board->slots[top].heap_pos = last;
}

static void heap_position(void)
{
  board->slots[board->heap[1]].heap_pos = 0;
}

static void index_refs(void)
{
  entry_any()->refs++;
}

static void index_max_low(void)
{
  entry_any()->max_expires_ns = 0;
}

static void index_max_stale(void)
{
  entry_any()->max_expires_ns = rlb__now_ns() + INT64_C(1000000000000);
}

static void index_entry_missing(void)
{
  memset(entry_of(RLB_KEY_CODE, 0), 0, sizeof(rlb_entry));
  board->hdr->index_used--;
}

static void list_link(void)
{
  rlb_entry *e = entry_any();

  board->links[(size_t)e->head * 4 + RLB_KEY_ANY].prev = 3;
}

static void index_used(void)
{
  board->hdr->index_used++;
}

static void odd_board_seq(void)
{
  board->hdr->board_seq++;
}

static void header_capacity(void)
{
  board->hdr->capacity++;
}

typedef struct damage {
  const char *label;
  void (*apply)(void);
  const char *expected; /* a substring of the violation */
} damage;

static const damage damages[] = {
    {"odd slot counter", odd_slot_counter, "slot 0: sequence counter"},
    {"invalid slot state", invalid_slot_state, "neither free nor live"},
    {"unterminated code", unterminated_code, "not NUL-terminated"},
    {"invalid id", invalid_id, "is not a lowercase UUID"},
    {"stored count", stored_count, "count: stored is 5"},
    {"free stack duplicate", free_stack_duplicate, "appears twice"},
    {"heap order", heap_order, "expires before its parent"},
    {"heap position", heap_position, "its heap_pos is 0"},
    {"index refs", index_refs, "refs is 5 but the list has 4"},
    {"index maximum low", index_max_low, "maximum expiry is below"},
    {"index maximum stale", index_max_stale, "unexpired maximum"},
    {"index entry missing", index_entry_missing, "is not in the index"},
    {"list link", list_link, "links back to 3"},
    {"index_used", index_used, "index_used is"},
    {"odd board_seq", odd_board_seq, "board_seq"},
    {"header capacity", header_capacity, "header: capacity is 17"},
};

START_TEST(test_verify_consistent_board)
{
  violations found;

  memset(&found, 0, sizeof(found));
  ck_assert_int_eq(rlb_verify(board, collect, &found), 0);
  ck_assert_int_eq(found.count, 0);
}
END_TEST

START_TEST(test_verify_reports_damage)
{
  const damage *d = &damages[_i];
  violations found;
  int rc;

  d->apply();
  memset(&found, 0, sizeof(found));
  rc = rlb_verify(board, collect, &found);
  ck_assert_msg(rc > 0, "%s: rlb_verify returned %d", d->label, rc);
  ck_assert_int_eq(rc, found.count);
  ck_assert_msg(strstr(found.text, d->expected) != NULL,
                "%s: no violation contains \"%s\":\n%s", d->label, d->expected,
                found.text);
}
END_TEST

START_TEST(test_verify_without_callback_counts)
{
  stored_count();
  ck_assert_int_gt(rlb_verify(board, NULL, NULL), 0);
}
END_TEST

START_TEST(test_verify_null_board)
{
  ck_assert_int_eq(rlb_verify(NULL, NULL, NULL), RLB_EINVALARG);
}
END_TEST

static Suite *make_verify_suite(void)
{
  Suite *s = suite_create("verify");
  TCase *tc = tcase_create("verify");

  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_verify_consistent_board);
  tcase_add_loop_test(tc, test_verify_reports_damage, 0,
                      (int)(sizeof(damages) / sizeof(damages[0])));
  tcase_add_test(tc, test_verify_without_callback_counts);
  tcase_add_test(tc, test_verify_null_board);
  tcase_set_timeout(tc, 30);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *runner = srunner_create(make_verify_suite());
  int failed;

  srunner_run_all(runner, CK_ENV);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
