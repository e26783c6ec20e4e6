/*
 * The write path: the robust lock and its repair, slot allocation with the
 * eviction rule, the expiry heap, the key index, and the operations that
 * change events (record, cleanup, clear).
 *
 * Every function here except the public entry points runs with the write
 * lock held. Changes to slots and to the index happen between
 * rlb__write_begin() and rlb__write_end(), so that a lock-free reader that
 * sees the same even board_seq before and after its reads saw no change.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include <urcu/futex.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>
#include <uuid/uuid.h>

#include "internal.h"

/* ---- the lock ---------------------------------------------------------- */

#if defined(__SANITIZE_THREAD__)
#define RLB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RLB_TSAN 1
#endif
#endif

#ifdef RLB_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/*
 * Calls pthread_mutex_clocklock(). ThreadSanitizer (GCC 12, Clang 14)
 * intercepts pthread_mutex_timedlock() but not pthread_mutex_clocklock().
 * In its builds the call is therefore announced as a try-lock, which fails
 * when the mutex was not acquired. pthread_mutex_unlock() is intercepted.
 */
static int clock_lock(pthread_mutex_t *mutex, const struct timespec *deadline)
{
  int rc;

#ifdef RLB_TSAN
  __tsan_mutex_pre_lock(mutex, __tsan_mutex_try_lock);
#endif
  rc = pthread_mutex_clocklock(mutex, CLOCK_MONOTONIC, deadline);
#ifdef RLB_TSAN
  __tsan_mutex_post_lock(mutex,
                         rc == 0 || rc == EOWNERDEAD
                             ? __tsan_mutex_try_lock
                             : __tsan_mutex_try_lock |
                                   __tsan_mutex_try_lock_failed,
                         0);
#endif
  return rc;
}

