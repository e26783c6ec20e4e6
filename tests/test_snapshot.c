/*
 * Tests of rlb_snapshot() and rlb_restore(). Files written by the SQLite
 * store that the board replaces come from tests/existing_store.py, run with
 * python3, which also runs the store's own query on snapshot files. The
 * cases: the round trip, every kind of bad row, files that are not the
 * store's, concurrent writers and restores into a live board.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define HELPER_TIMEOUT_S 60
#define HELD_ID "00000000-0000-4000-8000-000000000000"
#define OUTPUT_MAX 65536

/* ---- files and boards -------------------------------------------------- */

/*
 * Each test case gets a directory, made by the test runner, and each test a
 * directory inside it. Boards are named "rlbsnap-<runner pid>-<n>". A test
 * that fails ends its process at once, without its teardown, so the
 * runner's teardown removes whatever the test case left: the directory tree
 * and every board with the runner's prefix.
 */
static char run_dir[64];
static char board_prefix[48];
static char test_dir[96];

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
  (void)st;
  (void)ftw;
  return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void make_run_dir(void)
{
  snprintf(run_dir, sizeof(run_dir), "/tmp/rlbsnap-XXXXXX");
  if (mkdtemp(run_dir) == NULL || chmod(run_dir, 0755) != 0)
    abort();
  snprintf(board_prefix, sizeof(board_prefix), "rlbsnap-%ld-", (long)getpid());
}

