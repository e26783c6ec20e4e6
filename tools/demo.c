/*
 * `rlboard demo`: many worker processes share one rate-limited API, once
 * with a board and once without, and the demo prints how many HTTP 429s
 * each run collected per successful request.
 *
 * Without --url the demo serves the API itself: a child process serves HTTP
 * on a loopback port with libmicrohttpd and admits requests through a token
 * bucket. When the bucket is empty it sends 429 with a Retry-After
 * header. The workers are forked processes that run examples/worker.c and
 * add to counters in a MAP_SHARED mapping, which the parent reads for a
 * progress line every second and for the final comparison.
 */
#include "demo.h"
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../examples/worker.h"
#include "rlboard.h"

#define DEMO_EXIT_FAILURE 1
#define DEMO_EXIT_USAGE 64
#define DEMO_EXIT_INTERRUPTED 130

#define DEMO_WORKERS_DEFAULT 8
#define DEMO_WORKERS_MAX 512
#define DEMO_SECONDS_DEFAULT 10.0
#define DEMO_SECONDS_MIN 0.1
#define DEMO_SECONDS_MAX 3600.0
#define DEMO_RATE_MIN 0.1
#define DEMO_RATE_MAX 1e6
#define DEMO_RATE_DEFAULT 20.0
#define DEMO_BURST_DEFAULT 5.0
#define DEMO_MODEL_DEFAULT "demo-model"

/* A worker gives up on one request after this many milliseconds. */
#define DEMO_REQUEST_TIMEOUT_MS 5000

/* Workers still running this long after their run time are killed. */
#define DEMO_GRACE_SECONDS 10.0

/* The pause between the two runs lets the first run's limit pass. It is at
 * least this long, and longer when the last 429s requested more. */
#define DEMO_PAUSE_MIN 1.0
#define DEMO_PAUSE_MAX 60.0

struct demo_options {
  int workers;
  double seconds;
  const char *url;   /* NULL: serve the built-in upstream */
  const char *model; /* model of the recorded events */
  const char *board; /* NULL: a fresh board with a unique name */
  int no_board;
  int json;
  double rate;  /* built-in upstream: requests per second */
  double burst; /* built-in upstream: bucket size in requests */
};

/* The built-in upstream, served by a child process. */
struct upstream {
  pid_t pid;
  char url[64];
};

/* The outcome of one run. */
struct run_result {
  const char *label;
  struct worker_counters *counters; /* in the shared mapping */
  int failed;                       /* a worker failed or was killed */
  rlb_event *events;                /* board run: live events at the end */
  size_t event_count;
};

static volatile sig_atomic_t demo_interrupted;

static double now_seconds(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double seconds)
{
  struct timespec ts;

  if (seconds <= 0)
    return;
  ts.tv_sec = (time_t)seconds;
  ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
  nanosleep(&ts, NULL); /* an interrupting signal ends the sleep early */
}

static uint64_t load(atomic_uint_least64_t *counter)
{
  return atomic_load_explicit(counter, memory_order_relaxed);
}

/* The 429s per success, or NAN when nothing succeeded. */
static double limited_per_success(struct worker_counters *c)
{
  uint64_t successes = load(&c->successes);

  if (successes == 0)
    return NAN;
  return (double)load(&c->rate_limited) / (double)successes;
}

/* The built-in upstream */

/* A token bucket: capacity tokens at most, refilled at rate per second. */
struct bucket {
  pthread_mutex_t lock;
  double rate;
  double capacity;
  double tokens;
  double updated; /* CLOCK_MONOTONIC seconds */
};

/*
 * Takes one token. Returns 1 when a token was taken, else 0 and the whole
 * seconds until the next token in *retry_after, at least 1.
 */
static int bucket_take(struct bucket *b, unsigned *retry_after)
{
  double now = now_seconds();
  int taken = 0;

  pthread_mutex_lock(&b->lock);
  b->tokens += (now - b->updated) * b->rate;
  if (b->tokens > b->capacity)
    b->tokens = b->capacity;
  b->updated = now;

  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
    taken = 1;
  } else {
    double wait = ceil((1.0 - b->tokens) / b->rate);

    *retry_after = wait < 1.0 ? 1 : (unsigned)wait;
  }
  pthread_mutex_unlock(&b->lock);
  return taken;
}

