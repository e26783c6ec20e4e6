/* Helpers shared by the libFuzzer targets. */
#include "fuzz_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The lock timeout of a fuzzed board, in milliseconds. */
#define FUZZ_LOCK_TIMEOUT_MS 5

static void die(const char *what, const char *name)
{
  fprintf(stderr, "fuzz: %s %s: %s\n", what, name, strerror(errno));
  abort();
}

void fuzz_name(char *out, size_t size, const char *target)
{
  snprintf(out, size, "rlbfuzz-%s-%ld", target, (long)getpid());
}

void fuzz_write_segment(const char *name, const void *data, size_t size)
{
  char path[128];
  const uint8_t *p = data;
  int fd;

  snprintf(path, sizeof(path), "/%s", name);
  shm_unlink(path);
  fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    die("shm_open", path);
  while (size > 0) {
    ssize_t n = write(fd, p, size);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      die("write", path);
    p += n;
    size -= (size_t)n;
  }
  close(fd);
}

uint8_t *fuzz_read_segment(const char *name, size_t *size)
{
  char path[128];
  struct stat st;
  uint8_t *data;
  size_t done = 0;
  int fd;

  snprintf(path, sizeof(path), "/%s", name);
  fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0 || fstat(fd, &st) != 0)
    die("open", path);
  data = malloc((size_t)st.st_size);
  if (data == NULL)
    die("malloc for", path);
  while (done < (size_t)st.st_size) {
    ssize_t n = pread(fd, data + done, (size_t)st.st_size - done, (off_t)done);

    if (n <= 0)
      die("read", path);
    done += (size_t)n;
  }
  close(fd);
  *size = done;
  return data;
}

rlb_board *fuzz_make_board(const char *name, uint32_t capacity)
{
  struct timespec pause = {0, 5000000};
  char id[RLB_ID_LEN + 1];
  rlb_options opts;
  rlb_board *board;
  int rc;

  rlb_unlink(name);
  rlb_options_init(&opts);
  opts.flags = RLB_CREATE | RLB_EXCLUSIVE;
  opts.capacity = capacity;
  rc = rlb_open(&board, name, &opts);
  if (rc == 0)
    rc = rlb_record(board, "E101", 600, "job-1", "model-a", NULL);
  if (rc == 0)
    rc = rlb_record(board, "E102", 300, "job-2", NULL, NULL);
  if (rc == 0)
    rc = rlb_record(board, "E101", 900, "job-3", "model-b", NULL);
  if (rc == 0)
    rc = rlb_record(board, "E104", 120, "job-4", "model-a", id);
  if (rc == 0)
    rc = rlb_clear_id(board, id);
  if (rc == 0)
    rc = rlb_record(board, "E103", 0.001, "job-5", "model-c", NULL);
  if (rc != 0) {
    fprintf(stderr, "fuzz: making board %s: %s\n", name, rlb_strerror(rc));
    abort();
  }
  /* The last event expires after 0.8 ms. */
  nanosleep(&pause, NULL);
  return board;
}

void fuzz_read_board(rlb_board *board)
{
  static const char *const codes[] = {NULL, "E101", "E102", "E103"};
  static const char *const models[] = {NULL, "model-a", "model-b", NULL};
  rlb_event *events;
  rlb_stats stats;
  double left;
  size_t count, i;

  for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
    rlb_check(board, codes[i], NULL, &left);
    rlb_check(board, NULL, models[i], &left);
    rlb_check(board, codes[i], models[i], &left);
    if (rlb_list(board, codes[i], models[i], &events, &count) == 0)
      rlb_events_free(events);
  }
  rlb_stats_get(board, &stats);
  rlb_wait(board, "E101", NULL, 0, 0);
}

int fuzz_attach(rlb_board **board, const char *name)
{
  rlb_options opts;

  rlb_options_init(&opts);
  opts.flags = 0;
  opts.lock_timeout_ms = FUZZ_LOCK_TIMEOUT_MS;
  return rlb_open(board, name, &opts);
}