static void remove_run_dir(void)
{
  DIR *dir = opendir("/dev/shm");
  struct dirent *entry;

  while (dir != NULL && (entry = readdir(dir)) != NULL)
    if (strncmp(entry->d_name, board_prefix, strlen(board_prefix)) == 0)
      rlb_unlink(entry->d_name);
  if (dir != NULL)
    closedir(dir);
  nftw(run_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void make_test_dir(void)
{
  snprintf(test_dir, sizeof(test_dir), "%s/t-XXXXXX", run_dir);
  ck_assert_ptr_nonnull(mkdtemp(test_dir));
}

static void remove_test_dir(void)
{
  chmod(test_dir, 0700);
  nftw(test_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

#define BOARDS_MAX 8

static char board_names[BOARDS_MAX][64];
static int boards_opened;

static void board_name(char *out, size_t size)
{
  static int counter;

  snprintf(out, size, "%s%ld-%d", board_prefix, (long)getpid(), counter++);
}

/* Creates a board that the test's teardown removes. */
static rlb_board *open_board(uint32_t capacity)
{
  rlb_board *board = NULL;
  rlb_options opts;
  char *name;
  int rc;

  ck_assert_int_lt(boards_opened, BOARDS_MAX);
  name = board_names[boards_opened++];
  board_name(name, sizeof(board_names[0]));
  rlb_options_init(&opts);
  opts.flags = RLB_CREATE | RLB_EXCLUSIVE;
  opts.capacity = capacity;
  rc = rlb_open(&board, name, &opts);
  ck_assert_msg(rc == 0, "rlb_open(%s): %s", name, rlb_strerror(rc));
  return board;
}

static void setup(void)
{
  make_test_dir();
}

static void teardown(void)
{
  while (boards_opened > 0)
    rlb_unlink(board_names[--boards_opened]);
  remove_test_dir();
}

static void file_path(char *out, size_t size, const char *name)
{
  snprintf(out, size, "%s/%s", test_dir, name);
}

static int file_exists(const char *path)
{
  struct stat st;

  return stat(path, &st) == 0;
}

/* Returns 1 when path has a "-wal", "-shm" or "-journal" file next to it. */
static int has_side_files(const char *path)
{
  static const char *const suffixes[] = {"-wal", "-shm", "-journal"};
  char side[160];
  size_t i;

  for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    snprintf(side, sizeof(side), "%s%s", path, suffixes[i]);
    if (file_exists(side))
      return 1;
  }
  return 0;
}

static void write_file(const char *path, const void *data, size_t size)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
  close(fd);
}

/* Reads up to size bytes of path and returns how many. */
static size_t read_file(const char *path, void *data, size_t size)
{
  int fd = open(path, O_RDONLY);
  ssize_t n;

  ck_assert_int_ge(fd, 0);
  n = read(fd, data, size);
  ck_assert_int_ge(n, 0);
  close(fd);
  return (size_t)n;
}

/* Writes 4096 bytes that are not a SQLite database to path. */
static void write_random_file(const char *path, unsigned char *bytes)
{
  size_t n;
  int fd = open("/dev/urandom", O_RDONLY);

  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(read(fd, bytes, 4096), 4096);
  close(fd);
  /* Keep the bytes off SQLite's 16-byte header string. */
  bytes[0] = 'x';
  for (n = 1; n < 16; n++)
    bytes[n] |= 0x80;
  write_file(path, bytes, 4096);
}

static int64_t wall_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the Python helper -------------------------------------------------- */

/*
 * Starts existing_store.py with the arguments in argv (NULL-terminated,
 * without the interpreter and script). Its stdin and stdout are pipes
 * returned in *in and *out.
 */
static pid_t start_store(const char *const *args, int *in, int *out)
{
  const char *argv[16];
  int to_child[2], from_child[2];
  pid_t pid;
  int n = 0;

  argv[n++] = "python3";
  argv[n++] = RLB_EXISTING_STORE;
  while (n < 15 && *args != NULL)
    argv[n++] = *args++;
  argv[n] = NULL;

  ck_assert_int_eq(pipe(to_child), 0);
  ck_assert_int_eq(pipe(from_child), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(to_child[0], STDIN_FILENO);
    dup2(from_child[1], STDOUT_FILENO);
    close(to_child[0]);
    close(to_child[1]);
    close(from_child[0]);
    close(from_child[1]);
    /* The alarm survives exec and ends a helper that hangs. */
    alarm(HELPER_TIMEOUT_S);
    execv(RLB_PYTHON, (char *const *)argv);
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  *in = to_child[1];
  *out = from_child[0];
  return pid;
}

/* Reads fd to its end into out, NUL-terminated. */
static void read_all(int fd, char *out, size_t size)
{
  size_t n = 0;
  ssize_t got;

  for (;;) {
    char discard[256];

    if (n + 1 < size)
      got = read(fd, out + n, size - 1 - n);
    else
      got = read(fd, discard, sizeof(discard));
    if (got < 0 && errno == EINTR)
      continue;
    ck_assert_int_ge(got, 0);
    if (got == 0)
      break;
    if (n + 1 < size)
      n += (size_t)got;
  }
  out[n] = '\0';
}

/* Reads one line from fd, without its newline, waiting up to 20 s. */
static void read_line(int fd, char *out, size_t size)
{
  struct pollfd pfd = {fd, POLLIN, 0};
  size_t n = 0;

  while (n + 1 < size) {
    ck_assert_int_eq(poll(&pfd, 1, 20000), 1);
    ck_assert_int_eq(read(fd, out + n, 1), 1);
    if (out[n] == '\n')
      break;
    n++;
  }
  out[n] = '\0';
}

static int wait_exit_status(pid_t pid)
{
  int status;

  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * Runs the helper to completion with input on its stdin (NULL for none).
 * Stores its stdout in out, of size bytes, when out is not NULL. The
 * arguments end with NULL. Fails the test unless the helper exits with
 * status 0.
 */
static void run_store(const char *input, char *out, size_t size, ...)
{
  const char *args[12];
  char discard[256];
  va_list ap;
  int n = 0, in, from;
  pid_t pid;

  va_start(ap, size);
  while (n < 11 && (args[n] = va_arg(ap, const char *)) != NULL)
    n++;
  va_end(ap);
  args[n] = NULL;

  pid = start_store(args, &in, &from);
  if (input != NULL)
    ck_assert_int_eq(write(in, input, strlen(input)), (ssize_t)strlen(input));
  close(in);
  if (out != NULL)
    read_all(from, out, size);
  else
    read_all(from, discard, sizeof(discard));
  close(from);
  ck_assert_int_eq(wait_exit_status(pid), 0);
}

/* One row as printed by the helper's "query" command. */
typedef struct store_row {
  char id[64];
  char code[64];
  char model[128]; /* "\N" for NULL */
  char recorded_at[64];
  char expires_at[64];
  char hash[64];
  double duration_seconds;
} store_row;

/* Runs the store's query for live events and parses its rows. */
static size_t store_query(const char *path, store_row *rows, size_t max)
{
  char *output = malloc(OUTPUT_MAX);
  char *line, *save = NULL;
  size_t n = 0;

  ck_assert_ptr_nonnull(output);
  run_store(NULL, output, OUTPUT_MAX, "query", path, NULL);
  for (line = strtok_r(output, "\n", &save); line != NULL && n < max;
       line = strtok_r(NULL, "\n", &save)) {
    char duration[64];
    store_row *r = &rows[n++];

    ck_assert_int_eq(sscanf(line,
                            "%63[^\t]\t%63[^\t]\t%127[^\t]\t%63[^\t]"
                            "\t%63[^\t]\t%63[^\t]\t%63s",
                            r->id, r->code, r->model, r->recorded_at,
                            r->expires_at, r->hash, duration),
                     7);
    r->duration_seconds = strtod(duration, NULL);
  }
  free(output);
  return n;
}

/* ---- SQLite access from the tests --------------------------------------- */

static sqlite3 *open_file(const char *path)
{
  sqlite3 *db = NULL;

  ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 30000);
  return db;
}

static void exec_file(const char *path, const char *sql)
{
  sqlite3 *db = open_file(path);
  char *error = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &error);

  ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, error ? error : "");
  sqlite3_close(db);
}

/* Runs a query and concatenates its rows into out, "|" between columns and
 * "\n" after each row. */
static void query_text(const char *path, const char *sql, char *out,
                       size_t size)
{
  sqlite3 *db = open_file(path);
  sqlite3_stmt *stmt = NULL;
  size_t n = 0;
  int rc, i;

  ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
  out[0] = '\0';
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    for (i = 0; i < sqlite3_column_count(stmt); i++) {
      const unsigned char *text = sqlite3_column_text(stmt, i);

      n += (size_t)snprintf(out + n, size - n, "%s%s", i > 0 ? "|" : "",
                            text ? (const char *)text : "NULL");
      ck_assert_uint_lt(n, size);
    }
    n += (size_t)snprintf(out + n, size - n, "\n");
    ck_assert_uint_lt(n, size);
  }
  ck_assert_int_eq(rc, SQLITE_DONE);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

static long long query_int(const char *path, const char *sql)
{
  char text[64];

  query_text(path, sql, text, sizeof(text));
  return strtoll(text, NULL, 10);
}

/* ---- boards ------------------------------------------------------------- */

typedef struct event_list {
  rlb_event *events;
  size_t count;
} event_list;

static event_list list_all(rlb_board *board)
{
  event_list list = {NULL, 0};

  ck_assert_int_eq(rlb_list(board, NULL, NULL, &list.events, &list.count), 0);
  return list;
}

static const rlb_event *find_event(const event_list *list, const char *id)
{
  size_t i;

  for (i = 0; i < list->count; i++)
    if (strcmp(list->events[i].id, id) == 0)
      return &list->events[i];
  return NULL;
}

static int compare_ids(const void *a, const void *b)
{
  return strcmp(((const rlb_event *)a)->id, ((const rlb_event *)b)->id);
}

/* Fails the test unless b is an event equal to a in every stored
 * field. seconds_left is left out because it depends on the moment. */
static void assert_same_event(const rlb_event *a, const rlb_event *b)
{
  ck_assert_ptr_nonnull(b);
  ck_assert_str_eq(a->id, b->id);
  ck_assert_str_eq(a->error_code, b->error_code);
  ck_assert_int_eq(a->has_model, b->has_model);
  ck_assert_str_eq(a->model, b->model);
  ck_assert_str_eq(a->source_job_hash, b->source_job_hash);
  ck_assert(a->duration_seconds == b->duration_seconds);
  ck_assert_int_eq(a->recorded_at_us, b->recorded_at_us);
  ck_assert_int_eq(a->expires_at_us, b->expires_at_us);
}

/* Fails the test unless both lists hold the same events. */
static void assert_same_events(const event_list *a, const event_list *b)
{
  size_t i;

  ck_assert_uint_eq(a->count, b->count);
  for (i = 0; i < a->count; i++)
    assert_same_event(&a->events[i], find_event(b, a->events[i].id));
}

static void record_events(rlb_board *board, int count)
{
  static const char *const codes[] = {"E101", "E102", "E103", "E104"};
  static const char *const models[] = {"gpt-x", "claude-y", NULL};
  char job[32];
  int i;

  for (i = 0; i < count; i++) {
    snprintf(job, sizeof(job), "job-%d", i);
    ck_assert_int_eq(rlb_record(board, codes[i % 4], 60.0 + i * 1.25, job,
                                models[i % 3], NULL),
                     0);
  }
}

/* ---- skipped rows ------------------------------------------------------- */

#define SKIPPED_MAX 64

typedef struct skipped_rows {
  int count;
  char ids[SKIPPED_MAX][80];
  char reasons[SKIPPED_MAX][160];
} skipped_rows;

static void collect_skipped(void *context, const char *id, const char *reason)
{
  skipped_rows *s = context;

  if (s->count < SKIPPED_MAX) {
    snprintf(s->ids[s->count], sizeof(s->ids[0]), "%s", id);
    snprintf(s->reasons[s->count], sizeof(s->reasons[0]), "%s", reason);
  }
  s->count++;
}

/* Returns the reason reported for id, or NULL. */
static const char *reason_for(const skipped_rows *s, const char *id)
{
  int i;

  for (i = 0; i < s->count && i < SKIPPED_MAX; i++)
    if (strcmp(s->ids[i], id) == 0)
      return s->reasons[i];
  return NULL;
}

/* Returns how many reasons contain text. */
static int reasons_with(const skipped_rows *s, const char *text)
{
  int i, n = 0;

  for (i = 0; i < s->count && i < SKIPPED_MAX; i++)
    n += strstr(s->reasons[i], text) != NULL;
  return n;
}

/* ---- rows for the store's table ----------------------------------------- */

/* Writes the id "00000000-0000-4000-8000-<n as 12 digits>". */
static void make_id(char *out, int n)
{
  snprintf(out, RLB_ID_LEN + 1, "00000000-0000-4000-8000-%012d", n);
}

/* Forms of timestamps found in the store's files. */
enum time_form {
  FORM_UTC,          /* 2026-12-04T15:20:23.123456+00:00 */
  FORM_Z,            /* 2026-12-04T15:20:23.123456Z */
  FORM_SPACE,        /* 2026-12-04 15:20:23.123456+00:00 */
  FORM_NAIVE,        /* 2026-12-04T15:20:23.123456 */
  FORM_SPACE_NAIVE,  /* 2026-12-04 15:20:23.123456 */
  FORM_PLUS_0530,    /* 2026-12-04T20:50:23.123456+05:30 */
  FORM_MINUS_0500,   /* 2026-12-04T10:20:23.123456-05:00 */
  FORM_PLUS_0530_NC, /* 2026-12-04T20:50:23.123456+0530 */
  FORM_NANOSECONDS,  /* 2026-12-04T15:20:23.123456789+00:00 */
  FORM_COUNT
};

/* Sizes of a time as text and of a time as a JSON string. */
#define TIME_TEXT_SIZE 64
#define JSON_TEXT_SIZE 80

/* Writes the instant us as text of the given form into out, of
 * TIME_TEXT_SIZE bytes. */
static void time_text(int64_t us, enum time_form form, char *out)
{
  char base[40];
  int64_t shift = 0;
  const char *suffix = "+00:00";
  char *plus;

  if (form == FORM_PLUS_0530 || form == FORM_PLUS_0530_NC)
    shift = INT64_C(19800000000);
  else if (form == FORM_MINUS_0500)
    shift = -INT64_C(18000000000);
  ck_assert_int_eq(rlb_format_time(us + shift, base), 0);
  plus = strrchr(base, '+');
  *plus = '\0';
  switch (form) {
  case FORM_Z:
    suffix = "Z";
    break;
  case FORM_SPACE:
    base[10] = ' ';
    break;
  case FORM_NAIVE:
    suffix = "";
    break;
  case FORM_SPACE_NAIVE:
    base[10] = ' ';
    suffix = "";
    break;
  case FORM_PLUS_0530:
    suffix = "+05:30";
    break;
  case FORM_MINUS_0500:
    suffix = "-05:00";
    break;
  case FORM_PLUS_0530_NC:
    suffix = "+0530";
    break;
  case FORM_NANOSECONDS:
    suffix = strchr(base, '.') != NULL ? "789+00:00" : ".000000789+00:00";
    break;
  default:
    break;
  }
  snprintf(out, TIME_TEXT_SIZE, "%s%s", base, suffix);
}

/* Appends one JSON row for the helper's "insert" command. Each value is
 * JSON text. */
static void add_row(char *rows, size_t size, const char *id, const char *code,
                    const char *model, const char *recorded_at,
                    const char *expires_at, const char *hash,
                    const char *duration)
{
  size_t n = strlen(rows);

  n += (size_t)snprintf(rows + n, size - n,
                        "{\"id\": %s, \"error_code\": %s, \"model\": %s, "
                        "\"recorded_at\": %s, \"expires_at\": %s, "
                        "\"source_job_hash\": %s, "
                        "\"duration_seconds\": %s}\n",
                        id, code, model, recorded_at, expires_at, hash,
                        duration);
  ck_assert_uint_lt(n, size);
}

/* Appends a valid row with the given id and expiry, as JSON. As in the
 * store, the row was recorded 0.8 * 60 s before it expires. */
static void add_valid_row(char *rows, size_t size, const char *id,
                          int64_t expires_us)
{
  char id_json[JSON_TEXT_SIZE], recorded[JSON_TEXT_SIZE];
  char expires[JSON_TEXT_SIZE], text[TIME_TEXT_SIZE];

  snprintf(id_json, sizeof(id_json), "\"%s\"", id);
  time_text(expires_us - 48000000, FORM_UTC, text);
  snprintf(recorded, sizeof(recorded), "\"%s\"", text);
  time_text(expires_us, FORM_UTC, text);
  snprintf(expires, sizeof(expires), "\"%s\"", text);
  add_row(rows, size, id_json, "\"E101\"", "\"gpt-x\"", recorded, expires,
          "\"9af12d10801c5d48\"", "60.0");
}

/* ---- snapshot ----------------------------------------------------------- */

START_TEST(test_snapshot_round_trip)
{
  char path[128];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  rlb_snapshot_result snap;
  rlb_restore_result res;
  event_list before, after;

  file_path(path, sizeof(path), "board.db");
  record_events(board, 12);
  before = list_all(board);
  ck_assert_int_eq(rlb_snapshot(board, path, &snap), 0);
  ck_assert_uint_eq(snap.events, 12);
  ck_assert(snap.duration_ms >= 0.0);
  test_board_remove(board);

  board = open_board(RLB_CAPACITY_DEFAULT);
  ck_assert_int_eq(rlb_restore(board, path, &res, NULL, NULL), 0);
  ck_assert_uint_eq(res.restored, 12);
  ck_assert_uint_eq(res.expired, 0);
  ck_assert_uint_eq(res.duplicate, 0);
  ck_assert_uint_eq(res.invalid, 0);
  after = list_all(board);
  assert_same_events(&before, &after);

  rlb_events_free(before.events);
  rlb_events_free(after.events);
  test_board_remove(board);
}
END_TEST

START_TEST(test_snapshot_restored_events_limit)
{
  char path[128];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  rlb_stats stats;
  double left = 0;

  file_path(path, sizeof(path), "board.db");
  ck_assert_int_eq(rlb_record(board, "E101", 100.0, "job-1", "gpt-x", NULL), 0);
  ck_assert_int_eq(rlb_snapshot(board, path, NULL), 0);
  test_board_remove(board);

  board = open_board(RLB_CAPACITY_DEFAULT);
  ck_assert_int_eq(rlb_restore(board, path, NULL, NULL, NULL), 0);
  ck_assert_int_eq(rlb_check(board, "E101", "gpt-x", &left), 1);
  ck_assert(left > 60.0);
  ck_assert(left <= 80.0);
  ck_assert_int_eq(rlb_check(board, "E102", NULL, &left), 0);
  ck_assert_int_eq(rlb_stats_get(board, &stats), 0);
  ck_assert_uint_eq(stats.restored, 1);
  test_board_remove(board);
}
END_TEST

/* Expired events stay out of the file. */
START_TEST(test_snapshot_skips_expired)
{
  char path[128];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  rlb_snapshot_result snap;

  file_path(path, sizeof(path), "board.db");
  ck_assert_int_eq(rlb_record(board, "E101", 0.01, "job-1", NULL, NULL), 0);
  ck_assert_int_eq(rlb_record(board, "E102", 100.0, "job-2", NULL, NULL), 0);
  test_sleep_ms(50);
  ck_assert_int_eq(rlb_snapshot(board, path, &snap), 0);
  ck_assert_uint_eq(snap.events, 1);
  ck_assert_int_eq(query_int(path, "SELECT count(*) FROM rate_limit_events "
                                   "WHERE error_code = 'E102'"),
                   1);
  ck_assert_int_eq(query_int(path, "SELECT count(*) FROM rate_limit_events"),
                   1);
  test_board_remove(board);
}
END_TEST

START_TEST(test_snapshot_file_schema)
{
  char path[128], text[2048], expected[48];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  event_list list;
  size_t i;

  file_path(path, sizeof(path), "board.db");
  record_events(board, 3);
  ck_assert_int_eq(rlb_snapshot(board, path, NULL), 0);

  query_text(path,
             "SELECT name, type, \"notnull\", pk FROM "
             "pragma_table_info('rate_limit_events') ORDER BY cid",
             text, sizeof(text));
  ck_assert_str_eq(text, "id|TEXT|0|1\n"
                         "error_code|TEXT|1|0\n"
                         "model|TEXT|0|0\n"
                         "recorded_at|TIMESTAMP|1|0\n"
                         "expires_at|TIMESTAMP|1|0\n"
                         "source_job_hash|TEXT|1|0\n"
                         "duration_seconds|REAL|1|0\n");
  query_text(path,
             "SELECT name FROM sqlite_master WHERE type = 'index' AND "
             "name LIKE 'idx_%' ORDER BY name",
             text, sizeof(text));
  ck_assert_str_eq(text, "idx_rate_limit_events_error_code\n"
                         "idx_rate_limit_events_expires_at\n"
                         "idx_rate_limit_events_model\n");
  query_text(path, "PRAGMA journal_mode", text, sizeof(text));
  ck_assert_str_eq(text, "wal\n");
  ck_assert_int_eq(query_int(path, "SELECT count(*) FROM rate_limit_events "
                                   "WHERE typeof(duration_seconds) = 'real' "
                                   "AND typeof(recorded_at) = 'text' "
                                   "AND typeof(expires_at) = 'text'"),
                   3);
  ck_assert_int_eq(query_int(path, "SELECT count(*) FROM rate_limit_events "
                                   "WHERE model IS NULL"),
                   1);

  list = list_all(board);
  for (i = 0; i < list.count; i++) {
    char sql[256];

    ck_assert_int_eq(rlb_format_time(list.events[i].expires_at_us, expected),
                     0);
    snprintf(sql, sizeof(sql),
             "SELECT expires_at FROM rate_limit_events WHERE id = '%s'",
             list.events[i].id);
    query_text(path, sql, text, sizeof(text));
    strcat(expected, "\n");
    ck_assert_str_eq(text, expected);
  }
  rlb_events_free(list.events);
  test_board_remove(board);
}
END_TEST

START_TEST(test_snapshot_answers_store_query)
{
  char path[128];
  char expires[48];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  store_row rows[16];
  event_list list;
  size_t n, i;

  file_path(path, sizeof(path), "board.db");
  record_events(board, 9);
  ck_assert_int_eq(rlb_snapshot(board, path, NULL), 0);
  list = list_all(board);
  n = store_query(path, rows, 16);

  ck_assert_uint_eq(n, list.count);
  for (i = 0; i < n; i++) {
    const rlb_event *ev = &list.events[i];

    /* Both put the event that expires last first. */
    ck_assert_str_eq(rows[i].id, ev->id);
    ck_assert_str_eq(rows[i].code, ev->error_code);
    ck_assert_str_eq(rows[i].model, ev->has_model ? ev->model : "\\N");
    ck_assert_str_eq(rows[i].hash, ev->source_job_hash);
    ck_assert(rows[i].duration_seconds == ev->duration_seconds);
    ck_assert_int_eq(rlb_format_time(ev->expires_at_us, expires), 0);
    ck_assert_str_eq(rows[i].expires_at, expires);
  }
  rlb_events_free(list.events);
  test_board_remove(board);
}
END_TEST

START_TEST(test_snapshot_replaces_rows_keeps_others)
{
  char path[128], before[1024], after[1024], ids[1024], expected[1024];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  event_list list;
  size_t i;

  file_path(path, sizeof(path), "store.db");
  run_store(NULL, NULL, 0, "record", path, "E101", "120", "job-a", "gpt-x",
            NULL);
  run_store(NULL, NULL, 0, "record", path, "E102", "120", "job-b", NULL);
  exec_file(path, "CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT, "
                  "state TEXT);"
                  "INSERT INTO jobs (name, state) VALUES ('a', 'done'), "
                  "('b', 'running'), ('c', NULL);"
                  "CREATE INDEX jobs_state ON jobs(state);"
                  "CREATE TABLE settings (key TEXT, value BLOB);"
                  "INSERT INTO settings VALUES ('ttl', x'00ff');");
  query_text(path,
             "SELECT 'jobs', * FROM jobs UNION ALL "
             "SELECT 'settings', key, hex(value), NULL FROM settings "
             "UNION ALL SELECT type, name, tbl_name, sql FROM sqlite_master "
             "WHERE tbl_name IN ('jobs', 'settings')",
             before, sizeof(before));

  record_events(board, 4);
  ck_assert_int_eq(rlb_snapshot(board, path, NULL), 0);

  query_text(path,
             "SELECT 'jobs', * FROM jobs UNION ALL "
             "SELECT 'settings', key, hex(value), NULL FROM settings "
             "UNION ALL SELECT type, name, tbl_name, sql FROM sqlite_master "
             "WHERE tbl_name IN ('jobs', 'settings')",
             after, sizeof(after));
  ck_assert_str_eq(after, before);

  /* The store's old rows are gone; the board's events replaced them. */
  query_text(path, "SELECT id FROM rate_limit_events ORDER BY id", ids,
             sizeof(ids));
  list = list_all(board);
  qsort(list.events, list.count, sizeof(rlb_event), compare_ids);
  expected[0] = '\0';
  for (i = 0; i < list.count; i++) {
    strcat(expected, list.events[i].id);
    strcat(expected, "\n");
  }
  ck_assert_str_eq(ids, expected);
  rlb_events_free(list.events);
  test_board_remove(board);
}
END_TEST

START_TEST(test_snapshot_empty_board)
{
  char path[128];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  rlb_snapshot_result snap = {99, 0};

  file_path(path, sizeof(path), "board.db");
  ck_assert_int_eq(rlb_snapshot(board, path, &snap), 0);
  ck_assert_uint_eq(snap.events, 0);
  ck_assert_int_eq(query_int(path, "SELECT count(*) FROM rate_limit_events"),
                   0);
  test_board_remove(board);
}
END_TEST

/* A snapshot started while the store has a write transaction open waits
 * for it and then replaces the rows, the one the store wrote included. */
START_TEST(test_snapshot_waits_for_writer)
{
  const char *args[] = {"hold", NULL, "2", NULL};
  char path[128], line[16];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  int in, out;
  pid_t pid;

  file_path(path, sizeof(path), "store.db");
  run_store(NULL, NULL, 0, "record", path, "E103", "30", "job-a", NULL);
  args[1] = path;
  pid = start_store(args, &in, &out);
  close(in);
  read_line(out, line, sizeof(line));
  ck_assert_str_eq(line, "held");

  record_events(board, 2);
  ck_assert_int_eq(rlb_snapshot(board, path, NULL), 0);
  close(out);
  ck_assert_int_eq(wait_exit_status(pid), 0);

  ck_assert_int_eq(query_int(path, "SELECT count(*) FROM rate_limit_events"),
                   2);
  ck_assert_int_eq(query_int(path, "SELECT count(*) FROM rate_limit_events "
                                   "WHERE id = '" HELD_ID "'"),
                   0);
  test_board_remove(board);
}
END_TEST

START_TEST(test_snapshot_not_sqlite_file)
{
  static unsigned char bytes[4096], now[8192];
  char path[128];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);

  file_path(path, sizeof(path), "random.bin");
  write_random_file(path, bytes);
  record_events(board, 2);
  ck_assert_int_eq(rlb_snapshot(board, path, NULL), RLB_ENOTSQLITE);
  ck_assert_uint_eq(read_file(path, now, sizeof(now)), sizeof(bytes));
  ck_assert(memcmp(now, bytes, sizeof(bytes)) == 0);
  ck_assert(!has_side_files(path));

  write_file(path, "hello\n", 6);
  ck_assert_int_eq(rlb_snapshot(board, path, NULL), RLB_ENOTSQLITE);
  ck_assert_uint_eq(read_file(path, now, sizeof(now)), 6);
  ck_assert(memcmp(now, "hello\n", 6) == 0);
  ck_assert(!has_side_files(path));
  test_board_remove(board);
}
END_TEST