/* Responds to every request: 200 while the bucket has a token, else 429. */
static enum MHD_Result
answer_request(void *context, struct MHD_Connection *connection,
               const char *url, const char *method, const char *version,
               const char *upload_data, size_t *upload_data_size,
               void **request_state)
{
  static char ok_body[] = "ok\n";
  static char limited_body[] = "rate limited\n";
  struct bucket *bucket = context;
  struct MHD_Response *response;
  enum MHD_Result result;
  unsigned retry_after = 1;
  char value[16];
  int admitted;

  (void)url;
  (void)method;
  (void)version;
  (void)upload_data;
  (void)upload_data_size;
  (void)request_state;

  admitted = bucket_take(bucket, &retry_after);
  if (admitted) {
    response = MHD_create_response_from_buffer(sizeof(ok_body) - 1, ok_body,
                                               MHD_RESPMEM_PERSISTENT);
  } else {
    response = MHD_create_response_from_buffer(
        sizeof(limited_body) - 1, limited_body, MHD_RESPMEM_PERSISTENT);
  }
  if (response == NULL)
    return MHD_NO;

  if (!admitted) {
    snprintf(value, sizeof(value), "%u", retry_after);
    MHD_add_response_header(response, "Retry-After", value);
  }
  result = MHD_queue_response(connection, admitted ? 200 : 429, response);
  MHD_destroy_response(response);
  return result;
}

/*
 * The upstream child: serves the listening socket until SIGTERM or SIGINT
 * arrives, or until the parent dies.
 */
static void serve_upstream(int listen_fd, double rate, double burst)
{
  struct bucket bucket;
  struct MHD_Daemon *daemon;
  sigset_t stop_signals;
  int signal_number;

  /* Blocked before the server thread starts, so that it inherits the mask
   * and sigwait() below receives the signals. */
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, NULL);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGPIPE, SIG_IGN);

  pthread_mutex_init(&bucket.lock, NULL);
  bucket.rate = rate;
  bucket.capacity = burst;
  bucket.tokens = burst;
  bucket.updated = now_seconds();

  daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL,
                            answer_request, &bucket, MHD_OPTION_LISTEN_SOCKET,
                            listen_fd, MHD_OPTION_END);
  if (daemon == NULL) {
    fprintf(stderr, "rlboard demo: failed to start the upstream server "
                    "(libmicrohttpd)\n");
    _exit(DEMO_EXIT_FAILURE);
  }

  sigwait(&stop_signals, &signal_number);
  MHD_stop_daemon(daemon);
  _exit(0);
}

/* Opens a listening TCP socket on 127.0.0.1 and an ephemeral port. */
static int listen_loopback(unsigned *port)
{
  struct sockaddr_in address;
  socklen_t length = sizeof(address);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return -1;

  memset(&address, 0, sizeof(address));
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
      listen(fd, 128) != 0 ||
      getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(address.sin_port);
  return fd;
}

static int upstream_start(struct upstream *u, double rate, double burst)
{
  unsigned port;
  int fd = listen_loopback(&port);

  if (fd < 0) {
    fprintf(stderr, "rlboard demo: failed to listen on 127.0.0.1: %s\n",
            strerror(errno));
    return -1;
  }

  u->pid = fork();
  if (u->pid < 0) {
    fprintf(stderr, "rlboard demo: fork failed: %s\n", strerror(errno));
    close(fd);
    return -1;
  }
  if (u->pid == 0)
    serve_upstream(fd, rate, burst);

  /* The socket already listens, so workers may connect before the child
   * calls accept(): the kernel queues their connections. */
  close(fd);
  snprintf(u->url, sizeof(u->url), "http://127.0.0.1:%u/v1/complete", port);
  return 0;
}

static void upstream_stop(struct upstream *u)
{
  if (u->pid <= 0)
    return;
  kill(u->pid, SIGTERM);
  waitpid(u->pid, NULL, 0);
  u->pid = 0;
}

/* Returns 1 when the upstream child has exited, reaping it. */
static int upstream_exited(struct upstream *u)
{
  if (u->pid <= 0)
    return 0;
  if (waitpid(u->pid, NULL, WNOHANG) != u->pid)
    return 0;
  u->pid = 0;
  return 1;
}

/* Boards */

