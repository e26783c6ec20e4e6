/*
 * Fuzz target: a board whose layout description and lock are real and
 * whose state is arbitrary. The first input byte contains flags, the rest
 * overwrites the segment of a real board from the header's board_seq on:
 * the counters, free stack top and heap length in the header, the slots,
 * the index, the free stack, the heap and the per-key links.
 *
 * Every reader and rlb_verify() must return without crashing or hanging.
 * With flag DEAD_OWNER the lock is left as by a writer that died holding
 * it, so the first locked call repairs the board with rlb__rebuild(), and
 * after that repair rlb_verify() must find no violation and the write
 * operations must keep the board consistent.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "internal.h"

/* Flags in the first input byte. */
#define DEAD_OWNER 0x1u

/* Where the fuzzed part of the segment starts. */
#define STATE_OFFSET offsetof(rlb_header, board_seq)

#define TEMPLATE_CAPACITY 8

static char name[64];
static uint8_t *template_segment;
static size_t template_size;
static uint8_t dead_lock[RLB_MUTEX_AREA];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Captures the lock area as it is after its owner died: a child takes the
 * lock and exits, and the kernel marks the robust mutex's owner dead. */
static void capture_dead_lock(rlb_board *board)
{
  size_t size;
  uint8_t *segment;
  pid_t child = fork();
  int status;

  if (child < 0)
    abort();
  if (child == 0) {
    pthread_mutex_lock(&board->hdr->lock.mutex);
    _exit(0);
  }
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status))
    abort();
  segment = fuzz_read_segment(rlb_name(board) + 1, &size);
  memcpy(dead_lock, segment + offsetof(rlb_header, lock), RLB_MUTEX_AREA);
  free(segment);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  char template_name[64];
  rlb_board *board;

  (void)argc;
  (void)argv;
  fuzz_name(name, sizeof(name), "verify");
  fuzz_name(template_name, sizeof(template_name), "verify-template");
  board = fuzz_make_board(template_name, TEMPLATE_CAPACITY);
  template_segment = fuzz_read_segment(template_name, &template_size);
  capture_dead_lock(board);
  rlb_close(board);
  rlb_unlink(template_name);
  return 0;
}

static void print_violation(void *context, const char *message)
{
  (void)context;
  fprintf(stderr, "violation: %s\n", message);
}

/* Fails the run when the board is not consistent. */
static void expect_consistent(rlb_board *board, const char *after)
{
  int rc = rlb_verify(board, print_violation, NULL);

  if (rc != 0) {
    fprintf(stderr, "rlb_verify after %s returned %d\n", after, rc);
    abort();
  }
}

/* Runs the write operations on a repaired board. */
static void write_board(rlb_board *board)
{
  char id[RLB_ID_LEN + 1];
  size_t removed;
  int i;

  for (i = 0; i < TEMPLATE_CAPACITY + 2; i++) {
    if (rlb_record(board, i % 2 ? "E101" : "E102", 60 + i, "job-w",
                   i % 3 ? "model-a" : NULL, id) != 0)
      abort();
  }
  expect_consistent(board, "record");
  if (rlb_clear_id(board, id) != 0)
    abort();
  rlb_clear(board, "E101", "model-a", &removed);
  rlb_cleanup(board, &removed);
  expect_consistent(board, "clear and cleanup");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  uint8_t *segment;
  rlb_board *board;
  unsigned flags;
  size_t state;
  int rc;

  if (size == 0)
    return 0;
  flags = data[0];
  state = size - 1;
  if (state > template_size - STATE_OFFSET)
    state = template_size - STATE_OFFSET;
  segment = malloc(template_size);
  if (segment == NULL)
    abort();
  memcpy(segment, template_segment, template_size);
  memcpy(segment + STATE_OFFSET, data + 1, state);
  if (flags & DEAD_OWNER)
    memcpy(segment + offsetof(rlb_header, lock), dead_lock, RLB_MUTEX_AREA);
  fuzz_write_segment(name, segment, template_size);
  free(segment);

  rc = fuzz_attach(&board, name);
  if (rc != 0) {
    fprintf(stderr, "rlb_open of a valid header failed: %s\n",
            rlb_strerror(rc));
    abort();
  }
  fuzz_read_board(board);
  rc = rlb_verify(board, NULL, NULL);
  if (rc < 0) {
    fprintf(stderr, "rlb_verify failed: %s\n", rlb_strerror(rc));
    abort();
  }
  if (flags & DEAD_OWNER) {
    expect_consistent(board, "the repair");
    fuzz_read_board(board);
    write_board(board);
  }
  rlb_close(board);
  rlb_unlink(name);
  return 0;
}