START_TEST(test_snapshot_invalid_arguments)
{
  char path[128], dir_path[160];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);

  file_path(path, sizeof(path), "board.db");
  ck_assert_int_eq(rlb_snapshot(NULL, path, NULL), RLB_EINVALARG);
  ck_assert_int_eq(rlb_snapshot(board, NULL, NULL), RLB_EINVALARG);
  ck_assert_int_eq(rlb_snapshot(board, "", NULL), RLB_EINVALARG);
  snprintf(dir_path, sizeof(dir_path), "%s/no-such-dir/board.db", test_dir);
  ck_assert_int_eq(rlb_snapshot(board, dir_path, NULL), -ENOENT);
  ck_assert(!file_exists(path));
  test_board_remove(board);
}
END_TEST

/* A full board of 65,536 events goes out and comes back complete. */
START_TEST(test_snapshot_large_board)
{
  const uint32_t capacity = 65536;
  char path[128];
  rlb_board *board = open_board(capacity);
  rlb_snapshot_result snap;
  rlb_restore_result res;
  rlb_stats stats;
  uint32_t i;

  file_path(path, sizeof(path), "board.db");
  for (i = 0; i < capacity; i++)
    ck_assert_int_eq(rlb_record(board, i % 2 ? "E101" : "E103",
                                100.0 + i % 1000, "job", i % 3 ? "m" : NULL,
                                NULL),
                     0);
  ck_assert_int_eq(rlb_snapshot(board, path, &snap), 0);
  ck_assert_uint_eq(snap.events, capacity);
  ck_assert_int_eq(query_int(path, "SELECT count(*) FROM rate_limit_events"),
                   capacity);
  test_board_remove(board);

  board = open_board(capacity);
  ck_assert_int_eq(rlb_restore(board, path, &res, NULL, NULL), 0);
  ck_assert_uint_eq(res.restored, capacity);
  ck_assert_uint_eq(res.invalid, 0);
  ck_assert_int_eq(rlb_stats_get(board, &stats), 0);
  ck_assert_uint_eq(stats.live, capacity);
  ck_assert_uint_eq(stats.evictions, 0);
  test_board_remove(board);
}
END_TEST

