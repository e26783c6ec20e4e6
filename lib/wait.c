/*
 * Waiting until a limit is over, and the half-open probe.
 *
 * rlb_wait() sleeps on hdr->wake_seq, a futex word that every record,
 * clear, repair and probe release bumps (rlb__wake()). A waiter reads the
 * word before it looks at the board, so a change made after that look
 * changes the word and FUTEX_WAIT returns at once instead of sleeping
 * through it. Without a change, the sleep ends when the latest matching
 * event expires, when the probe's deadline passes or when the caller's
 * timeout runs out, whichever comes first.
 *
 * The board has one probe. A worker takes it after a limit is over, sends
 * one request and reports the outcome with rlb_probe_release(). While the
 * probe is held, rlb_wait() keeps waiting for every filter, so after a
 * limit expires only the prober sends, and the others resume once it
 * reports success.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <urcu/futex.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "internal.h"

#define NS_PER_SEC INT64_C(1000000000)
#define NS_PER_MS INT64_C(1000000)

/* ---- random numbers ----------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
  x += UINT64_C(0x9e3779b97f4a7c15);
  x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
  return x ^ (x >> 31);
}

/*
 * Returns 64 random bits from getrandom(2). Should the kernel refuse (an
 * old kernel, or a seccomp filter), the bits come from mixing the process
 * id, the clock and a stack address: good enough to spread waiters and to
 * tell probe tokens apart, though not unpredictable.
 */
static uint64_t random_u64(void)
{
  uint64_t x;

  if (getrandom(&x, sizeof(x), GRND_NONBLOCK) == (ssize_t)sizeof(x))
    return x;
  x = (uint64_t)rlb__now_ns() ^ ((uint64_t)getpid() << 32) ^
      (uint64_t)(uintptr_t)&x;
  return mix64(x);
}

/* ---- the probe ---------------------------------------------------------- */

/*
 * Returns 1 when an unexpired probe is held at now_ns, storing its
 * deadline in *deadline_ns (when not NULL). Lock-free: the token is read
 * before the deadline, and rlb_probe_acquire() stores the deadline before
 * the token, so a new token never comes with the previous deadline.
 */
static int probe_held(const rlb_header *h, int64_t now_ns, int64_t *deadline_ns)
{
  int64_t deadline;

  if (uatomic_read(&h->probe_token) == 0)
    return 0;
  cmm_smp_rmb();
  deadline = CMM_LOAD_SHARED(h->probe_deadline_ns);
  if (deadline <= now_ns)
    return 0;
  if (deadline_ns != NULL)
    *deadline_ns = deadline;
  return 1;
}

/*
 * Returns 1 when the index contains a live key with this hash. Runs under the
 * lock. Only the hash is compared, which is enough for the diagnostic it
 * serves.
 */
static int key_hash_live(const rlb_board *b, uint64_t hash, int64_t now_ns)
{
  uint32_t pos = rlb__home(hash, b->index_mask);
  uint32_t probes;

  for (probes = 0; probes <= b->index_mask; probes++) {
    const rlb_entry *e = &b->index[pos];

    if (e->refs == 0)
      return 0;
    if (e->hash == hash)
      return e->max_expires_ns > now_ns;
    pos = (pos + 1) & b->index_mask;
  }
  return 0;
}

/*
 * Returns the latest expiry recorded in the index for a key hash, or
 * INT64_MIN when no stored event has the key. Runs under the lock.
 */
static int64_t key_hash_max(const rlb_board *b, uint64_t hash)
{
  uint32_t pos = rlb__home(hash, b->index_mask);
  uint32_t probes;

  for (probes = 0; probes <= b->index_mask; probes++) {
    const rlb_entry *e = &b->index[pos];

    if (e->refs == 0)
      return INT64_MIN;
    if (e->hash == hash)
      return e->max_expires_ns;
    pos = (pos + 1) & b->index_mask;
  }
  return INT64_MIN;
}

/* Returns 1 when a probe of this key succeeded after the key's latest event
 * expired, so the limit is known to be over. Runs under the lock. */
static int probe_confirmed(const rlb_board *b, uint64_t hash)
{
  const rlb_header *h = b->hdr;

  return h->confirmed_ns != 0 && h->confirmed_key_hash == hash &&
         h->confirmed_ns >= key_hash_max(b, hash);
}

