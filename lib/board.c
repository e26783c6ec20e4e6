/*
 * Opening, creating, attaching to and removing boards.
 *
 * Creation is race-free through flock() on the segment's descriptor: the
 * process that initializes holds LOCK_EX from before it sizes the segment
 * until it has published hdr->ready; every opener takes LOCK_SH before it
 * reads the header. A creator that dies releases its lock with its
 * descriptor, so the next opener finds a segment that is not ready and no
 * lock holder, and initializes it again.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "internal.h"

/* Bound on waiting for another process to finish creating a board. */
#define OPEN_TIMEOUT_NS INT64_C(5000000000)
#define OPEN_POLL_NS 1000000L
#define LOCK_TIMEOUT_MS_DEFAULT 10000u

/* Sizes and offsets of a board of a given capacity. */
typedef struct geometry {
  uint32_t index_size;
  uint64_t slots_offset;
  uint64_t index_offset;
  uint64_t free_offset;
  uint64_t heap_offset;
  uint64_t links_offset;
  uint64_t segment_size;
} geometry;

/*
 * The index contains at most 3 keys per event plus the key that matches
 * everything. Eight entries per slot keep its load at or below one half.
 */
static void compute_geometry(uint32_t capacity, geometry *g)
{
  uint32_t size = 8;

  while (size < 8u * capacity)
    size <<= 1;
  g->index_size = size;
  g->slots_offset = sizeof(rlb_header);
  g->index_offset = g->slots_offset + (uint64_t)capacity * sizeof(rlb_slot);
  g->free_offset = g->index_offset + (uint64_t)size * sizeof(rlb_entry);
  g->heap_offset = g->free_offset + (uint64_t)capacity * sizeof(uint32_t);
  g->links_offset = g->heap_offset + (uint64_t)capacity * sizeof(uint32_t);
  g->segment_size = g->links_offset + (uint64_t)capacity * 4 * sizeof(rlb_link);
  g->segment_size = (g->segment_size + 4095) & ~(uint64_t)4095;
}

void rlb_options_init(rlb_options *opts)
{
  memset(opts, 0, sizeof(*opts));
  opts->flags = RLB_CREATE;
  opts->capacity = RLB_CAPACITY_DEFAULT;
  opts->ttl_factor = RLB_TTL_FACTOR_DEFAULT;
  opts->mode = RLB_MODE_DEFAULT;
  opts->jitter_ms = RLB_JITTER_MS_DEFAULT;
  opts->probe_timeout_ms = RLB_PROBE_TIMEOUT_MS_DEFAULT;
  opts->lock_timeout_ms = LOCK_TIMEOUT_MS_DEFAULT;
}

int rlb_name_check(const char *name)
{
  size_t len, i;

  if (name == NULL)
    return RLB_EINVALNAME;
  if (name[0] == '/')
    name++;
  len = strnlen(name, RLB_NAME_MAX + 1);
  if (len == 0 || len > RLB_NAME_MAX)
    return RLB_EINVALNAME;
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return RLB_EINVALNAME;
  for (i = 0; i < len; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return RLB_EINVALNAME;
  }
  return 0;
}

/* Writes "/name" into out, which has room for RLB_NAME_MAX + 2 bytes. */
static void shm_path(const char *name, char *out)
{
  out[0] = '/';
  strcpy(out + 1, name[0] == '/' ? name + 1 : name);
}

static int check_options(const rlb_options *o)
{
  if (o->capacity < RLB_CAPACITY_MIN || o->capacity > RLB_CAPACITY_MAX)
    return RLB_EINVALCAPACITY;
  if (!isfinite(o->ttl_factor) || o->ttl_factor <= 0.0 ||
      o->ttl_factor > RLB_TTL_FACTOR_MAX)
    return RLB_EINVALTTL;
  if ((o->mode & ~0666u) != 0 || (o->mode & 0600u) != 0600u)
    return RLB_EINVALMODE;
  if (o->jitter_ms > RLB_JITTER_MS_MAX ||
      o->probe_timeout_ms > RLB_PROBE_TIMEOUT_MS_MAX ||
      o->probe_timeout_ms == 0 || o->lock_timeout_ms == 0 ||
      (o->flags & ~(uint32_t)(RLB_CREATE | RLB_EXCLUSIVE)) != 0)
    return RLB_EINVALARG;
  return 0;
}