/* A new file gets 16 KiB pages, and a file with content keeps its own. */
START_TEST(test_snapshot_page_size)
{
  char fresh[128], store[128], other[128];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);

  file_path(fresh, sizeof(fresh), "fresh.db");
  file_path(store, sizeof(store), "store.db");
  file_path(other, sizeof(other), "other.db");
  run_store(NULL, NULL, 0, "record", store, "E101", "120", "job-a", NULL);
  exec_file(other, "PRAGMA page_size=8192; CREATE TABLE jobs (id INTEGER)");
  record_events(board, 3);

  ck_assert_int_eq(rlb_snapshot(board, fresh, NULL), 0);
  ck_assert_int_eq(rlb_snapshot(board, store, NULL), 0);
  ck_assert_int_eq(rlb_snapshot(board, other, NULL), 0);
  ck_assert_int_eq(query_int(fresh, "PRAGMA page_size"), 16384);
  ck_assert_int_eq(query_int(store, "PRAGMA page_size"), 4096);
  ck_assert_int_eq(query_int(other, "PRAGMA page_size"), 8192);
  ck_assert_int_eq(query_int(other, "SELECT count(*) FROM rate_limit_events"),
                   3);
  test_board_remove(board);
}
END_TEST

/*
 * Ids that share their first 16 hex digits, the sort key of a snapshot,
 * still go in complete and in id order. The board holds 40 ids with the
 * same key, three with another key that differ only after it, and two with
 * keys of their own. A restore puts them on the board latest expiry first,
 * and the expiries make that order unlike id order.
 */