/* Creates a board under a name that no other board has. */
static int board_create_unique(rlb_board **board, char *name, size_t size)
{
  rlb_options options;
  int rc = -EEXIST;

  rlb_options_init(&options);
  options.flags = RLB_CREATE | RLB_EXCLUSIVE;
  for (int attempt = 0; attempt < 8 && rc == -EEXIST; attempt++) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(name, size, "rlboard-demo-%ld-%lx", (long)getpid(),
             (unsigned long)ts.tv_nsec ^ (unsigned long)attempt);
    rc = rlb_open(board, name, &options);
  }
  return rc;
}

/* Workers and runs */

static pid_t spawn_worker(const struct demo_options *o, const char *url,
                          const char *board, int index,
                          struct worker_counters *counters)
{
  pid_t pid = fork();
  char job[64];
  struct worker_options options;

  if (pid != 0)
    return pid;

  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  snprintf(job, sizeof(job), "demo-worker-%d", index);
  options.url = url;
  options.board = board;
  options.model = o->model;
  options.job = job;
  options.seconds = o->seconds;
  options.timeout_ms = DEMO_REQUEST_TIMEOUT_MS;
  _exit(worker_run(&options, counters) < 0 ? DEMO_EXIT_FAILURE : 0);
}

static void print_progress(const struct run_result *r, double elapsed,
                           rlb_board *board)
{
  struct worker_counters *c = r->counters;
  rlb_stats stats;

  fprintf(stderr,
          "%-13s %4.0f s: %" PRIu64 " requests, %" PRIu64 " successes, %" PRIu64
          " 429s",
          r->label, elapsed, load(&c->requests), load(&c->successes),
          load(&c->rate_limited));
  if (board != NULL && rlb_stats_get(board, &stats) == 0)
    fprintf(stderr, ", %" PRIu32 " live event%s", stats.live,
            stats.live == 1 ? "" : "s");
  fputc('\n', stderr);
}

/* Sends SIGKILL to every worker still running. */
static void kill_workers(const pid_t *pids, int count)
{
  for (int i = 0; i < count; i++) {
    if (pids[i] > 0)
      kill(pids[i], SIGKILL);
  }
}

/* Reaps exited workers and returns how many are still running. A worker
 * that failed or died by a signal marks the run failed. */