int rlb_probe_acquire(rlb_board *b, const char *error_code, const char *model,
                      uint64_t *token)
{
  rlb_header *h;
  uint64_t new_token;
  int64_t now_ns;
  int rc;

  if (b == NULL || token == NULL)
    return RLB_EINVALARG;
  if ((rc = rlb__check_filter_code(error_code)) != 0 ||
      (rc = rlb__check_model(model)) != 0)
    return rc;
  h = b->hdr;
  do
    new_token = random_u64();
  while (new_token == 0);

  rc = rlb__lock(b);
  if (rc != 0)
    return rc;
  rc = rlb_check(b, error_code, model, NULL);
  now_ns = rlb__now_ns();
  if (rc == 0 && probe_confirmed(b, rlb__key_hash(error_code, model))) {
    *token = 0;
    rc = RLB_PROBE_NOT_NEEDED;
  }
  if (rc == 0 && probe_held(h, now_ns, NULL))
    rc = RLB_EPROBEHELD;
  if (rc == 0) {
    /* A probe whose deadline passed is taken over here: its holder died
     * or ran too long, and its token no longer releases anything. The
     * holder's pid is kept for inspection only. Freeing the probe when
     * kill(pid, 0) fails with ESRCH would be unsound: a holder in another
     * PID namespace that maps the same segment looks dead. */
    CMM_STORE_SHARED(h->probe_deadline_ns,
                     now_ns + (int64_t)h->probe_timeout_ms * NS_PER_MS);
    CMM_STORE_SHARED(h->probe_key_hash, rlb__key_hash(error_code, model));
    CMM_STORE_SHARED(h->probe_pid, (int32_t)getpid());
    cmm_smp_wmb();
    uatomic_set(&h->probe_token, new_token);
    *token = new_token;
  }
  rlb__unlock(b);
  return rc;
}

int rlb_probe_release(rlb_board *b, uint64_t token, int success)
{
  rlb_header *h;
  uint64_t key_hash;
  int rc;

  if (b == NULL)
    return RLB_EINVALARG;
  if (token == 0)
    return RLB_ENOPROBE;
  h = b->hdr;
  rc = rlb__lock(b);
  if (rc != 0)
    return rc;
  if (uatomic_read(&h->probe_token) != token) {
    rlb__unlock(b);
    return RLB_ENOPROBE;
  }
  key_hash = h->probe_key_hash;
  if (success) {
    h->confirmed_ns = rlb__now_ns();
    h->confirmed_key_hash = key_hash;
  }
  uatomic_set(&h->probe_token, 0);
  cmm_smp_wmb();
  CMM_STORE_SHARED(h->probe_deadline_ns, 0);
  CMM_STORE_SHARED(h->probe_key_hash, 0);
  CMM_STORE_SHARED(h->probe_pid, 0);
  if (!success && !key_hash_live(b, key_hash, rlb__now_ns()))
    rlb__log(RLB_LOG_WARNING,
             "%s: probe released as failed, but no event for its key is "
             "live; record the limit before the release",
             b->name);
  rlb__unlock(b);
  rlb__wake(b);
  return 0;
}

/* ---- waiting ------------------------------------------------------------ */

/* Returns the CLOCK_MONOTONIC time at which a wait of timeout_seconds
 * ends, or INT64_MAX for a negative or unrepresentably long timeout. */
static int64_t wait_deadline(double timeout_seconds, int64_t now_ns)
{
  double ns;

  if (timeout_seconds < 0.0)
    return INT64_MAX;
  ns = ceil(timeout_seconds * 1e9);
  if (ns >= (double)(INT64_MAX - now_ns))
    return INT64_MAX;
  return now_ns + (int64_t)ns;
}

/*
 * Looks at the board once. Returns 1 when the waiter must go on waiting,
 * because a matching event is live or because the probe is held, storing
 * in *until_ns when that ends unless a writer changes the board. Returns 0
 * when clear, or a negative error code from rlb_check().
 */
static int must_wait(rlb_board *b, const char *error_code, const char *model,
                     int64_t *until_ns)
{
  double left;
  int64_t now_ns;
  int rc;

  rc = rlb_check(b, error_code, model, &left);
  if (rc < 0)
    return rc;
  now_ns = rlb__now_ns();
  if (rc == 1) {
    /* Clamped like a timeout, because the expiry of a corrupt slot may lie
     * near INT64_MAX. */
    *until_ns = wait_deadline(left, now_ns);
    return 1;
  }
  return probe_held(b->hdr, now_ns, until_ns);
}