START_TEST(test_snapshot_shared_id_prefixes)
{
  static const char *const others[] = {
      "abcdef01-2345-4678-9abc-000000000003",
      "ffffffff-ffff-4fff-bfff-ffffffffffff",
      "abcdef01-2345-4678-8abc-000000000009",
      "12345678-9abc-4def-8123-456789abcdef",
      "abcdef01-2345-4678-9abc-000000000001",
  };
  const size_t shared = 40, total = shared + 5;
  char store[128], path[128], id[40], rows[32768];
  char ids[4096], expected[4096];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  int64_t expires = wall_us() + INT64_C(600000000);
  rlb_restore_result res;
  event_list list;
  size_t i;

  file_path(store, sizeof(store), "store.db");
  file_path(path, sizeof(path), "board.db");
  rows[0] = '\0';
  for (i = 0; i < shared; i++) {
    make_id(id, (int)i);
    add_valid_row(rows, sizeof(rows), id,
                  expires - (int64_t)((i * 17) % shared) * 1000000);
  }
  for (i = 0; i < total - shared; i++)
    add_valid_row(rows, sizeof(rows), others[i],
                  expires + (int64_t)(total - i) * 1000000);
  run_store(rows, NULL, 0, "insert", store, NULL);
  ck_assert_int_eq(rlb_restore(board, store, &res, NULL, NULL), 0);
  ck_assert_uint_eq(res.restored, total);

  ck_assert_int_eq(rlb_snapshot(board, path, NULL), 0);
  query_text(path, "SELECT id FROM rate_limit_events ORDER BY rowid", ids,
             sizeof(ids));
  list = list_all(board);
  ck_assert_uint_eq(list.count, total);
  qsort(list.events, list.count, sizeof(rlb_event), compare_ids);
  expected[0] = '\0';
  for (i = 0; i < list.count; i++) {
    strcat(expected, list.events[i].id);
    strcat(expected, "\n");
  }
  ck_assert_str_eq(ids, expected);
  rlb_events_free(list.events);
  test_board_remove(board);
}
END_TEST

/* ---- restore ------------------------------------------------------------ */

START_TEST(test_restore_store_file)
{
  char path[128], hash[RLB_HASH_LEN + 1], id[3][128];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  rlb_restore_result res;
  store_row rows[8];
  event_list list;
  size_t n, i;
  double left;

  file_path(path, sizeof(path), "store.db");
  run_store(NULL, id[0], sizeof(id[0]), "record", path, "E101", "60", "job-1",
            "gpt-x", NULL);
  run_store(NULL, id[1], sizeof(id[1]), "record", path, "E102", "30.5", "job-2",
            NULL);
  run_store(NULL, id[2], sizeof(id[2]), "record", path, "E104", "90", "job-1",
            "claude-y", NULL);
  n = store_query(path, rows, 8);
  ck_assert_uint_eq(n, 3);

  ck_assert_int_eq(rlb_restore(board, path, &res, NULL, NULL), 0);
  ck_assert_uint_eq(res.restored, 3);
  ck_assert_uint_eq(res.expired, 0);
  ck_assert_uint_eq(res.duplicate, 0);
  ck_assert_uint_eq(res.invalid, 0);

  list = list_all(board);
  ck_assert_uint_eq(list.count, 3);
  for (i = 0; i < n; i++) {
    const rlb_event *ev = &list.events[i];
    int64_t recorded, expires;

    /* The board's order is the store's order. */
    ck_assert_str_eq(ev->id, rows[i].id);
    ck_assert_str_eq(ev->error_code, rows[i].code);
    ck_assert_str_eq(ev->has_model ? ev->model : "\\N", rows[i].model);
    ck_assert_str_eq(ev->source_job_hash, rows[i].hash);
    ck_assert(ev->duration_seconds == rows[i].duration_seconds);
    ck_assert_int_eq(rlb_parse_time(rows[i].recorded_at, &recorded), 0);
    ck_assert_int_eq(rlb_parse_time(rows[i].expires_at, &expires), 0);
    ck_assert_int_eq(ev->recorded_at_us, recorded);
    ck_assert_int_eq(ev->expires_at_us, expires);
  }
  ck_assert_int_eq(rlb_job_hash("job-1", hash), 0);
  ck_assert_str_eq(find_event(&list, strtok(id[0], "\n"))->source_job_hash,
                   hash);
  ck_assert_ptr_nonnull(find_event(&list, strtok(id[1], "\n")));
  ck_assert_ptr_nonnull(find_event(&list, strtok(id[2], "\n")));

  ck_assert_int_eq(rlb_check(board, "E101", "gpt-x", &left), 1);
  ck_assert(left <= 48.0);
  ck_assert(left > 30.0);
  rlb_events_free(list.events);
  test_board_remove(board);
}
END_TEST

/*
 * Every time form restores by instant. Two rows would be judged wrongly by
 * text order against "now" in +00:00: one written in +05:30 that expired a
 * minute ago, and one written in -05:00 that expires in ten minutes.
 */
START_TEST(test_restore_time_forms)
{
  char path[128], rows[8192], id[40], id_json[48];
  char recorded[JSON_TEXT_SIZE], expires[JSON_TEXT_SIZE], text[TIME_TEXT_SIZE];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  int64_t now = wall_us(), expected[FORM_COUNT * 2];
  rlb_restore_result res;
  event_list list;
  int form, fraction, k;

  file_path(path, sizeof(path), "store.db");
  rows[0] = '\0';
  for (form = 0; form < FORM_COUNT; form++)
    for (fraction = 0; fraction < 2; fraction++) {
      int64_t us = now + INT64_C(600000000) + (form * 2 + fraction) * 1000000;

      k = form * 2 + fraction;
      us = fraction ? us - us % 1000000 + 123456 : us - us % 1000000;
      expected[k] = us;
      make_id(id, k);
      snprintf(id_json, sizeof(id_json), "\"%s\"", id);
      time_text(now - 1000000, (enum time_form)form, text);
      snprintf(recorded, sizeof(recorded), "\"%s\"", text);
      time_text(us, (enum time_form)form, text);
      snprintf(expires, sizeof(expires), "\"%s\"", text);
      add_row(rows, sizeof(rows), id_json, "\"E101\"", "\"gpt-x\"", recorded,
              expires, "\"9af12d10801c5d48\"", "60.0");
    }
  /* Expired a minute ago; as text it sorts after now. */
  time_text(now - 60000000, FORM_PLUS_0530, text);
  snprintf(expires, sizeof(expires), "\"%s\"", text);
  add_row(rows, sizeof(rows), "\"00000000-0000-4000-8000-000000000100\"",
          "\"E101\"", "null", expires, expires, "\"9af12d10801c5d48\"", "60.0");
  /* Expires in ten minutes; as text it sorts before now. */
  time_text(now + 600000000, FORM_MINUS_0500, text);
  snprintf(expires, sizeof(expires), "\"%s\"", text);
  time_text(now, FORM_MINUS_0500, text);
  snprintf(recorded, sizeof(recorded), "\"%s\"", text);
  add_row(rows, sizeof(rows), "\"00000000-0000-4000-8000-000000000101\"",
          "\"E102\"", "null", recorded, expires, "\"9af12d10801c5d48\"",
          "750.0");
  run_store(rows, NULL, 0, "insert", path, NULL);

  ck_assert_int_eq(rlb_restore(board, path, &res, NULL, NULL), 0);
  ck_assert_uint_eq(res.restored, FORM_COUNT * 2 + 1);
  ck_assert_uint_eq(res.expired, 1);
  ck_assert_uint_eq(res.invalid, 0);
  list = list_all(board);
  for (k = 0; k < FORM_COUNT * 2; k++) {
    const rlb_event *ev;

    make_id(id, k);
    ev = find_event(&list, id);
    ck_assert_ptr_nonnull(ev);
    ck_assert_msg(ev->expires_at_us == expected[k],
                  "form %d: expires %lld, expected %lld", k / 2,
                  (long long)ev->expires_at_us, (long long)expected[k]);
    ck_assert_int_eq(ev->recorded_at_us, now - 1000000);
  }
  ck_assert_ptr_null(find_event(&list, "00000000-0000-4000-8000-000000000100"));
  ck_assert_ptr_nonnull(
      find_event(&list, "00000000-0000-4000-8000-000000000101"));
  rlb_events_free(list.events);
  test_board_remove(board);
}
END_TEST

