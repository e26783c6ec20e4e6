/*
 * Creation under stress: many processes opening one name at once while the
 * creator is slowed down, a creator killed half-way, a /dev/shm too small
 * for the board, and segments that are not boards of this layout. Each
 * must end in one working board or in the open's own error code, never in
 * a crash, a SIGBUS or an overwritten foreign segment.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "support.h"

#define OPENERS 64

static char name[64];

static void print_violation(void *context, const char *message)
{
  (void)context;
  fprintf(stderr, "violation: %s\n", message);
}

static void setup(void)
{
  test_board_name(name, sizeof(name));
}

static void teardown(void)
{
  test_segment_remove(name);
}

static void shm_file(const char *board, char *out, size_t size)
{
  snprintf(out, size, "/dev/shm/%s", board);
}

static void *shared_area(size_t size)
{
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);

  ck_assert_ptr_ne(p, MAP_FAILED);
  return p;
}

static int wait_child(pid_t pid)
{
  int status;

  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return status;
}

/* ---- concurrent open-or-create ------------------------------------------ */

/* What one opener saw. */
typedef struct opener_result {
  int open_rc;
  int record_rc;
  ino_t ino;
  uint64_t board_id;
} opener_result;

/* Waits for the gate to open, then opens (creating) and records once. */
static void opener(int gate, opener_result *out)
{
  rlb_board *b = NULL;
  struct stat st;
  rlb_stats stats;
  char job[32];
  char c;

  while (read(gate, &c, 1) < 0 && errno == EINTR)
    ;
  out->open_rc = rlb_open(&b, name, NULL);
  if (out->open_rc != 0)
    _exit(1);
  if (fstat(b->fd, &st) == 0)
    out->ino = st.st_ino;
  rlb_stats_get(b, &stats);
  out->board_id = stats.board_id;
  snprintf(job, sizeof(job), "job-%ld", (long)getpid());
  out->record_rc = rlb_record(b, "E101", 600, job, NULL, NULL);
  rlb_close(b);
  _exit(0);
}

/* Starts n openers behind a closed gate and returns after all exited. */
static void run_openers(opener_result *results, int n, const char *env)
{
  pid_t pids[OPENERS];
  int gate[2], i;

  ck_assert_int_eq(pipe(gate), 0);
  for (i = 0; i < n; i++) {
    pids[i] = fork();
    ck_assert_int_ge(pids[i], 0);
    if (pids[i] == 0) {
      close(gate[1]);
      if (env != NULL) {
        setenv("RLB_DELAY_POINT", env, 1);
        setenv("RLB_DELAY_MS", "200", 1);
      }
      opener(gate[0], &results[i]);
    }
  }
  close(gate[0]);
  close(gate[1]); /* every opener's read() returns now */
  for (i = 0; i < n; i++) {
    int status = wait_child(pids[i]);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "opener %d failed: %s", i, rlb_strerror(results[i].open_rc));
  }
}

/* Checks that every opener attached to one board that contains n
 * records. */
static void assert_one_board(const opener_result *results, int n)
{
  char path[128];
  struct stat st;
  rlb_board *b = NULL;
  rlb_stats stats;
  int i;

  shm_file(name, path, sizeof(path));
  ck_assert_int_eq(stat(path, &st), 0);
  for (i = 0; i < n; i++) {
    ck_assert_int_eq(results[i].record_rc, 0);
    ck_assert_msg(results[i].ino == st.st_ino,
                  "opener %d attached to inode %lu, the name has %lu", i,
                  (unsigned long)results[i].ino, (unsigned long)st.st_ino);
    ck_assert_msg(results[i].board_id == results[0].board_id,
                  "opener %d saw board id %llx, opener 0 saw %llx", i,
                  (unsigned long long)results[i].board_id,
                  (unsigned long long)results[0].board_id);
  }

  /* A second initialization would have wiped records made before it. */
  ck_assert_int_eq(rlb_open(&b, name, NULL), 0);
  ck_assert_int_eq(rlb_stats_get(b, &stats), 0);
  ck_assert_uint_eq(stats.board_id, results[0].board_id);
  ck_assert_uint_eq(stats.records, (uint64_t)n);
  ck_assert_uint_eq(stats.stored, (uint32_t)n);
  ck_assert_int_eq(rlb_verify(b, print_violation, NULL), 0);
  rlb_close(b);
}

