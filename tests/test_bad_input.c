/*
 * The bad-input matrix: each row gives the library or the rlboard command
 * one invalid value. The library must return that value's own error code,
 * and the command its exit status and one line on standard error that
 * names the value. Either way the board's bytes in /dev/shm must be
 * identical before and after, and a segment that is not a board of this
 * layout must never be initialized over.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout.h"
#include "support.h"

#define FIXTURE_CAPACITY 16
#define RUN_TIMEOUT_SECONDS 30.0
#define OUTPUT_MAX 8192
#define ARGS_MAX 12
/* The command cuts quoted values after 100 bytes, so long values are
 * looked for by their first bytes. */
#define FAULT_PREFIX 60

/* Values over the limits, and at them, filled in by main(). */
static char code_over[RLB_CODE_MAX + 2];
static char code_max[RLB_CODE_MAX + 1];
static char model_over[RLB_MODEL_MAX + 2];
static char model_max[RLB_MODEL_MAX + 1];
static char job_over[RLB_JOB_MAX + 2];
static char job_max[RLB_JOB_MAX + 1];
static char name_over[RLB_NAME_MAX + 2];

/* The fixture: a board with three events, its bytes, a second name for
 * raw segments and a directory for files. */
static char name[64];
static char raw_name[64];
static rlb_board *board;
static unsigned char *before;
static size_t before_size;
static char dir[64];
static char path_missing[128];
static char path_not_sqlite[128];
static char path_no_table[128];
static char path_missing_dir[128];

/* ---- segments and files ------------------------------------------------- */

/* Reads /dev/shm/NAME fully into a malloc()ed buffer. */
static unsigned char *read_segment(const char *segment, size_t *size)
{
  char path[128];
  struct stat st;
  unsigned char *data;
  size_t done = 0;
  int fd;

  snprintf(path, sizeof(path), "/%s", segment);
  fd = shm_open(path, O_RDONLY, 0);
  ck_assert_msg(fd >= 0, "shm_open(%s): %s", path, strerror(errno));
  ck_assert_int_eq(fstat(fd, &st), 0);
  data = malloc((size_t)st.st_size + 1);
  ck_assert_ptr_nonnull(data);
  while (done < (size_t)st.st_size) {
    ssize_t n = pread(fd, data + done, (size_t)st.st_size - done, (off_t)done);
    ck_assert_int_gt(n, 0);
    done += (size_t)n;
  }
  close(fd);
  *size = done;
  return data;
}

static void write_segment(const char *segment, const void *data, size_t size)
{
  char path[128];
  int fd;

  snprintf(path, sizeof(path), "/%s", segment);
  fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
  ck_assert_msg(fd >= 0, "shm_open(%s): %s", path, strerror(errno));
  ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
  close(fd);
}

static int segment_exists(const char *segment)
{
  char path[128];
  struct stat st;

  snprintf(path, sizeof(path), "/dev/shm/%s", segment);
  return stat(path, &st) == 0;
}

/* Fails the test unless the segment contains exactly the expected bytes. */
static void assert_segment_is(const char *segment, const unsigned char *bytes,
                              size_t size)
{
  size_t after_size;
  unsigned char *after = read_segment(segment, &after_size);

  ck_assert_uint_eq(after_size, size);
  ck_assert_msg(memcmp(after, bytes, size) == 0,
                "the bytes of segment %s changed", segment);
  free(after);
}

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");

  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  ck_assert_int_eq(fclose(f), 0);
}

