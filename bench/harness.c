/*
 * The timing harness of rlboard-bench and its cleanup registry.
 *
 * An operation is timed in batches of n calls with clock_gettime() around
 * each batch, so the clock's own cost is spread over the batch. The result
 * is the median over the batches of batch time / n, which ignores the
 * batches that a preemption or a page fault happened to hit.
 *
 * Every board, temporary file and child process the program makes is
 * registered here before it exists, so that a normal exit and SIGINT,
 * SIGTERM or SIGHUP both remove it. The signal handler uses only
 * async-signal-safe calls (shm_unlink, unlink, rmdir, kill, _exit) on
 * strings prepared in advance.
 */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "rlboard.h"

#define BENCH_MAX_BOARDS 32
#define BENCH_MAX_FILES 32
#define BENCH_MAX_CHILDREN 8
#define BENCH_PATH_MAX 4096

/* Calibration stops doubling once a batch takes this long. */
#define BENCH_CALIBRATION_NS 1000000

static char board_names[BENCH_MAX_BOARDS][RLB_NAME_MAX + 2];
static char file_paths[BENCH_MAX_FILES][BENCH_PATH_MAX];
static volatile sig_atomic_t file_count;
static volatile pid_t children[BENCH_MAX_CHILDREN];
static char temp_dir[BENCH_PATH_MAX];
static pid_t main_pid;
static unsigned board_counter;

