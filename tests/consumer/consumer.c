/*
 * A program built outside the rlboard tree against an installed rlboard.
 * It opens a board under a unique name, records an event, checks that the
 * board reports the limit, hashes a known job id and removes the board.
 * It prints the run-time library version on stdout and exits 0 only when
 * every step succeeded.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rlboard.h>

/* SHA-256 of "job-1:", first 16 hex digits. */
#define KNOWN_JOB "job-1"
#define KNOWN_JOB_HASH "9af12d10801c5d48"

static int fail(const char *step, int rc)
{
  fprintf(stderr, "consumer: %s failed: %s (%s)\n", step, rlb_strerror(rc),
          rlb_error_name(rc));
  return 1;
}

static int exercise_board(rlb_board *board)
{
  char id[RLB_ID_LEN + 1];
  char hash[RLB_HASH_LEN + 1];
  double seconds_left = -1.0;
  int rc;

  rc = rlb_record(board, "E101", 60.0, "consumer-job", "consumer-model", id);
  if (rc != 0)
    return fail("rlb_record", rc);
  if (strlen(id) != RLB_ID_LEN) {
    fprintf(stderr, "consumer: event id \"%s\" is not %d characters\n", id,
            RLB_ID_LEN);
    return 1;
  }

  rc = rlb_check(board, "E101", "consumer-model", &seconds_left);
  if (rc < 0)
    return fail("rlb_check", rc);
  if (rc != 1) {
    fprintf(stderr, "consumer: rlb_check returned %d, expected 1 (limited)\n",
            rc);
    return 1;
  }
  /* The default TTL factor 0.8 turns 60 s into at most 48 s. */
  if (!(seconds_left > 0.0 && seconds_left <= 48.0)) {
    fprintf(stderr, "consumer: %f seconds left, expected (0, 48]\n",
            seconds_left);
    return 1;
  }

  rc = rlb_job_hash(KNOWN_JOB, hash);
  if (rc != 0)
    return fail("rlb_job_hash", rc);
  if (strcmp(hash, KNOWN_JOB_HASH) != 0) {
    fprintf(stderr, "consumer: job hash %s, expected %s\n", hash,
            KNOWN_JOB_HASH);
    return 1;
  }
  return 0;
}

int main(void)
{
  char name[64];
  struct timespec now;
  rlb_options opts;
  rlb_board *board = NULL;
  int status;
  int rc;

  clock_gettime(CLOCK_REALTIME, &now);
  snprintf(name, sizeof name, "rlb-consumer-%ld-%ld", (long)getpid(),
           (long)now.tv_nsec);

  rlb_options_init(&opts);
  opts.flags = RLB_CREATE | RLB_EXCLUSIVE;
  opts.capacity = 16;
  rc = rlb_open(&board, name, &opts);
  if (rc != 0)
    return fail("rlb_open", rc);

  status = exercise_board(board);

  rc = rlb_unlink(name);
  if (rc != 0)
    status = fail("rlb_unlink", rc);
  rc = rlb_close(board);
  if (rc != 0)
    status = fail("rlb_close", rc);

  if (status == 0)
    printf("%s\n", rlb_version());
  return status;
}
