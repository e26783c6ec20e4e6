/*
 * The read path: check, list and stats. Nothing here takes the lock or
 * stores to the segment, and every value read from it is bounds-checked
 * before use, because another process may have written anything there.
 *
 * A check reads one index entry between two equal, even values of
 * board_seq. A list copies each slot between two equal, even values of the
 * slot's own counter. Both retry a bounded number of times. A check that
 * never reads a quiet board falls back to scanning the slots, and a list
 * skips a slot that stays half-written because its writer died.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <urcu/arch.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "internal.h"

/* Spins before a reader yields the processor, and yields before it gives
 * up. A writer's section is short (a whole record, id and hash included,
 * takes about 2 us in rlboard-bench), so 64 spins usually cover it unless
 * the writer was preempted; the yields cover that. */
#define READ_SPINS 64
#define READ_YIELDS 16

static void read_pause(int attempt)
{
  if (attempt < READ_SPINS)
    caa_cpu_relax();
  else
    sched_yield();
}

/* Returns 1 when the size bytes at s contain a terminating NUL. */
static int bounded(const char *s, size_t size)
{
  return memchr(s, '\0', size) != NULL;
}

/* Returns 1 when a slot copy matches the filters. */
static int copy_matches(const rlb_slot *s, const char *code, const char *model)
{
  if (code != NULL && strcmp(s->code, code) != 0)
    return 0;
  if (model != NULL && !(s->has_model == 1 && strcmp(s->model, model) == 0))
    return 0;
  return 1;
}

static void copy_out(const rlb_slot *s, int64_t now_ns, rlb_event *out)
{
  memcpy(out->id, s->id, RLB_ID_LEN);
  out->id[RLB_ID_LEN] = '\0';
  strcpy(out->error_code, s->code);
  out->has_model = s->has_model == 1;
  strcpy(out->model, out->has_model ? s->model : "");
  out->recorded_at_us = s->recorded_at_us;
  out->expires_at_us = s->expires_at_us;
  memcpy(out->source_job_hash, s->job_hash, RLB_HASH_LEN);
  out->source_job_hash[RLB_HASH_LEN] = '\0';
  out->duration_seconds = s->duration_seconds;
  out->seconds_left = (double)(s->expires_ns - now_ns) / 1e9;
}

int rlb__read_slot(const rlb_board *b, uint32_t i, const char *code,
                   const char *model, int64_t now_ns, rlb_event *out)
{
  const rlb_slot *shared = &b->slots[i];
  rlb_slot copy;
  int attempt;

  for (attempt = 0; attempt < READ_SPINS + READ_YIELDS; attempt++) {
    uint32_t before = CMM_LOAD_SHARED(shared->seq);
    uint32_t after;

    if (before & 1u) {
      read_pause(attempt);
      continue;
    }
    cmm_smp_rmb();
    memcpy(&copy, (const void *)shared, sizeof(copy));
    cmm_smp_rmb();
    after = CMM_LOAD_SHARED(shared->seq);
    if (after != before) {
      read_pause(attempt);
      continue;
    }
    if (copy.state != RLB_SLOT_LIVE || copy.expires_ns <= now_ns)
      return 0;
    if (!bounded(copy.code, sizeof(copy.code)) ||
        !bounded(copy.model, sizeof(copy.model)))
      return 0;
    if (!copy_matches(&copy, code, model))
      return 0;
    copy_out(&copy, now_ns, out);
    return 1;
  }
  return RLB_EBUSY;
}

/*
 * Compares n bytes (n >= 1) with whole-word loads that stay inside both
 * ranges: for the short strings of a key this avoids the call to memcmp()
 * that stood out in profiles of rlb_check().
 */
