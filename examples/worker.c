/*
 * An example worker: it calls a rate-limited HTTP API with libcurl and uses
 * an rlboard board so that one HTTP 429 holds back every worker on the host,
 * not only the one that received it. It uses only the public rlboard.h and
 * libcurl, so it can be copied as a starting point.
 *
 * The loop with a board:
 *   1. rlb_check() before each request. While limited, rlb_wait() sleeps
 *      until the event expires, then a random jitter, so that workers do not
 *      all resume at once.
 *   2. The first request after a wait goes out under the board's half-open
 *      probe (rlb_probe_acquire()): one worker tests the API while the
 *      others keep waiting, and rlb_probe_release() wakes them with the
 *      outcome.
 *   3. Each 429 is recorded as an E101 event whose duration is the
 *      response's Retry-After.
 * Without a board each worker sleeps for the Retry-After of its own 429s,
 * which is what a worker does when it has nothing to share.
 *
 * Built with RLB_EXAMPLE_WORKER_MAIN defined, this file is the program
 * rlboard-example-worker; the rlboard command links it for its demo.
 */
#include "worker.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "rlboard.h"

/* The error code of an API rate limit (HTTP 429). */
#define WORKER_CODE "E101"

/*
 * The wait used for a 429 without a usable Retry-After header, and the
 * least wait taken for any 429, in seconds. A board event needs a positive
 * duration, so "Retry-After: 0" becomes the minimum.
 */
#define WORKER_RETRY_AFTER_DEFAULT 1.0
#define WORKER_RETRY_AFTER_MIN 0.1

/* The pause after a transport error, so a down server is not hammered. */
#define WORKER_ERROR_PAUSE 0.1

/* The counters are shared between processes in a MAP_SHARED mapping, which
 * needs lock-free (and so address-free) 64-bit atomics. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
               "64-bit atomics must be lock-free to be shared");

enum outcome { OUTCOME_SUCCESS, OUTCOME_LIMITED, OUTCOME_ERROR };

struct worker {
  const struct worker_options *options;
  struct worker_counters *counters;
  CURL *curl;
  rlb_board *board;
  double deadline;    /* CLOCK_MONOTONIC seconds */
  int error_reported; /* the first failed request was reported */
};

