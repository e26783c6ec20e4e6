/*
 * Fuzz target: arbitrary bytes as a snapshot file. The bytes are written
 * to a file that rlb_restore() reads into a fresh board. The restore may
 * fail or skip rows, but it must not crash, and whatever it added must
 * leave a board that rlb_verify() finds consistent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"

#define BOARD_CAPACITY 16

static char name[64];
static char path[128];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  const char *dir = getenv("TMPDIR");

  (void)argc;
  (void)argv;
  fuzz_name(name, sizeof(name), "restore");
  snprintf(path, sizeof(path), "%s/%s.db", dir != NULL ? dir : "/tmp", name);
  return 0;
}

/* Removes the file and the journal, WAL and shared-memory files that
 * SQLite may have left next to it. */
static void remove_files(void)
{
  static const char *const suffixes[] = {"", "-journal", "-wal", "-shm"};
  char file[sizeof(path) + 16];
  size_t i;

  for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    snprintf(file, sizeof(file), "%s%s", path, suffixes[i]);
    unlink(file);
  }
}

static void write_file(const uint8_t *data, size_t size)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  if (fd < 0)
    abort();
  while (size > 0) {
    ssize_t n = write(fd, data, size);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      abort();
    data += n;
    size -= (size_t)n;
  }
  close(fd);
}

static void print_violation(void *context, const char *message)
{
  (void)context;
  fprintf(stderr, "violation: %s\n", message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  rlb_restore_result result;
  rlb_options opts;
  rlb_stats stats;
  rlb_board *board;
  int rc;

  remove_files();
  write_file(data, size);
  rlb_unlink(name);
  rlb_options_init(&opts);
  opts.flags = RLB_CREATE | RLB_EXCLUSIVE;
  opts.capacity = BOARD_CAPACITY;
  if (rlb_open(&board, name, &opts) != 0)
    abort();

  rc = rlb_restore(board, path, &result, NULL, NULL);
  if (rlb_verify(board, print_violation, NULL) != 0)
    abort();
  if (rlb_stats_get(board, &stats) != 0)
    abort();
  /* A failed restore adds nothing; a successful one adds what it counts. */
  if (stats.stored != (rc == 0 ? result.restored : 0)) {
    fprintf(stderr, "restore returned %d, counted %zu, board stores %u\n", rc,
            rc == 0 ? result.restored : 0, stats.stored);
    abort();
  }
  rlb_close(board);
  rlb_unlink(name);
  remove_files();
  return 0;
}