static inline int bytes_equal(const char *a, const char *b, size_t n)
{
  uint64_t x, y;
  uint32_t u, v;
  size_t i;

  if (n >= 8) {
    for (i = 0; i + 8 <= n; i += 8) {
      memcpy(&x, a + i, 8);
      memcpy(&y, b + i, 8);
      if (x != y)
        return 0;
    }
    memcpy(&x, a + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return x == y;
  }
  if (n >= 4) {
    memcpy(&u, a, 4);
    memcpy(&v, b, 4);
    if (u != v)
      return 0;
    memcpy(&u, a + n - 4, 4);
    memcpy(&v, b + n - 4, 4);
    return u == v;
  }
  for (i = 0; i < n; i++)
    if (a[i] != b[i])
      return 0;
  return 1;
}

/* A check's filter: each string with its length, NULL for any. */
typedef struct filter {
  const char *code;
  const char *model;
  size_t code_len;
  size_t model_len;
} filter;

/* Returns 1 when the slot at index head carries the filter's key. The
 * comparisons include the terminating NUL, so a longer stored string does
 * not match its prefix. */
static int head_has_key(const rlb_board *b, uint32_t head, const filter *f)
{
  const rlb_slot *s;

  if (head >= b->capacity)
    return 0;
  s = &b->slots[head];
  if (f->code != NULL && !bytes_equal(s->code, f->code, f->code_len + 1))
    return 0;
  if (f->model != NULL &&
      (s->has_model != 1 || !bytes_equal(s->model, f->model, f->model_len + 1)))
    return 0;
  return 1;
}

/*
 * Looks the key up in the index and stores the latest expiry of its events
 * in *max_ns (INT64_MIN when the key has none). Returns 0, or RLB_EBUSY when
 * a writer kept the board changing.
 */
static int index_lookup(const rlb_board *b, const filter *f, int64_t *max_ns)
{
  unsigned kind = (f->code ? RLB_KEY_CODE : 0) | (f->model ? RLB_KEY_MODEL : 0);
  uint64_t hash = rlb__key_hash_n(f->code, f->code_len, f->model, f->model_len);
  const uint32_t *seq = &b->hdr->board_seq;
  int attempt;

  for (attempt = 0; attempt < READ_SPINS + READ_YIELDS; attempt++) {
    uint32_t before = CMM_LOAD_SHARED(*seq);
    uint32_t pos = rlb__home(hash, b->index_mask);
    uint32_t probes;
    int64_t found = INT64_MIN;

    if (before & 1u) {
      read_pause(attempt);
      continue;
    }
    cmm_smp_rmb();
    for (probes = 0; probes <= b->index_mask; probes++) {
      const rlb_entry *e = &b->index[pos];
      if (CMM_LOAD_SHARED(e->refs) == 0)
        break;
      if (CMM_LOAD_SHARED(e->hash) == hash &&
          CMM_LOAD_SHARED(e->kind) == kind &&
          head_has_key(b, CMM_LOAD_SHARED(e->head), f)) {
        found = CMM_LOAD_SHARED(e->max_expires_ns);
        break;
      }
      pos = (pos + 1) & b->index_mask;
    }
    cmm_smp_rmb();
    if (CMM_LOAD_SHARED(*seq) == before) {
      *max_ns = found;
      return 0;
    }
    read_pause(attempt);
  }
  return RLB_EBUSY;
}

/* The fallback of a check: the latest expiry among the slots' events. Kept
 * out of line so that its event buffer does not weigh on the fast path. */
static __attribute__((noinline)) int
scan_lookup(const rlb_board *b, const char *code, const char *model,
            int64_t now_ns, int64_t *max_ns)
{
  rlb_event ev;
  double max_left = -1.0, ns;
  uint32_t i;

  for (i = 0; i < b->capacity; i++) {
    int rc = rlb__read_slot(b, i, code, model, now_ns, &ev);
    if (rc == 1 && ev.seconds_left > max_left)
      max_left = ev.seconds_left;
  }
  if (max_left < 0) {
    *max_ns = INT64_MIN;
    return 0;
  }
  /* An expiry in a corrupt slot may lie near INT64_MAX, where the seconds
   * left convert back past it; 2^62 ns (146 years) bounds real ones. */
  ns = max_left * 1e9;
  *max_ns = ns < 0x1p62 ? now_ns + (int64_t)ns : INT64_MAX;
  return 0;
}

/* Returns strnlen(s, max + 1). Short strings, the usual case for codes and
 * model names, are measured inline without a call. */
static inline size_t bounded_len(const char *s, size_t max)
{
  size_t i;

  for (i = 0; i < 16; i++)
    if (s[i] == '\0')
      return i;
  return 16 + strnlen(s + 16, max + 1 - 16);
}

/* Fills a filter, checking each string's length in the same pass. */
static int filter_init(filter *f, const char *code, const char *model)
{
  f->code = code;
  f->model = model;
  f->code_len = code ? bounded_len(code, RLB_CODE_MAX) : 0;
  f->model_len = model ? bounded_len(model, RLB_MODEL_MAX) : 0;
  if (code != NULL && (f->code_len == 0 || f->code_len > RLB_CODE_MAX))
    return RLB_EINVALCODE;
  if (model != NULL && (f->model_len == 0 || f->model_len > RLB_MODEL_MAX))
    return RLB_EINVALMODEL;
  return 0;
}

int rlb_check(rlb_board *b, const char *error_code, const char *model,
              double *seconds_left)
{
  int64_t now_ns, max_ns;
  filter f;
  int rc;

  if (b == NULL)
    return RLB_EINVALARG;
  rc = filter_init(&f, error_code, model);
  if (rc != 0)
    return rc;
  rc = index_lookup(b, &f, &max_ns);
  now_ns = rlb__now_ns();
  if (rc == RLB_EBUSY)
    rc = scan_lookup(b, error_code, model, now_ns, &max_ns);
  if (rc != 0)
    return rc;
  if (max_ns <= now_ns) {
    if (seconds_left != NULL)
      *seconds_left = 0.0;
    return 0;
  }
  if (seconds_left != NULL)
    *seconds_left = (double)(max_ns - now_ns) * 1e-9;
  return 1;
}

static int compare_expiry_desc(const void *pa, const void *pb)
{
  const rlb_event *a = pa, *b = pb;

  if (a->expires_at_us != b->expires_at_us)
    return a->expires_at_us < b->expires_at_us ? 1 : -1;
  if (a->seconds_left != b->seconds_left)
    return a->seconds_left < b->seconds_left ? 1 : -1;
  return strcmp(a->id, b->id);
}

int rlb_list(rlb_board *b, const char *error_code, const char *model,
             rlb_event **events, size_t *count)
{
  rlb_event *out;
  size_t n = 0;
  int64_t now_ns;
  uint32_t i;
  int rc;

  if (b == NULL || events == NULL || count == NULL)
    return RLB_EINVALARG;
  *events = NULL;
  *count = 0;
  if ((rc = rlb__check_filter_code(error_code)) != 0 ||
      (rc = rlb__check_model(model)) != 0)
    return rc;
  out = malloc((size_t)b->capacity * sizeof(*out));
  if (out == NULL)
    return -ENOMEM;
  now_ns = rlb__now_ns();
  for (i = 0; i < b->capacity; i++) {
    rc = rlb__read_slot(b, i, error_code, model, now_ns, &out[n]);
    if (rc == 1)
      n++;
  }
  if (n == 0) {
    free(out);
    return 0;
  }
  qsort(out, n, sizeof(*out), compare_expiry_desc);
  *events = out;
  *count = n;
  return 0;
}

void rlb_events_free(rlb_event *events)
{
  free(events);
}

int rlb_stats_get(rlb_board *b, rlb_stats *st)
{
  const rlb_header *h;
  int64_t now_ns = rlb__now_ns();
  struct stat sb;
  uint32_t i;

  if (b == NULL || st == NULL)
    return RLB_EINVALARG;
  h = b->hdr;
  memset(st, 0, sizeof(*st));
  st->capacity = b->capacity;
  for (i = 0; i < b->capacity; i++) {
    const rlb_slot *s = &b->slots[i];
    if (CMM_LOAD_SHARED(s->state) != RLB_SLOT_LIVE)
      continue;
    st->stored++;
    if (CMM_LOAD_SHARED(s->expires_ns) > now_ns)
      st->live++;
  }
  st->records = CMM_LOAD_SHARED(h->records);
  st->evictions = CMM_LOAD_SHARED(h->evictions);
  st->expired_reused = CMM_LOAD_SHARED(h->expired_reused);
  st->cleaned = CMM_LOAD_SHARED(h->cleaned);
  st->cleared = CMM_LOAD_SHARED(h->cleared);
  st->restored = CMM_LOAD_SHARED(h->restored);
  st->recoveries = CMM_LOAD_SHARED(h->recoveries);
  st->board_id = h->board_id;
  st->created_at_us = h->created_at_us;
  st->ttl_factor = h->ttl_factor;
  st->jitter_ms = h->jitter_ms;
  st->probe_timeout_ms = h->probe_timeout_ms;
  st->layout_version = h->layout_version;
  st->waiters = uatomic_read(&h->waiters);
  st->segment_bytes = b->size;
  if (fstat(b->fd, &sb) == 0) {
    st->name_removed = sb.st_nlink == 0;
    st->mode = (uint32_t)(sb.st_mode & 0777);
  }
  st->probe_held = uatomic_read(&h->probe_token) != 0 &&
                   CMM_LOAD_SHARED(h->probe_deadline_ns) > now_ns;
  return 0;
}