START_TEST(test_restore_expired_rows)
{
  char path[128], rows[4096], id[40];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  int64_t now = wall_us();
  rlb_restore_result res;
  event_list list;
  int k;

  file_path(path, sizeof(path), "store.db");
  rows[0] = '\0';
  for (k = 0; k < 5; k++) {
    make_id(id, k);
    add_valid_row(rows, sizeof(rows), id,
                  k < 3 ? now - 1000000 * (k + 1) : now + 300000000);
  }
  run_store(rows, NULL, 0, "insert", path, NULL);

  ck_assert_int_eq(rlb_restore(board, path, &res, NULL, NULL), 0);
  ck_assert_uint_eq(res.restored, 2);
  ck_assert_uint_eq(res.expired, 3);
  ck_assert_uint_eq(res.duplicate, 0);
  ck_assert_uint_eq(res.invalid, 0);
  list = list_all(board);
  ck_assert_uint_eq(list.count, 2);
  rlb_events_free(list.events);
  test_board_remove(board);
}
END_TEST

/* One bad row of the store's schema: its id, the row as JSON values and
 * the text its reason contains. */
typedef struct bad_row {
  const char *id, *code, *model, *hash, *duration;
  const char *recorded_at, *expires_at; /* NULL: a valid time */
  const char *reason;
} bad_row;

#define ID(n) "\"00000000-0000-4000-8000-0000000000" #n "\""
#define LONG_TEXT(n) "\"" n "\""
#define A32 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define A96 A32 A32 A32

static const bad_row bad_rows[] = {
    {"{\"blob\": \"0011\"}", "\"E101\"", "null", "\"9af12d10801c5d48\"", "60.0",
     NULL, NULL, "id is a blob, not text"},
    {"\"NOT-A-UUID\"", "\"E101\"", "null", "\"9af12d10801c5d48\"", "60.0", NULL,
     NULL, "id is not a lowercase UUID"},
    {"\"00000000-0000-4000-8000-000000000000-extra\"", "\"E101\"", "null",
     "\"9af12d10801c5d48\"", "60.0", NULL, NULL, "id is longer than 36 bytes"},
    {"\"ABCDEF00-0000-4000-8000-000000000000\"", "\"E101\"", "null",
     "\"9af12d10801c5d48\"", "60.0", NULL, NULL, "id is not a lowercase UUID"},
    {ID(10), "{\"blob\": \"45313031\"}", "null", "\"9af12d10801c5d48\"", "60.0",
     NULL, NULL, "error_code is a blob, not text"},
    {ID(11), "\"\"", "null", "\"9af12d10801c5d48\"", "60.0", NULL, NULL,
     "error_code is empty"},
    {ID(12), LONG_TEXT(A32), "null", "\"9af12d10801c5d48\"", "60.0", NULL, NULL,
     "error_code is longer than 31 bytes"},
    {ID(13), "\"E101\"", "\"\"", "\"9af12d10801c5d48\"", "60.0", NULL, NULL,
     "model is empty"},
    {ID(14), "\"E101\"", LONG_TEXT(A96), "\"9af12d10801c5d48\"", "60.0", NULL,
     NULL, "model is longer than 95 bytes"},
    {ID(15), "\"E101\"", "{\"blob\": \"6d\"}", "\"9af12d10801c5d48\"", "60.0",
     NULL, NULL, "model is a blob, not text"},
    {ID(16), "\"E101\"", "null", "\"9af12d10801c5d48\"", "60.0", "1700000000",
     NULL, "recorded_at is an integer, not text"},
    {ID(17), "\"E101\"", "null", "\"9af12d10801c5d48\"", "60.0", NULL,
     "\"tomorrow\"", "expires_at is not an ISO 8601 time"},
    {ID(18), "\"E101\"", "null", "\"9af12d10801c5d48\"", "60.0", NULL,
     "\"2030-02-30T00:00:00+00:00\"", "expires_at is not an ISO 8601 time"},
    {ID(19), "\"E101\"", "null", "\"9af12d10801c5d48\"", "60.0", NULL,
     "\"2300-01-01T00:00:00+00:00\"", "expires_at is more than"},
    {ID(20), "\"E101\"", "null", "\"XYZ\"", "60.0", NULL, NULL,
     "source_job_hash is not 16 lowercase hex digits"},
    {ID(21), "\"E101\"", "null", "\"9AF12D10801C5D48\"", "60.0", NULL, NULL,
     "source_job_hash is not 16 lowercase hex digits"},
    {ID(22), "\"E101\"", "null", "\"9af12d10801c5d480\"", "60.0", NULL, NULL,
     "source_job_hash is longer than 16 bytes"},
    {ID(23), "\"E101\"", "null", "\"9af12d10801c5d48\"", "\"abc\"", NULL, NULL,
     "duration_seconds is text, not a number"},
    {ID(24), "\"E101\"", "null", "\"9af12d10801c5d48\"", "0", NULL, NULL,
     "duration_seconds is not a finite number"},
    {ID(25), "\"E101\"", "null", "\"9af12d10801c5d48\"", "-5.0", NULL, NULL,
     "duration_seconds is not a finite number"},
    {ID(26), "\"E101\"", "null", "\"9af12d10801c5d48\"", "2592001", NULL, NULL,
     "duration_seconds is not a finite number"},
    {ID(27), "\"E101\"", "null", "\"9af12d10801c5d48\"", "{\"real\": \"inf\"}",
     NULL, NULL, "duration_seconds is not a finite number"},
    {ID(28), "\"E101\"", "null", "\"9af12d10801c5d48\"", "{\"blob\": \"01\"}",
     NULL, NULL, "duration_seconds is a blob"},
};

/* Every bad row is counted invalid and reported with its reason; the valid
 * row next to them is restored. */
START_TEST(test_restore_invalid_rows)
{
  const size_t count = sizeof(bad_rows) / sizeof(bad_rows[0]);
  char path[128], rows[16384], valid_time[TIME_TEXT_SIZE],
      recorded[JSON_TEXT_SIZE], expires[JSON_TEXT_SIZE];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  skipped_rows skipped = {0};
  rlb_restore_result res;
  event_list list;
  size_t i;

  file_path(path, sizeof(path), "store.db");
  rows[0] = '\0';
  time_text(wall_us() + 300000000, FORM_UTC, valid_time);
  snprintf(expires, sizeof(expires), "\"%s\"", valid_time);
  time_text(wall_us(), FORM_UTC, valid_time);
  snprintf(recorded, sizeof(recorded), "\"%s\"", valid_time);
  for (i = 0; i < count; i++) {
    const bad_row *b = &bad_rows[i];

    add_row(rows, sizeof(rows), b->id, b->code, b->model,
            b->recorded_at ? b->recorded_at : recorded,
            b->expires_at ? b->expires_at : expires, b->hash, b->duration);
  }
  add_row(rows, sizeof(rows), ID(99), "\"E101\"", "null", recorded, expires,
          "\"9af12d10801c5d48\"", "60");
  /* Recorded after it expires: the recorded and expires values swapped. */
  add_row(rows, sizeof(rows), ID(29), "\"E101\"", "null", expires, recorded,
          "\"9af12d10801c5d48\"", "60");
  run_store(rows, NULL, 0, "insert", path, NULL);

  ck_assert_int_eq(rlb_restore(board, path, &res, collect_skipped, &skipped),
                   0);
  ck_assert_uint_eq(res.invalid, count + 1);
  ck_assert_uint_eq(res.restored, 1);
  ck_assert_uint_eq(res.expired, 0);
  ck_assert_int_eq(skipped.count, (int)count + 1);
  ck_assert_str_eq(reason_for(&skipped, "00000000-0000-4000-8000-000000000029"),
                   "expires_at is before recorded_at");
  for (i = 0; i < count; i++) {
    const bad_row *b = &bad_rows[i];
    char id[64];
    const char *reason;

    if (b->id[0] != '"')
      continue;
    snprintf(id, sizeof(id), "%.*s", (int)strlen(b->id) - 2, b->id + 1);
    reason = reason_for(&skipped, id);
    ck_assert_msg(reason != NULL, "no report for %s", id);
    ck_assert_msg(strstr(reason, b->reason) != NULL,
                  "%s: reason \"%s\", expected \"%s\"", id, reason, b->reason);
  }
  ck_assert_int_eq(reasons_with(&skipped, "id is a blob, not text"), 1);
  ck_assert_int_eq(reasons_with(&skipped, "duration_seconds is a blob"), 1);
  list = list_all(board);
  ck_assert_uint_eq(list.count, 1);
  ck_assert_str_eq(list.events[0].id, "00000000-0000-4000-8000-000000000099");
  ck_assert_int_eq(list.events[0].has_model, 0);
  rlb_events_free(list.events);
  test_board_remove(board);
}
END_TEST

