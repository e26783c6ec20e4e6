/*
 * The shared layout of a board segment: a header, then the slots that hold
 * events, then the key index, then the writer-only bookkeeping arrays.
 *
 * The layout contains no pointers: every part is found by an offset from the
 * start of the segment, so each process may map the segment at another
 * address. Every field has a fixed width. Any change to a size or offset
 * below is a new RLB_LAYOUT_VERSION, and an attach refuses a segment whose
 * header does not match this build.
 *
 * Concurrency protocol:
 * - Writers hold hdr->mutex, a robust process-shared mutex.
 * - Each slot has a sequence counter, odd while a writer changes the slot.
 * - hdr->board_seq is odd while a writer changes any slot or the index. A
 *   check reads the index between two equal, even values of board_seq.
 * - Readers only load; they never store to the segment.
 * - The slots are the source of truth. The index, its per-key lists, the
 *   free stack and the expiry heap are derived from them, and repair
 *   rebuilds all of them.
 */
#ifndef RLB_LAYOUT_H
#define RLB_LAYOUT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "rlboard.h"

#define RLB_MAGIC                                                              \
  UINT64_C(0x3130445241424c52) /* "RLBARD01" in memory order                   \
                                */
#define RLB_LAYOUT_VERSION 1u
#define RLB_CACHE_LINE 64u
#define RLB_MUTEX_AREA 64u

/* Slot states. */
#define RLB_SLOT_FREE 0u
#define RLB_SLOT_LIVE 1u

/* Key kinds: the filters that a key matches. */
#define RLB_KEY_ANY 0u        /* no code, no model */
#define RLB_KEY_CODE 1u       /* code, any model */
#define RLB_KEY_MODEL 2u      /* any code, model */
#define RLB_KEY_CODE_MODEL 3u /* code and model */

/* Values of rlb_header.ready. */
#define RLB_READY_NO 0u
#define RLB_READY_YES 0x52454459u

/* No slot, in the heap position and index entry fields. */
#define RLB_NO_SLOT UINT32_MAX

typedef struct rlb_header {
  /* Layout description: written once at initialization. */
  uint64_t magic;
  uint32_t layout_version;
  uint32_t header_size;
  uint32_t slot_size;
  uint32_t entry_size;
  uint32_t capacity;
  uint32_t index_size; /* entries, a power of two */
  uint32_t mutex_size; /* sizeof(pthread_mutex_t) of the creator */
  uint32_t pointer_size;
  uint64_t segment_size;
  uint64_t slots_offset;
  uint64_t index_offset;
  uint64_t free_offset;  /* uint32_t[capacity]: stack of free slots */
  uint64_t heap_offset;  /* uint32_t[capacity]: min-heap by expiry */
  uint64_t links_offset; /* rlb_link[capacity][4]: events per key */

  /* Settings, written once at initialization. */
  double ttl_factor;
  int64_t created_at_us;
  uint64_t board_id;
  uint32_t jitter_ms;
  uint32_t probe_timeout_ms;

  /* Published last by the creator, with release ordering. */
  uint32_t ready;
  uint32_t pad0;

  /* The write lock, in an area of its own cache line. */
  union {
    pthread_mutex_t mutex;
    uint8_t mutex_area[RLB_MUTEX_AREA];
  } lock;

  /* Written under the lock, read without it. */
  uint32_t board_seq;
  uint32_t stored;   /* occupied slots */
  uint32_t free_top; /* entries on the free stack */
  uint32_t heap_len;
  uint32_t index_used;
  uint32_t pad2;
  uint64_t records;
  uint64_t evictions;
  uint64_t expired_reused;
  uint64_t cleaned;
  uint64_t cleared;
  uint64_t restored;
  uint64_t recoveries;
  uint8_t pad3[48];

  /* Wake-up and probe state, on a cache line of its own, written by writers
   * and by waiters (waiters count themselves). */
  uint32_t wake_seq; /* futex word, bumped on every change */
  uint32_t waiters;
  uint64_t probe_token;      /* 0 when free */
  int64_t probe_deadline_ns; /* CLOCK_MONOTONIC */
  uint64_t probe_key_hash;
  int32_t probe_pid;
  uint32_t pad4;
  int64_t confirmed_ns;        /* CLOCK_MONOTONIC of the last success */
  uint64_t confirmed_key_hash; /* key of that successful probe */
  uint8_t pad5[8];
} rlb_header;

/* One event. 256 bytes, four cache lines. */
typedef struct rlb_slot {
  uint32_t seq;
  uint32_t state;
  uint32_t heap_pos; /* writer-only: position in the heap */
  uint32_t has_model;
  int64_t recorded_at_us;
  int64_t expires_at_us;
  int64_t expires_ns; /* CLOCK_MONOTONIC */
  double duration_seconds;
  char id[40];
  char job_hash[24];
  char code[RLB_CODE_MAX + 1];
  char model[RLB_MODEL_MAX + 1];
  uint8_t pad[16];
} rlb_slot;

/*
 * One key of the index. refs counts the stored events that carry the key
 * (0 marks an empty entry); head is one of them, whose strings identify the
 * key. max_expires_ns is the latest expiry among those events whenever it
 * lies in the future; once it has passed it may also be that of an event
 * already removed, for which a check returns clear all the same.
 */
typedef struct rlb_entry {
  uint32_t head;
  uint32_t kind;
  uint64_t hash;
  int64_t max_expires_ns;
  uint32_t max_slot;
  uint32_t refs;
} rlb_entry;

/* Writer-only links of a slot in the list of events that share a key. */
typedef struct rlb_link {
  uint32_t next;
  uint32_t prev;
} rlb_link;

_Static_assert(sizeof(rlb_slot) == 256, "slot size");
_Static_assert(sizeof(rlb_entry) == 32, "entry size");
_Static_assert(sizeof(rlb_link) == 8, "link size");
_Static_assert(offsetof(rlb_header, ready) == 120, "ready offset");
_Static_assert(offsetof(rlb_header, lock) == 128, "lock offset");
_Static_assert(sizeof(pthread_mutex_t) <= RLB_MUTEX_AREA, "mutex size");
_Static_assert(offsetof(rlb_header, board_seq) == 192, "board_seq offset");
_Static_assert(offsetof(rlb_header, wake_seq) == 320, "wake_seq offset");
_Static_assert(offsetof(rlb_header, confirmed_ns) == 360, "confirmed offset");
_Static_assert(sizeof(rlb_header) == 384, "header size");
_Static_assert(offsetof(rlb_slot, id) == 48, "slot id offset");
_Static_assert(offsetof(rlb_slot, code) == 112, "slot code offset");
_Static_assert(offsetof(rlb_slot, model) == 144, "slot model offset");

#endif /* RLB_LAYOUT_H */