/*
 * Checks a header copy against this build's layout before anything past
 * the header is read. size is the segment's size from fstat().
 */
static int check_header(const rlb_header *h, uint64_t size)
{
  geometry g;

  if (h->magic != RLB_MAGIC)
    return RLB_ENOTBOARD;
  if (h->layout_version != RLB_LAYOUT_VERSION ||
      h->header_size != sizeof(rlb_header) ||
      h->slot_size != sizeof(rlb_slot) || h->entry_size != sizeof(rlb_entry) ||
      h->mutex_size != sizeof(pthread_mutex_t) ||
      h->pointer_size != sizeof(void *))
    return RLB_ELAYOUT;
  if (h->capacity < RLB_CAPACITY_MIN || h->capacity > RLB_CAPACITY_MAX)
    return RLB_ECORRUPT;
  compute_geometry(h->capacity, &g);
  if (h->index_size != g.index_size || h->slots_offset != g.slots_offset ||
      h->index_offset != g.index_offset || h->free_offset != g.free_offset ||
      h->heap_offset != g.heap_offset || h->links_offset != g.links_offset ||
      h->segment_size != g.segment_size || size != g.segment_size)
    return RLB_ECORRUPT;
  if (!isfinite(h->ttl_factor) || h->ttl_factor <= 0.0 ||
      h->ttl_factor > RLB_TTL_FACTOR_MAX || h->jitter_ms > RLB_JITTER_MS_MAX ||
      h->probe_timeout_ms == 0 ||
      h->probe_timeout_ms > RLB_PROBE_TIMEOUT_MS_MAX)
    return RLB_ECORRUPT;
  return 0;
}

/* Returns 1 when n bytes at p are all zero. */
static int all_zero(const void *p, size_t n)
{
  const unsigned char *c = p;
  size_t i;

  for (i = 0; i < n; i++)
    if (c[i] != 0)
      return 0;
  return 1;
}

/*
 * Classifies a segment: 1 when it is ready, 0 when its creation has not
 * finished (empty, all-zero header, or our magic without the ready word),
 * or a negative code for a segment of another kind. *h receives the header
 * copy and *size the segment's size.
 */
static int probe_segment(int fd, rlb_header *h, uint64_t *size)
{
  struct stat st;
  ssize_t n;

  if (fstat(fd, &st) != 0)
    return -errno;
  *size = (uint64_t)st.st_size;
  memset(h, 0, sizeof(*h));
  if (st.st_size == 0)
    return 0;
  n = pread(fd, h, sizeof(*h), 0);
  if (n < 0)
    return -errno;
  if ((size_t)n < sizeof(*h))
    return all_zero(h, (size_t)n) ? 0 : RLB_ECORRUPT;
  if (uatomic_read(&h->ready) == RLB_READY_YES)
    return 1;
  /* A board of another layout may keep its ready word elsewhere, so only
   * a header of this layout, or one not written yet, counts as
   * unfinished; anything else must not be initialized over. */
  if (h->magic == RLB_MAGIC &&
      (h->layout_version == RLB_LAYOUT_VERSION || h->layout_version == 0))
    return 0;
  if (h->magic == RLB_MAGIC)
    return RLB_ELAYOUT;
  if (all_zero(h, sizeof(*h)))
    return 0;
  return RLB_ENOTBOARD;
}

static int init_mutex(pthread_mutex_t *m)
{
  pthread_mutexattr_t attr;
  int rc;

  rc = pthread_mutexattr_init(&attr);
  if (rc == 0)
    rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (rc == 0)
    rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (rc == 0)
    rc = pthread_mutex_init(m, &attr);
  pthread_mutexattr_destroy(&attr);
  return -rc;
}

/*
 * Returns 1 when the lock in a header copy has the kind that init_mutex()
 * gives. glibc's lock functions trust the kind: with a priority-protect or
 * priority-inheritance kind they abort the process on a garbage priority or
 * owner. The kind of a robust mutex never changes after initialization.
 * NOTE: other C libraries are not checked.
 */
static int lock_kind_valid(const pthread_mutex_t *m)
{
#ifdef __GLIBC__
  pthread_mutex_t reference;
  int valid;

  if (init_mutex(&reference) != 0)
    return 0;
  valid = m->__data.__kind == reference.__data.__kind;
  pthread_mutex_destroy(&reference);
  return valid;
#else
  (void)m;
  return 1;
#endif
}

