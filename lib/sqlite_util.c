/*
 * SQLite helpers shared by snapshot.c and restore.c. They open a file with
 * the connection settings of the SQLite store that the board replaces and
 * run statements. A failed SQLite call becomes a library return code and a
 * log line that names the file and the step that failed.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include <sqlite3.h>

#include "internal.h"
#include "sqlite_util.h"

/* The SQLite store's settings: WAL mode and a 30 s busy timeout. */
#define BUSY_TIMEOUT_MS 30000

/*
 * Maps a failed SQLite call to a return code and logs it with the file and
 * the step that failed.
 */
int rlb__sqlite_fail(sqlite3 *db, int rc, const char *path, const char *step)
{
  int primary = rc & 0xff;
  int sys = db != NULL ? sqlite3_system_errno(db) : 0;
  const char *message = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

  rlb__log(RLB_LOG_ERROR, "%s: %s failed: %s", path, step, message);
  switch (primary) {
  case SQLITE_NOTADB:
    return RLB_ENOTSQLITE;
  case SQLITE_NOMEM:
    return -ENOMEM;
  case SQLITE_FULL:
    return -ENOSPC;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return RLB_ETIMEDOUT;
  case SQLITE_CANTOPEN:
    return sys > 0 ? -sys : RLB_ESQLITE;
  default:
    return RLB_ESQLITE;
  }
}

/* Runs statements that return no rows needed by the caller. */
int rlb__exec_sql(sqlite3 *db, const char *path, const char *sql)
{
  int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

  return rc == SQLITE_OK ? 0 : rlb__sqlite_fail(db, rc, path, sql);
}

/* A path that starts with ':' is passed as "./:..." so that SQLite does not
 * take a file called ":memory:" for an in-memory database. */
int rlb__open_db(const char *path, int flags, sqlite3 **db)
{
  char local[PATH_MAX + 3];
  int rc;

  if (path[0] == ':') {
    if (snprintf(local, sizeof(local), "./%s", path) >= (int)sizeof(local))
      return -ENAMETOOLONG;
    path = local;
  }
  rc = sqlite3_open_v2(path, db, flags, NULL);
  if (rc != SQLITE_OK) {
    rc = rlb__sqlite_fail(*db, rc, path, "open");
    sqlite3_close(*db);
    *db = NULL;
    return rc;
  }
  sqlite3_extended_result_codes(*db, 1);
  sqlite3_busy_timeout(*db, BUSY_TIMEOUT_MS);
  return 0;
}

/* Reads the schema, which is where a file that is not a database fails. */
int rlb__check_database(sqlite3 *db, const char *path)
{
  return rlb__exec_sql(db, path, "SELECT count(*) FROM sqlite_master");
}