static int reap_workers(pid_t *pids, int count, struct run_result *r,
                        int options)
{
  int running = 0;

  for (int i = 0; i < count; i++) {
    int status;

    if (pids[i] <= 0)
      continue;
    if (waitpid(pids[i], &status, options) != pids[i]) {
      running++;
      continue;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      r->failed = 1;
    pids[i] = 0;
  }
  return running;
}

/*
 * Forks the workers, prints progress every second while they run and
 * waits for them. Returns 0, or -1 when interrupted or the upstream died.
 */
static int run_workers(const struct demo_options *o, const char *url,
                       const char *board_name, rlb_board *board,
                       struct upstream *upstream, struct run_result *r)
{
  pid_t *pids = calloc((size_t)o->workers, sizeof(*pids));
  double start = now_seconds();
  double next_tick = start + 1.0;
  int rc = 0;

  if (pids == NULL)
    return -1;
  for (int i = 0; i < o->workers; i++) {
    pids[i] = spawn_worker(o, url, board_name, i, r->counters);
    if (pids[i] < 0) {
      fprintf(stderr, "rlboard demo: fork failed: %s\n", strerror(errno));
      r->failed = 1;
      pids[i] = 0;
    }
  }

  while (reap_workers(pids, o->workers, r, WNOHANG) > 0) {
    double now = now_seconds();

    if (demo_interrupted || upstream_exited(upstream)) {
      if (!demo_interrupted)
        fprintf(stderr, "rlboard demo: the upstream server exited\n");
      kill_workers(pids, o->workers);
      rc = -1;
      break;
    }
    if (now - start > o->seconds + DEMO_GRACE_SECONDS) {
      fprintf(stderr,
              "rlboard demo: workers still ran %.0f s after the end "
              "of the run and were killed\n",
              DEMO_GRACE_SECONDS);
      kill_workers(pids, o->workers);
      r->failed = 1;
      break;
    }
    if (now >= next_tick) {
      print_progress(r, now - start, board);
      next_tick += 1.0;
    }
    sleep_seconds(0.02);
  }

  reap_workers(pids, o->workers, r, 0);
  free(pids);
  return rc;
}

/*
 * The run with a board: creates it (or opens the one named by --board),
 * runs the workers and keeps the events still live at the end.
 */
static int run_with_board(const struct demo_options *o, const char *url,
                          struct upstream *upstream, struct run_result *r)
{
  char name[RLB_NAME_MAX + 1];
  rlb_board *board = NULL;
  int list_rc;
  int rc;

  if (o->board != NULL) {
    snprintf(name, sizeof(name), "%s", o->board);
    rc = rlb_open(&board, name, NULL);
  } else {
    rc = board_create_unique(&board, name, sizeof(name));
  }
  if (rc < 0) {
    fprintf(stderr, "rlboard demo: failed to open board '%s': %s\n", name,
            rlb_strerror(rc));
    return -1;
  }

  rc = run_workers(o, url, name, board, upstream, r);
  list_rc = rlb_list(board, NULL, NULL, &r->events, &r->event_count);
  if (list_rc < 0) {
    fprintf(stderr,
            "rlboard demo: failed to list the events of board "
            "'%s': %s\n",
            name, rlb_strerror(list_rc));
    r->events = NULL;
    r->event_count = 0;
  }

  rlb_close(board);
  if (o->board == NULL)
    rlb_unlink(name);
  return rc;
}

/* The pause before the run without a board: one full Retry-After of the
 * newest events, so that run does not start inside the first run's limit. */
static double pause_after(const struct run_result *r)
{
  double pause = DEMO_PAUSE_MIN;

  for (size_t i = 0; i < r->event_count; i++) {
    if (r->events[i].duration_seconds > pause)
      pause = r->events[i].duration_seconds;
  }
  return pause > DEMO_PAUSE_MAX ? DEMO_PAUSE_MAX : pause;
}

/* Report */

static void print_ratio_cell(struct worker_counters *c)
{
  double ratio = limited_per_success(c);

  if (isnan(ratio))
    printf("  %14s", "-");
  else
    printf("  %14.3f", ratio);
}

/* Prints one row of the table with one value per run. */
static void print_row(const char *label, const uint64_t *values, int count)
{
  printf("%-20s", label);
  for (int i = 0; i < count; i++)
    printf("  %14" PRIu64, values[i]);
  putchar('\n');
}

static void print_table(const struct demo_options *o, const char *url,
                        const struct run_result *runs, int count)
{
  printf("\nrlboard demo: %d workers, %g s per run, %s\n", o->workers,
         o->seconds, url);
  if (o->url == NULL)
    printf("built-in upstream: %g requests/s, burst %g\n", o->rate, o->burst);

  printf("\n%-20s", "");
  for (int i = 0; i < count; i++)
    printf("  %14s", runs[i].label);
  putchar('\n');
  for (int row = 0; row < 4; row++) {
    static const char *const labels[] = {"requests", "successes", "429s",
                                         "errors"};
    uint64_t values[2] = {0, 0};

    for (int i = 0; i < count; i++) {
      struct worker_counters *c = runs[i].counters;
      atomic_uint_least64_t *fields[] = {&c->requests, &c->successes,
                                         &c->rate_limited, &c->errors};

      values[i] = load(fields[row]);
    }
    print_row(labels[row], values, count);
  }
  printf("%-20s", "429s per success");
  for (int i = 0; i < count; i++)
    print_ratio_cell(runs[i].counters);
  putchar('\n');
}

static void print_reduction(const struct run_result *board,
                            const struct run_result *plain)
{
  double with = limited_per_success(board->counters);
  double without = limited_per_success(plain->counters);

  if (isnan(with) || isnan(without))
    printf("\nA run had no successful request, so the runs cannot be "
           "compared.\n");
  else if (with == 0)
    printf("\nWith the board the workers got no 429 at all (%.3f per "
           "success without it).\n",
           without);
  else
    printf("\nWith the board the workers got %.1f times fewer 429s per "
           "success.\n",
           without / with);
}

static void print_report(const struct demo_options *o, const char *url,
                         const struct run_result *runs, int count)
{
  const struct run_result *board = o->no_board ? NULL : &runs[0];

  print_table(o, url, runs, count);
  if (board == NULL)
    return;
  print_reduction(board, &runs[1]);

  printf("\nLive events on the board at the end of the run with it:\n");
  if (board->event_count == 0)
    printf("(none)\n");
  else
    cli_print_event_table(board->events, board->event_count);
}

static json_t *json_ratio(struct worker_counters *c)
{
  double ratio = limited_per_success(c);

  return isnan(ratio) ? json_null() : json_real(ratio);
}

static json_t *json_run(const struct run_result *r)
{
  struct worker_counters *c = r->counters;

  return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:b}",
                   "requests", (json_int_t)load(&c->requests), "successes",
                   (json_int_t)load(&c->successes), "rate_limited",
                   (json_int_t)load(&c->rate_limited), "errors",
                   (json_int_t)load(&c->errors), "no_retry_after",
                   (json_int_t)load(&c->no_retry_after), "records",
                   (json_int_t)load(&c->records), "waits",
                   (json_int_t)load(&c->waits), "probes",
                   (json_int_t)load(&c->probes), "rate_limited_per_success",
                   json_ratio(c), "failed", r->failed);
}

