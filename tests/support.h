/*
 * Helpers shared by the test suites: unique board names and a fixture that
 * removes the board after each test.
 */
#ifndef RLB_TEST_SUPPORT_H
#define RLB_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "rlboard.h"

/* Writes a board name unique to this process and call into out. */
void test_board_name(char *out, size_t size);

/* Opens a new board with a unique name and default options; fails the
 * test on error. The name is written to name when not NULL. */
rlb_board *test_board_open(char *name, size_t size);

/* Opens a new board with a unique name and the given capacity. */
rlb_board *test_board_open_capacity(char *name, size_t size, uint32_t capacity);

/* Removes the shared-memory segment called name, whatever it contains:
 * rlb_unlink() leaves segments that are not boards alone, and the tests
 * that write foreign segments must still clean them up. */
void test_segment_remove(const char *name);

/* Closes board and removes its name. */
void test_board_remove(rlb_board *board);

/* Sleeps for the given number of milliseconds. */
void test_sleep_ms(long ms);

/* Returns CLOCK_MONOTONIC in seconds. */
double test_now(void);

#endif
