/*
 * rlb_verify(): a full consistency check of a board under the write lock.
 *
 * It compares the header with the handle, then reads every slot, the free
 * stack, the expiry heap, the key index and the per-key lists, and reports
 * each broken invariant as one line of text. It changes nothing. Every
 * value read from the segment is bounds-checked before it is used, so a
 * corrupt board is described instead of crashing the check.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <urcu/system.h>

#include "internal.h"

/* The maximum number of "missing" lines that the free stack and heap
 * checks each report. */
#define REPORT_MAX_PER_CHECK 20

/* The state of one verification. */
typedef struct verifier {
  rlb_board *b;
  rlb_violation_fn fn;
  void *context;
  int count;
  int64_t now_ns;
  uint32_t live_slots;  /* slots in state LIVE */
  uint8_t *seen;        /* per slot, reused by each check */
  uint32_t *member_pos; /* per slot and kind: index position that lists it */
} verifier;

static void report(verifier *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void report(verifier *v, const char *fmt, ...)
{
  char message[256];
  va_list ap;

  v->count++;
  if (v->fn == NULL)
    return;
  va_start(ap, fmt);
  vsnprintf(message, sizeof(message), fmt, ap);
  va_end(ap);
  v->fn(v->context, message);
}

/* ---- keys --------------------------------------------------------------- */

/* Returns 1 when an event carries a key of this kind. */
static int slot_has_kind(const rlb_slot *s, unsigned kind)
{
  return (kind & RLB_KEY_MODEL) == 0 || s->has_model == 1;
}

/* Returns 1 when a slot's strings are all NUL-terminated inside the slot,
 * which every comparison of keys relies on. */
static int slot_terminated(const rlb_slot *s)
{
  return memchr(s->id, '\0', sizeof(s->id)) != NULL &&
         memchr(s->job_hash, '\0', sizeof(s->job_hash)) != NULL &&
         memchr(s->code, '\0', sizeof(s->code)) != NULL &&
         memchr(s->model, '\0', sizeof(s->model)) != NULL;
}

static int slot_live(const verifier *v, uint32_t slot)
{
  return slot < v->b->capacity && v->b->slots[slot].state == RLB_SLOT_LIVE;
}

/* Returns 1 when slot contains an event whose strings may be compared. */
static int slot_usable(const verifier *v, uint32_t slot)
{
  return slot_live(v, slot) && slot_terminated(&v->b->slots[slot]);
}

/* ---- header ------------------------------------------------------------- */

static void check_offset(verifier *v, const char *field, uint64_t value,
                         const void *part)
{
  uint64_t expected = (uint64_t)((const char *)part - (const char *)v->b->hdr);

  if (value != expected)
    report(v, "header: %s is %llu, the handle maps it at %llu", field,
           (unsigned long long)value, (unsigned long long)expected);
}

static void check_header(verifier *v)
{
  const rlb_board *b = v->b;
  const rlb_header *h = b->hdr;
  uint32_t seq = CMM_LOAD_SHARED(h->board_seq);

  if (h->magic != RLB_MAGIC)
    report(v, "header: magic is %#llx, expected %#llx",
           (unsigned long long)h->magic, (unsigned long long)RLB_MAGIC);
  if (h->layout_version != RLB_LAYOUT_VERSION)
    report(v, "header: layout version is %u, expected %u", h->layout_version,
           RLB_LAYOUT_VERSION);
  if (h->header_size != sizeof(rlb_header) ||
      h->slot_size != sizeof(rlb_slot) || h->entry_size != sizeof(rlb_entry))
    report(v,
           "header: header, slot or entry size is %u/%u/%u, expected "
           "%zu/%zu/%zu",
           h->header_size, h->slot_size, h->entry_size, sizeof(rlb_header),
           sizeof(rlb_slot), sizeof(rlb_entry));
  if (h->mutex_size != sizeof(pthread_mutex_t) ||
      h->pointer_size != sizeof(void *))
    report(v, "header: mutex or pointer size is %u/%u, expected %zu/%zu",
           h->mutex_size, h->pointer_size, sizeof(pthread_mutex_t),
           sizeof(void *));
  if (h->ready != RLB_READY_YES)
    report(v, "header: ready word is %#x, expected %#x", h->ready,
           RLB_READY_YES);
  if (h->capacity != b->capacity)
    report(v, "header: capacity is %u, the handle has %u", h->capacity,
           b->capacity);
  if (h->index_size != b->index_mask + 1)
    report(v, "header: index size is %u, the handle has %u", h->index_size,
           b->index_mask + 1);
  if (h->segment_size != b->size)
    report(v, "header: segment size is %llu, the handle maps %zu",
           (unsigned long long)h->segment_size, b->size);
  check_offset(v, "slots offset", h->slots_offset, b->slots);
  check_offset(v, "index offset", h->index_offset, b->index);
  check_offset(v, "free stack offset", h->free_offset, b->free_stack);
  check_offset(v, "heap offset", h->heap_offset, b->heap);
  check_offset(v, "links offset", h->links_offset, b->links);
  if (!isfinite(h->ttl_factor) || h->ttl_factor <= 0.0 ||
      h->ttl_factor > RLB_TTL_FACTOR_MAX)
    report(v, "header: TTL factor %g is outside (0, %g]", h->ttl_factor,
           RLB_TTL_FACTOR_MAX);
  if (seq & 1u)
    report(v, "header: board_seq %u is odd outside a write", seq);
}

/* ---- slots -------------------------------------------------------------- */

static int valid_hash(const char *hash)
{
  size_t i;

  if (strlen(hash) != RLB_HASH_LEN)
    return 0;
  for (i = 0; i < RLB_HASH_LEN; i++)
    if (!((hash[i] >= '0' && hash[i] <= '9') ||
          (hash[i] >= 'a' && hash[i] <= 'f')))
      return 0;
  return 1;
}

/* Checks the fields of a stored event; s is terminated. */
static void check_event(verifier *v, uint32_t i, const rlb_slot *s)
{
  if (rlb__check_id(s->id) != 0)
    report(v, "slot %u: id \"%s\" is not a lowercase UUID", i, s->id);
  if (rlb__check_code(s->code) != 0)
    report(v, "slot %u: error code is empty", i);
  if (s->has_model > 1)
    report(v, "slot %u: has_model is %u", i, s->has_model);
  else if (s->has_model == 1 && s->model[0] == '\0')
    report(v, "slot %u: model is empty but marked present", i);
  else if (s->has_model == 0 && s->model[0] != '\0')
    report(v, "slot %u: model \"%s\" is marked absent", i, s->model);
  if (!valid_hash(s->job_hash))
    report(v, "slot %u: job hash \"%s\" is not 16 lowercase hex digits", i,
           s->job_hash);
  if (rlb__check_duration(s->duration_seconds) != 0)
    report(v, "slot %u: duration %g is outside (0, %g]", i, s->duration_seconds,
           RLB_DURATION_MAX);
  if (s->expires_at_us < s->recorded_at_us)
    report(v, "slot %u: expires before it was recorded", i);
}

static void check_slots(verifier *v)
{
  const rlb_board *b = v->b;
  uint32_t i, stored;

  for (i = 0; i < b->capacity; i++) {
    const rlb_slot *s = &b->slots[i];
    uint32_t seq = CMM_LOAD_SHARED(s->seq);

    if (seq & 1u)
      report(v, "slot %u: sequence counter %u is odd outside a write", i, seq);
    if (s->state != RLB_SLOT_FREE && s->state != RLB_SLOT_LIVE) {
      report(v, "slot %u: state %u is neither free nor live", i, s->state);
      continue;
    }
    if (!slot_terminated(s)) {
      report(v, "slot %u: a string is not NUL-terminated", i);
      continue;
    }
    if (s->state == RLB_SLOT_LIVE) {
      v->live_slots++;
      check_event(v, i, s);
    }
  }
  stored = b->hdr->stored;
  if (stored != v->live_slots)
    report(v, "count: stored is %u but %u slots are occupied", stored,
           v->live_slots);
}

/* ---- free stack and heap ------------------------------------------------ */

static void check_free_stack(verifier *v)
{
  const rlb_board *b = v->b;
  uint32_t top = b->hdr->free_top, i, reported = 0;

  if (top != b->capacity - v->live_slots)
    report(v, "free stack: %u entries, but %u slots are free", top,
           b->capacity - v->live_slots);
  if (top > b->capacity)
    top = b->capacity;
  memset(v->seen, 0, b->capacity);
  for (i = 0; i < top; i++) {
    uint32_t slot = b->free_stack[i];

    if (slot >= b->capacity) {
      report(v, "free stack: entry %u is slot %u, out of range", i, slot);
      continue;
    }
    if (v->seen[slot])
      report(v, "free stack: slot %u appears twice", slot);
    else if (b->slots[slot].state != RLB_SLOT_FREE)
      report(v, "free stack: slot %u is occupied", slot);
    v->seen[slot] = 1;
  }
  for (i = 0; i < b->capacity && reported < REPORT_MAX_PER_CHECK; i++) {
    if (b->slots[i].state == RLB_SLOT_FREE && !v->seen[i]) {
      report(v, "free stack: free slot %u is missing", i);
      reported++;
    }
  }
}

static void check_heap(verifier *v)
{
  const rlb_board *b = v->b;
  uint32_t len = b->hdr->heap_len, i, reported = 0;

  if (len != v->live_slots)
    report(v, "heap: %u entries, but %u slots are occupied", len,
           v->live_slots);
  if (len > b->capacity)
    len = b->capacity;
  memset(v->seen, 0, b->capacity);
  for (i = 0; i < len; i++) {
    uint32_t slot = b->heap[i], parent;

    if (!slot_live(v, slot)) {
      report(v, "heap: entry %u is slot %u, which is not occupied", i, slot);
      continue;
    }
    if (v->seen[slot])
      report(v, "heap: slot %u appears twice", slot);
    v->seen[slot] = 1;
    if (b->slots[slot].heap_pos != i)
      report(v, "heap: slot %u is at %u but its heap_pos is %u", slot, i,
             b->slots[slot].heap_pos);
    if (i == 0)
      continue;
    parent = b->heap[(i - 1) / 2];
    if (parent < b->capacity &&
        b->slots[parent].expires_ns > b->slots[slot].expires_ns)
      report(v, "heap: slot %u at %u expires before its parent slot %u", slot,
             i, parent);
  }
  for (i = 0; i < b->capacity && reported < REPORT_MAX_PER_CHECK; i++) {
    if (b->slots[i].state == RLB_SLOT_LIVE && !v->seen[i]) {
      report(v, "heap: occupied slot %u is missing", i);
      reported++;
    }
  }
}

/* ---- index -------------------------------------------------------------- */

/*
 * Looks a key up the way a reader does, with a bounded probe. Returns the
 * position of its entry or RLB_NO_SLOT.
 */
static uint32_t index_lookup(const verifier *v, unsigned kind, const char *code,
                             const char *model)
{
  const rlb_board *b = v->b;
  uint64_t hash = rlb__key_hash(code, model);
  uint32_t pos = rlb__home(hash, b->index_mask), probes;

  for (probes = 0; probes <= b->index_mask; probes++) {
    const rlb_entry *e = &b->index[pos];

    if (e->refs == 0)
      return RLB_NO_SLOT;
    if (e->hash == hash && e->kind == kind && slot_usable(v, e->head) &&
        rlb__slot_has_key(&b->slots[e->head], kind, code, model))
      return pos;
    pos = (pos + 1) & b->index_mask;
  }
  return RLB_NO_SLOT;
}

/*
 * Walks the list of the entry at pos: every member carries the key and
 * links back to its predecessor, the list has refs members, and the
 * entry's maximum covers them. Records each member in member_pos.
 */
static void check_list(verifier *v, uint32_t pos, const char *code,
                       const char *model)
{
  const rlb_board *b = v->b;
  const rlb_entry *e = &b->index[pos];
  uint32_t slot = e->head, prev = RLB_NO_SLOT, length = 0;
  int64_t max_ns = INT64_MIN;
  uint32_t max_slot = RLB_NO_SLOT;

  while (slot != RLB_NO_SLOT) {
    const rlb_link *link;
    uint32_t *member;

    if (!slot_usable(v, slot)) {
      report(v, "index %u: list reaches slot %u, which is not occupied", pos,
             slot);
      return;
    }
    if (!rlb__slot_has_key(&b->slots[slot], e->kind, code, model)) {
      report(v, "index %u: list member slot %u lacks the key", pos, slot);
      return;
    }
    member = &v->member_pos[(size_t)slot * 4 + e->kind];
    if (*member == pos) {
      report(v, "index %u: list loops back to slot %u", pos, slot);
      return;
    }
    if (*member != RLB_NO_SLOT)
      report(v, "index %u: slot %u is also listed by index %u", pos, slot,
             *member);
    *member = pos;
    link = &b->links[(size_t)slot * 4 + e->kind];
    if (link->prev != prev)
      report(v, "index %u: slot %u links back to %u instead of %u", pos, slot,
             link->prev, prev);
    if (b->slots[slot].expires_ns >= max_ns) {
      max_ns = b->slots[slot].expires_ns;
      max_slot = slot;
    }
    length++;
    prev = slot;
    slot = link->next;
  }
  if (length != e->refs)
    report(v, "index %u: refs is %u but the list has %u events", pos, e->refs,
           length);
  if (e->max_expires_ns < max_ns)
    report(v, "index %u: maximum expiry is below that of slot %u", pos,
           max_slot);
  else if (e->max_expires_ns > v->now_ns && e->max_expires_ns != max_ns)
    report(v, "index %u: unexpired maximum matches none of its events", pos);
}

/* Checks the entry at pos, whose refs is not 0. */
static void check_entry(verifier *v, uint32_t pos)
{
  const rlb_board *b = v->b;
  const rlb_entry *e = &b->index[pos];
  const rlb_slot *head;
  const char *code, *model;
  uint32_t home, at;

  if (e->kind > RLB_KEY_CODE_MODEL) {
    report(v, "index %u: kind %u is invalid", pos, e->kind);
    return;
  }
  if (!slot_usable(v, e->head)) {
    report(v, "index %u: head slot %u is not occupied", pos, e->head);
    return;
  }
  head = &b->slots[e->head];
  if (!slot_has_kind(head, e->kind)) {
    report(v, "index %u: head slot %u has no model for a model key", pos,
           e->head);
    return;
  }
  rlb__key_of(head, e->kind, &code, &model);
  if (e->hash != rlb__key_hash(code, model)) {
    report(v, "index %u: hash does not match the key of head slot %u", pos,
           e->head);
    return;
  }

  /* A lookup stops at the first empty entry, so none may lie between the
   * key's home position and its entry. */
  home = rlb__home(e->hash, b->index_mask);
  for (at = home; at != pos; at = (at + 1) & b->index_mask) {
    if (b->index[at].refs == 0) {
      report(v, "index %u: unreachable, empty entry %u lies on its probe", pos,
             at);
      break;
    }
  }
  check_list(v, pos, code, model);
}

static void check_index(verifier *v)
{
  const rlb_board *b = v->b;
  uint32_t pos, used = 0, i;
  unsigned kind;

  for (pos = 0; pos <= b->index_mask; pos++) {
    if (b->index[pos].refs == 0)
      continue;
    used++;
    check_entry(v, pos);
  }
  if (used != b->hdr->index_used)
    report(v, "index: index_used is %u but %u entries are in use",
           b->hdr->index_used, used);

  /* Every stored event is found under each of its keys, in that key's
   * list. Together with the list checks this makes refs the number of
   * stored events that carry the key. */
  for (i = 0; i < b->capacity; i++) {
    const rlb_slot *s = &b->slots[i];

    if (s->state != RLB_SLOT_LIVE || !slot_terminated(s))
      continue;
    for (kind = RLB_KEY_ANY; kind <= RLB_KEY_CODE_MODEL; kind++) {
      uint32_t listed = v->member_pos[(size_t)i * 4 + kind];
      const char *code, *model;
      uint32_t found;

      if (!slot_has_kind(s, kind)) {
        if (listed != RLB_NO_SLOT)
          report(v,
                 "slot %u: listed by index %u under a model key, but "
                 "has no model",
                 i, listed);
        continue;
      }
      rlb__key_of(s, kind, &code, &model);
      found = index_lookup(v, kind, code, model);
      if (found == RLB_NO_SLOT)
        report(v, "slot %u: key of kind %u is not in the index", i, kind);
      else if (listed != found)
        report(v, "slot %u: missing from the list of index %u (kind %u)", i,
               found, kind);
    }
  }
}

/* ---- the board's name --------------------------------------------------- */

static void check_name(verifier *v)
{
  struct stat st;

  if (fstat(v->b->fd, &st) != 0) {
    report(v, "fstat of the board's descriptor failed: %s", strerror(errno));
    return;
  }
  if (st.st_nlink == 0)
    report(v, "board name was removed; new processes cannot open this board: "
              "snapshot it from an attached process, open the name with "
              "RLB_CREATE and restore the snapshot");
}

int rlb_verify(rlb_board *b, rlb_violation_fn fn, void *context)
{
  verifier v;
  int rc;

  if (b == NULL)
    return RLB_EINVALARG;
  memset(&v, 0, sizeof(v));
  v.b = b;
  v.fn = fn;
  v.context = context;
  v.seen = malloc(b->capacity);
  v.member_pos = malloc((size_t)b->capacity * 4 * sizeof(uint32_t));
  if (v.seen == NULL || v.member_pos == NULL) {
    free(v.seen);
    free(v.member_pos);
    return -ENOMEM;
  }
  memset(v.member_pos, 0xff, (size_t)b->capacity * 4 * sizeof(uint32_t));

  rc = rlb__lock(b);
  if (rc == 0) {
    v.now_ns = rlb__now_ns();
    check_header(&v);
    check_slots(&v);
    check_free_stack(&v);
    check_heap(&v);
    check_index(&v);
    check_name(&v);
    rlb__unlock(b);
    rc = v.count;
  }
  free(v.seen);
  free(v.member_pos);
  return rc;
}
