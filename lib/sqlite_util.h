/*
 * Declarations shared by snapshot.c, restore.c and sqlite_util.c: the
 * columns of the rate_limit_events table, the length of its time texts, and
 * the helpers that open a SQLite file and map SQLite failures to return
 * codes.
 */
#ifndef RLB_SQLITE_UTIL_H
#define RLB_SQLITE_UTIL_H

#include <sqlite3.h>

/* The maximum length of a time text, which fits a 9-digit fraction and an
 * offset. */
#define TIME_TEXT_MAX 40

/* The columns of rate_limit_events, in the order in which the INSERT of a
 * snapshot and the SELECT of a restore name them. */
enum {
  COL_ID,
  COL_CODE,
  COL_MODEL,
  COL_RECORDED_AT,
  COL_EXPIRES_AT,
  COL_HASH,
  COL_DURATION,
  COL_COUNT
};

/* SQLite helpers, in sqlite_util.c */

int rlb__sqlite_fail(sqlite3 *db, int rc, const char *path, const char *step);
int rlb__exec_sql(sqlite3 *db, const char *path, const char *sql);
int rlb__open_db(const char *path, int flags, sqlite3 **db);
int rlb__check_database(sqlite3 *db, const char *path);

#endif /* RLB_SQLITE_UTIL_H */