static json_t *json_event(const rlb_event *e)
{
  char recorded[40];
  char expires[40];

  if (rlb_format_time(e->recorded_at_us, recorded) != 0)
    recorded[0] = '\0';
  if (rlb_format_time(e->expires_at_us, expires) != 0)
    expires[0] = '\0';
  return json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:f, s:f}", "id", e->id,
                   "error_code", e->error_code, "model",
                   e->has_model ? json_string(e->model) : json_null(),
                   "recorded_at", recorded, "expires_at", expires,
                   "source_job_hash", e->source_job_hash, "duration_seconds",
                   e->duration_seconds, "seconds_left", e->seconds_left);
}

/* Prints the comparison as one JSON object on stdout. */
static int print_json(const struct demo_options *o, const char *url,
                      const struct run_result *runs)
{
  json_t *root = json_pack("{s:i, s:f, s:s, s:o}", "workers", o->workers,
                           "seconds", o->seconds, "url", url, "model",
                           o->model ? json_string(o->model) : json_null());
  int rc;

  if (root == NULL)
    return -1;
  if (o->no_board) {
    json_object_set_new(root, "without_board", json_run(&runs[0]));
  } else {
    double with = limited_per_success(runs[0].counters);
    double without = limited_per_success(runs[1].counters);
    json_t *events = json_array();

    json_object_set_new(root, "with_board", json_run(&runs[0]));
    json_object_set_new(root, "without_board", json_run(&runs[1]));
    json_object_set_new(root, "reduction",
                        isnan(with) || isnan(without) || with == 0
                            ? json_null()
                            : json_real(without / with));
    for (size_t i = 0; i < runs[0].event_count; i++)
      json_array_append_new(events, json_event(&runs[0].events[i]));
    json_object_set_new(root, "events", events);
  }

  rc = json_dumpf(root, stdout, JSON_COMPACT);
  putchar('\n');
  json_decref(root);
  return rc;
}

/* Options */

static void usage(FILE *out)
{
  fprintf(out,
          "Usage: rlboard demo [OPTIONS]\n"
          "\n"
          "Runs worker processes against one rate-limited HTTP API, first\n"
          "with a board and then without it, and prints the requests,\n"
          "successes and 429s of both runs and the board's live events.\n"
          "With the board each worker checks it before every request and\n"
          "records each 429; without it each worker sleeps for the\n"
          "Retry-After of its own 429s.\n"
          "\n"
          "Options:\n"
          "  --workers N    worker processes, 1 to %d (default: %d)\n"
          "  --seconds S    length of each run in seconds, %g to %g\n"
          "                 (default: %g)\n"
          "  --url URL      the API to request with GET (default: a\n"
          "                 built-in upstream on 127.0.0.1 and an ephemeral\n"
          "                 port)\n"
          "  --rate R       built-in upstream: requests admitted per second\n"
          "                 (default: %g)\n"
          "  --burst B      built-in upstream: requests admitted at once\n"
          "                 after a pause (default: %g). Other requests get\n"
          "                 429 with Retry-After: the seconds until the next\n"
          "                 admission, at least 1\n"
          "  --model MODEL  model of the recorded events (default: %s)\n"
          "  --board NAME   use this board and keep it (default: a new\n"
          "                 board with a unique name, removed at the end)\n"
          "  --no-board     run only without a board\n"
          "  --json         print the comparison as one JSON object\n"
          "  --help         print this help\n",
          DEMO_WORKERS_MAX, DEMO_WORKERS_DEFAULT, DEMO_SECONDS_MIN,
          DEMO_SECONDS_MAX, DEMO_SECONDS_DEFAULT, DEMO_RATE_DEFAULT,
          DEMO_BURST_DEFAULT, DEMO_MODEL_DEFAULT);
}

