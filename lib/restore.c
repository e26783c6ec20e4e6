/*
 * rlb_restore(): the events of a SQLite file's rate_limit_events table onto
 * a board. The file may come from rlb_snapshot() or from the SQLite store
 * that the board replaces. It is opened read-only. Every row is checked,
 * and a row that fails a check is reported and skipped. Unexpired events
 * whose id is not on the board are added with their times, and no live
 * event is evicted to make room for them.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "internal.h"
#include "sqlite_util.h"

/* The latest expiry any event can have: the longest duration times the
 * largest TTL factor, in microseconds after the record. */
#define EXPIRY_AHEAD_MAX_US                                                    \
  ((int64_t)(RLB_DURATION_MAX * RLB_TTL_FACTOR_MAX) * INT64_C(1000000))

#define REASON_MAX 128
#define LABEL_MAX 72

static const char select_sql[] =
    "SELECT id, error_code, model, recorded_at, expires_at, source_job_hash, "
    "duration_seconds FROM rate_limit_events";

/* ---- restore: reading and checking rows --------------------------------- */

/* A row of the file that passed every check. */
typedef struct restore_row {
  char id[RLB_ID_LEN + 1];
  char code[RLB_CODE_MAX + 1];
  char model[RLB_MODEL_MAX + 1];
  char hash[RLB_HASH_LEN + 1];
  int has_model;
  int64_t recorded_at_us;
  int64_t expires_at_us;
  double duration_seconds;
} restore_row;

typedef struct restore_rows {
  restore_row *rows;
  size_t count;
  size_t allocated;
} restore_rows;

/* How restore reports a skipped row: to the caller's callback and the
 * library's log. */
typedef struct restore_report {
  const char *path;
  rlb_row_fn fn;
  void *context;
} restore_report;

static void report_row(const restore_report *report, const char *label,
                       const char *reason)
{
  rlb__log(RLB_LOG_WARNING, "%s: row %s skipped: %s", report->path, label,
           reason);
  if (report->fn != NULL)
    report->fn(report->context, label, reason);
}

static const char *type_name(int type)
{
  switch (type) {
  case SQLITE_INTEGER:
    return "an integer";
  case SQLITE_FLOAT:
    return "a real number";
  case SQLITE_BLOB:
    return "a blob";
  case SQLITE_NULL:
    return "NULL";
  default:
    return "text";
  }
}

/*
 * Names a row for reports: its id when that is text, with bytes outside
 * printable ASCII shown as '?' and long values cut short, or else its
 * position in the result, "(row N)".
 */
static void row_label(sqlite3_stmt *stmt, size_t number, char *label)
{
  const unsigned char *text;
  int length, i, n = 0;

  if (sqlite3_column_type(stmt, COL_ID) != SQLITE_TEXT) {
    snprintf(label, LABEL_MAX, "(row %zu)", number);
    return;
  }
  text = sqlite3_column_text(stmt, COL_ID);
  length = sqlite3_column_bytes(stmt, COL_ID);
  for (i = 0; text != NULL && i < length && n < LABEL_MAX - 4; i++)
    label[n++] = text[i] >= 0x20 && text[i] < 0x7f ? (char)text[i] : '?';
  if (i < length) {
    memcpy(label + n, "...", 3);
    n += 3;
  }
  label[n] = '\0';
}

/*
 * Copies a TEXT column of 1 to max bytes, without NUL bytes, into out.
 * Returns 0, or -1 with the reason written to reason.
 */
static int read_text(sqlite3_stmt *stmt, int column, const char *name,
                     size_t max, char *out, char *reason)
{
  int type = sqlite3_column_type(stmt, column);
  const unsigned char *text;
  size_t length;

  if (type != SQLITE_TEXT) {
    snprintf(reason, REASON_MAX, "%s is %s, not text", name, type_name(type));
    return -1;
  }
  text = sqlite3_column_text(stmt, column);
  length = (size_t)sqlite3_column_bytes(stmt, column);
  if (text == NULL || length == 0) {
    snprintf(reason, REASON_MAX, "%s is empty", name);
    return -1;
  }
  if (length > max) {
    snprintf(reason, REASON_MAX, "%s is longer than %zu bytes", name, max);
    return -1;
  }
  if (memchr(text, '\0', length) != NULL) {
    snprintf(reason, REASON_MAX, "%s contains a NUL byte", name);
    return -1;
  }
  memcpy(out, text, length);
  out[length] = '\0';
  return 0;
}