static void make_sqlite_without_table(const char *path)
{
  sqlite3 *db;

  ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(db,
                                "CREATE TABLE jobs (id TEXT PRIMARY KEY);"
                                "INSERT INTO jobs VALUES ('job-1')",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
}

static void setup(void)
{
  int rc;

  board = test_board_open_capacity(name, sizeof(name), FIXTURE_CAPACITY);
  test_board_name(raw_name, sizeof(raw_name));
  rc = rlb_record(board, "E101", 600, "job-1", "model-a", NULL);
  if (rc == 0)
    rc = rlb_record(board, "E102", 300, "job-2", NULL, NULL);
  if (rc == 0)
    rc = rlb_record(board, "E104", 900, "job-3", "model-b", NULL);
  ck_assert_int_eq(rc, 0);
  before = read_segment(name, &before_size);

  snprintf(dir, sizeof(dir), "/tmp/rlb-bad-input-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path_missing, sizeof(path_missing), "%s/missing.db", dir);
  snprintf(path_not_sqlite, sizeof(path_not_sqlite), "%s/notes.txt", dir);
  snprintf(path_no_table, sizeof(path_no_table), "%s/other.db", dir);
  snprintf(path_missing_dir, sizeof(path_missing_dir), "%s/no-such-dir/s.db",
           dir);
  write_file(path_not_sqlite, "these are notes, not a database\n");
  make_sqlite_without_table(path_no_table);
}

static void teardown(void)
{
  char command[160];

  test_board_remove(board);
  board = NULL;
  test_segment_remove(raw_name);
  free(before);
  before = NULL;
  snprintf(command, sizeof(command), "rm -rf '%s'", dir);
  if (system(command) != 0)
    fprintf(stderr, "failed to remove %s\n", dir);
}

/* ---- the library -------------------------------------------------------- */

typedef enum lib_op {
  LIB_RECORD,
  LIB_CHECK,
  LIB_LIST,
  LIB_CLEAR,
  LIB_CLEAR_ID,
  LIB_WAIT,
  LIB_OPEN,
  LIB_UNLINK,
  LIB_JOB_HASH,
  LIB_RETRY_AFTER,
  LIB_PROBE_RELEASE,
  LIB_RESTORE,
  LIB_SNAPSHOT
} lib_op;

/* Files of the fixture, named in a row's text. */
enum { NO_FILE, FILE_MISSING, FILE_NOT_SQLITE, FILE_NO_TABLE, FILE_IN_NO_DIR };

typedef struct lib_case {
  const char *label;
  lib_op op;
  const char *code;
  const char *model;
  const char *job;
  double number;    /* duration, wait timeout */
  const char *text; /* id, board name, Retry-After value */
  int file;
  rlb_options open; /* for LIB_OPEN; flags 0 means the defaults */
  int expected;
} lib_case;

/* Row makers, one per kind of call. */
#define RECORD(label, code, model, job, seconds, expected)                     \
  {                                                                            \
    label, LIB_RECORD, code, model, job, seconds, NULL, NO_FILE, {0}, expected \
  }
#define FILTER(label, op, code, model, expected)                               \
  {                                                                            \
    label, op, code, model, NULL, 0, NULL, NO_FILE, {0}, expected              \
  }
#define TEXT(label, op, text, expected)                                        \
  {                                                                            \
    label, op, NULL, NULL, NULL, 0, text, NO_FILE, {0}, expected               \
  }
#define OPTIONS(label, capacity, ttl, mode, expected)                          \
  {                                                                            \
    label, LIB_OPEN, NULL, NULL, NULL, 0, NULL, NO_FILE,                       \
        {RLB_CREATE | RLB_EXCLUSIVE, capacity, ttl, mode, 500, 30000, 10000},  \
        expected                                                               \
  }
#define FILE_ROW(label, op, file, expected)                                    \
  {                                                                            \
    label, op, NULL, NULL, NULL, 0, NULL, file, {0}, expected                  \
  }

static const lib_case lib_cases[] = {
    RECORD("duration -5", "E101", NULL, "job", -5, RLB_EINVALDURATION),
    RECORD("duration 0", "E101", NULL, "job", 0, RLB_EINVALDURATION),
    RECORD("duration NaN", "E101", NULL, "job", NAN, RLB_EINVALDURATION),
    RECORD("duration infinity", "E101", NULL, "job", INFINITY,
           RLB_EINVALDURATION),
    RECORD("duration 1e12", "E101", NULL, "job", 1e12, RLB_EINVALDURATION),
    RECORD("duration over the maximum", "E101", NULL, "job",
           RLB_DURATION_MAX + 0.001, RLB_EINVALDURATION),
    RECORD("code NULL", NULL, NULL, "job", 60, RLB_EINVALCODE),
    RECORD("code empty", "", NULL, "job", 60, RLB_EINVALCODE),
    RECORD("code of 32 bytes", code_over, NULL, "job", 60, RLB_EINVALCODE),
    RECORD("model empty", "E101", "", "job", 60, RLB_EINVALMODEL),
    RECORD("model of 96 bytes", "E101", model_over, "job", 60, RLB_EINVALMODEL),
    RECORD("job NULL", "E101", NULL, NULL, 60, RLB_EINVALJOB),
    RECORD("job empty", "E101", NULL, "", 60, RLB_EINVALJOB),
    RECORD("job of 1025 bytes", "E101", NULL, job_over, 60, RLB_EINVALJOB),
    {"job hash of 1025 bytes",
     LIB_JOB_HASH,
     NULL,
     NULL,
     job_over,
     0,
     NULL,
     NO_FILE,
     {0},
     RLB_EINVALJOB},
    FILTER("check code empty", LIB_CHECK, "", NULL, RLB_EINVALCODE),
    FILTER("check code of 32 bytes", LIB_CHECK, code_over, NULL,
           RLB_EINVALCODE),
    FILTER("check model of 96 bytes", LIB_CHECK, NULL, model_over,
           RLB_EINVALMODEL),
    FILTER("list code of 32 bytes", LIB_LIST, code_over, NULL, RLB_EINVALCODE),
    FILTER("list model empty", LIB_LIST, NULL, "", RLB_EINVALMODEL),
    FILTER("clear code empty", LIB_CLEAR, "", NULL, RLB_EINVALCODE),
    FILTER("clear model of 96 bytes", LIB_CLEAR, NULL, model_over,
           RLB_EINVALMODEL),
    FILTER("wait code of 32 bytes", LIB_WAIT, code_over, NULL, RLB_EINVALCODE),
    {"wait timeout NaN",
     LIB_WAIT,
     NULL,
     NULL,
     NULL,
     NAN,
     NULL,
     NO_FILE,
     {0},
     RLB_EINVALARG},
    TEXT("clear id not a UUID", LIB_CLEAR_ID, "not-an-id", RLB_EINVALID),
    TEXT("clear id in upper case", LIB_CLEAR_ID,
         "0F0F0F0F-0000-4000-8000-000000000000", RLB_EINVALID),
    TEXT("clear id of 37 characters", LIB_CLEAR_ID,
         "00000000-0000-4000-8000-0000000000000", RLB_EINVALID),
    TEXT("clear id NULL", LIB_CLEAR_ID, NULL, RLB_EINVALID),
    TEXT("clear id unknown", LIB_CLEAR_ID,
         "00000000-0000-4000-8000-000000000000", RLB_ENOTFOUND),
    TEXT("name with a slash inside", LIB_OPEN, "a/b", RLB_EINVALNAME),
    TEXT("name ..", LIB_OPEN, "..", RLB_EINVALNAME),
    TEXT("name with a space", LIB_OPEN, "a b", RLB_EINVALNAME),
    TEXT("name empty", LIB_OPEN, "", RLB_EINVALNAME),
    TEXT("name of 201 characters", LIB_OPEN, name_over, RLB_EINVALNAME),
    TEXT("unlink name ..", LIB_UNLINK, "..", RLB_EINVALNAME),
    OPTIONS("capacity 0", 0, 0.8, 0600, RLB_EINVALCAPACITY),
    OPTIONS("capacity 2^20 + 1", RLB_CAPACITY_MAX + 1, 0.8, 0600,
            RLB_EINVALCAPACITY),
    OPTIONS("capacity -1 as unsigned", UINT32_MAX, 0.8, 0600,
            RLB_EINVALCAPACITY),
    OPTIONS("mode 0777", 16, 0.8, 0777, RLB_EINVALMODE),
    OPTIONS("mode 0400", 16, 0.8, 0400, RLB_EINVALMODE),
    OPTIONS("mode with setuid", 16, 0.8, 04600, RLB_EINVALMODE),
    OPTIONS("ttl factor 0", 16, 0, 0600, RLB_EINVALTTL),
    OPTIONS("ttl factor NaN", 16, NAN, 0600, RLB_EINVALTTL),
    OPTIONS("ttl factor 4.5", 16, 4.5, 0600, RLB_EINVALTTL),
    TEXT("retry-after garbage", LIB_RETRY_AFTER, "soon", RLB_EINVALRETRY),
    TEXT("retry-after empty", LIB_RETRY_AFTER, "", RLB_EINVALRETRY),
    TEXT("retry-after negative", LIB_RETRY_AFTER, "-5", RLB_EINVALRETRY),
    TEXT("probe release token 0", LIB_PROBE_RELEASE, NULL, RLB_ENOPROBE),
    FILE_ROW("restore of a missing file", LIB_RESTORE, FILE_MISSING, -ENOENT),
    FILE_ROW("restore of a file that is not SQLite", LIB_RESTORE,
             FILE_NOT_SQLITE, RLB_ENOTSQLITE),
    FILE_ROW("restore of SQLite without the table", LIB_RESTORE, FILE_NO_TABLE,
             RLB_ENOTABLE),
    FILE_ROW("snapshot into a missing directory", LIB_SNAPSHOT, FILE_IN_NO_DIR,
             -ENOENT),
};

#define LIB_CASES ((int)(sizeof(lib_cases) / sizeof(lib_cases[0])))

static const char *file_path(int file)
{
  switch (file) {
  case FILE_MISSING:
    return path_missing;
  case FILE_NOT_SQLITE:
    return path_not_sqlite;
  case FILE_NO_TABLE:
    return path_no_table;
  case FILE_IN_NO_DIR:
    return path_missing_dir;
  default:
    return NULL;
  }
}

/* Runs rlb_open() for a row. A row without a name opens a fresh one,
 * which must not exist afterwards. */
static int run_open(const lib_case *c)
{
  char fresh[64];
  const char *target = c->text;
  rlb_board *opened = NULL;
  int rc;

  if (target == NULL) {
    test_board_name(fresh, sizeof(fresh));
    target = fresh;
  }
  rc = rlb_open(&opened, target, c->open.flags != 0 ? &c->open : NULL);
  ck_assert_ptr_null(opened);
  if (c->text == NULL)
    ck_assert_msg(!segment_exists(fresh), "a rejected open created %s", fresh);
  return rc;
}

static int run_lib_case(const lib_case *c)
{
  char id[RLB_ID_LEN + 1];
  char hash[RLB_HASH_LEN + 1];
  rlb_restore_result restored;
  rlb_snapshot_result snapshot;
  rlb_event *events = NULL;
  size_t count = 0;
  double value = 0;

  switch (c->op) {
  case LIB_RECORD:
    return rlb_record(board, c->code, c->number, c->job, c->model, id);
  case LIB_CHECK:
    return rlb_check(board, c->code, c->model, &value);
  case LIB_LIST:
    return rlb_list(board, c->code, c->model, &events, &count);
  case LIB_CLEAR:
    return rlb_clear(board, c->code, c->model, &count);
  case LIB_CLEAR_ID:
    return rlb_clear_id(board, c->text);
  case LIB_WAIT:
    return rlb_wait(board, c->code, c->model, c->number, 0);
  case LIB_OPEN:
    return run_open(c);
  case LIB_UNLINK:
    return rlb_unlink(c->text);
  case LIB_JOB_HASH:
    return rlb_job_hash(c->job, hash);
  case LIB_RETRY_AFTER:
    return rlb_parse_retry_after(c->text, 0, 0, &value);
  case LIB_PROBE_RELEASE:
    return rlb_probe_release(board, 0, 1);
  case LIB_RESTORE:
    return rlb_restore(board, file_path(c->file), &restored, NULL, NULL);
  case LIB_SNAPSHOT:
    return rlb_snapshot(board, file_path(c->file), &snapshot);
  }
  return 0;
}

START_TEST(test_bad_input_library)
{
  const lib_case *c = &lib_cases[_i];
  int rc = run_lib_case(c);

  ck_assert_msg(rc == c->expected, "%s: returned %s (%d), expected %s",
                c->label, rlb_error_name(rc), rc, rlb_error_name(c->expected));
  ck_assert_msg(strcmp(rlb_strerror(rc), "") != 0, "%s: no message", c->label);
  assert_segment_is(name, before, before_size);
}
END_TEST

/* Values at the limits are accepted, so the rows above fail for the right
 * reason. */
START_TEST(test_bad_input_limits_accepted)
{
  char id[RLB_ID_LEN + 1];

  ck_assert_int_eq(
      rlb_record(board, code_max, RLB_DURATION_MAX, job_max, model_max, id), 0);
  ck_assert_int_eq(rlb_check(board, code_max, model_max, NULL), 1);
}
END_TEST

/* ---- segments that are not boards of this layout ------------------------ */

typedef enum raw_kind {
  RAW_OTHER_LAYOUT,
  RAW_NOT_A_BOARD,
  RAW_CUT_SHORT,
  RAW_WRONG_CAPACITY,
  RAW_WRONG_LOCK_KIND
} raw_kind;

typedef struct raw_case {
  const char *label;
  raw_kind kind;
  int expected;
} raw_case;

static const raw_case raw_cases[] = {
    {"another layout version", RAW_OTHER_LAYOUT, RLB_ELAYOUT},
    {"text, not a board", RAW_NOT_A_BOARD, RLB_ENOTBOARD},
    {"header cut short", RAW_CUT_SHORT, RLB_ECORRUPT},
    {"capacity that does not fit the size", RAW_WRONG_CAPACITY, RLB_ECORRUPT},
#ifdef __GLIBC__
    /* The library checks the lock's kind only with glibc. */
    {"lock of another mutex kind", RAW_WRONG_LOCK_KIND, RLB_ECORRUPT},
#endif
};

#define RAW_CASES ((int)(sizeof(raw_cases) / sizeof(raw_cases[0])))

/* Writes the raw segment of a row under raw_name, made from the fixture's
 * bytes, and returns its size. */
static size_t make_raw_segment(raw_kind kind, unsigned char *bytes)
{
  rlb_header *h = (rlb_header *)bytes;
  size_t size = before_size;

  memcpy(bytes, before, before_size);
  switch (kind) {
  case RAW_OTHER_LAYOUT:
    h->layout_version = RLB_LAYOUT_VERSION + 1;
    break;
  case RAW_NOT_A_BOARD:
    memset(bytes, 'x', size);
    memcpy(bytes, "these are notes, not a board", 28);
    break;
  case RAW_CUT_SHORT:
    size = sizeof(rlb_header) - 8;
    break;
  case RAW_WRONG_CAPACITY:
    h->capacity = FIXTURE_CAPACITY * 2;
    break;
  case RAW_WRONG_LOCK_KIND:
    /* glibc keeps the mutex kind at byte 16 of the lock; the lock word in
     * the first 4 bytes stays 0, unlocked. */
    memset(bytes + offsetof(rlb_header, lock) + 4, 0x5a, RLB_MUTEX_AREA - 4);
    break;
  }
  write_segment(raw_name, bytes, size);
  return size;
}

START_TEST(test_bad_input_foreign_segment)
{
  const raw_case *c = &raw_cases[_i];
  unsigned char *bytes = malloc(before_size);
  rlb_board *opened = NULL;
  size_t size;
  int rc;

  ck_assert_ptr_nonnull(bytes);
  size = make_raw_segment(c->kind, bytes);
  /* With RLB_CREATE, the open must still refuse to initialize it. */
  rc = rlb_open(&opened, raw_name, NULL);
  ck_assert_ptr_null(opened);
  ck_assert_msg(rc == c->expected, "%s: returned %s, expected %s", c->label,
                rlb_error_name(rc), rlb_error_name(c->expected));
  assert_segment_is(raw_name, bytes, size);
  free(bytes);
}
END_TEST

/* ---- the command -------------------------------------------------------- */

/* A row of the command's matrix. The command runs with "--board" and the
 * fixture's board appended unless the row gives its own "--board". In args
 * and fault, "@board" is the fixture's board, "@raw" a segment of another
 * layout, "@missing", "@notsqlite", "@notable" and "@nodir" the fixture's
 * files, and "@code", "@model", "@job" and "@name" the values over the
 * limits. */
typedef struct cli_case {
  const char *label;
  int status;
  const char *fault; /* must appear on standard error */
  const char *args[ARGS_MAX];
} cli_case;

#define CLI(label, status, fault, ...)                                         \
  {                                                                            \
    label, status, fault,                                                      \
    {                                                                          \
      __VA_ARGS__                                                              \
    }                                                                          \
  }
#define RECORD_WITH(...)                                                       \
  "record", "--code", "E101", "--duration", "60", "--job", "j", __VA_ARGS__

static const cli_case cli_cases[] = {
    CLI("duration -5", 64, "'-5'", "record", "--code", "E101", "--duration",
        "-5", "--job", "j"),
    CLI("duration 0", 64, "'0'", "record", "--code", "E101", "--duration", "0",
        "--job", "j"),
    CLI("duration nan", 64, "'nan'", "record", "--code", "E101", "--duration",
        "nan", "--job", "j"),
    CLI("duration inf", 64, "'inf'", "record", "--code", "E101", "--duration",
        "inf", "--job", "j"),
    CLI("duration 1e12", 64, "'1e12'", "record", "--code", "E101", "--duration",
        "1e12", "--job", "j"),
    CLI("duration empty", 64, "--duration ''", "record", "--code", "E101",
        "--duration", "", "--job", "j"),
    CLI("duration 12abc", 64, "'12abc'", "record", "--code", "E101",
        "--duration", "12abc", "--job", "j"),
    CLI("duration 0x10", 64, "'0x10'", "record", "--code", "E101", "--duration",
        "0x10", "--job", "j"),
    CLI("code empty", 64, "--code ''", "record", "--code", "", "--duration",
        "60", "--job", "j"),
    CLI("code of 32 bytes", 64, "@code", "record", "--code", "@code",
        "--duration", "60", "--job", "j"),
    CLI("model empty", 64, "--model ''", RECORD_WITH("--model", "")),
    CLI("model of 96 bytes", 64, "@model", RECORD_WITH("--model", "@model")),
    CLI("job empty", 64, "--job ''", "record", "--code", "E101", "--duration",
        "60", "--job", ""),
    CLI("job of 1025 bytes", 64, "@job", "record", "--code", "E101",
        "--duration", "60", "--job", "@job"),
    CLI("missing --job", 64, "--job", "record", "--code", "E101", "--duration",
        "60"),
    CLI("missing --code", 64, "--code", "record", "--duration", "60", "--job",
        "j"),
    CLI("check code of 32 bytes", 64, "@code", "check", "--code", "@code"),
    CLI("list model of 96 bytes", 64, "@model", "list", "--model", "@model"),
    CLI("board name with a slash inside", 64, "'a/b'", "check", "--board",
        "a/b"),
    CLI("board name ..", 64, "'..'", "list", "--board", ".."),
    CLI("board name with a space", 64, "'a b'", "record", "--board", "a b"),
    CLI("board name of 201 characters", 64, "@name", "stats", "--board",
        "@name"),
    CLI("capacity 0", 64, "'0'", "create", "--capacity", "0"),
    CLI("capacity -1", 64, "'-1'", "create", "--capacity", "-1"),
    CLI("capacity 2^20 + 1", 64, "'1048577'", "create", "--capacity",
        "1048577"),
    CLI("capacity abc", 64, "'abc'", "create", "--capacity", "abc"),
    CLI("mode 0777", 64, "'0777'", "create", "--mode", "0777"),
    CLI("mode abc", 64, "'abc'", "create", "--mode", "abc"),
    CLI("mode 0400", 64, "'0400'", "create", "--mode", "0400"),
    CLI("ttl factor 0", 64, "'0'", "create", "--ttl-factor", "0"),
    CLI("ttl factor 5", 64, "'5'", "create", "--ttl-factor", "5"),
    CLI("ttl factor nan", 64, "'nan'", "create", "--ttl-factor", "nan"),
    CLI("unknown option", 64, "'--colour'", RECORD_WITH("--colour", "red")),
    CLI("option of another subcommand", 64, "'--code'", "cleanup", "--code",
        "E101"),
    CLI("option without its value", 64, "'--code'", "check", "--board",
        "@board", "--code"),
    CLI("unknown subcommand", 64, "'frobnicate'", "frobnicate"),
    CLI("extra argument to check", 64, "'extra'", "check", "extra"),
    CLI("extra argument to restore", 64, "'extra'", "restore", "@notable",
        "extra"),
    CLI("wait timeout -1", 64, "'-1'", "wait", "--timeout", "-1"),
    CLI("wait timeout abc", 64, "'abc'", "wait", "--timeout", "abc"),
    CLI("wait jitter over the maximum", 64, "'600001'", "wait", "--jitter-ms",
        "600001"),
    CLI("clear id not a UUID", 64, "'nope'", "clear", "--id", "nope"),
    CLI("clear id with --all", 64, "--id", "clear", "--all", "--id",
        "00000000-0000-4000-8000-000000000000"),
    CLI("clear without a selection", 64, "--id", "clear"),
    CLI("clear id unknown", 66, "'00000000-0000-4000-8000-000000000000'",
        "clear", "--id", "00000000-0000-4000-8000-000000000000"),
    CLI("probe without an action", 64, "ACTION", "probe"),
    CLI("probe token not a number", 64, "'x1'", "probe", "release", "--token",
        "x1", "--success"),
    CLI("restore without a file", 64, "FILE", "restore"),
    CLI("restore of a missing file", 66, "@missing", "restore", "@missing"),
    CLI("restore of a file that is not SQLite", 65, "@notsqlite", "restore",
        "@notsqlite"),
    CLI("restore of SQLite without the table", 65, "@notable", "restore",
        "@notable"),
    CLI("snapshot into a missing directory", 66, "@nodir", "snapshot",
        "@nodir"),
    CLI("snapshot every 0 seconds", 64, "'0'", "snapshot", "--every", "0",
        "@nodir"),
    CLI("retry-after garbage", 64, "'soon'", "retry-after", "soon"),
    CLI("retry-after milliseconds garbage", 64, "'1.5.5'", "retry-after",
        "--ms", "1.5.5"),
    CLI("check on a segment of another layout", 1, "@raw", "check", "--board",
        "@raw"),
    CLI("record on a segment of another layout", 1, "@raw",
        RECORD_WITH("--board", "@raw")),
};

#define CLI_CASES ((int)(sizeof(cli_cases) / sizeof(cli_cases[0])))

/* Replaces a placeholder with its value; any other text is returned as
 * is. */
static const char *resolve(const char *text)
{
  static const struct {
    const char *token;
    const char *value;
  } table[] = {{"@board", name},
               {"@raw", raw_name},
               {"@missing", path_missing},
               {"@notsqlite", path_not_sqlite},
               {"@notable", path_no_table},
               {"@nodir", path_missing_dir},
               {"@code", code_over},
               {"@model", model_over},
               {"@job", job_over},
               {"@name", name_over}};
  size_t i;

  for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
    if (strcmp(text, table[i].token) == 0)
      return table[i].value;
  return text;
}

/* The output of one run of the command. */
typedef struct cli_run {
  int status; /* exit status, or 128 + the signal that ended it */
  char out[OUTPUT_MAX];
  char err[OUTPUT_MAX];
} cli_run;

static void read_all(int fd, char *buffer)
{
  ssize_t n = pread(fd, buffer, OUTPUT_MAX - 1, 0);

  buffer[n > 0 ? n : 0] = '\0';
  close(fd);
}

/* Runs the command with args and the fixture's board, its output going to
 * memory files, and kills it after RUN_TIMEOUT_SECONDS. */
static void run_cli(const char *const *args, cli_run *run)
{
  char *argv[ARGS_MAX + 4];
  int out = memfd_create("stdout", 0), err = memfd_create("stderr", 0);
  int board_given = 0;
  double deadline = test_now() + RUN_TIMEOUT_SECONDS;
  int count = 0, status;
  pid_t pid;

  ck_assert_int_ge(out, 0);
  ck_assert_int_ge(err, 0);
  argv[count++] = (char *)"rlboard";
  for (; count <= ARGS_MAX && args[count - 1] != NULL; count++) {
    argv[count] = (char *)resolve(args[count - 1]);
    if (strcmp(args[count - 1], "--board") == 0)
      board_given = 1;
  }
  if (!board_given) {
    argv[count++] = (char *)"--board";
    argv[count++] = name;
  }
  argv[count] = NULL;

  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    unsetenv("RLBOARD");
    execv(RLB_CLI_PATH, argv);
    _exit(127);
  }
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (test_now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ck_abort_msg("rlboard did not finish in %.0f s", RUN_TIMEOUT_SECONDS);
    }
    test_sleep_ms(2);
  }
  run->status =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  read_all(out, run->out);
  read_all(err, run->err);
}