/* Parses a number from min to max, and a whole one when whole is set.
 * Prints a message naming the option when the text is not such a number. */
static int parse_number(const char *option, const char *text, double min,
                        double max, int whole, double *value)
{
  char *end;

  errno = 0;
  *value = strtod(text, &end);
  if (errno == 0 && end != text && *end == '\0' && *value >= min &&
      *value <= max && (!whole || *value == floor(*value)))
    return 0;
  fprintf(stderr,
          "rlboard demo: invalid %s '%s': expected a %snumber from %.10g to "
          "%.10g\n",
          option, text, whole ? "whole " : "", min, max);
  return -1;
}

/* Reports an unknown option or a missing value, as getopt_long() found. */
static int option_error(int option, char **argv)
{
  const char *text = argv[optind - 1];

  if (option == ':')
    fprintf(stderr, "rlboard demo: option '%s' requires a value\n", text);
  else
    fprintf(stderr,
            "rlboard demo: unknown option '%s'; run 'rlboard demo --help' "
            "for the options\n",
            text);
  return -1;
}

/* Checks the values that depend on each other or on the library. */
static int check_options(const struct demo_options *o)
{
  if (o->no_board && o->board != NULL) {
    fprintf(stderr, "rlboard demo: --board and --no-board exclude each "
                    "other; give one of them\n");
    return -1;
  }
  if (o->model != NULL &&
      (o->model[0] == '\0' || strlen(o->model) > RLB_MODEL_MAX)) {
    fprintf(stderr,
            "rlboard demo: invalid --model '%s': expected 1 to %d "
            "characters\n",
            o->model, RLB_MODEL_MAX);
    return -1;
  }
  return 0;
}