static uint64_t random_board_id(void)
{
  uint64_t id = 0;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

  if (fd >= 0) {
    if (read(fd, &id, sizeof(id)) != (ssize_t)sizeof(id))
      id = 0;
    close(fd);
  }
  if (id == 0)
    id = (uint64_t)rlb__wall_us() ^ ((uint64_t)getpid() << 32);
  return id;
}

/* Writes the header and the free stack of a zeroed segment. */
static int format_segment(void *base, const rlb_options *o, const geometry *g)
{
  rlb_header *h = base;
  uint32_t *free_stack = (void *)((char *)base + g->free_offset);
  uint32_t i;
  int rc;

  h->magic = RLB_MAGIC;
  h->layout_version = RLB_LAYOUT_VERSION;
  h->header_size = sizeof(rlb_header);
  h->slot_size = sizeof(rlb_slot);
  h->entry_size = sizeof(rlb_entry);
  h->capacity = o->capacity;
  h->index_size = g->index_size;
  h->mutex_size = sizeof(pthread_mutex_t);
  h->pointer_size = sizeof(void *);
  h->segment_size = g->segment_size;
  h->slots_offset = g->slots_offset;
  h->index_offset = g->index_offset;
  h->free_offset = g->free_offset;
  h->heap_offset = g->heap_offset;
  h->links_offset = g->links_offset;
  h->ttl_factor = o->ttl_factor;
  h->created_at_us = rlb__wall_us();
  h->board_id = random_board_id();
  h->jitter_ms = o->jitter_ms;
  h->probe_timeout_ms = o->probe_timeout_ms;
  rc = init_mutex(&h->lock.mutex);
  if (rc != 0)
    return rc;

  /* Pops take slot 0 first. */
  for (i = 0; i < o->capacity; i++)
    free_stack[i] = o->capacity - 1 - i;
  h->free_top = o->capacity;
  return 0;
}

/*
 * Initializes the segment under LOCK_EX: truncates what a dead creator may
 * have left, reserves the memory, formats it and publishes the ready word.
 * On ENOSPC the name is removed so that no unusable board remains.
 */
static int initialize(int fd, const char *path, const rlb_options *o)
{
  geometry g;
  void *base;
  int rc;

  rlb__delay_point("init");
  compute_geometry(o->capacity, &g);
  if (ftruncate(fd, 0) != 0)
    return -errno;
  if (fchmod(fd, o->mode) != 0)
    return -errno;
  rc = posix_fallocate(fd, 0, (off_t)g.segment_size);
  if (rc != 0) {
    rlb__log(RLB_LOG_ERROR, "posix_fallocate(%s, %llu bytes): %s", path,
             (unsigned long long)g.segment_size, strerror(rc));
    if (ftruncate(fd, 0) != 0)
      rlb__log(RLB_LOG_WARNING, "ftruncate(%s): %s", path, strerror(errno));
    shm_unlink(path);
    return -rc;
  }
  base = mmap(NULL, g.segment_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED)
    return -errno;
  rc = format_segment(base, o, &g);
  rlb__kill_point("init");
  if (rc == 0) {
    /* Every header store above happens before the ready word is seen. */
    cmm_smp_wmb();
    uatomic_set(&((rlb_header *)base)->ready, RLB_READY_YES);
  }
  munmap(base, g.segment_size);
  return rc;
}

/* Maps a ready segment whose header copy passed check_header(). */
static int map_board(rlb_board *b, const rlb_header *h)
{
  char *base;

  base =
      mmap(NULL, h->segment_size, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
  if (base == MAP_FAILED)
    return -errno;
  b->size = h->segment_size;
  /* Every offset is a multiple of its part's alignment (checked by
   * check_header() through compute_geometry()), so the casts through void *
   * are sound. */
  b->hdr = (void *)base;
  b->capacity = h->capacity;
  b->index_mask = h->index_size - 1;
  b->slots = (void *)(base + h->slots_offset);
  b->index = (void *)(base + h->index_offset);
  b->free_stack = (void *)(base + h->free_offset);
  b->heap = (void *)(base + h->heap_offset);
  b->links = (void *)(base + h->links_offset);
  return 0;
}

static void sleep_ns(long ns)
{
  struct timespec ts = {0, ns};

  nanosleep(&ts, NULL);
}

/* Opens the name, creating it when allowed. *created is set when this call
 * made the name. */
static int open_name(const char *path, const rlb_options *o, int *created)
{
  int fd;

  *created = 0;
  for (;;) {
    if (o->flags & RLB_CREATE) {
      fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0) {
        *created = 1;
        return fd;
      }
      if (errno != EEXIST)
        return -errno;
      if (o->flags & RLB_EXCLUSIVE)
        return -EEXIST;
    }
    fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd >= 0)
      return fd;
    if (errno != ENOENT || !(o->flags & RLB_CREATE))
      return -errno;
    /* Removed between the two calls: try to create it again. */
  }
}

