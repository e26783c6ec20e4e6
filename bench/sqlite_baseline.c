/*
 * The SQLite baseline of rlboard-bench: the check and record operations of
 * the Python/SQLite store that rlboard replaces, written in C so that the
 * comparison measures the storage design and not the Python interpreter.
 *
 * The file has the store's table and indexes and runs in WAL mode with a
 * 30 s busy timeout and SQLite's default synchronous setting, which the
 * store keeps. bench_sqlite_check() and bench_sqlite_record() reuse
 * statements prepared once, the fastest way that design can run.
 * bench_sqlite_check_per_call() opens a connection per check, as the store
 * does. Times are ISO 8601 UTC text with microseconds and an explicit
 * offset, compared as text, as the store writes and compares them.
 */
#include "bench.h"

#include <nettle/sha2.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#define BENCH_TTL_FACTOR 0.8
#define BENCH_TIME_TEXT_MAX 96
#define BENCH_BUSY_TIMEOUT_MS 30000

struct bench_sqlite {
  sqlite3 *db;
  sqlite3_stmt *check;
  sqlite3_stmt *insert;
  sqlite3_stmt *delete_all;
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS rate_limit_events ("
    " id TEXT PRIMARY KEY,"
    " error_code TEXT NOT NULL,"
    " model TEXT,"
    " recorded_at TIMESTAMP NOT NULL,"
    " expires_at TIMESTAMP NOT NULL,"
    " source_job_hash TEXT NOT NULL,"
    " duration_seconds REAL NOT NULL);"
    "CREATE INDEX IF NOT EXISTS idx_rate_limit_events_error_code"
    " ON rate_limit_events(error_code);"
    "CREATE INDEX IF NOT EXISTS idx_rate_limit_events_expires_at"
    " ON rate_limit_events(expires_at);"
    "CREATE INDEX IF NOT EXISTS idx_rate_limit_events_model"
    " ON rate_limit_events(model);";

static const char check_sql[] =
    "SELECT expires_at FROM rate_limit_events"
    " WHERE error_code = ? AND model = ? AND expires_at > ?"
    " ORDER BY expires_at DESC LIMIT 1";

static const char insert_sql[] =
    "INSERT INTO rate_limit_events (id, error_code, model, recorded_at,"
    " expires_at, source_job_hash, duration_seconds)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)";

/* Formats microseconds since the epoch as Python's isoformat() does for an
 * aware UTC datetime, leaving out the fraction when it is zero. */
static void format_time(int64_t us, char out[BENCH_TIME_TEXT_MAX])
{
  time_t seconds = (time_t)(us / 1000000);
  long micros = (long)(us % 1000000);
  struct tm tm;

  gmtime_r(&seconds, &tm);
  if (micros == 0) {
    snprintf(out, BENCH_TIME_TEXT_MAX, "%04d-%02d-%02dT%02d:%02d:%02d+00:00",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    return;
  }
  snprintf(out, BENCH_TIME_TEXT_MAX,
           "%04d-%02d-%02dT%02d:%02d:%02d.%06ld+00:00", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
}

/* Parses the text format_time() writes back into microseconds, so that a
 * check computes the seconds left as the store does. Returns 0 or -1. */
static int parse_time(const char *text, int64_t *us)
{
  struct tm tm;
  long micros = 0;
  int consumed = 0;

  memset(&tm, 0, sizeof(tm));
  if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
             &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
    return -1;
  if (text[consumed] == '.' &&
      sscanf(text + consumed + 1, "%6ld", &micros) != 1)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  *us = (int64_t)timegm(&tm) * 1000000 + micros;
  return 0;
}

/* Writes the first 16 hex digits of SHA-256 over job followed by ":". */
static void hash_job(const char *job, char out[17])
{
  static const char hex[] = "0123456789abcdef";
  struct sha256_ctx ctx;
  uint8_t digest[SHA256_DIGEST_SIZE];
  int i;

  sha256_init(&ctx);
  sha256_update(&ctx, strlen(job), (const uint8_t *)job);
  sha256_update(&ctx, 1, (const uint8_t *)":");
  sha256_digest(&ctx, sizeof(digest), digest);
  for (i = 0; i < 8; i++) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 0x0f];
  }
  out[16] = '\0';
}

static int report(sqlite3 *db, const char *what, int rc)
{
  bench_error("SQLite %s failed: %s (%s)", what, sqlite3_errstr(rc),
              db != NULL ? sqlite3_errmsg(db) : "no connection");
  return -1;
}

/* Opens a connection as the store does: create if missing, 30 s busy
 * timeout, WAL mode. */
static int open_connection(const char *path, sqlite3 **out)
{
  sqlite3 *db = NULL;
  int rc;

  rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                       NULL);
  if (rc != SQLITE_OK) {
    report(db, "open", rc);
    sqlite3_close(db);
    return -1;
  }
  sqlite3_busy_timeout(db, BENCH_BUSY_TIMEOUT_MS);
  rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    report(db, "PRAGMA journal_mode=WAL", rc);
    sqlite3_close(db);
    return -1;
  }
  *out = db;
  return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt)
{
  int rc =
      sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);

  if (rc != SQLITE_OK)
    return report(db, "prepare", rc);
  return 0;
}