static int read_time(sqlite3_stmt *stmt, int column, const char *name,
                     int64_t *us, char *reason)
{
  char text[TIME_TEXT_MAX + 1];

  if (read_text(stmt, column, name, TIME_TEXT_MAX, text, reason) != 0)
    return -1;
  if (rlb_parse_time(text, us) != 0) {
    snprintf(reason, REASON_MAX, "%s is not an ISO 8601 time", name);
    return -1;
  }
  return 0;
}

static int is_job_hash(const char *hash)
{
  size_t i;

  for (i = 0; i < RLB_HASH_LEN; i++)
    if (!((hash[i] >= '0' && hash[i] <= '9') ||
          (hash[i] >= 'a' && hash[i] <= 'f')))
      return 0;
  return hash[RLB_HASH_LEN] == '\0';
}

static int read_duration(sqlite3_stmt *stmt, double *seconds, char *reason)
{
  int type = sqlite3_column_type(stmt, COL_DURATION);

  if (type != SQLITE_FLOAT && type != SQLITE_INTEGER) {
    snprintf(reason, REASON_MAX, "duration_seconds is %s, not a number",
             type_name(type));
    return -1;
  }
  *seconds = sqlite3_column_double(stmt, COL_DURATION);
  if (rlb__check_duration(*seconds) != 0) {
    snprintf(reason, REASON_MAX,
             "duration_seconds is not a finite number in (0, %.0f]",
             RLB_DURATION_MAX);
    return -1;
  }
  return 0;
}

/*
 * Checks every field of the current row and copies it into *row. Returns
 * 0, or -1 with the reason written to reason.
 */
static int read_row(sqlite3_stmt *stmt, int64_t now_us, restore_row *row,
                    char *reason)
{
  if (read_text(stmt, COL_ID, "id", RLB_ID_LEN, row->id, reason) != 0)
    return -1;
  if (rlb__check_id(row->id) != 0) {
    snprintf(reason, REASON_MAX, "id is not a lowercase UUID");
    return -1;
  }
  if (read_text(stmt, COL_CODE, "error_code", RLB_CODE_MAX, row->code,
                reason) != 0)
    return -1;
  if (rlb__check_code(row->code) != 0) {
    snprintf(reason, REASON_MAX, "error_code: %s",
             rlb_strerror(RLB_EINVALCODE));
    return -1;
  }

  row->has_model = sqlite3_column_type(stmt, COL_MODEL) != SQLITE_NULL;
  row->model[0] = '\0';
  if (row->has_model) {
    if (read_text(stmt, COL_MODEL, "model", RLB_MODEL_MAX, row->model,
                  reason) != 0)
      return -1;
    if (rlb__check_model(row->model) != 0) {
      snprintf(reason, REASON_MAX, "model: %s", rlb_strerror(RLB_EINVALMODEL));
      return -1;
    }
  }

  if (read_time(stmt, COL_RECORDED_AT, "recorded_at", &row->recorded_at_us,
                reason) != 0 ||
      read_time(stmt, COL_EXPIRES_AT, "expires_at", &row->expires_at_us,
                reason) != 0)
    return -1;
  if (row->expires_at_us - now_us > EXPIRY_AHEAD_MAX_US) {
    snprintf(reason, REASON_MAX, "expires_at is more than %.0f days ahead",
             RLB_DURATION_MAX * RLB_TTL_FACTOR_MAX / 86400.0);
    return -1;
  }
  if (row->expires_at_us < row->recorded_at_us) {
    snprintf(reason, REASON_MAX, "expires_at is before recorded_at");
    return -1;
  }

  if (read_text(stmt, COL_HASH, "source_job_hash", RLB_HASH_LEN, row->hash,
                reason) != 0)
    return -1;
  if (!is_job_hash(row->hash)) {
    snprintf(reason, REASON_MAX,
             "source_job_hash is not %d lowercase hex digits", RLB_HASH_LEN);
    return -1;
  }
  return read_duration(stmt, &row->duration_seconds, reason);
}