int64_t bench_now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t bench_wall_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void bench_error(const char *fmt, ...)
{
  va_list ap;

  fputs("rlboard-bench: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static int compare_doubles(const void *a, const void *b)
{
  double x = *(const double *)a;
  double y = *(const double *)b;

  return (x > y) - (x < y);
}

double bench_median(double *values, size_t n)
{
  qsort(values, n, sizeof(*values), compare_doubles);
  if (n % 2 == 1)
    return values[n / 2];
  return (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

/* Runs one batch of n calls and stores its duration in *elapsed_ns. */
static int run_batch(const bench_op *op, long n, int64_t *elapsed_ns)
{
  int64_t start;

  if (op->prepare != NULL && op->prepare(op->context) != 0)
    return -1;
  start = bench_now_ns();
  if (op->run(op->context, n) != 0)
    return -1;
  *elapsed_ns = bench_now_ns() - start;
  return 0;
}

static long clamp_calls(const bench_op *op, double n)
{
  if (n < 1.0)
    n = 1.0;
  if (op->max_calls > 0 && n > (double)op->max_calls)
    n = (double)op->max_calls;
  return (long)n;
}

/* Finds the batch size that takes about plan->batch_ns. The batches run
 * here also warm the caches, the branch predictors and the page tables. */
static int calibrate(const bench_op *op, const bench_plan *plan, long *calls)
{
  long n = 1;
  int64_t elapsed = 0;

  for (;;) {
    if (run_batch(op, n, &elapsed) != 0)
      return -1;
    if (elapsed >= BENCH_CALIBRATION_NS)
      break;
    if (op->max_calls > 0 && n >= op->max_calls)
      break;
    n = clamp_calls(op, (double)n * 2.0);
  }
  if (elapsed < 1)
    elapsed = 1;
  *calls =
      clamp_calls(op, (double)n * (double)plan->batch_ns / (double)elapsed);
  return 0;
}

int bench_measure_group(const bench_op *ops, int count, const bench_plan *plan,
                        double *ns_per_call)
{
  double *times;
  int64_t elapsed;
  long *calls;
  int status = -1;
  int i;
  int j;

  times = calloc((size_t)count * (size_t)plan->batches, sizeof(*times));
  calls = calloc((size_t)count, sizeof(*calls));
  if (times == NULL || calls == NULL) {
    bench_error("out of memory while timing %s", ops[0].name);
    goto out;
  }
  for (j = 0; j < count; j++) {
    if (calibrate(&ops[j], plan, &calls[j]) != 0 ||
        run_batch(&ops[j], calls[j], &elapsed) != 0)
      goto out;
  }

  /* Batch i of every operation runs before batch i + 1 of any, so that a
   * change in the machine's load shifts all of them alike. */
  for (i = 0; i < plan->batches; i++) {
    for (j = 0; j < count; j++) {
      if (run_batch(&ops[j], calls[j], &elapsed) != 0)
        goto out;
      times[j * plan->batches + i] = (double)elapsed / (double)calls[j];
    }
  }
  for (j = 0; j < count; j++)
    ns_per_call[j] =
        bench_median(times + j * plan->batches, (size_t)plan->batches);
  status = 0;

out:
  free(times);
  free(calls);
  return status;
}

int bench_measure(const bench_op *op, const bench_plan *plan,
                  double *ns_per_call)
{
  return bench_measure_group(op, 1, plan, ns_per_call);
}

static void remove_files(void)
{
  int i;

  for (i = 0; i < file_count && i < BENCH_MAX_FILES; i++)
    unlink(file_paths[i]);
  if (temp_dir[0] != '\0')
    rmdir(temp_dir);
}

static void remove_boards(void)
{
  int i;

  for (i = 0; i < BENCH_MAX_BOARDS; i++) {
    if (board_names[i][0] != '\0') {
      shm_unlink(board_names[i]);
      board_names[i][0] = '\0';
    }
  }
}

static void handle_signal(int signo)
{
  int i;

  /* A child that has not reset its handlers yet leaves cleanup to the
   * parent. */
  if (getpid() != main_pid)
    _exit(128 + signo);
  for (i = 0; i < BENCH_MAX_CHILDREN; i++) {
    if (children[i] > 0)
      kill(children[i], SIGKILL);
  }
  remove_boards();
  remove_files();
  _exit(128 + signo);
}

int bench_cleanup_init(const char *parent)
{
  static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction sa;
  size_t i;

  main_pid = getpid();
  if (snprintf(temp_dir, sizeof(temp_dir), "%s/rlboard-bench-XXXXXX", parent) >=
      (int)sizeof(temp_dir)) {
    bench_error("temporary directory parent %s: path too long", parent);
    temp_dir[0] = '\0';
    return -1;
  }
  if (mkdtemp(temp_dir) == NULL) {
    bench_error("creating a temporary directory in %s failed: %s", parent,
                strerror(errno));
    temp_dir[0] = '\0';
    return -1;
  }

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = handle_signal;
  sigemptyset(&sa.sa_mask);
  for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
    sigaddset(&sa.sa_mask, signals[i]);
  for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
    sigaction(signals[i], &sa, NULL);
  return 0;
}

const char *bench_temp_path(const char *name)
{
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  const size_t count = sizeof(suffixes) / sizeof(suffixes[0]);
  int first = file_count;
  size_t i;
  int n;

  if (first + (int)count > BENCH_MAX_FILES) {
    bench_error("too many temporary files");
    return NULL;
  }
  for (i = 0; i < count; i++) {
    n = snprintf(file_paths[first + (int)i], BENCH_PATH_MAX, "%s/%s%s",
                 temp_dir, name, suffixes[i]);
    if (n < 0 || n >= BENCH_PATH_MAX) {
      bench_error("temporary path for %s is too long", name);
      return NULL;
    }
  }

  /* The paths are complete before the handler can see them. */
  atomic_signal_fence(memory_order_seq_cst);
  file_count = first + (int)count;
  return file_paths[first];
}

int bench_board_name(char *out, size_t size)
{
  int i;

  for (i = 0; i < BENCH_MAX_BOARDS; i++) {
    if (board_names[i][0] == '\0')
      break;
  }
  if (i == BENCH_MAX_BOARDS) {
    bench_error("too many boards open at once");
    return -1;
  }
  snprintf(out, size, "rlboard-bench-%ld-%u", (long)getpid(), board_counter++);

  /* The handler may read the entry at any moment, so the name is complete
   * before its first byte makes the entry visible. */
  snprintf(board_names[i] + 1, sizeof(board_names[i]) - 1, "%s", out);
  atomic_signal_fence(memory_order_seq_cst);
  board_names[i][0] = '/';
  return 0;
}

void bench_board_remove(const char *name)
{
  int i;

  for (i = 0; i < BENCH_MAX_BOARDS; i++) {
    if (board_names[i][0] != '\0' && strcmp(board_names[i] + 1, name) == 0) {
      rlb_unlink(name);
      board_names[i][0] = '\0';
    }
  }
}

void bench_child_add(pid_t pid)
{
  int i;

  for (i = 0; i < BENCH_MAX_CHILDREN; i++) {
    if (children[i] == 0) {
      children[i] = pid;
      return;
    }
  }
}

void bench_child_remove(pid_t pid)
{
  int i;

  for (i = 0; i < BENCH_MAX_CHILDREN; i++) {
    if (children[i] == pid)
      children[i] = 0;
  }
}

void bench_child_reset_signals(void)
{
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
}

void bench_cleanup_all(void)
{
  remove_boards();
  remove_files();
}