START_TEST(test_create_concurrent_single_init)
{
  opener_result *results = shared_area(OPENERS * sizeof(opener_result));

  run_openers(results, OPENERS, "init");
  assert_one_board(results, OPENERS);
  munmap(results, OPENERS * sizeof(opener_result));
}
END_TEST

/* ---- a creator that dies ------------------------------------------------ */

/* Opens name with RLB_CREATE and dies at the "init" kill point, after
 * holding the creation lock for delay_ms when that is not NULL. Runs in a
 * child process and never returns. */
static void killed_creator(const char *delay_ms)
{
  rlb_board *b;

  setenv("RLB_KILL_POINT", "init", 1);
  if (delay_ms != NULL) {
    setenv("RLB_DELAY_POINT", "init", 1);
    setenv("RLB_DELAY_MS", delay_ms, 1);
  }
  rlb_open(&b, name, NULL);
  _exit(20);
}

static void assert_killed(int status)
{
  ck_assert_msg(WIFSIGNALED(status),
                "creator exited with %d instead of "
                "dying",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  ck_assert_int_eq(WTERMSIG(status), SIGKILL);
}

/* Returns 1 while some process holds the creation lock of name. */
static int creation_locked(void)
{
  char path[128];
  int fd, locked;

  shm_file(name, path, sizeof(path));
  fd = open(path, O_RDONLY);
  if (fd < 0)
    return 0;
  locked = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);
  return locked;
}

START_TEST(test_create_killed_creator_reinitialized)
{
  rlb_options opts;
  rlb_board *b = NULL;
  char path[128];
  struct stat st;
  double left;

  pid_t pid = fork();

  ck_assert_int_ge(pid, 0);
  if (pid == 0)
    killed_creator(NULL);
  assert_killed(wait_child(pid));
  shm_file(name, path, sizeof(path));
  ck_assert_int_eq(stat(path, &st), 0);

  /* An open without RLB_CREATE does not finish the creation. */
  rlb_options_init(&opts);
  opts.flags = 0;
  ck_assert_int_eq(rlb_open(&b, name, &opts), RLB_ENOTREADY);
  ck_assert_ptr_null(b);

  ck_assert_int_eq(rlb_open(&b, name, NULL), 0);
  ck_assert_int_eq(rlb_record(b, "E101", 60, "job-1", NULL, NULL), 0);
  ck_assert_int_eq(rlb_check(b, "E101", NULL, &left), 1);
  ck_assert_int_eq(rlb_verify(b, print_violation, NULL), 0);
  rlb_close(b);
}
END_TEST

/* The creator dies while openers wait for it; one of them initializes. */
START_TEST(test_create_killed_creator_with_waiters)
{
  opener_result *results = shared_area(8 * sizeof(opener_result));
  pid_t creator = fork();

  ck_assert_int_ge(creator, 0);
  if (creator == 0)
    killed_creator("300");
  /* The creator holds the creation lock for 300 ms before it dies; the
   * openers start while it holds it. */
  while (!creation_locked())
    test_sleep_ms(1);
  run_openers(results, 8, NULL);
  assert_killed(wait_child(creator));
  assert_one_board(results, 8);
  munmap(results, 8 * sizeof(opener_result));
}
END_TEST

/* ---- /dev/shm too small ------------------------------------------------- */

/* Exit codes of the child of the no-space test. */
enum {
  SPACE_OK = 0,
  SPACE_SMALL_FAILED = 2,
  SPACE_BIG_NOT_ENOSPC = 3,
  SPACE_NAME_LEFT = 4,
  SPACE_SMALL_BROKEN = 5,
  SPACE_SKIP = 77
};