/* Parses the options into *o. Returns 0, 1 after --help, or -1. */
static int parse_options(int argc, char **argv, struct demo_options *o)
{
  static const struct option long_options[] = {
      {"workers", required_argument, NULL, 'w'},
      {"seconds", required_argument, NULL, 's'},
      {"url", required_argument, NULL, 'u'},
      {"rate", required_argument, NULL, 'r'},
      {"burst", required_argument, NULL, 'B'},
      {"model", required_argument, NULL, 'm'},
      {"board", required_argument, NULL, 'b'},
      {"no-board", no_argument, NULL, 'n'},
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  double workers;
  int option;
  int rc = 0;

  optind = 0; /* glibc: start a new scan */
  opterr = 0;
  while (rc == 0 &&
         (option = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
    switch (option) {
    case 'w':
      rc = parse_number("--workers", optarg, 1, DEMO_WORKERS_MAX, 1, &workers);
      o->workers = (int)workers;
      break;
    case 's':
      rc = parse_number("--seconds", optarg, DEMO_SECONDS_MIN, DEMO_SECONDS_MAX,
                        0, &o->seconds);
      break;
    case 'u':
      if (strncmp(optarg, "http://", 7) != 0 &&
          strncmp(optarg, "https://", 8) != 0) {
        fprintf(stderr,
                "rlboard demo: invalid --url '%s': expected an http:// or "
                "https:// URL\n",
                optarg);
        rc = -1;
      }
      o->url = optarg;
      break;
    case 'r':
      rc = parse_number("--rate", optarg, DEMO_RATE_MIN, DEMO_RATE_MAX, 0,
                        &o->rate);
      break;
    case 'B':
      rc = parse_number("--burst", optarg, 1, DEMO_RATE_MAX, 0, &o->burst);
      break;
    case 'm':
      o->model = optarg;
      break;
    case 'b':
      if (rlb_name_check(optarg) != 0) {
        fprintf(stderr,
                "rlboard demo: invalid --board '%s': expected 1 to %d "
                "characters from A-Z, a-z, 0-9, '.', '_' and '-'\n",
                optarg, RLB_NAME_MAX);
        rc = -1;
      }
      o->board = optarg;
      break;
    case 'n':
      o->no_board = 1;
      break;
    case 'j':
      o->json = 1;
      break;
    case 'h':
      usage(stdout);
      return 1;
    default:
      rc = option_error(option, argv);
      break;
    }
  }
  if (rc != 0)
    return rc;
  if (optind < argc) {
    fprintf(stderr, "rlboard demo: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  return check_options(o);
}

/* Main */

static void on_interrupt(int signal_number)
{
  (void)signal_number;
  demo_interrupted = 1;
}

/* Runs the one or two runs and fills runs[]. Returns 0 or -1. */
static int run_all(const struct demo_options *o, const char *url,
                   struct upstream *upstream, struct run_result *runs)
{
  if (o->no_board)
    return run_workers(o, url, NULL, NULL, upstream, &runs[0]);

  if (run_with_board(o, url, upstream, &runs[0]) < 0)
    return -1;
  sleep_seconds(pause_after(&runs[0]));
  if (demo_interrupted)
    return -1;
  return run_workers(o, url, NULL, NULL, upstream, &runs[1]);
}

/* Returns the exit status for the finished runs, after a message for each
 * run that failed. */
static int check_runs(const struct run_result *runs, int count, const char *url)
{
  int status = 0;

  for (int i = 0; i < count; i++) {
    struct worker_counters *c = runs[i].counters;

    if (runs[i].failed) {
      fprintf(stderr, "rlboard demo: a worker of the run %s failed\n",
              runs[i].label);
      status = DEMO_EXIT_FAILURE;
    } else if (load(&c->successes) == 0) {
      fprintf(stderr,
              "rlboard demo: no request of the run %s succeeded; check "
              "that %s responds\n",
              runs[i].label, url);
      status = DEMO_EXIT_FAILURE;
    }
  }
  return status;
}

/* Prints the outcome of the runs and returns the exit status. */
static int finish(const struct demo_options *o, const char *url,
                  const struct run_result *runs, int count, int rc)
{
  int status;

  if (demo_interrupted) {
    fprintf(stderr, "rlboard demo: interrupted\n");
    return DEMO_EXIT_INTERRUPTED;
  }
  if (rc < 0)
    return DEMO_EXIT_FAILURE;

  status = check_runs(runs, count, url);
  if (!o->json)
    print_report(o, url, runs, count);
  else if (print_json(o, url, runs) != 0)
    status = DEMO_EXIT_FAILURE;
  return status;
}

int rlb_demo_main(int argc, char **argv)
{
  struct demo_options o = {DEMO_WORKERS_DEFAULT,
                           DEMO_SECONDS_DEFAULT,
                           NULL,
                           DEMO_MODEL_DEFAULT,
                           NULL,
                           0,
                           0,
                           DEMO_RATE_DEFAULT,
                           DEMO_BURST_DEFAULT};
  struct upstream upstream = {0, ""};
  struct run_result runs[2] = {{"with board", NULL, 0, NULL, 0},
                               {"without board", NULL, 0, NULL, 0}};
  struct sigaction action, old_int, old_term;
  struct worker_counters *counters;
  const char *url;
  int count;
  int status;
  int rc;

  rc = parse_options(argc, argv, &o);
  if (rc != 0)
    return rc > 0 ? 0 : DEMO_EXIT_USAGE;
  if (o.no_board)
    runs[0].label = runs[1].label;
  count = o.no_board ? 1 : 2;

  counters = mmap(NULL, sizeof(*counters) * 2, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (counters == MAP_FAILED) {
    fprintf(stderr, "rlboard demo: mmap failed: %s\n", strerror(errno));
    return DEMO_EXIT_FAILURE;
  }
  memset(counters, 0, sizeof(*counters) * 2);
  runs[0].counters = &counters[0];
  runs[1].counters = &counters[1];

  /* curl_global_init() is not thread-safe, so it runs once, before any
   * fork, and every worker inherits it. */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "rlboard demo: curl_global_init failed\n");
    munmap(counters, sizeof(*counters) * 2);
    return DEMO_EXIT_FAILURE;
  }

  memset(&action, 0, sizeof(action));
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);
  demo_interrupted = 0;

  url = o.url;
  rc = 0;
  if (url == NULL) {
    rc = upstream_start(&upstream, o.rate, o.burst);
    url = upstream.url;
  }
  if (rc == 0)
    rc = run_all(&o, url, &upstream, runs);
  upstream_stop(&upstream);
  status = finish(&o, url, runs, count, rc);

  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  curl_global_cleanup();
  rlb_events_free(runs[0].events);
  munmap(counters, sizeof(*counters) * 2);
  return status;
}
