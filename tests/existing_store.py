"""Test helper that reads and writes a rate-limit file the way the SQLite
store that rlboard replaces does: the same schema, connection settings,
time format and queries. The C tests run it with Debian's python3.

Usage:
  existing_store.py record FILE CODE DURATION JOB [MODEL]
      Records one event as the store does and prints its id.
  existing_store.py insert FILE [--loose]
      Inserts rows given as JSON objects, one a line on stdin, with the
      column names as keys and the values stored as given. A value
      {"blob": HEX} is stored as a blob, {"real": TEXT} as float(TEXT).
      --loose creates the table without NOT NULL constraints first, as a
      file written by another tool might have it.
  existing_store.py query FILE
      Runs the store's query for live events and prints one tab-separated
      line per row: id, error_code, model (\\N for NULL), recorded_at,
      expires_at, source_job_hash, repr(duration_seconds).
  existing_store.py hold FILE SECONDS
      Opens a write transaction (BEGIN IMMEDIATE), inserts one row with the
      id 00000000-0000-4000-8000-000000000000, prints "held", waits, then
      commits.
"""

import hashlib
import json
import sqlite3
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

TTL_FACTOR = 0.8
HELD_ID = "00000000-0000-4000-8000-000000000000"

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS rate_limit_events (id TEXT PRIMARY KEY, "
    "error_code TEXT NOT NULL, model TEXT, recorded_at TIMESTAMP NOT NULL, "
    "expires_at TIMESTAMP NOT NULL, source_job_hash TEXT NOT NULL, "
    "duration_seconds REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS idx_rate_limit_events_error_code "
    "ON rate_limit_events(error_code)",
    "CREATE INDEX IF NOT EXISTS idx_rate_limit_events_expires_at "
    "ON rate_limit_events(expires_at)",
    "CREATE INDEX IF NOT EXISTS idx_rate_limit_events_model "
    "ON rate_limit_events(model)",
]

LOOSE_TABLE = (
    "CREATE TABLE IF NOT EXISTS rate_limit_events (id TEXT, error_code TEXT, "
    "model TEXT, recorded_at TIMESTAMP, expires_at TIMESTAMP, "
    "source_job_hash TEXT, duration_seconds REAL)"
)

COLUMNS = (
    "id",
    "error_code",
    "model",
    "recorded_at",
    "expires_at",
    "source_job_hash",
    "duration_seconds",
)

LIVE_QUERY = (
    "SELECT id, error_code, model, recorded_at, expires_at, source_job_hash, "
    "duration_seconds FROM rate_limit_events WHERE expires_at > ? "
    "ORDER BY expires_at DESC"
)


def connect(path, schema=True):
    """Open the file with the store's settings and create its schema."""
    conn = sqlite3.connect(path, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    if schema:
        for statement in SCHEMA:
            conn.execute(statement)
        conn.commit()
    return conn


def job_hash(job_id):
    return hashlib.sha256(f"{job_id}:".encode()).hexdigest()[:16]


def record(path, code, duration, job, model=None):
    conn = connect(path)
    event_id = str(uuid.uuid4())
    recorded_at = datetime.now(timezone.utc)
    expires_at = recorded_at + timedelta(seconds=duration * TTL_FACTOR)
    conn.execute(
        "INSERT INTO rate_limit_events (id, error_code, model, recorded_at, "
        "expires_at, source_job_hash, duration_seconds) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            event_id,
            code,
            model,
            recorded_at.isoformat(),
            expires_at.isoformat(),
            job_hash(job),
            duration,
        ),
    )
    conn.commit()
    conn.close()
    print(event_id)


def decode(value):
    if isinstance(value, dict) and "blob" in value:
        return bytes.fromhex(value["blob"])
    if isinstance(value, dict) and "real" in value:
        return float(value["real"])
    return value


def insert(path, loose):
    conn = connect(path, schema=not loose)
    if loose:
        conn.execute(LOOSE_TABLE)
    placeholders = ", ".join("?" for _ in COLUMNS)
    for line in sys.stdin:
        if not line.strip():
            continue
        row = json.loads(line)
        conn.execute(
            f"INSERT INTO rate_limit_events ({', '.join(COLUMNS)}) "
            f"VALUES ({placeholders})",
            tuple(decode(row.get(name)) for name in COLUMNS),
        )
    conn.commit()
    conn.close()


def query(path):
    conn = connect(path)
    now = datetime.now(timezone.utc).isoformat()
    for row in conn.execute(LIVE_QUERY, (now,)):
        fields = ["\\N" if v is None else str(v) for v in row[:6]]
        fields.append(repr(row[6]))
        print("\t".join(fields))
    conn.close()


def hold(path, seconds):
    conn = connect(path)
    conn.isolation_level = None
    conn.execute("BEGIN IMMEDIATE")
    now = datetime.now(timezone.utc)
    conn.execute(
        "INSERT INTO rate_limit_events (id, error_code, model, recorded_at, "
        "expires_at, source_job_hash, duration_seconds) "
        "VALUES (?, 'E101', NULL, ?, ?, ?, 60.0)",
        (
            HELD_ID,
            now.isoformat(),
            (now + timedelta(seconds=48)).isoformat(),
            job_hash("held"),
        ),
    )
    print("held", flush=True)
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


def main(argv):
    if len(argv) >= 6 and argv[1] == "record":
        model = argv[6] if len(argv) > 6 else None
        record(argv[2], argv[3], float(argv[4]), argv[5], model)
    elif len(argv) in (3, 4) and argv[1] == "insert":
        insert(argv[2], len(argv) == 4 and argv[3] == "--loose")
    elif len(argv) == 3 and argv[1] == "query":
        query(argv[2])
    elif len(argv) == 4 and argv[1] == "hold":
        hold(argv[2], float(argv[3]))
    else:
        sys.stderr.write(__doc__)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