static int rows_append(restore_rows *rows, const restore_row *row)
{
  if (rows->count == rows->allocated) {
    size_t allocated = rows->allocated ? rows->allocated * 2 : 256;
    restore_row *grown = realloc(rows->rows, allocated * sizeof(*grown));

    if (grown == NULL)
      return -ENOMEM;
    rows->rows = grown;
    rows->allocated = allocated;
  }
  rows->rows[rows->count++] = *row;
  return 0;
}

/* Returns 0 when the file has a table called rate_limit_events. */
static int find_table(sqlite3 *db, const char *path)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  rc = sqlite3_prepare_v2(db,
                          "SELECT 1 FROM sqlite_master WHERE type = 'table' "
                          "AND name = 'rate_limit_events' COLLATE NOCASE",
                          -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc == SQLITE_ROW)
    return 0;
  if (rc == SQLITE_DONE) {
    rlb__log(RLB_LOG_ERROR, "%s: no table rate_limit_events", path);
    return RLB_ENOTABLE;
  }
  return rlb__sqlite_fail(db, rc, path, "reading the schema");
}

/*
 * Reads every row of the table. Rows that fail a check are reported and
 * counted as invalid, rows that expired by now_us are counted, and the
 * others are kept in *rows.
 */
static int read_rows(sqlite3 *db, const restore_report *report, int64_t now_us,
                     restore_rows *rows, rlb_restore_result *result)
{
  sqlite3_stmt *stmt = NULL;
  char reason[REASON_MAX], label[LABEL_MAX];
  restore_row row;
  size_t number = 0;
  int rc;

  rc = find_table(db, report->path);
  if (rc != 0)
    return rc;
  rc = sqlite3_prepare_v2(db, select_sql, -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    return rlb__sqlite_fail(db, rc, report->path,
                            "SELECT FROM rate_limit_events");

  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    number++;
    if (read_row(stmt, now_us, &row, reason) != 0) {
      row_label(stmt, number, label);
      report_row(report, label, reason);
      result->invalid++;
    } else if (row.expires_at_us <= now_us) {
      result->expired++;
    } else if (rows_append(rows, &row) != 0) {
      sqlite3_finalize(stmt);
      return -ENOMEM;
    }
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE)
    return rlb__sqlite_fail(db, rc, report->path, "reading rate_limit_events");
  return 0;
}

/* ---- restore: opening the file ------------------------------------------ */

/* Returns the size of path's "-wal" file, or 0 when there is none. */
static off_t wal_size(const char *path)
{
  char wal[PATH_MAX + 8];
  struct stat st;

  if (snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal))
    return 0;
  return stat(wal, &st) == 0 ? st.st_size : 0;
}

/*
 * Opens path as an immutable database: the way to read a WAL-mode file
 * whose "-shm" file cannot be created, such as in a directory this process
 * cannot write. SQLite then takes no locks and ignores any "-wal" file, so
 * this is used only when no "-wal" file holds data.
 */
static int open_immutable(const char *path, sqlite3 **db)
{
  static const char keep[] = "-._~/";
  char resolved[PATH_MAX];
  char uri[3 * PATH_MAX + 32];
  size_t n;
  const char *p;
  int rc;

  if (realpath(path, resolved) == NULL)
    return -errno;
  n = (size_t)snprintf(uri, sizeof(uri), "file:");
  for (p = resolved; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || strchr(keep, c) != NULL)
      uri[n++] = (char)c;
    else
      n += (size_t)snprintf(uri + n, sizeof(uri) - n, "%%%02X", c);
  }
  snprintf(uri + n, sizeof(uri) - n, "?immutable=1");

  rc = sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
  if (rc != SQLITE_OK) {
    rc = rlb__sqlite_fail(*db, rc, path, "open");
    sqlite3_close(*db);
    *db = NULL;
    return rc;
  }
  sqlite3_extended_result_codes(*db, 1);
  return 0;
}