int rlb__lock(rlb_board *b)
{
  struct timespec deadline;
  int rc;

  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += b->lock_timeout_ms / 1000;
  deadline.tv_nsec += (long)(b->lock_timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  rc = clock_lock(&b->hdr->lock.mutex, &deadline);
  if (rc == 0)
    return 0;
  if (rc == ETIMEDOUT) {
    rlb__log(RLB_LOG_ERROR, "%s: lock not free after %u ms", b->name,
             b->lock_timeout_ms);
    return RLB_ELOCKTIMEOUT;
  }
  if (rc == ENOTRECOVERABLE)
    return RLB_ENOTRECOVERABLE;
  if (rc != EOWNERDEAD)
    return -rc;

  /* The previous owner died inside a write: rebuild what it may have left
   * half-done, then mark the mutex usable again. */
  {
    uint32_t dropped;

    rlb__write_begin(b);
    dropped = rlb__rebuild(b);
    b->hdr->recoveries++;
    rlb__write_end(b);
    pthread_mutex_consistent(&b->hdr->lock.mutex);
    rlb__log(RLB_LOG_WARNING,
             "%s: repaired after a writer died holding the lock "
             "(%u half-written events dropped)",
             b->name, dropped);
    rlb__wake(b);
  }
  return 0;
}

void rlb__unlock(rlb_board *b)
{
  pthread_mutex_unlock(&b->hdr->lock.mutex);
}

/* A writer that died inside a write section left board_seq odd; the
 * repairing writer continues that section instead of starting another. */
void rlb__write_begin(rlb_board *b)
{
  uint32_t seq = CMM_LOAD_SHARED(b->hdr->board_seq);

  if ((seq & 1u) == 0)
    CMM_STORE_SHARED(b->hdr->board_seq, seq + 1);
  /* Readers that see the old even value must not see any later store. */
  cmm_smp_wmb();
}

void rlb__write_end(rlb_board *b)
{
  cmm_smp_wmb();
  CMM_STORE_SHARED(b->hdr->board_seq, b->hdr->board_seq + 1);
}

void rlb__wake(rlb_board *b)
{
  uatomic_inc(&b->hdr->wake_seq);
  cmm_smp_mb();
  if (uatomic_read(&b->hdr->waiters) > 0)
    futex_async((int32_t *)&b->hdr->wake_seq, FUTEX_WAKE, INT_MAX, NULL, NULL,
                0);
}

/* ---- slot contents ------------------------------------------------------ */

/* Writes an event into a slot under its sequence counter. */
static void slot_write(rlb_slot *s, const rlb__new_event *ev)
{
  CMM_STORE_SHARED(s->seq, s->seq + 1);
  cmm_smp_wmb();
  rlb__kill_point("slot_odd");
  s->state = RLB_SLOT_LIVE;
  s->recorded_at_us = ev->recorded_at_us;
  s->expires_at_us = ev->expires_at_us;
  s->expires_ns = ev->expires_ns;
  s->duration_seconds = ev->duration_seconds;
  memset(s->id, 0, sizeof(s->id));
  memcpy(s->id, ev->id, RLB_ID_LEN);
  memset(s->job_hash, 0, sizeof(s->job_hash));
  memcpy(s->job_hash, ev->job_hash, RLB_HASH_LEN);
  rlb__kill_point("slot_half");
  memset(s->code, 0, sizeof(s->code));
  strcpy(s->code, ev->code);
  memset(s->model, 0, sizeof(s->model));
  s->has_model = ev->model != NULL;
  if (ev->model != NULL)
    strcpy(s->model, ev->model);
  cmm_smp_wmb();
  CMM_STORE_SHARED(s->seq, s->seq + 1);
}

static void slot_clear(rlb_slot *s)
{
  CMM_STORE_SHARED(s->seq, s->seq + 1);
  cmm_smp_wmb();
  rlb__kill_point("slot_clear");
  s->state = RLB_SLOT_FREE;
  cmm_smp_wmb();
  CMM_STORE_SHARED(s->seq, s->seq + 1);
}

/* ---- the expiry heap ---------------------------------------------------- */

static int64_t heap_key(rlb_board *b, uint32_t pos)
{
  return b->slots[b->heap[pos]].expires_ns;
}

static void heap_set(rlb_board *b, uint32_t pos, uint32_t slot)
{
  b->heap[pos] = slot;
  b->slots[slot].heap_pos = pos;
}

static void heap_up(rlb_board *b, uint32_t pos)
{
  uint32_t slot = b->heap[pos];
  int64_t key = b->slots[slot].expires_ns;

  while (pos > 0) {
    uint32_t parent = (pos - 1) / 2;
    if (heap_key(b, parent) <= key)
      break;
    heap_set(b, pos, b->heap[parent]);
    pos = parent;
  }
  heap_set(b, pos, slot);
}

static void heap_down(rlb_board *b, uint32_t pos)
{
  uint32_t len = b->hdr->heap_len;
  uint32_t slot = b->heap[pos];
  int64_t key = b->slots[slot].expires_ns;

  for (;;) {
    uint32_t child = 2 * pos + 1;
    if (child >= len)
      break;
    if (child + 1 < len && heap_key(b, child + 1) < heap_key(b, child))
      child++;
    if (key <= heap_key(b, child))
      break;
    heap_set(b, pos, b->heap[child]);
    pos = child;
  }
  heap_set(b, pos, slot);
}

static void heap_push(rlb_board *b, uint32_t slot)
{
  uint32_t pos = b->hdr->heap_len++;

  heap_set(b, pos, slot);
  heap_up(b, pos);
}

static void heap_remove(rlb_board *b, uint32_t slot)
{
  uint32_t pos = b->slots[slot].heap_pos;
  uint32_t last = --b->hdr->heap_len;
  uint32_t moved;

  b->slots[slot].heap_pos = RLB_NO_SLOT;
  if (pos == last)
    return;
  moved = b->heap[last];
  heap_set(b, pos, moved);
  heap_up(b, pos);
  heap_down(b, b->slots[moved].heap_pos);
}

/* ---- the key index ------------------------------------------------------ */

static rlb_link *link_of(rlb_board *b, uint32_t slot, unsigned kind)
{
  return &b->links[(size_t)slot * 4 + kind];
}

/* Returns the position of the key's entry, or of the empty entry where it
 * would go. */
static uint32_t index_find(rlb_board *b, unsigned kind, const char *code,
                           const char *model, uint64_t hash)
{
  uint32_t pos = rlb__home(hash, b->index_mask);

  for (;;) {
    rlb_entry *e = &b->index[pos];
    if (e->refs == 0)
      return pos;
    if (e->hash == hash && e->kind == kind &&
        rlb__slot_has_key(&b->slots[e->head], kind, code, model))
      return pos;
    pos = (pos + 1) & b->index_mask;
  }
}

/* Adds the event in slot to its key of this kind: links it into the key's
 * list and raises the key's maximum. */
static void index_add(rlb_board *b, uint32_t slot, unsigned kind)
{
  const rlb_slot *s = &b->slots[slot];
  rlb_link *link = link_of(b, slot, kind);
  const char *code, *model;
  uint64_t hash;
  rlb_entry *e;

  rlb__key_of(s, kind, &code, &model);
  hash = rlb__key_hash(code, model);
  e = &b->index[index_find(b, kind, code, model, hash)];
  if (e->refs == 0) {
    e->kind = kind;
    e->hash = hash;
    e->max_expires_ns = s->expires_ns;
    e->max_slot = slot;
    link->next = RLB_NO_SLOT;
    b->hdr->index_used++;
  } else {
    link->next = e->head;
    link_of(b, e->head, kind)->prev = slot;
    if (s->expires_ns >= e->max_expires_ns) {
      e->max_expires_ns = s->expires_ns;
      e->max_slot = slot;
    }
  }
  link->prev = RLB_NO_SLOT;
  e->head = slot;
  e->refs++;
}

/* Deletes the entry at pos by shifting later entries of its probe run back,
 * so that lookups need no tombstones. */
static void index_delete(rlb_board *b, uint32_t pos)
{
  uint32_t next = pos;

  /* The entry's refs is already 0, so its probe run is cut here. */
  rlb__kill_point("index_delete");
  for (;;) {
    uint32_t home;
    next = (next + 1) & b->index_mask;
    if (b->index[next].refs == 0)
      break;
    home = rlb__home(b->index[next].hash, b->index_mask);
    /* Move next into the hole unless its home lies cyclically in
     * (pos, next]. */
    if (((next - home) & b->index_mask) >= ((next - pos) & b->index_mask)) {
      b->index[pos] = b->index[next];
      pos = next;
    }
  }
  memset(&b->index[pos], 0, sizeof(rlb_entry));
  b->hdr->index_used--;
}

/* Sets the entry's maximum from the events on its list. */
static void index_recompute(rlb_board *b, rlb_entry *e)
{
  uint32_t slot;

  e->max_expires_ns = INT64_MIN;
  for (slot = e->head; slot != RLB_NO_SLOT;
       slot = link_of(b, slot, e->kind)->next) {
    if (b->slots[slot].expires_ns >= e->max_expires_ns) {
      e->max_expires_ns = b->slots[slot].expires_ns;
      e->max_slot = slot;
    }
  }
}

/*
 * Removes the event in slot from its key of this kind. When it was the
 * key's latest event and is still live, the maximum is recomputed from the
 * key's list, unless recompute is 0: a bulk removal then calls
 * index_refresh() once at the end instead of once per event. An expired
 * maximum is kept: a check already returns clear for it, and the key's
 * next event replaces it.
 */
static void index_release(rlb_board *b, uint32_t slot, unsigned kind,
                          int64_t now_ns, int recompute)
{
  const rlb_slot *s = &b->slots[slot];
  rlb_link *link = link_of(b, slot, kind);
  const char *code, *model;
  uint64_t hash;
  uint32_t pos;
  rlb_entry *e;

  rlb__key_of(s, kind, &code, &model);
  hash = rlb__key_hash(code, model);
  pos = index_find(b, kind, code, model, hash);
  e = &b->index[pos];
  if (e->refs == 0)
    return;
  if (--e->refs == 0) {
    index_delete(b, pos);
    return;
  }
  if (link->prev == RLB_NO_SLOT)
    e->head = link->next;
  else
    link_of(b, link->prev, kind)->next = link->next;
  if (link->next != RLB_NO_SLOT)
    link_of(b, link->next, kind)->prev = link->prev;
  if (recompute && e->max_slot == slot && s->expires_ns > now_ns)
    index_recompute(b, e);
}

/* Recomputes the maximum of every key whose maximum lies in the future:
 * O(index size + stored events), for the end of a bulk removal. */
static void index_refresh(rlb_board *b, int64_t now_ns)
{
  uint32_t pos;

  for (pos = 0; pos <= b->index_mask; pos++) {
    rlb_entry *e = &b->index[pos];
    if (e->refs > 0 && e->max_expires_ns > now_ns)
      index_recompute(b, e);
  }
}

/* The kinds of key an event carries. */
static unsigned key_kinds(const rlb_slot *s, unsigned kinds[4])
{
  unsigned n = 0;

  kinds[n++] = RLB_KEY_ANY;
  kinds[n++] = RLB_KEY_CODE;
  if (s->has_model) {
    kinds[n++] = RLB_KEY_MODEL;
    kinds[n++] = RLB_KEY_CODE_MODEL;
  }
  return n;
}

/* ---- insertion and removal ---------------------------------------------- */

static void remove_slot(rlb_board *b, uint32_t slot, int64_t now_ns,
                        int recompute)
{
  unsigned kinds[4], n, k;

  n = key_kinds(&b->slots[slot], kinds);
  for (k = 0; k < n; k++)
    index_release(b, slot, kinds[k], now_ns, recompute);
  heap_remove(b, slot);
  slot_clear(&b->slots[slot]);
  b->free_stack[b->hdr->free_top++] = slot;
  b->hdr->stored--;
}

void rlb__remove(rlb_board *b, uint32_t slot)
{
  remove_slot(b, slot, rlb__now_ns(), 1);
}

int rlb__insert(rlb_board *b, const rlb__new_event *ev, int64_t now_ns)
{
  unsigned kinds[4], n, k;
  int how = RLB__SLOT_FREE;
  uint32_t slot;

  if (b->hdr->free_top == 0) {
    slot = b->heap[0];
    if (b->slots[slot].expires_ns <= now_ns) {
      how = RLB__SLOT_EXPIRED;
      b->hdr->expired_reused++;
    } else {
      how = RLB__SLOT_EVICTED;
      b->hdr->evictions++;
    }
    rlb__remove(b, slot);
  }
  slot = b->free_stack[--b->hdr->free_top];
  slot_write(&b->slots[slot], ev);
  rlb__kill_point("slot_written");
  heap_push(b, slot);
  n = key_kinds(&b->slots[slot], kinds);
  for (k = 0; k < n; k++)
    index_add(b, slot, kinds[k]);
  b->hdr->stored++;
  return how;
}

uint32_t rlb__find_id(rlb_board *b, const char *id)
{
  uint32_t i;

  for (i = 0; i < b->capacity; i++)
    if (b->slots[i].state == RLB_SLOT_LIVE &&
        memcmp(b->slots[i].id, id, RLB_ID_LEN) == 0)
      return i;
  return RLB_NO_SLOT;
}

/* ---- repair ------------------------------------------------------------- */

/* Returns 1 when job_hash is RLB_HASH_LEN lowercase hex digits. */
static int job_hash_valid(const char *job_hash)
{
  size_t i;

  for (i = 0; i < RLB_HASH_LEN; i++) {
    char c = job_hash[i];

    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return 0;
  }
  return job_hash[RLB_HASH_LEN] == '\0';
}

/* Returns 1 when a stored slot contains an event that rlb_verify() accepts:
 * every string terminated inside the slot, and every field as a record or
 * a restore writes it. */
static int slot_valid(const rlb_slot *s)
{
  if (s->state != RLB_SLOT_LIVE)
    return 0;
  if (memchr(s->id, '\0', sizeof(s->id)) == NULL || rlb__check_id(s->id) != 0 ||
      memchr(s->code, '\0', sizeof(s->code)) == NULL || s->code[0] == '\0' ||
      memchr(s->model, '\0', sizeof(s->model)) == NULL ||
      memchr(s->job_hash, '\0', sizeof(s->job_hash)) == NULL ||
      !job_hash_valid(s->job_hash))
    return 0;
  if (s->has_model > 1 || (s->has_model == 1) != (s->model[0] != '\0'))
    return 0;
  if (rlb__check_duration(s->duration_seconds) != 0)
    return 0;
  return s->expires_at_us >= s->recorded_at_us;
}

/* Empties a slot that contains no valid event, whatever its counter and its
 * bytes, so that a repaired board keeps no garbage in its free slots. An
 * odd counter, left by a writer that died, stays odd until the end. */
static void slot_scrub(rlb_slot *s)
{
  uint32_t seq = CMM_LOAD_SHARED(s->seq);

  if ((seq & 1u) == 0)
    CMM_STORE_SHARED(s->seq, seq + 1);
  cmm_smp_wmb();
  memset((char *)s + offsetof(rlb_slot, state), 0,
         sizeof(*s) - offsetof(rlb_slot, state));
  cmm_smp_wmb();
  CMM_STORE_SHARED(s->seq, (seq | 1u) + 1);
}

uint32_t rlb__rebuild(rlb_board *b)
{
  rlb_header *h = b->hdr;
  uint32_t i, dropped = 0;

  h->free_top = 0;
  h->heap_len = 0;
  h->stored = 0;
  h->index_used = 0;
  memset(b->index, 0, (size_t)(b->index_mask + 1) * sizeof(rlb_entry));
  memset(b->links, 0xff, (size_t)b->capacity * 4 * sizeof(rlb_link));
  for (i = b->capacity; i-- > 0;) {
    rlb_slot *s = &b->slots[i];
    /* An odd counter means that a writer died inside this slot. The event
     * it was writing never returned to its caller, so it is dropped, like
     * any event that is not valid. */
    if ((s->seq & 1u) == 0 && slot_valid(s))
      continue;
    if ((s->seq & 1u) || s->state != RLB_SLOT_FREE)
      dropped++;
    slot_scrub(s);
    b->free_stack[h->free_top++] = i;
  }
  rlb__kill_point("rebuild");
  for (i = 0; i < b->capacity; i++) {
    unsigned kinds[4], n, k;
    if (b->slots[i].state != RLB_SLOT_LIVE)
      continue;
    heap_push(b, i);
    n = key_kinds(&b->slots[i], kinds);
    for (k = 0; k < n; k++)
      index_add(b, i, kinds[k]);
    h->stored++;
  }
  return dropped;
}

/* ---- operations --------------------------------------------------------- */

int rlb_record(rlb_board *b, const char *error_code, double duration_seconds,
               const char *job, const char *model, char id[RLB_ID_LEN + 1])
{
  char job_hash[RLB_HASH_LEN + 1];
  char new_id[RLB_ID_LEN + 1];
  rlb__new_event ev;
  uuid_t uuid;
  double ttl;
  int64_t now_ns;
  int rc;

  if (b == NULL)
    return RLB_EINVALARG;
  if ((rc = rlb__check_code(error_code)) != 0 ||
      (rc = rlb__check_model(model)) != 0 ||
      (rc = rlb__check_duration(duration_seconds)) != 0 ||
      (rc = rlb_job_hash(job, job_hash)) != 0)
    return rc;
  uuid_generate_random(uuid);
  uuid_unparse_lower(uuid, new_id);

  ttl = b->hdr->ttl_factor * duration_seconds;
  now_ns = rlb__now_ns();
  ev.id = new_id;
  ev.code = error_code;
  ev.model = model;
  ev.job_hash = job_hash;
  ev.duration_seconds = duration_seconds;
  ev.recorded_at_us = rlb__wall_us();
  ev.expires_at_us = ev.recorded_at_us + llround(ttl * 1e6);
  ev.expires_ns = now_ns + llround(ttl * 1e9);

  rc = rlb__lock(b);
  if (rc != 0)
    return rc;
  rlb__write_begin(b);
  /* The clock is read again: an event that expired while this call waited
   * for the lock is reused as expired, not counted as evicted. */
  rlb__insert(b, &ev, rlb__now_ns());
  b->hdr->records++;
  rlb__write_end(b);
  rlb__unlock(b);
  rlb__wake(b);
  if (id != NULL)
    memcpy(id, new_id, RLB_ID_LEN + 1);
  return 0;
}

int rlb_cleanup(rlb_board *b, size_t *removed)
{
  int64_t now_ns;
  size_t count = 0;
  int rc;

  if (b == NULL)
    return RLB_EINVALARG;
  rc = rlb__lock(b);
  if (rc != 0)
    return rc;
  now_ns = rlb__now_ns();
  rlb__write_begin(b);
  /* The heap's top is the event that expires soonest. */
  while (b->hdr->heap_len > 0 && b->slots[b->heap[0]].expires_ns <= now_ns) {
    rlb__remove(b, b->heap[0]);
    count++;
    if (count == 1)
      rlb__kill_point("cleanup");
  }
  b->hdr->cleaned += count;
  rlb__write_end(b);
  rlb__unlock(b);
  if (removed != NULL)
    *removed = count;
  return 0;
}

int rlb_clear_id(rlb_board *b, const char *id)
{
  uint32_t slot;
  int rc;

  if (b == NULL)
    return RLB_EINVALARG;
  rc = rlb__check_id(id);
  if (rc != 0)
    return rc;
  rc = rlb__lock(b);
  if (rc != 0)
    return rc;
  slot = rlb__find_id(b, id);
  if (slot == RLB_NO_SLOT || b->slots[slot].expires_ns <= rlb__now_ns()) {
    rlb__unlock(b);
    return RLB_ENOTFOUND;
  }
  rlb__write_begin(b);
  rlb__remove(b, slot);
  b->hdr->cleared++;
  rlb__write_end(b);
  rlb__unlock(b);
  rlb__wake(b);
  return 0;
}

int rlb_clear(rlb_board *b, const char *error_code, const char *model,
              size_t *removed)
{
  int64_t now_ns;
  size_t count = 0;
  uint32_t i;
  int rc;

  if (b == NULL)
    return RLB_EINVALARG;
  if ((rc = rlb__check_filter_code(error_code)) != 0 ||
      (rc = rlb__check_model(model)) != 0)
    return rc;
  rc = rlb__lock(b);
  if (rc != 0)
    return rc;
  now_ns = rlb__now_ns();
  rlb__write_begin(b);
  for (i = 0; i < b->capacity; i++) {
    rlb_slot *s = &b->slots[i];
    if (s->state != RLB_SLOT_LIVE || s->expires_ns <= now_ns)
      continue;
    if (error_code != NULL && strcmp(s->code, error_code) != 0)
      continue;
    if (model != NULL && !(s->has_model && strcmp(s->model, model) == 0))
      continue;
    remove_slot(b, i, now_ns, 0);
    count++;
  }
  index_refresh(b, now_ns);
  b->hdr->cleared += count;
  rlb__write_end(b);
  rlb__unlock(b);
  if (count > 0)
    rlb__wake(b);
  if (removed != NULL)
    *removed = count;
  return 0;
}

#ifdef RLB_FAULT_INJECTION
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

void rlb__kill_point(const char *name)
{
  const char *want = getenv("RLB_KILL_POINT");

  if (want != NULL && strcmp(want, name) == 0)
    raise(SIGKILL);
}

void rlb__delay_point(const char *name)
{
  const char *want = getenv("RLB_DELAY_POINT");
  const char *ms = getenv("RLB_DELAY_MS");

  if (want != NULL && strcmp(want, name) == 0) {
    struct timespec ts;
    long delay = ms ? strtol(ms, NULL, 10) : 100;
    ts.tv_sec = delay / 1000;
    ts.tv_nsec = (delay % 1000) * 1000000L;
    nanosleep(&ts, NULL);
  }
}
#endif
