/*
 * Declarations shared by the library's source files: the per-process
 * handle, the write-lock helpers, slot and index maintenance, clocks,
 * input checks, logging and the kill points of fault-injection builds.
 * Nothing here is exported.
 */
#ifndef RLB_INTERNAL_H
#define RLB_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "layout.h"
#include "rlboard.h"

/* The per-process handle. The shared state is *hdr and what follows it. */
struct rlb_board {
  int fd;
  size_t size;
  rlb_header *hdr;
  rlb_slot *slots;
  rlb_entry *index;
  uint32_t *free_stack;
  uint32_t *heap;
  rlb_link *links;
  uint32_t capacity;
  uint32_t index_mask;
  uint32_t lock_timeout_ms;
  char name[RLB_NAME_MAX + 2]; /* with the leading slash */
};

/* An event to insert, fully formed by the caller. */
typedef struct rlb__new_event {
  const char *id; /* 36 characters */
  const char *code;
  const char *model;    /* NULL for none */
  const char *job_hash; /* 16 characters */
  double duration_seconds;
  int64_t recorded_at_us;
  int64_t expires_at_us;
  int64_t expires_ns;
} rlb__new_event;

/* What rlb__insert() did to find a slot. */
enum { RLB__SLOT_FREE = 0, RLB__SLOT_EXPIRED = 1, RLB__SLOT_EVICTED = 2 };

/* CLOCK_MONOTONIC in ns; inline because every check reads it. */
static inline int64_t rlb__now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CLOCK_REALTIME in us. */
int64_t rlb__wall_us(void);

/* Input checks; each returns 0 or the RLB_E* code for that field. */
int rlb__check_code(const char *code);
int rlb__check_model(const char *model);      /* NULL is valid */
int rlb__check_filter_code(const char *code); /* NULL is valid */
int rlb__check_id(const char *id);
int rlb__check_duration(double seconds);

/* Logs through the installed callback; a no-op without one. */
void rlb__log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Takes the write lock, bounded by the handle's lock timeout. A previous
 * owner that died is handled here: the board is repaired, the mutex made
 * consistent and the recovery counted, and the caller proceeds as usual.
 * Returns 0, RLB_ELOCKTIMEOUT or RLB_ENOTRECOVERABLE.
 */
int rlb__lock(rlb_board *b);
void rlb__unlock(rlb_board *b);

/* Makes board_seq odd before a change and even after it (under the lock). */
void rlb__write_begin(rlb_board *b);
void rlb__write_end(rlb_board *b);

/*
 * Inserts an event under the lock, between rlb__write_begin() and
 * rlb__write_end(). Picks a free slot, else the expired event that expires
 * soonest, else evicts the live event that expires soonest. Returns one of
 * RLB__SLOT_* and counts expired reuse and eviction.
 */
int rlb__insert(rlb_board *b, const rlb__new_event *ev, int64_t now_ns);

/* Removes the event in slot under the lock, inside a write section. */
void rlb__remove(rlb_board *b, uint32_t slot);

/* Returns the slot that holds id, or RLB_NO_SLOT (under the lock). */
uint32_t rlb__find_id(rlb_board *b, const char *id);

/* Rebuilds the free stack, the heap and the index from the slots, marking
 * half-written slots free. Runs under the lock. Returns the number of
 * half-written slots dropped. */
uint32_t rlb__rebuild(rlb_board *b);

/*
 * Copies slot i into *out when it holds an event that is live at now_ns and
 * matches the filters. Lock-free: retries while the slot's counter is odd
 * or changes, a bounded number of times. Returns 1 for a copy, 0 for no
 * match, RLB_EBUSY when the slot stayed half-written.
 */
int rlb__read_slot(const rlb_board *b, uint32_t i, const char *code,
                   const char *model, int64_t now_ns, rlb_event *out);

/* Wakes every process in rlb_wait(): bumps wake_seq and calls FUTEX_WAKE. */
void rlb__wake(rlb_board *b);

/* Stores the key of kind kind of an event: its code and model, or NULL for
 * "any" where the kind leaves one out. Under the lock only. */