static int count_lines(const char *text)
{
  int lines = 0;

  for (; *text != '\0'; text++)
    lines += *text == '\n';
  return lines;
}

static int uses_raw_segment(const cli_case *c)
{
  int i;

  for (i = 0; i < ARGS_MAX && c->args[i] != NULL; i++)
    if (strcmp(c->args[i], "@raw") == 0)
      return 1;
  return 0;
}

START_TEST(test_bad_input_command)
{
  const cli_case *c = &cli_cases[_i];
  char fault[FAULT_PREFIX + 1];
  unsigned char *raw = NULL;
  size_t raw_size = 0;
  cli_run run;

  if (uses_raw_segment(c)) {
    raw = malloc(before_size);
    ck_assert_ptr_nonnull(raw);
    raw_size = make_raw_segment(RAW_OTHER_LAYOUT, raw);
  }
  snprintf(fault, sizeof(fault), "%s", resolve(c->fault));
  run_cli(c->args, &run);

  ck_assert_msg(run.status == c->status, "%s: exit status %d, expected %d: %s",
                c->label, run.status, c->status, run.err);
  ck_assert_msg(count_lines(run.err) == 1,
                "%s: standard error is not one "
                "line: %s",
                c->label, run.err);
  ck_assert_msg(run.err[strlen(run.err) - 1] == '\n',
                "%s: standard error does not end its line", c->label);
  ck_assert_msg(strstr(run.err, fault) != NULL,
                "%s: standard error does not name %s: %s", c->label, fault,
                run.err);
  ck_assert_msg(run.out[0] == '\0', "%s: standard output is not empty: %s",
                c->label, run.out);
  assert_segment_is(name, before, before_size);
  if (raw != NULL) {
    assert_segment_is(raw_name, raw, raw_size);
    free(raw);
  }
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static void fill(char *buffer, char c, size_t length)
{
  memset(buffer, c, length);
  buffer[length] = '\0';
}

static Suite *make_bad_input_suite(void)
{
  Suite *s = suite_create("bad_input");
  TCase *library = tcase_create("library");
  TCase *segments = tcase_create("segments");
  TCase *command = tcase_create("command");

  tcase_add_checked_fixture(library, setup, teardown);
  tcase_set_timeout(library, 60);
  tcase_add_loop_test(library, test_bad_input_library, 0, LIB_CASES);
  tcase_add_test(library, test_bad_input_limits_accepted);
  suite_add_tcase(s, library);

  tcase_add_checked_fixture(segments, setup, teardown);
  tcase_set_timeout(segments, 60);
  tcase_add_loop_test(segments, test_bad_input_foreign_segment, 0, RAW_CASES);
  suite_add_tcase(s, segments);

  tcase_add_checked_fixture(command, setup, teardown);
  tcase_set_timeout(command, 120);
  tcase_add_loop_test(command, test_bad_input_command, 0, CLI_CASES);
  suite_add_tcase(s, command);
  return s;
}

int main(void)
{
  SRunner *runner;
  int failed;

  fill(code_over, 'C', RLB_CODE_MAX + 1);
  fill(code_max, 'C', RLB_CODE_MAX);
  fill(model_over, 'm', RLB_MODEL_MAX + 1);
  fill(model_max, 'm', RLB_MODEL_MAX);
  fill(job_over, 'j', RLB_JOB_MAX + 1);
  fill(job_max, 'j', RLB_JOB_MAX);
  fill(name_over, 'n', RLB_NAME_MAX + 1);
  unsetenv("RLBOARD");

  runner = srunner_create(make_bad_input_suite());
  srunner_run_all(runner, CK_NORMAL);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
