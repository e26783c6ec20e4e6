/*
 * Fuzz target: arbitrary bytes as a board segment. The bytes are written
 * into a fresh segment, which is opened without RLB_CREATE; when the open
 * accepts it, rlb_verify() and every reader run on it. Any of them may
 * return an error, but none may crash, hang or run into undefined
 * behaviour, because a segment's contents are untrusted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "layout.h"

static char name[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  fuzz_name(name, sizeof(name), "attach");
  return 0;
}

static int all_zero(const uint8_t *data, size_t size)
{
  size_t i;

  for (i = 0; i < size; i++)
    if (data[i] != 0)
      return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint32_t ready = RLB_READY_YES;
  rlb_board *board;
  uint8_t *segment;

  /* rlb_open() waits up to 5 s for the creator of a segment that is not
   * ready yet: an empty or all-zero one, or one without the ready word.
   * That wait reads nothing past the header, so such inputs are skipped,
   * and every other input gets the ready word. */
  if (size < sizeof(rlb_header) && all_zero(data, size))
    return 0;
  segment = malloc(size > 0 ? size : 1);
  if (segment == NULL)
    abort();
  memcpy(segment, data, size);
  if (size >= offsetof(rlb_header, ready) + sizeof(ready))
    memcpy(segment + offsetof(rlb_header, ready), &ready, sizeof(ready));
  fuzz_write_segment(name, segment, size);
  free(segment);

  if (fuzz_attach(&board, name) == 0) {
    rlb_verify(board, NULL, NULL);
    fuzz_read_board(board);
    rlb_close(board);
  }
  rlb_unlink(name);
  return 0;
}