static inline void rlb__key_of(const rlb_slot *s, unsigned kind,
                               const char **code, const char **model)
{
  *code = (kind & RLB_KEY_CODE) ? s->code : NULL;
  *model = (kind & RLB_KEY_MODEL) ? s->model : NULL;
}

/* Returns 1 when the event in s carries the key (kind, code, model). Under
 * the lock only, because it trusts the slot's strings to be terminated. */
static inline int rlb__slot_has_key(const rlb_slot *s, unsigned kind,
                                    const char *code, const char *model)
{
  if ((kind & RLB_KEY_CODE) && strcmp(s->code, code) != 0)
    return 0;
  if (kind & RLB_KEY_MODEL)
    return s->has_model == 1 && strcmp(s->model, model) == 0;
  return 1;
}

/* Computes the index hash of a key. code or model NULL means any. */
uint64_t rlb__key_hash(const char *code, const char *model);

/* The key hash is inline because every check computes it. */
/* Loads the last 1 to 7 bytes of a string into a word with whole-word
 * loads, because copying bytes one by one into a word stalls the load that
 * follows. */
static inline uint64_t rlb__load_tail(const char *p, size_t len)
{
  const unsigned char *u = (const unsigned char *)p;
  uint32_t a, b;

  if (len >= 4) {
    memcpy(&a, p, 4);
    memcpy(&b, p + len - 4, 4);
    return ((uint64_t)a << 32) | b;
  }
  return ((uint64_t)u[0] << 16) | ((uint64_t)u[len >> 1] << 8) | u[len - 1];
}

/*
 * Sums one product per eight-byte word of a string, each word offset by a
 * constant of its position. The products do not depend on one another, so
 * the processor computes them in parallel. The salt and the length
 * keep ("ab", "c") apart from ("a", "bc").
 */
static inline uint64_t rlb__sum_words(const char *p, size_t len, uint64_t salt)
{
  const uint64_t step = UINT64_C(0x9e3779b97f4a7c15);
  const uint64_t m = UINT64_C(0xbf58476d1ce4e5b9);
  uint64_t acc = (len ^ (salt << 8)) * step;
  uint64_t pos = salt * m;
  uint64_t w;

  while (len > 8) {
    memcpy(&w, p, 8);
    pos += step;
    acc += (w ^ pos) * m;
    p += 8;
    len -= 8;
  }
  if (len == 8)
    memcpy(&w, p, 8);
  else if (len > 0)
    w = rlb__load_tail(p, len);
  else
    w = 0;
  pos += step;
  acc += (w ^ pos) * m;
  return acc;
}

static inline uint64_t rlb__key_hash_n(const char *code, size_t code_len,
                                       const char *model, size_t model_len)
{
  unsigned kind = (code ? RLB_KEY_CODE : 0) | (model ? RLB_KEY_MODEL : 0);
  uint64_t h = (kind + 1) * UINT64_C(0x94d049bb133111eb);

  if (code != NULL)
    h += rlb__sum_words(code, code_len, 1);
  if (model != NULL)
    h += rlb__sum_words(model, model_len, 2);
  /* A product's bit n depends only on input bits up to n, so the fold
   * brings the top bits of each word down before the final multiply. */
  h ^= h >> 29;
  return h * UINT64_C(0xff51afd7ed558ccd);
}

/* The index position where a key's probe run starts: the hash's high half,
 * whose bits depend on every input bit after the final multiply. */
static inline uint32_t rlb__home(uint64_t hash, uint32_t mask)
{
  return (uint32_t)(hash >> 32) & mask;
}

/*
 * Kill points for the crash tests. In builds with RLB_FAULT_INJECTION, when
 * the environment variable RLB_KILL_POINT equals name, the process raises
 * SIGKILL there. Other builds compile the call away.
 */
#ifdef RLB_FAULT_INJECTION
void rlb__kill_point(const char *name);
void rlb__delay_point(const char *name);
#else
#define rlb__kill_point(name) ((void)0)
#define rlb__delay_point(name) ((void)0)
#endif

#endif /* RLB_INTERNAL_H */