/* A table written by another tool, without NOT NULL constraints: NULL in
 * each column and an id that appears twice. */
START_TEST(test_restore_null_fields)
{
  char path[128], rows[8192], recorded[JSON_TEXT_SIZE], expires[JSON_TEXT_SIZE],
      text[TIME_TEXT_SIZE];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  skipped_rows skipped = {0};
  rlb_restore_result res;
  event_list list;

  file_path(path, sizeof(path), "other.db");
  rows[0] = '\0';
  time_text(wall_us(), FORM_UTC, text);
  snprintf(recorded, sizeof(recorded), "\"%s\"", text);
  time_text(wall_us() + 300000000, FORM_UTC, text);
  snprintf(expires, sizeof(expires), "\"%s\"", text);
  add_row(rows, sizeof(rows), "null", "\"E101\"", "null", recorded, expires,
          "\"9af12d10801c5d48\"", "60.0");
  add_row(rows, sizeof(rows), ID(31), "null", "null", recorded, expires,
          "\"9af12d10801c5d48\"", "60.0");
  add_row(rows, sizeof(rows), ID(32), "\"E101\"", "null", "null", expires,
          "\"9af12d10801c5d48\"", "60.0");
  add_row(rows, sizeof(rows), ID(33), "\"E101\"", "null", recorded, "null",
          "\"9af12d10801c5d48\"", "60.0");
  add_row(rows, sizeof(rows), ID(34), "\"E101\"", "null", recorded, expires,
          "null", "60.0");
  add_row(rows, sizeof(rows), ID(35), "\"E101\"", "null", recorded, expires,
          "\"9af12d10801c5d48\"", "null");
  add_row(rows, sizeof(rows), ID(36), "\"E101\"", "null", recorded,
          "1900000000.5", "\"9af12d10801c5d48\"", "60.0");
  add_row(rows, sizeof(rows), ID(37), "\"E101\"", "null", recorded, expires,
          "\"9af12d10801c5d48\"", "60.0");
  add_row(rows, sizeof(rows), ID(37), "\"E101\"", "null", recorded, expires,
          "\"9af12d10801c5d48\"", "60.0");
  run_store(rows, NULL, 0, "insert", path, "--loose", NULL);

  ck_assert_int_eq(rlb_restore(board, path, &res, collect_skipped, &skipped),
                   0);
  ck_assert_uint_eq(res.invalid, 7);
  ck_assert_uint_eq(res.restored, 1);
  ck_assert_uint_eq(res.duplicate, 1);
  ck_assert_str_eq(reason_for(&skipped, "(row 1)"), "id is NULL, not text");
  ck_assert_str_eq(reason_for(&skipped, "00000000-0000-4000-8000-000000000031"),
                   "error_code is NULL, not text");
  ck_assert_str_eq(reason_for(&skipped, "00000000-0000-4000-8000-000000000032"),
                   "recorded_at is NULL, not text");
  ck_assert_str_eq(reason_for(&skipped, "00000000-0000-4000-8000-000000000033"),
                   "expires_at is NULL, not text");
  ck_assert_str_eq(reason_for(&skipped, "00000000-0000-4000-8000-000000000034"),
                   "source_job_hash is NULL, not text");
  ck_assert_str_eq(reason_for(&skipped, "00000000-0000-4000-8000-000000000035"),
                   "duration_seconds is NULL, not a number");
  ck_assert_str_eq(reason_for(&skipped, "00000000-0000-4000-8000-000000000036"),
                   "expires_at is a real number, not text");
  list = list_all(board);
  ck_assert_uint_eq(list.count, 1);
  rlb_events_free(list.events);
  test_board_remove(board);
}
END_TEST

/* Files restore refuses leave the board exactly as it was. */
static void assert_restore_refused(rlb_board *board, const char *path,
                                   int expected)
{
  skipped_rows skipped = {0};
  rlb_restore_result res = {7, 7, 7, 7};
  event_list before, after;
  rlb_stats stats;

  before = list_all(board);
  ck_assert_int_eq(rlb_restore(board, path, &res, collect_skipped, &skipped),
                   expected);
  after = list_all(board);
  assert_same_events(&before, &after);
  ck_assert_uint_eq(res.restored, 7);
  ck_assert_int_eq(skipped.count, 0);
  ck_assert_int_eq(rlb_stats_get(board, &stats), 0);
  ck_assert_uint_eq(stats.restored, 0);
  rlb_events_free(before.events);
  rlb_events_free(after.events);
}

START_TEST(test_restore_not_sqlite_file)
{
  static unsigned char bytes[4096], now[8192];
  char path[128];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);

  file_path(path, sizeof(path), "random.bin");
  write_random_file(path, bytes);
  record_events(board, 3);
  assert_restore_refused(board, path, RLB_ENOTSQLITE);
  ck_assert_uint_eq(read_file(path, now, sizeof(now)), sizeof(bytes));
  ck_assert(memcmp(now, bytes, sizeof(bytes)) == 0);
  ck_assert(!has_side_files(path));
  test_board_remove(board);
}
END_TEST

START_TEST(test_restore_foreign_database)
{
  char path[128];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);

  file_path(path, sizeof(path), "other.db");
  record_events(board, 3);
  exec_file(path, "CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT);"
                  "INSERT INTO jobs (name) VALUES ('a');");
  assert_restore_refused(board, path, RLB_ENOTABLE);

  /* An empty file is an empty database. */
  write_file(path, "", 0);
  assert_restore_refused(board, path, RLB_ENOTABLE);
  test_board_remove(board);
}
END_TEST

START_TEST(test_restore_wrong_columns)
{
  char path[128];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);

  file_path(path, sizeof(path), "other.db");
  record_events(board, 2);
  exec_file(path, "CREATE TABLE rate_limit_events (id TEXT, code TEXT);"
                  "INSERT INTO rate_limit_events VALUES ('a', 'b');");
  assert_restore_refused(board, path, RLB_ESQLITE);
  test_board_remove(board);
}
END_TEST

START_TEST(test_restore_missing_file)
{
  char path[128];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);

  file_path(path, sizeof(path), "missing.db");
  record_events(board, 2);
  assert_restore_refused(board, path, -ENOENT);
  ck_assert(!file_exists(path));
  test_board_remove(board);
}
END_TEST

START_TEST(test_restore_invalid_arguments)
{
  char path[128];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);

  file_path(path, sizeof(path), "board.db");
  ck_assert_int_eq(rlb_snapshot(board, path, NULL), 0);
  ck_assert_int_eq(rlb_restore(NULL, path, NULL, NULL, NULL), RLB_EINVALARG);
  ck_assert_int_eq(rlb_restore(board, NULL, NULL, NULL, NULL), RLB_EINVALARG);
  ck_assert_int_eq(rlb_restore(board, "", NULL, NULL, NULL), RLB_EINVALARG);
  ck_assert_int_eq(rlb_restore(board, test_dir, NULL, NULL, NULL), -EISDIR);
  test_board_remove(board);
}
END_TEST

/*
 * Restoring into a live board changes no event already there: a row with
 * the id of a live event is a duplicate whether it expires sooner or later,
 * and nothing is removed.
 */
