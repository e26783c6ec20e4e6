/* Helpers shared by the test suites. */
#include "support.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

void test_board_name(char *out, size_t size)
{
  static unsigned counter;
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(out, size, "rlbtest-%ld-%u-%ld", (long)getpid(), counter++,
           (long)(ts.tv_nsec % 100000));
}

rlb_board *test_board_open_capacity(char *name, size_t size, uint32_t capacity)
{
  char local[64];
  rlb_options opts;
  rlb_board *board = NULL;
  int rc;

  if (name == NULL) {
    name = local;
    size = sizeof(local);
  }
  test_board_name(name, size);
  rlb_options_init(&opts);
  opts.flags = RLB_CREATE | RLB_EXCLUSIVE;
  opts.capacity = capacity;
  rc = rlb_open(&board, name, &opts);
  ck_assert_msg(rc == 0, "rlb_open(%s): %s", name, rlb_strerror(rc));
  return board;
}

rlb_board *test_board_open(char *name, size_t size)
{
  return test_board_open_capacity(name, size, RLB_CAPACITY_DEFAULT);
}

void test_segment_remove(const char *name)
{
  char path[RLB_NAME_MAX + 2];

  snprintf(path, sizeof(path), "/%s", name[0] == '/' ? name + 1 : name);
  shm_unlink(path);
}

void test_board_remove(rlb_board *board)
{
  if (board == NULL)
    return;
  rlb_unlink(rlb_name(board));
  rlb_close(board);
}

void test_sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0)
    ;
}

double test_now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