/*
 * Waits until the segment is ready, initializing it when it is not and no
 * other process holds the creation lock. Fills *h with a checked header.
 */
static int attach_ready(int fd, const char *path, const rlb_options *o,
                        rlb_header *h)
{
  int64_t deadline = rlb__now_ns() + OPEN_TIMEOUT_NS;
  uint64_t size;
  int rc;

  for (;;) {
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
      rc = probe_segment(fd, h, &size);
      flock(fd, LOCK_UN);
      if (rc == 1) {
        rc = check_header(h, size);
        if (rc == 0 && !lock_kind_valid(&h->lock.mutex))
          rc = RLB_ECORRUPT;
        return rc;
      }
      if (rc < 0)
        return rc;
      if ((o->flags & RLB_CREATE) && flock(fd, LOCK_EX | LOCK_NB) == 0) {
        /* No process is initializing: this one does, unless another one
         * finished between the two locks. */
        rc = probe_segment(fd, h, &size);
        if (rc == 0)
          rc = initialize(fd, path, o);
        flock(fd, LOCK_UN);
        if (rc < 0)
          return rc;
        continue;
      }
    } else if (errno != EWOULDBLOCK) {
      return -errno;
    }
    if (rlb__now_ns() > deadline)
      return RLB_ENOTREADY;
    sleep_ns(OPEN_POLL_NS);
  }
}

int rlb_open(rlb_board **board, const char *name, const rlb_options *opts)
{
  rlb_options defaults;
  rlb_header h;
  rlb_board *b;
  int created, rc;

  if (board == NULL)
    return RLB_EINVALARG;
  *board = NULL;
  rc = rlb_name_check(name);
  if (rc != 0)
    return rc;
  if (opts == NULL) {
    rlb_options_init(&defaults);
    opts = &defaults;
  }
  rc = check_options(opts);
  if (rc != 0)
    return rc;
  b = calloc(1, sizeof(*b));
  if (b == NULL)
    return -ENOMEM;
  shm_path(name, b->name);
  b->lock_timeout_ms = opts->lock_timeout_ms;
  b->fd = open_name(b->name, opts, &created);
  if (b->fd < 0) {
    rc = b->fd;
    free(b);
    return rc;
  }
  rc = attach_ready(b->fd, b->name, opts, &h);
  if (rc == 0)
    rc = map_board(b, &h);
  if (rc != 0) {
    if (rc != -ENOSPC)
      rlb__log(RLB_LOG_ERROR, "open %s: %s", b->name, rlb_strerror(rc));
    close(b->fd);
    free(b);
    return rc;
  }
  *board = b;
  return 0;
}

int rlb_close(rlb_board *board)
{
  if (board == NULL)
    return 0;
  if (board->hdr != NULL)
    munmap(board->hdr, board->size);
  close(board->fd);
  free(board);
  return 0;
}

/* Returns 0 when the segment at path is a board, of any layout, or an
 * unfinished creation, and RLB_ENOTBOARD for another program's segment. */
static int check_removable(const char *path)
{
  rlb_header h;
  ssize_t n;
  int fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);

  if (fd < 0)
    return -errno;
  memset(&h, 0, sizeof(h));
  n = pread(fd, &h, sizeof(h), 0);
  close(fd);
  if (n < 0)
    return -errno;
  if ((size_t)n >= sizeof(h.magic) && h.magic != RLB_MAGIC &&
      !all_zero(&h, (size_t)n))
    return RLB_ENOTBOARD;
  return 0;
}

int rlb_unlink(const char *name)
{
  char path[RLB_NAME_MAX + 2];
  int rc = rlb_name_check(name);

  if (rc != 0)
    return rc;
  shm_path(name, path);
  rc = check_removable(path);
  if (rc != 0)
    return rc;
  if (shm_unlink(path) != 0)
    return -errno;
  return 0;
}

const char *rlb_name(const rlb_board *board)
{
  return board->name;
}
