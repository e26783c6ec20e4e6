/*
 * Helpers shared by the libFuzzer targets: per-process segment and file
 * names, writing raw bytes as a segment, a real board to take bytes from,
 * and one pass of every lock-free reader over a board.
 */
#ifndef RLB_FUZZ_COMMON_H
#define RLB_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "rlboard.h"

/* Writes "rlbfuzz-TARGET-PID" into out, a board name unique to this
 * process. */
void fuzz_name(char *out, size_t size, const char *target);

/* Replaces the segment called name with size bytes of data. Aborts on a
 * failed system call, which is a problem of the machine, not a finding. */
void fuzz_write_segment(const char *name, const void *data, size_t size);

/* Reads the whole segment called name into a malloc()ed buffer and stores
 * its size in *size. Aborts on failure. */
uint8_t *fuzz_read_segment(const char *name, size_t *size);

/* Creates the board called name with the given capacity and records a few
 * events on it: with and without a model, one cleared, one expired. Aborts
 * on failure. */
rlb_board *fuzz_make_board(const char *name, uint32_t capacity);

/* Runs check, list, stats and a zero-timeout wait with several filters.
 * Return codes are not checked: on a corrupt board any error is allowed,
 * and only a crash, a hang or undefined behaviour is a finding. */
void fuzz_read_board(rlb_board *board);

/* Opens the existing board called name with a short lock timeout, so that
 * a garbage lock word costs milliseconds instead of the default 10 s. */
int fuzz_attach(rlb_board **board, const char *name);

#endif