static int count_entries(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;

  if (d == NULL)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

/* Runs in a mount namespace of its own with a 256 KiB /dev/shm. */
static int no_space_child(void)
{
  char small_name[80], big_name[80];
  rlb_board *small = NULL, *big = NULL;
  rlb_options opts;
  double left;
  int rc;

  if (unshare(CLONE_NEWNS) != 0 ||
      mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
      mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=256k") !=
          0)
    return SPACE_SKIP;

  snprintf(small_name, sizeof(small_name), "%s-small", name);
  snprintf(big_name, sizeof(big_name), "%s-big", name);
  rlb_options_init(&opts);
  opts.capacity = 64;
  if (rlb_open(&small, small_name, &opts) != 0 ||
      rlb_record(small, "E101", 60, "job-1", NULL, NULL) != 0)
    return SPACE_SMALL_FAILED;

  opts.capacity = 65536;
  rc = rlb_open(&big, big_name, &opts);
  if (rc != -ENOSPC)
    return SPACE_BIG_NOT_ENOSPC;
  if (count_entries("/dev/shm") != 1)
    return SPACE_NAME_LEFT;

  if (rlb_record(small, "E102", 60, "job-2", NULL, NULL) != 0 ||
      rlb_check(small, "E102", NULL, &left) != 1 ||
      rlb_verify(small, NULL, NULL) != 0)
    return SPACE_SMALL_BROKEN;
  return SPACE_OK;
}

START_TEST(test_create_no_space_fails_cleanly)
{
  pid_t pid = fork();
  int status;

  ck_assert_int_ge(pid, 0);
  if (pid == 0)
    _exit(no_space_child());
  status = wait_child(pid);
  ck_assert_msg(!WIFSIGNALED(status), "the process died by signal %d",
                WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  if (WEXITSTATUS(status) == SPACE_SKIP) {
    printf("skipped: test_create_no_space_fails_cleanly needs "
           "unshare(CLONE_NEWNS) and mount (root)\n");
    return;
  }
  ck_assert_msg(WEXITSTATUS(status) != SPACE_SMALL_FAILED,
                "a 64-event board did not fit a 256 KiB /dev/shm");
  ck_assert_msg(WEXITSTATUS(status) != SPACE_BIG_NOT_ENOSPC,
                "a 65536-event board did not fail with ENOSPC");
  ck_assert_msg(WEXITSTATUS(status) != SPACE_NAME_LEFT,
                "the failed create left a name in /dev/shm");
  ck_assert_msg(WEXITSTATUS(status) != SPACE_SMALL_BROKEN,
                "the board that fitted stopped working");
  ck_assert_int_eq(WEXITSTATUS(status), SPACE_OK);
}
END_TEST

/* ---- segments that are not boards of this layout ------------------------ */

/* How a layout case builds its segment from a valid board's bytes. */
typedef enum segment_kind {
  SEG_HEADER, /* the template with one header field changed */
  SEG_SIZE,   /* the template cut or extended to a size */
  SEG_RANDOM, /* random bytes */
  SEG_ZERO    /* zero bytes */
} segment_kind;

typedef struct layout_case {
  const char *label;
  segment_kind kind;
  void (*mutate)(rlb_header *h);
  long size;     /* SEG_SIZE, SEG_RANDOM, SEG_ZERO; < 0 is relative to the
                    template's size */
  int open_rc;   /* without RLB_CREATE */
  int create_rc; /* with RLB_CREATE */
} layout_case;

static void set_version(rlb_header *h)
{
  h->layout_version = RLB_LAYOUT_VERSION + 1;
}

/* A board of another layout that keeps its ready word elsewhere, or whose
 * creator has not finished. */
static void set_version_unready(rlb_header *h)
{
  h->layout_version = RLB_LAYOUT_VERSION + 1;
  h->ready = RLB_READY_NO;
}

static void set_slot_size(rlb_header *h)
{
  h->slot_size = 128;
}

static void set_entry_size(rlb_header *h)
{
  h->entry_size = 48;
}

static void set_header_size(rlb_header *h)
{
  h->header_size = 512;
}

static void set_mutex_size(rlb_header *h)
{
  h->mutex_size = h->mutex_size + 8;
}

static void set_pointer_size(rlb_header *h)
{
  h->pointer_size = 4;
}

static void set_capacity(rlb_header *h)
{
  h->capacity = h->capacity * 2;
}

static void set_capacity_zero(rlb_header *h)
{
  h->capacity = 0;
}

static void set_index_size(rlb_header *h)
{
  h->index_size = h->index_size / 2;
}

static void set_slots_offset(rlb_header *h)
{
  h->slots_offset += 64;
}

static void set_ttl_nan(rlb_header *h)
{
  h->ttl_factor = 0.0 / 0.0;
}

static void set_magic(rlb_header *h)
{
  h->magic ^= 0xff;
}

/* A creator that died after writing the header and before the ready word. */
static void set_unready(rlb_header *h)
{
  h->ready = RLB_READY_NO;
}

static const layout_case layout_cases[] = {
    {"layout version", SEG_HEADER, set_version, 0, RLB_ELAYOUT, RLB_ELAYOUT},
    {"layout version, not ready", SEG_HEADER, set_version_unready, 0,
     RLB_ELAYOUT, RLB_ELAYOUT},
    {"slot size", SEG_HEADER, set_slot_size, 0, RLB_ELAYOUT, RLB_ELAYOUT},
    {"entry size", SEG_HEADER, set_entry_size, 0, RLB_ELAYOUT, RLB_ELAYOUT},
    {"header size", SEG_HEADER, set_header_size, 0, RLB_ELAYOUT, RLB_ELAYOUT},
    {"mutex size", SEG_HEADER, set_mutex_size, 0, RLB_ELAYOUT, RLB_ELAYOUT},
    {"pointer size", SEG_HEADER, set_pointer_size, 0, RLB_ELAYOUT, RLB_ELAYOUT},
    {"capacity", SEG_HEADER, set_capacity, 0, RLB_ECORRUPT, RLB_ECORRUPT},
    {"capacity zero", SEG_HEADER, set_capacity_zero, 0, RLB_ECORRUPT,
     RLB_ECORRUPT},
    {"index size", SEG_HEADER, set_index_size, 0, RLB_ECORRUPT, RLB_ECORRUPT},
    {"slots offset", SEG_HEADER, set_slots_offset, 0, RLB_ECORRUPT,
     RLB_ECORRUPT},
    {"TTL factor NaN", SEG_HEADER, set_ttl_nan, 0, RLB_ECORRUPT, RLB_ECORRUPT},
    {"magic", SEG_HEADER, set_magic, 0, RLB_ENOTBOARD, RLB_ENOTBOARD},
    {"truncated to half", SEG_SIZE, NULL, -2, RLB_ECORRUPT, RLB_ECORRUPT},
    {"truncated inside the header", SEG_SIZE, NULL, 100, RLB_ECORRUPT,
     RLB_ECORRUPT},
    {"extended by a page", SEG_SIZE, NULL, -1, RLB_ECORRUPT, RLB_ECORRUPT},
    {"random page", SEG_RANDOM, NULL, 4096, RLB_ENOTBOARD, RLB_ENOTBOARD},
    {"random, board size", SEG_RANDOM, NULL, -1, RLB_ENOTBOARD, RLB_ENOTBOARD},
    {"random, 10 bytes", SEG_RANDOM, NULL, 10, RLB_ECORRUPT, RLB_ECORRUPT},
    /* What a creator leaves when it dies before it formats the segment:
     * an open without RLB_CREATE does not finish it, and one with
     * RLB_CREATE initializes it. */
    {"zero length", SEG_ZERO, NULL, 0, RLB_ENOTREADY, 0},
    {"all zero", SEG_ZERO, NULL, 4096, RLB_ENOTREADY, 0},
    {"header without ready word", SEG_HEADER, set_unready, 0, RLB_ENOTREADY, 0},
};

/* Returns the bytes of a freshly created 8-event board in *size. */
static unsigned char *template_segment(size_t *size)
{
  char tname[80], path[128];
  rlb_options opts;
  rlb_board *b;
  unsigned char *bytes;
  struct stat st;
  int fd;

  snprintf(tname, sizeof(tname), "%s-template", name);
  rlb_options_init(&opts);
  opts.capacity = 8;
  ck_assert_int_eq(rlb_open(&b, tname, &opts), 0);
  rlb_close(b);
  shm_file(tname, path, sizeof(path));
  fd = open(path, O_RDONLY);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(fstat(fd, &st), 0);
  *size = (size_t)st.st_size;
  bytes = malloc(*size + 4096);
  ck_assert_ptr_nonnull(bytes);
  memset(bytes, 0, *size + 4096);
  ck_assert_int_eq(pread(fd, bytes, *size, 0), (ssize_t)*size);
  close(fd);
  test_segment_remove(tname);
  return bytes;
}

/* Builds the case's segment bytes; returns them and their size. */
static unsigned char *case_bytes(const layout_case *lc, size_t *size)
{
  size_t template_size;
  unsigned char *bytes = template_segment(&template_size);
  size_t i;

  if (lc->size == -2)
    *size = template_size / 2;
  else if (lc->size == -1)
    *size = template_size + (lc->kind == SEG_SIZE ? 4096 : 0);
  else if (lc->kind == SEG_HEADER)
    *size = template_size;
  else
    *size = (size_t)lc->size;
  if (lc->kind == SEG_HEADER)
    lc->mutate((rlb_header *)bytes);
  if (lc->kind == SEG_RANDOM) {
    srandom(12345);
    for (i = 0; i < *size; i++)
      bytes[i] = (unsigned char)random();
  }
  if (lc->kind == SEG_ZERO)
    memset(bytes, 0, *size);
  return bytes;
}

/* Writes bytes as the whole content of the segment called name. */
static void write_segment(const unsigned char *bytes, size_t size)
{
  char path[128];
  int fd;

  snprintf(path, sizeof(path), "/%s", name);
  fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
  if (size > 0)
    ck_assert_int_eq(pwrite(fd, bytes, size, 0), (ssize_t)size);
  close(fd);
}

/* Returns 1 when the segment still contains exactly bytes. */
static int segment_unchanged(const unsigned char *bytes, size_t size)
{
  char path[128];
  unsigned char *now;
  struct stat st;
  int fd, same;

  shm_file(name, path, sizeof(path));
  fd = open(path, O_RDONLY);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(fstat(fd, &st), 0);
  if ((size_t)st.st_size != size) {
    close(fd);
    return 0;
  }
  now = malloc(size + 1);
  ck_assert_ptr_nonnull(now);
  ck_assert_int_eq(pread(fd, now, size, 0), (ssize_t)size);
  same = size == 0 || memcmp(now, bytes, size) == 0;
  free(now);
  close(fd);
  return same;
}

START_TEST(test_layout_foreign_segment_rejected)
{
  const layout_case *lc = &layout_cases[_i];
  rlb_board *b = NULL;
  rlb_options opts;
  unsigned char *bytes;
  size_t size;
  int rc;

  bytes = case_bytes(lc, &size);
  write_segment(bytes, size);

  rlb_options_init(&opts);
  opts.flags = 0;
  rc = rlb_open(&b, name, &opts);
  ck_assert_msg(rc == lc->open_rc, "%s: open returned %s, expected %s",
                lc->label, rlb_error_name(rc), rlb_error_name(lc->open_rc));
  ck_assert_msg(segment_unchanged(bytes, size), "%s: open changed it",
                lc->label);

  rlb_options_init(&opts);
  opts.capacity = 8;
  rc = rlb_open(&b, name, &opts);
  ck_assert_msg(rc == lc->create_rc,
                "%s: open with RLB_CREATE returned %s, expected %s", lc->label,
                rlb_error_name(rc), rlb_error_name(lc->create_rc));
  if (lc->create_rc != 0) {
    ck_assert_ptr_null(b);
    ck_assert_msg(segment_unchanged(bytes, size),
                  "%s: open with RLB_CREATE overwrote it", lc->label);
  } else {
    ck_assert_int_eq(rlb_record(b, "E101", 60, "job-1", NULL, NULL), 0);
    ck_assert_int_eq(rlb_verify(b, print_violation, NULL), 0);
    rlb_close(b);
  }
  free(bytes);
}
END_TEST

static Suite *make_create_suite(void)
{
  Suite *s = suite_create("create");
  TCase *race = tcase_create("race");
  TCase *space = tcase_create("space");
  TCase *layout = tcase_create("layout");

  tcase_add_checked_fixture(race, setup, teardown);
  tcase_add_test(race, test_create_concurrent_single_init);
  tcase_add_test(race, test_create_killed_creator_reinitialized);
  tcase_add_test(race, test_create_killed_creator_with_waiters);
  tcase_set_timeout(race, 60);
  suite_add_tcase(s, race);

  tcase_add_checked_fixture(space, setup, teardown);
  tcase_add_test(space, test_create_no_space_fails_cleanly);
  tcase_set_timeout(space, 30);
  suite_add_tcase(s, space);

  tcase_add_checked_fixture(layout, setup, teardown);
  tcase_add_loop_test(layout, test_layout_foreign_segment_rejected, 0,
                      (int)(sizeof(layout_cases) / sizeof(layout_cases[0])));
  tcase_set_timeout(layout, 30);
  suite_add_tcase(s, layout);
  return s;
}

int main(void)
{
  SRunner *runner = srunner_create(make_create_suite());
  int failed;

  srunner_run_all(runner, CK_ENV);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