START_TEST(test_restore_keeps_live_events)
{
  char path[128], rows[4096], new_id[40];
  rlb_board *board = open_board(RLB_CAPACITY_DEFAULT);
  int64_t now = wall_us();
  rlb_restore_result res;
  event_list before, after;
  const rlb_event *a, *b;

  file_path(path, sizeof(path), "store.db");
  record_events(board, 3);
  before = list_all(board);
  a = &before.events[0];
  b = &before.events[2];

  rows[0] = '\0';
  add_valid_row(rows, sizeof(rows), a->id, now + 5000000);
  add_valid_row(rows, sizeof(rows), b->id, b->expires_at_us + 600000000);
  make_id(new_id, 7);
  add_valid_row(rows, sizeof(rows), new_id, now + 400000000);
  run_store(rows, NULL, 0, "insert", path, NULL);

  ck_assert_int_eq(rlb_restore(board, path, &res, NULL, NULL), 0);
  ck_assert_uint_eq(res.duplicate, 2);
  ck_assert_uint_eq(res.restored, 1);
  after = list_all(board);
  ck_assert_uint_eq(after.count, 4);
  assert_same_event(a, find_event(&after, a->id));
  assert_same_event(b, find_event(&after, b->id));
  assert_same_event(&before.events[1], find_event(&after, before.events[1].id));
  ck_assert_ptr_nonnull(find_event(&after, new_id));

  /* Restoring the same file again adds nothing. */
  ck_assert_int_eq(rlb_restore(board, path, &res, NULL, NULL), 0);
  ck_assert_uint_eq(res.duplicate, 3);
  ck_assert_uint_eq(res.restored, 0);
  rlb_events_free(before.events);
  rlb_events_free(after.events);
  test_board_remove(board);
}
END_TEST

/* A board with room for one more event takes the row that expires last and
 * reports the others; no live event is evicted. */
START_TEST(test_restore_full_board)
{
  char path[128], rows[4096], id[40];
  rlb_board *board = open_board(4);
  skipped_rows skipped = {0};
  int64_t now = wall_us();
  rlb_restore_result res;
  event_list before, after;
  rlb_stats stats;
  size_t i;

  file_path(path, sizeof(path), "store.db");
  record_events(board, 3);
  before = list_all(board);
  rows[0] = '\0';
  for (i = 0; i < 3; i++) {
    make_id(id, (int)i);
    add_valid_row(rows, sizeof(rows), id, now + 100000000 * (int64_t)(i + 1));
  }
  run_store(rows, NULL, 0, "insert", path, NULL);

  ck_assert_int_eq(rlb_restore(board, path, &res, collect_skipped, &skipped),
                   0);
  ck_assert_uint_eq(res.restored, 1);
  ck_assert_uint_eq(res.invalid, 2);
  ck_assert_int_eq(skipped.count, 2);
  ck_assert_int_eq(reasons_with(&skipped, "board is full"), 2);
  after = list_all(board);
  ck_assert_uint_eq(after.count, 4);
  for (i = 0; i < before.count; i++)
    assert_same_event(&before.events[i],
                      find_event(&after, before.events[i].id));
  make_id(id, 2);
  ck_assert_ptr_nonnull(find_event(&after, id));
  ck_assert_int_eq(rlb_stats_get(board, &stats), 0);
  ck_assert_uint_eq(stats.evictions, 0);
  rlb_events_free(before.events);
  rlb_events_free(after.events);
  test_board_remove(board);
}
END_TEST

/* Slots of expired events are free for restored rows. */
START_TEST(test_restore_reuses_expired_slots)
{
  char path[128], rows[4096], id[40];
  rlb_board *board = open_board(2);
  int64_t now = wall_us();
  rlb_restore_result res;
  event_list list;
  rlb_stats stats;
  int k;

  file_path(path, sizeof(path), "store.db");
  ck_assert_int_eq(rlb_record(board, "E101", 0.01, "job-1", NULL, NULL), 0);
  ck_assert_int_eq(rlb_record(board, "E102", 0.01, "job-2", NULL, NULL), 0);
  test_sleep_ms(50);
  rows[0] = '\0';
  for (k = 0; k < 2; k++) {
    make_id(id, k);
    add_valid_row(rows, sizeof(rows), id, now + 300000000);
  }
  run_store(rows, NULL, 0, "insert", path, NULL);

  ck_assert_int_eq(rlb_restore(board, path, &res, NULL, NULL), 0);
  ck_assert_uint_eq(res.restored, 2);
  ck_assert_uint_eq(res.invalid, 0);
  list = list_all(board);
  ck_assert_uint_eq(list.count, 2);
  ck_assert_int_eq(rlb_stats_get(board, &stats), 0);
  ck_assert_uint_eq(stats.evictions, 0);
  rlb_events_free(list.events);
  test_board_remove(board);
}
END_TEST

/* Restores the store's file from a directory this process cannot write, so
 * that SQLite cannot create the WAL index. Returns 0 on success. */
static int restore_from_readonly_dir(const char *path)
{
  char name[64];
  rlb_options opts;
  rlb_board *board = NULL;
  rlb_restore_result res;
  int rc;

  board_name(name, sizeof(name));
  rlb_options_init(&opts);
  if (rlb_open(&board, name, &opts) != 0)
    return 10;
  rc = rlb_restore(board, path, &res, NULL, NULL);
  rlb_unlink(name);
  rlb_close(board);
  if (rc != 0)
    return 11;
  return res.restored == 2 ? 0 : 12;
}

START_TEST(test_restore_readonly_directory)
{
  char path[128], mode[16];
  int status;

  file_path(path, sizeof(path), "store.db");
  run_store(NULL, NULL, 0, "record", path, "E101", "60", "job-a", NULL);
  run_store(NULL, NULL, 0, "record", path, "E102", "60", "job-b", "gpt-x",
            NULL);
  query_text(path, "PRAGMA journal_mode", mode, sizeof(mode));
  ck_assert_str_eq(mode, "wal\n");
  ck_assert(!has_side_files(path));
  ck_assert_int_eq(chmod(test_dir, 0755), 0);
  ck_assert_int_eq(chmod(path, 0644), 0);

  if (geteuid() == 0) {
    /* Root can write to any directory, so the restore runs as the user
     * nobody (uid 65534). */
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
      if (setgid(65534) != 0 || setuid(65534) != 0)
        _exit(20);
      _exit(restore_from_readonly_dir(path));
    }
    status = wait_exit_status(pid);
  } else {
    ck_assert_int_eq(chmod(test_dir, 0555), 0);
    status = restore_from_readonly_dir(path);
    chmod(test_dir, 0700);
  }
  ck_assert_int_eq(status, 0);
  ck_assert(!has_side_files(path));
}
END_TEST

static Suite *make_snapshot_suite(void)
{
  Suite *s = suite_create("snapshot");
  TCase *snap = tcase_create("snapshot");
  TCase *restore = tcase_create("restore");

  tcase_add_unchecked_fixture(snap, make_run_dir, remove_run_dir);
  tcase_add_checked_fixture(snap, setup, teardown);
  tcase_set_timeout(snap, 120);
  tcase_add_test(snap, test_snapshot_round_trip);
  tcase_add_test(snap, test_snapshot_restored_events_limit);
  tcase_add_test(snap, test_snapshot_skips_expired);
  tcase_add_test(snap, test_snapshot_file_schema);
  tcase_add_test(snap, test_snapshot_answers_store_query);
  tcase_add_test(snap, test_snapshot_replaces_rows_keeps_others);
  tcase_add_test(snap, test_snapshot_empty_board);
  tcase_add_test(snap, test_snapshot_waits_for_writer);
  tcase_add_test(snap, test_snapshot_not_sqlite_file);
  tcase_add_test(snap, test_snapshot_invalid_arguments);
  tcase_add_test(snap, test_snapshot_large_board);
  tcase_add_test(snap, test_snapshot_page_size);
  tcase_add_test(snap, test_snapshot_shared_id_prefixes);
  suite_add_tcase(s, snap);

  tcase_add_unchecked_fixture(restore, make_run_dir, remove_run_dir);
  tcase_add_checked_fixture(restore, setup, teardown);
  tcase_set_timeout(restore, 120);
  tcase_add_test(restore, test_restore_store_file);
  tcase_add_test(restore, test_restore_time_forms);
  tcase_add_test(restore, test_restore_expired_rows);
  tcase_add_test(restore, test_restore_invalid_rows);
  tcase_add_test(restore, test_restore_null_fields);
  tcase_add_test(restore, test_restore_not_sqlite_file);
  tcase_add_test(restore, test_restore_foreign_database);
  tcase_add_test(restore, test_restore_wrong_columns);
  tcase_add_test(restore, test_restore_missing_file);
  tcase_add_test(restore, test_restore_invalid_arguments);
  tcase_add_test(restore, test_restore_keeps_live_events);
  tcase_add_test(restore, test_restore_full_board);
  tcase_add_test(restore, test_restore_reuses_expired_slots);
  tcase_add_test(restore, test_restore_readonly_directory);
  suite_add_tcase(s, restore);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(make_snapshot_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