/*
 * Sleeps on the futex while it still contains seq, for at most ns. Returns 0
 * after a wake-up, a changed word or the end of the time, and -EINTR when
 * a signal handler ran.
 */
static int futex_sleep(rlb_board *b, uint32_t seq, int64_t ns)
{
  struct timespec timeout;

  if (ns <= 0)
    return 0;
  /* FUTEX_WAIT takes a relative timeout, measured on CLOCK_MONOTONIC. */
  timeout.tv_sec = (time_t)(ns / NS_PER_SEC);
  timeout.tv_nsec = (long)(ns % NS_PER_SEC);
  if (futex_async((int32_t *)&b->hdr->wake_seq, FUTEX_WAIT, (int32_t)seq,
                  &timeout, NULL, 0) == 0)
    return 0;
  if (errno == EINTR)
    return -EINTR;
  if (errno == EAGAIN || errno == ETIMEDOUT)
    return 0;
  return -errno;
}

/*
 * Sleeps a uniformly random delay in [0, jitter_ms) milliseconds, cut off
 * at deadline_ns. Returns 0, or -EINTR when a signal handler ran.
 */
static int jitter_sleep(uint32_t jitter_ms, int64_t deadline_ns)
{
  struct timespec until;
  int64_t end_ns;
  int rc;

  if (jitter_ms == 0)
    return 0;
  end_ns = rlb__now_ns() +
           (int64_t)(random_u64() % ((uint64_t)jitter_ms * NS_PER_MS));
  if (end_ns > deadline_ns)
    end_ns = deadline_ns;
  until.tv_sec = (time_t)(end_ns / NS_PER_SEC);
  until.tv_nsec = (long)(end_ns % NS_PER_SEC);
  rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
  return rc == 0 ? 0 : -rc;
}

int rlb_wait(rlb_board *b, const char *error_code, const char *model,
             double timeout_seconds, int jitter_ms)
{
  int64_t deadline_ns, until_ns, now_ns;
  uint32_t jitter, seq;
  int blocked = 0, counted = 0;
  int rc;

  if (b == NULL || isnan(timeout_seconds) || jitter_ms > RLB_JITTER_MS_MAX)
    return RLB_EINVALARG;
  if ((rc = rlb__check_filter_code(error_code)) != 0 ||
      (rc = rlb__check_model(model)) != 0)
    return rc;
  jitter = jitter_ms < 0 ? b->hdr->jitter_ms : (uint32_t)jitter_ms;
  deadline_ns = wait_deadline(timeout_seconds, rlb__now_ns());

  for (;;) {
    /* The word is read before the look, so that any change made after the
     * look also changes the word and FUTEX_WAIT does not sleep. */
    seq = uatomic_read(&b->hdr->wake_seq);
    cmm_smp_mb();
    rc = must_wait(b, error_code, model, &until_ns);
    if (rc < 0)
      break;
    if (rc == 0) {
      /* A wait that never blocked returns at once. One that did sleeps a
       * random delay, so that waiters released together spread out, and
       * looks again, because a new event or a probe may have come in the
       * meantime. */
      if (!blocked)
        break;
      rc = jitter_sleep(jitter, deadline_ns);
      if (rc != 0)
        break;
      rc = must_wait(b, error_code, model, &until_ns);
      if (rc <= 0)
        break;
      continue;
    }

    blocked = 1;
    now_ns = rlb__now_ns();
    if (now_ns >= deadline_ns) {
      rc = RLB_ETIMEDOUT;
      break;
    }
    if (!counted) {
      /* Writers call FUTEX_WAKE only when waiters is non-zero. After
       * counting itself, the waiter reads the word and looks again, so a
       * writer either sees the count or changes the word first.
       * NOTE: a waiter killed while counted never takes itself off the
       * count. The count then stays high, which only costs writers a
       * FUTEX_WAKE call that wakes nobody, and rlb_stats_get() reports it
       * too high. */
      uatomic_inc(&b->hdr->waiters);
      cmm_smp_mb();
      counted = 1;
      continue;
    }
    if (until_ns > deadline_ns)
      until_ns = deadline_ns;
    rc = futex_sleep(b, seq, until_ns - now_ns);
    if (rc != 0)
      break;
  }
  if (counted)
    uatomic_dec(&b->hdr->waiters);
  return rc;
}