static double now_seconds(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double remaining(const struct worker *w)
{
  return w->deadline - now_seconds();
}

/* Sleeps for seconds, cut short at the worker's deadline. */
static void sleep_before_deadline(const struct worker *w, double seconds)
{
  double left = remaining(w);
  struct timespec ts;

  if (seconds > left)
    seconds = left;
  if (seconds <= 0)
    return;

  ts.tv_sec = (time_t)seconds;
  ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static void add_one(atomic_uint_least64_t *counter)
{
  atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

static int fail(const struct worker *w, const char *what, int rc)
{
  fprintf(stderr, "worker %s: %s failed: %s\n", w->options->job, what,
          rlb_strerror(rc));
  return rc;
}

/* Discards the response body. */
static size_t discard_body(char *data, size_t size, size_t items, void *context)
{
  (void)data;
  (void)context;
  return size * items;
}

/*
 * Reads the wait that the last response requests: Retry-After (seconds or
 * an HTTP date), else the retry-after-ms header that some APIs send.
 */
static double retry_after_seconds(struct worker *w)
{
  struct curl_header *header;
  double seconds;

  if (curl_easy_header(w->curl, "Retry-After", 0, CURLH_HEADER, -1, &header) ==
          CURLHE_OK &&
      rlb_parse_retry_after(header->value, 0, 0, &seconds) == 0)
    goto found;
  if (curl_easy_header(w->curl, "retry-after-ms", 0, CURLH_HEADER, -1,
                       &header) == CURLHE_OK &&
      rlb_parse_retry_after(header->value, 1, 0, &seconds) == 0)
    goto found;

  add_one(&w->counters->no_retry_after);
  return WORKER_RETRY_AFTER_DEFAULT;

found:
  if (seconds < WORKER_RETRY_AFTER_MIN)
    seconds = WORKER_RETRY_AFTER_MIN;
  return seconds;
}

/* Reports the first failed request of the worker; later ones are only
 * counted. */
static void report_error(struct worker *w, CURLcode rc, long status)
{
  if (w->error_reported)
    return;
  w->error_reported = 1;
  if (rc != CURLE_OK)
    fprintf(stderr,
            "worker %s: GET %s failed: %s; later errors are only "
            "counted\n",
            w->options->job, w->options->url, curl_easy_strerror(rc));
  else
    fprintf(stderr,
            "worker %s: GET %s returned HTTP %ld; later errors "
            "are only counted\n",
            w->options->job, w->options->url, status);
}

/*
 * Sends one request and counts its outcome. For a 429, stores the
 * requested wait in *retry_after.
 */
static enum outcome send_request(struct worker *w, double *retry_after)
{
  CURLcode rc;
  long status = 0;

  add_one(&w->counters->requests);
  rc = curl_easy_perform(w->curl);
  if (rc == CURLE_OK)
    curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);

  if (status >= 200 && status < 300) {
    add_one(&w->counters->successes);
    return OUTCOME_SUCCESS;
  }
  if (status == 429) {
    add_one(&w->counters->rate_limited);
    *retry_after = retry_after_seconds(w);
    return OUTCOME_LIMITED;
  }

  add_one(&w->counters->errors);
  report_error(w, rc, status);
  if (rc != CURLE_OK)
    sleep_before_deadline(w, WORKER_ERROR_PAUSE);
  return OUTCOME_ERROR;
}

/* The loop without a board: each worker backs off on its own 429s only. */
static int run_alone(struct worker *w)
{
  double retry_after;

  while (remaining(w) > 0) {
    if (send_request(w, &retry_after) == OUTCOME_LIMITED)
      sleep_before_deadline(w, retry_after);
  }
  return 0;
}

/*
 * Waits while the board is limited for the worker's model or a probe is
 * out, bounded by the deadline. Returns 0 or an error code.
 */
static int wait_clear(struct worker *w)
{
  double left = remaining(w);
  int rc;

  if (left <= 0)
    return 0;

  add_one(&w->counters->waits);
  rc = rlb_wait(w->board, NULL, w->options->model, left, -1);
  if (rc == 0 || rc == RLB_ETIMEDOUT || rc == -EINTR)
    return 0;
  return fail(w, "rlb_wait", rc);
}

/*
 * Takes the half-open probe. Returns 1 with *token set when this worker may
 * send the test request, 0 when it must go back to checking, or an error
 * code.
 */
static int take_probe(struct worker *w, uint64_t *token)
{
  int rc = rlb_probe_acquire(w->board, NULL, w->options->model, token);

  if (rc == 0) {
    add_one(&w->counters->probes);
    return 1;
  }
  if (rc == RLB_PROBE_LIMITED || rc == RLB_PROBE_NOT_NEEDED)
    return 0; /* the next check waits, or passes after another's probe */
  if (rc == RLB_EPROBEHELD) {
    rc = wait_clear(w); /* until the prober reports */
    return rc < 0 ? rc : 0;
  }
  return fail(w, "rlb_probe_acquire", rc);
}

/* Records a 429 on the board for every worker to see. */
static int record_limit(struct worker *w, double retry_after)
{
  int rc = rlb_record(w->board, WORKER_CODE, retry_after, w->options->job,
                      w->options->model, NULL);

  if (rc < 0)
    return fail(w, "rlb_record", rc);
  add_one(&w->counters->records);
  return 0;
}

/*
 * The loop with a board. A worker that has just started has no more
 * information about the API than one that has just waited, so its first request
 * also goes out under the probe.
 */
static int run_with_board(struct worker *w)
{
  int need_probe = 1;

  while (remaining(w) > 0) {
    uint64_t token = 0;
    int probing = 0;
    double retry_after = 0;
    enum outcome outcome;
    int rc = rlb_check(w->board, NULL, w->options->model, NULL);

    if (rc == RLB_EBUSY)
      continue; /* writers kept changing the slot: read again */
    if (rc < 0)
      return fail(w, "rlb_check", rc);
    if (rc == 1) {
      rc = wait_clear(w);
      if (rc < 0)
        return rc;
      need_probe = 1;
      continue;
    }

    if (need_probe) {
      probing = take_probe(w, &token);
      if (probing < 0)
        return probing;
      if (!probing)
        continue;
    }

    outcome = send_request(w, &retry_after);
    if (outcome == OUTCOME_LIMITED) {
      rc = record_limit(w, retry_after);
      if (rc < 0)
        return rc;
    }

    /* The release wakes the waiters: on success they resume, otherwise
     * they wait for the event just recorded. */
    if (probing) {
      rc = rlb_probe_release(w->board, token, outcome == OUTCOME_SUCCESS);
      if (rc < 0)
        return fail(w, "rlb_probe_release", rc);
    }
    need_probe = outcome != OUTCOME_SUCCESS;
  }
  return 0;
}

static int open_board(struct worker *w)
{
  int rc = rlb_open(&w->board, w->options->board, NULL);

  if (rc < 0)
    fprintf(stderr, "worker %s: failed to open board '%s': %s\n",
            w->options->job, w->options->board, rlb_strerror(rc));
  return rc;
}

int worker_run(const struct worker_options *options,
               struct worker_counters *counters)
{
  struct worker w = {options, counters, NULL, NULL, 0, 0};
  int rc;

  if (options->board != NULL) {
    rc = open_board(&w);
    if (rc < 0)
      return rc;
  }

  w.curl = curl_easy_init();
  if (w.curl == NULL) {
    rlb_close(w.board);
    return fail(&w, "curl_easy_init", -ENOMEM);
  }
  /* One handle for every request keeps the connection alive. */
  curl_easy_setopt(w.curl, CURLOPT_URL, options->url);
  curl_easy_setopt(w.curl, CURLOPT_WRITEFUNCTION, discard_body);
  curl_easy_setopt(w.curl, CURLOPT_TIMEOUT_MS, options->timeout_ms);
  curl_easy_setopt(w.curl, CURLOPT_NOSIGNAL, 1L);

  w.deadline = now_seconds() + options->seconds;
  rc = w.board != NULL ? run_with_board(&w) : run_alone(&w);

  curl_easy_cleanup(w.curl);
  rlb_close(w.board);
  return rc;
}

#ifdef RLB_EXAMPLE_WORKER_MAIN

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out)
{
  fprintf(out,
          "Usage: rlboard-example-worker --url URL [OPTIONS]\n"
          "Sends GET requests to URL as fast as the rate limit allows and\n"
          "shares each HTTP 429 through an rlboard board.\n"
          "  --url URL        the API to request (required)\n"
          "  --board NAME     board name (default: $RLBOARD, else %s)\n"
          "  --no-board       run without a board: sleep on own 429s only\n"
          "  --model MODEL    model of the recorded events (default: none)\n"
          "  --job JOB        job id stored with events (default: "
          "worker-PID)\n"
          "  --seconds S      run time in seconds (default: 10)\n"
          "  --timeout-ms MS  bound on one request in ms (default: 5000)\n"
          "  --help           show this help\n",
          RLB_DEFAULT_BOARD);
}

static int parse_number(const char *option, const char *text, double *value)
{
  char *end;

  errno = 0;
  *value = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(*value > 0) ||
      *value > 1e9) {
    fprintf(stderr,
            "rlboard-example-worker: invalid %s '%s': expected a "
            "positive number\n",
            option, text);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  static const struct option long_options[] = {
      {"url", required_argument, NULL, 'u'},
      {"board", required_argument, NULL, 'b'},
      {"no-board", no_argument, NULL, 'n'},
      {"model", required_argument, NULL, 'm'},
      {"job", required_argument, NULL, 'j'},
      {"seconds", required_argument, NULL, 's'},
      {"timeout-ms", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  struct worker_options options = {NULL, NULL, NULL, NULL, 10.0, 5000};
  struct worker_counters counters;
  char job[64];
  double timeout_ms;
  int no_board = 0;
  int option;
  int rc;

  memset(&counters, 0, sizeof(counters));
  options.board = getenv("RLBOARD");
  if (options.board == NULL || options.board[0] == '\0')
    options.board = RLB_DEFAULT_BOARD;

  while ((option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
    switch (option) {
    case 'u':
      options.url = optarg;
      break;
    case 'b':
      options.board = optarg;
      break;
    case 'n':
      no_board = 1;
      break;
    case 'm':
      options.model = optarg;
      break;
    case 'j':
      options.job = optarg;
      break;
    case 's':
      if (parse_number("--seconds", optarg, &options.seconds) < 0)
        return 64;
      break;
    case 't':
      if (parse_number("--timeout-ms", optarg, &timeout_ms) < 0)
        return 64;
      options.timeout_ms = (long)timeout_ms;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 64;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "rlboard-example-worker: unexpected argument '%s'\n",
            argv[optind]);
    return 64;
  }
  if (options.url == NULL) {
    fprintf(stderr, "rlboard-example-worker: missing --url\n");
    return 64;
  }
  if (no_board)
    options.board = NULL;
  if (options.job == NULL) {
    snprintf(job, sizeof(job), "worker-%ld", (long)getpid());
    options.job = job;
  }

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "rlboard-example-worker: curl_global_init failed\n");
    return 1;
  }
  rc = worker_run(&options, &counters);
  curl_global_cleanup();

  printf("requests %llu, successes %llu, 429s %llu, errors %llu\n",
         (unsigned long long)counters.requests,
         (unsigned long long)counters.successes,
         (unsigned long long)counters.rate_limited,
         (unsigned long long)counters.errors);
  return rc < 0 ? 1 : 0;
}

#endif /* RLB_EXAMPLE_WORKER_MAIN */