int bench_sqlite_open(bench_sqlite **store, const char *path)
{
  bench_sqlite *s = calloc(1, sizeof(*s));
  int rc;

  if (s == NULL) {
    bench_error("out of memory opening %s", path);
    return -1;
  }
  if (open_connection(path, &s->db) != 0) {
    free(s);
    return -1;
  }
  rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    report(s->db, "schema creation", rc);
    bench_sqlite_close(s);
    return -1;
  }
  if (prepare(s->db, check_sql, &s->check) != 0 ||
      prepare(s->db, insert_sql, &s->insert) != 0 ||
      prepare(s->db, "DELETE FROM rate_limit_events", &s->delete_all) != 0) {
    bench_sqlite_close(s);
    return -1;
  }
  *store = s;
  return 0;
}

void bench_sqlite_close(bench_sqlite *store)
{
  if (store == NULL)
    return;
  sqlite3_finalize(store->check);
  sqlite3_finalize(store->insert);
  sqlite3_finalize(store->delete_all);
  sqlite3_close(store->db);
  free(store);
}

int bench_sqlite_synchronous(bench_sqlite *store)
{
  sqlite3_stmt *stmt = NULL;
  int value = -1;

  if (prepare(store->db, "PRAGMA synchronous", &stmt) != 0)
    return -1;
  if (sqlite3_step(stmt) == SQLITE_ROW)
    value = sqlite3_column_int(stmt, 0);
  sqlite3_finalize(stmt);
  return value;
}

int bench_sqlite_record(bench_sqlite *store, const char *code,
                        double duration_seconds, const char *job,
                        const char *model)
{
  sqlite3_stmt *st = store->insert;
  char id[37];
  char hash[17];
  char recorded[BENCH_TIME_TEXT_MAX];
  char expires[BENCH_TIME_TEXT_MAX];
  uuid_t uuid;
  int64_t now_us = bench_wall_us();
  int64_t ttl_us = (int64_t)(duration_seconds * BENCH_TTL_FACTOR * 1e6);
  int rc;

  uuid_generate_random(uuid);
  uuid_unparse_lower(uuid, id);
  hash_job(job, hash);
  format_time(now_us, recorded);
  format_time(now_us + ttl_us, expires);

  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, code, -1, SQLITE_STATIC);
  if (model != NULL)
    sqlite3_bind_text(st, 3, model, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 3);
  sqlite3_bind_text(st, 4, recorded, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, expires, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, hash, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 7, duration_seconds);
  rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE)
    return report(store->db, "insert", rc);
  return 0;
}

/* Binds and steps a check statement, computing the seconds left from the
 * matching row's expires_at. Returns 1, 0 or -1. */
static int step_check(sqlite3 *db, sqlite3_stmt *st, const char *code,
                      const char *model)
{
  char now_text[BENCH_TIME_TEXT_MAX];
  int64_t now_us = bench_wall_us();
  int64_t expires_us;
  double seconds_left;
  int rc;

  format_time(now_us, now_text);
  sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, now_text, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_DONE)
    return 0;
  if (rc != SQLITE_ROW)
    return report(db, "check query", rc);

  if (parse_time((const char *)sqlite3_column_text(st, 0), &expires_us) != 0) {
    bench_error("SQLite check returned an unreadable expires_at");
    return -1;
  }
  seconds_left = (double)(expires_us - now_us) / 1e6;
  return seconds_left > 0.0 ? 1 : 0;
}

int bench_sqlite_check(bench_sqlite *store, const char *code, const char *model)
{
  int rc = step_check(store->db, store->check, code, model);

  sqlite3_reset(store->check);
  return rc;
}

int bench_sqlite_delete_all(bench_sqlite *store)
{
  int rc = sqlite3_step(store->delete_all);

  sqlite3_reset(store->delete_all);
  if (rc != SQLITE_DONE)
    return report(store->db, "delete", rc);
  return 0;
}

int bench_sqlite_check_per_call(const char *path, const char *code,
                                const char *model)
{
  sqlite3 *db;
  sqlite3_stmt *st = NULL;
  int rc;

  if (open_connection(path, &db) != 0)
    return -1;
  rc = sqlite3_prepare_v2(db, check_sql, -1, &st, NULL);
  if (rc != SQLITE_OK) {
    report(db, "prepare", rc);
    sqlite3_close(db);
    return -1;
  }
  rc = step_check(db, st, code, model);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rc;
}
