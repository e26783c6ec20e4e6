/*
 * An example worker that calls a rate-limited HTTP API with libcurl and
 * shares every HTTP 429 it receives through an rlboard board. The rlboard
 * command's demo runs it in many processes at once; the standalone program
 * rlboard-example-worker runs one of it.
 */
#ifndef RLB_EXAMPLE_WORKER_H
#define RLB_EXAMPLE_WORKER_H

#include <stdatomic.h>

/* Settings of one worker. */
struct worker_options {
  const char *url;   /* requested with GET, over and over */
  const char *board; /* board name, or NULL to run without a board */
  const char *model; /* model of the events, or NULL for none */
  const char *job;   /* job id stored (as its hash) with each event */
  double seconds;    /* run time */
  long timeout_ms;   /* bound on one HTTP request */
};

/*
 * Counters of one or more workers. The fields are atomic, so workers in
 * several processes can add to one copy in a MAP_SHARED mapping.
 */
struct worker_counters {
  atomic_uint_least64_t requests;       /* HTTP requests sent */
  atomic_uint_least64_t successes;      /* 2xx responses */
  atomic_uint_least64_t rate_limited;   /* 429 responses */
  atomic_uint_least64_t errors;         /* other statuses, transport errors */
  atomic_uint_least64_t no_retry_after; /* 429s without a valid Retry-After */
  atomic_uint_least64_t records;        /* events recorded on the board */
  atomic_uint_least64_t waits;          /* calls of rlb_wait() */
  atomic_uint_least64_t probes;         /* half-open probes taken */
};

/*
 * Sends requests to options->url for options->seconds and adds the outcome
 * to *counters. With a board, the worker checks it before each request,
 * records an E101 event for each 429 and waits while the board is limited
 * for its model. The first request after a wait goes out under the board's
 * half-open probe. Without a board, the worker sleeps for the Retry-After
 * time of each 429 it receives itself.
 *
 * The caller must call curl_global_init() once before. Returns 0, or a
 * negative rlboard error code after writing a one-line message to stderr.
 */
int worker_run(const struct worker_options *options,
               struct worker_counters *counters);

#endif
