/*
 * Writes the seed inputs of the fuzz targets:
 *
 *   rlboard-fuzz-seeds ATTACH_DIR VERIFY_DIR RESTORE_DIR
 *
 * attach: the segments of real boards of capacity 1 and 8, the same with
 * another layout version, and one cut short. verify: a flags byte and the
 * state of a real board, with and without the dead-owner flag, and one
 * with board_seq odd and an expiry of INT64_MAX. restore: a
 * snapshot of a board with long-lived events, a file with only another
 * table, and a snapshot with rows the restore must skip. The events expire
 * at most 120 days after the seeds were made, so the restore seeds of the
 * kept corpus age. The test script therefore writes fresh ones next to
 * them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "fuzz_common.h"
#include "internal.h"

static void die(const char *step, const char *detail)
{
  fprintf(stderr, "rlboard-fuzz-seeds: %s: %s\n", step, detail);
  exit(1);
}

static void write_file(const char *dir, const char *file, const void *data,
                       size_t size)
{
  char path[4096];
  FILE *out;

  snprintf(path, sizeof(path), "%s/%s", dir, file);
  out = fopen(path, "wb");
  if (out == NULL || fwrite(data, 1, size, out) != size || fclose(out) != 0)
    die("write", path);
}

static void attach_seeds(const char *dir, const char *name)
{
  static const uint32_t capacities[] = {1, 8};
  char file[64];
  uint8_t *segment;
  size_t size, i;
  rlb_board *board;

  for (i = 0; i < 2; i++) {
    board = fuzz_make_board(name, capacities[i]);
    rlb_close(board);
    segment = fuzz_read_segment(name, &size);
    snprintf(file, sizeof(file), "board-capacity-%u", capacities[i]);
    write_file(dir, file, segment, size);
    if (i == 0) {
      write_file(dir, "board-cut-short", segment, sizeof(rlb_header) + 100);
      ((rlb_header *)segment)->layout_version = RLB_LAYOUT_VERSION + 1;
      write_file(dir, "board-other-layout", segment, size);
    }
    free(segment);
    rlb_unlink(name);
  }
}

static void verify_seeds(const char *dir, const char *name)
{
  const size_t offset = offsetof(rlb_header, board_seq);
  rlb_board *board = fuzz_make_board(name, 8);
  uint8_t *segment;
  size_t size;

  rlb_close(board);
  segment = fuzz_read_segment(name, &size);
  rlb_unlink(name);
  /* The byte before the state is the flags byte of the input. */
  segment[offset - 1] = 0;
  write_file(dir, "state", segment + offset - 1, size - offset + 1);
  segment[offset - 1] = 1;
  write_file(dir, "state-dead-owner", segment + offset - 1, size - offset + 1);

  /* A writer inside a write, so checks scan the slots, and an expiry that
   * the scan's conversions must not overflow. */
  segment[offset - 1] = 0;
  ((rlb_header *)segment)->board_seq = 1;
  ((rlb_slot *)(segment + sizeof(rlb_header)))->expires_ns = INT64_MAX;
  write_file(dir, "expiry-near-max-board-changing", segment + offset - 1,
             size - offset + 1);
  free(segment);
}

static void copy_file(const char *from, const char *dir, const char *file)
{
  FILE *in = fopen(from, "rb");
  static uint8_t buffer[1 << 20];
  size_t size;

  if (in == NULL)
    die("open", from);
  size = fread(buffer, 1, sizeof(buffer), in);
  fclose(in);
  write_file(dir, file, buffer, size);
}

static void run_sql(const char *path, const char *sql)
{
  sqlite3 *db;

  if (sqlite3_open(path, &db) != SQLITE_OK ||
      sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
    die(path, sqlite3_errmsg(db));
  sqlite3_close(db);
}

/*
 * Writes an INSERT of rows around the current time, in the forms of older
 * files: naive times and a "Z" suffix. The first row is valid. The others
 * must be skipped because they expire before they were recorded, expire
 * more than 120 days ahead, or have a bad id, code, hash or duration.
 */
static void odd_rows_sql(char *sql, size_t size)
{
  int64_t now_us = rlb__wall_us();
  char now[40], soon[40], later[40], far[40];

  rlb_format_time(now_us, now);
  rlb_format_time(now_us + INT64_C(600000000), soon);
  rlb_format_time(now_us + INT64_C(259200000000), later);
  rlb_format_time(now_us + INT64_C(31536000000000), far);
  now[10] = ' ';
  now[19] = '\0';
  snprintf(sql, size,
           "INSERT INTO rate_limit_events VALUES "
           "('00000000-0000-4000-8000-000000000001', 'E101', NULL, "
           "'%s', '%.19sZ', '0123456789abcdef', 750.0),"
           "('00000000-0000-4000-8000-000000000002', 'E102', 'm', "
           "'%s', '%s', '0123456789abcdef', 60),"
           "('00000000-0000-4000-8000-000000000003', 'E103', 'm', "
           "'%s', '%s', '0123456789abcdef', 60),"
           "('NOT-A-UUID', 'E101', 'm', '%s', '%s', '0123456789abcdef', "
           "'sixty'),"
           "('00000000-0000-4000-8000-000000000004', '', 'm', '%s', '%s', "
           "'xyz', -1)",
           now, soon, later, soon, now, far, now, soon, now, soon);
}

static void restore_seeds(const char *dir, const char *name)
{
  char sql[2048];
  char path[256];
  rlb_snapshot_result result;
  rlb_board *board = fuzz_make_board(name, 8);
  int rc;

  snprintf(path, sizeof(path), "%s/%s-snapshot.db", dir, name);
  remove(path);
  rlb_record(board, "E104", RLB_DURATION_MAX, "job-long", "model-d", NULL);
  rc = rlb_snapshot(board, path, &result);
  rlb_close(board);
  rlb_unlink(name);
  if (rc != 0)
    die("rlb_snapshot", rlb_strerror(rc));
  run_sql(path, "PRAGMA journal_mode=DELETE");
  copy_file(path, dir, "snapshot");

  /* Rows in the forms of older files and rows that must be skipped. */
  odd_rows_sql(sql, sizeof(sql));
  run_sql(path, sql);
  copy_file(path, dir, "snapshot-odd-rows");
  remove(path);

  run_sql(path, "CREATE TABLE jobs (id TEXT PRIMARY KEY, state TEXT);"
                "INSERT INTO jobs VALUES ('job-1', 'done')");
  copy_file(path, dir, "other-table-only");
  remove(path);
}

int main(int argc, char **argv)
{
  char name[64];

  if (argc != 4) {
    fprintf(stderr,
            "usage: rlboard-fuzz-seeds ATTACH_DIR VERIFY_DIR RESTORE_DIR\n");
    return 64;
  }
  fuzz_name(name, sizeof(name), "seeds");
  attach_seeds(argv[1], name);
  verify_seeds(argv[2], name);
  restore_seeds(argv[3], name);
  return 0;
}