/*
 * Opens path read-only and reads its schema. A WAL-mode file needs its
 * "-shm" file, which SQLite creates even for a read-only connection; when
 * it cannot, the file is opened as immutable instead.
 */
static int open_for_restore(const char *path, sqlite3 **db)
{
  int rc, primary;

  rc = rlb__open_db(path, SQLITE_OPEN_READONLY, db);
  if (rc != 0)
    return rc;
  rc =
      sqlite3_exec(*db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    return 0;
  primary = rc & 0xff;
  if ((primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY) &&
      wal_size(path) == 0) {
    rlb__log(RLB_LOG_INFO, "%s: %s, so the file is read as immutable", path,
             sqlite3_errmsg(*db));
    sqlite3_close(*db);
    rc = open_immutable(path, db);
    if (rc == 0)
      rc = rlb__check_database(*db, path);
    if (rc != 0) {
      sqlite3_close(*db);
      *db = NULL;
    }
    return rc;
  }
  rc = rlb__sqlite_fail(*db, rc, path, "reading the schema");
  sqlite3_close(*db);
  *db = NULL;
  return rc;
}

/* ---- restore: inserting ------------------------------------------------- */

/*
 * A set of ids for the duplicate check: open addressing over pointers to
 * 36-character ids, sized to stay at most half full.
 */
typedef struct id_set {
  const char **slots;
  size_t mask;
} id_set;

static int id_set_init(id_set *set, size_t expected)
{
  size_t size = 16;

  while (size < 2 * expected)
    size *= 2;
  set->slots = calloc(size, sizeof(*set->slots));
  if (set->slots == NULL)
    return -ENOMEM;
  set->mask = size - 1;
  return 0;
}

static size_t id_hash(const char *id)
{
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  int i;

  for (i = 0; i < RLB_ID_LEN; i++)
    h = (h ^ (unsigned char)id[i]) * UINT64_C(0x100000001b3);
  return (size_t)(h ^ (h >> 32));
}

/* Adds id unless present. Returns 1 when added, 0 when already there. */
static int id_set_add(id_set *set, const char *id)
{
  size_t pos = id_hash(id) & set->mask;

  while (set->slots[pos] != NULL) {
    if (memcmp(set->slots[pos], id, RLB_ID_LEN) == 0)
      return 0;
    pos = (pos + 1) & set->mask;
  }
  set->slots[pos] = id;
  return 1;
}

/* Sorts the latest expiry first, so that the longest limits are restored
 * when the board has too little room for all of them. */
static int compare_rows(const void *a, const void *b)
{
  const restore_row *x = a, *y = b;

  if (x->expires_at_us != y->expires_at_us)
    return x->expires_at_us > y->expires_at_us ? -1 : 1;
  return memcmp(x->id, y->id, RLB_ID_LEN);
}

/*
 * Collects the ids of every stored slot into set and returns how many
 * stored events are live at now_ns. Runs under the lock.
 */
static uint32_t scan_board(rlb_board *b, id_set *set, int64_t now_ns)
{
  uint32_t i, live = 0;

  for (i = 0; i < b->capacity; i++) {
    const rlb_slot *s = &b->slots[i];

    if (s->state != RLB_SLOT_LIVE)
      continue;
    id_set_add(set, s->id);
    if (s->expires_ns > now_ns)
      live++;
  }
  return live;
}

/*
 * Inserts the rows that are still unexpired and not on the board, under
 * one hold of the write lock. A row is inserted only while the board has a
 * free or expired slot for it, so no live event is evicted. The rows that
 * find no slot are marked in full[], and the caller reports them once the
 * lock is released.
 */
static int insert_rows(rlb_board *b, restore_rows *rows, id_set *set,
                       unsigned char *full, rlb_restore_result *result)
{
  int64_t now_ns, now_us;
  uint32_t live;
  int kill_point_passed = 0;
  size_t i;
  int rc;

  rc = rlb__lock(b);
  if (rc != 0)
    return rc;
  now_ns = rlb__now_ns();
  now_us = rlb__wall_us();
  live = scan_board(b, set, now_ns);

  for (i = 0; i < rows->count; i++) {
    const restore_row *row = &rows->rows[i];
    rlb__new_event ev;

    if (row->expires_at_us <= now_us) {
      result->expired++;
      continue;
    }
    if (!id_set_add(set, row->id)) {
      result->duplicate++;
      continue;
    }
    if (live >= b->capacity) {
      full[i] = 1;
      result->invalid++;
      continue;
    }
    ev.id = row->id;
    ev.code = row->code;
    ev.model = row->has_model ? row->model : NULL;
    ev.job_hash = row->hash;
    ev.duration_seconds = row->duration_seconds;
    ev.recorded_at_us = row->recorded_at_us;
    ev.expires_at_us = row->expires_at_us;
    /* The wall-clock expiry becomes a CLOCK_MONOTONIC one by the time left
     * now. read_row() rejected any row more than EXPIRY_AHEAD_MAX_US
     * ahead, so the product cannot overflow. */
    ev.expires_ns = now_ns + (row->expires_at_us - now_us) * 1000;

    rlb__write_begin(b);
    rlb__insert(b, &ev, now_ns);
    b->hdr->restored++;
    if (!kill_point_passed && i >= rows->count / 2) {
      /* Crash tests stop here, half-way, inside a write section. */
      rlb__kill_point("restore");
      kill_point_passed = 1;
    }
    rlb__write_end(b);
    live++;
    result->restored++;
  }
  rlb__unlock(b);
  if (result->restored > 0)
    rlb__wake(b);
  return 0;
}

static int restore_rows_into(rlb_board *b, restore_rows *rows,
                             const restore_report *report,
                             rlb_restore_result *result)
{
  rlb_restore_result counts = *result;
  unsigned char *full = NULL;
  id_set set = {NULL, 0};
  size_t i;
  int rc;

  if (rows->count == 0)
    return 0;
  qsort(rows->rows, rows->count, sizeof(rows->rows[0]), compare_rows);
  full = calloc(rows->count, 1);
  rc = full != NULL ? id_set_init(&set, b->capacity + rows->count) : -ENOMEM;
  if (rc == 0)
    rc = insert_rows(b, rows, &set, full, &counts);
  if (rc == 0) {
    for (i = 0; i < rows->count; i++)
      if (full[i])
        report_row(report, rows->rows[i].id, "board is full of live events");
    *result = counts;
  }
  free(set.slots);
  free(full);
  return rc;
}

int rlb_restore(rlb_board *board, const char *path, rlb_restore_result *result,
                rlb_row_fn fn, void *context)
{
  restore_report report = {path, fn, context};
  rlb_restore_result counts = {0, 0, 0, 0};
  restore_rows rows = {NULL, 0, 0};
  sqlite3 *db = NULL;
  struct stat st;
  int rc;

  if (board == NULL || path == NULL || path[0] == '\0')
    return RLB_EINVALARG;
  /* SQLite would report a missing file as a generic open failure. */
  if (stat(path, &st) != 0)
    return -errno;
  if (S_ISDIR(st.st_mode))
    return -EISDIR;

  rc = open_for_restore(path, &db);
  if (rc != 0)
    return rc;
  rc = read_rows(db, &report, rlb__wall_us(), &rows, &counts);
  sqlite3_close(db);
  if (rc == 0)
    rc = restore_rows_into(board, &rows, &report, &counts);
  free(rows.rows);

  if (rc == 0 && result != NULL)
    *result = counts;
  return rc;
}
