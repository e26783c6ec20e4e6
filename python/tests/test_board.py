"""Tests of rlboard.Board against the real library.

Each test works on a board of its own, named after the process and a
random suffix, and removes it in tearDown. Multi-process cases start real
Python processes.
"""

import dataclasses
import datetime
import errno
import math
import os
import pathlib
import pickle
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import uuid

import rlboard
from rlboard import Board, InvalidInputError, RlboardError

RLB_EINVALNAME = -32001
RLB_EINVALCODE = -32002
RLB_EINVALMODEL = -32003
RLB_EINVALJOB = -32004
RLB_EINVALDURATION = -32005
RLB_EINVALCAPACITY = -32006
RLB_EINVALTTL = -32007
RLB_EINVALMODE = -32008
RLB_EINVALARG = -32009
RLB_EINVALID = -32019
RLB_ENOTSQLITE = -32021

JOB_1_HASH = "9af12d10801c5d48"
UUID4_PATTERN = (
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
# Bound on every step that waits for another thread or process.
STEP_TIMEOUT = 30.0
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(
    rlboard.__file__)))


def unique_board_name():
    return f"pytest-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def run_python(code, timeout=STEP_TIMEOUT):
    """Run code in a new interpreter that imports this rlboard package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [PACKAGE_DIR, env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          env=env, capture_output=True, text=True,
                          timeout=timeout)


def wait_until(predicate, timeout=STEP_TIMEOUT):
    """Poll predicate every 10 ms; return its last result."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class BackgroundCall(threading.Thread):
    """Runs function(*args, **kwargs) in a thread and keeps its outcome."""

    def __init__(self, function, *args, **kwargs):
        super().__init__(daemon=True)
        self._call = (function, args, kwargs)
        self._result = None
        self._error = None
        self.start()

    def run(self):
        function, args, kwargs = self._call
        try:
            self._result = function(*args, **kwargs)
        except BaseException as exc:
            self._error = exc

    def outcome(self, timeout=STEP_TIMEOUT):
        """Return the call's result or raise its exception."""
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"call still running after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._result


class BoardTestCase(unittest.TestCase):
    """Opens self.board on a fresh board and removes it afterwards."""

    board_options = {}

    def setUp(self):
        self.name = unique_board_name()
        self.board = Board(self.name, **self.board_options)

    def tearDown(self):
        self.board.close()
        rlboard.unlink(self.name, missing_ok=True)

    def assert_invalid(self, code, call, *args, **kwargs):
        """Assert that call raises InvalidInputError with code."""
        with self.assertRaises(InvalidInputError) as caught:
            call(*args, **kwargs)
        self.assertEqual(caught.exception.code, code)
        return caught.exception


class OpenTest(BoardTestCase):

    def test_open_name_has_leading_slash(self):
        self.assertEqual(self.board.name, "/" + self.name)

    def test_open_leading_slash(self):
        event_id = self.board.record("E101", 60, "job-1")
        with Board("/" + self.name) as other:
            self.assertEqual([e.id for e in other.active()], [event_id])

    def test_open_name_from_environment(self):
        saved = os.environ.get("RLBOARD")
        os.environ["RLBOARD"] = self.name
        try:
            with Board() as board:
                self.assertEqual(board.name, "/" + self.name)
        finally:
            if saved is None:
                del os.environ["RLBOARD"]
            else:
                os.environ["RLBOARD"] = saved

    def test_open_missing_without_create(self):
        name = unique_board_name()
        with self.assertRaises(RlboardError) as caught:
            Board(name, create=False)
        error = caught.exception
        self.assertNotIsInstance(error, ValueError)
        self.assertEqual(error.code, -errno.ENOENT)
        self.assertEqual(error.name, "ENOENT")
        self.assertEqual(error.errno, errno.ENOENT)
        self.assertIn(name, str(error))

    def test_open_existing_without_create(self):
        with Board(self.name, create=False) as board:
            self.assertEqual(board.name, "/" + self.name)

    def test_open_invalid_names(self):
        for name in ["", "a/b", ".", "..", "x" * 201, "bad name"]:
            with self.subTest(name=name):
                error = self.assert_invalid(RLB_EINVALNAME, Board, name)
                self.assertIsInstance(error, ValueError)
                self.assertEqual(error.name, "RLB_EINVALNAME")
                self.assertEqual(error.message, "invalid board name")

    def test_open_longest_name(self):
        name = f"pytest-{uuid.uuid4().hex}".ljust(200, "n")
        try:
            with Board(name) as board:
                self.assertEqual(board.name, "/" + name)
        finally:
            rlboard.unlink(name, missing_ok=True)

    def test_open_name_with_nul(self):
        self.assert_invalid(RLB_EINVALNAME, Board, "a\0b")

    def test_open_name_not_str(self):
        with self.assertRaises(TypeError):
            Board(b"bytes-name")

    def test_open_invalid_capacity(self):
        name = unique_board_name()
        for capacity in [0, 1048577, 2**32, -1]:
            with self.subTest(capacity=capacity):
                self.assert_invalid(RLB_EINVALCAPACITY, Board, name,
                                    capacity=capacity)
        self.assertFalse(os.path.exists("/dev/shm/" + name))

    def test_open_invalid_ttl_factor(self):
        name = unique_board_name()
        for factor in [0, -0.5, 4.01, math.nan, math.inf]:
            with self.subTest(ttl_factor=factor):
                self.assert_invalid(RLB_EINVALTTL, Board, name,
                                    ttl_factor=factor)
        self.assertFalse(os.path.exists("/dev/shm/" + name))

    def test_open_invalid_mode(self):
        name = unique_board_name()
        for mode in [0, 0o400, 0o200, 2**32]:
            with self.subTest(mode=oct(mode)):
                self.assert_invalid(RLB_EINVALMODE, Board, name, mode=mode)
        self.assertFalse(os.path.exists("/dev/shm/" + name))

    def test_open_option_types(self):
        name = unique_board_name()
        with self.assertRaises(TypeError):
            Board(name, capacity="16")
        with self.assertRaises(TypeError):
            Board(name, ttl_factor="0.5")
        with self.assertRaises(TypeError):
            Board(name, mode=0.5)

    def test_open_mode_applied(self):
        name = unique_board_name()
        try:
            with Board(name, mode=0o640):
                mode = os.stat("/dev/shm/" + name).st_mode
            self.assertEqual(stat.S_IMODE(mode), 0o640)
        finally:
            rlboard.unlink(name, missing_ok=True)

    def test_open_default_mode(self):
        mode = os.stat("/dev/shm/" + self.name).st_mode
        self.assertEqual(stat.S_IMODE(mode), 0o600)

    def test_open_existing_keeps_settings(self):
        with Board(self.name, capacity=5, ttl_factor=2.0) as other:
            stats = other.stats()
        self.assertEqual(stats["capacity"], 4096)
        self.assertEqual(stats["ttl_factor"], 0.8)


class CloseTest(BoardTestCase):

    def test_close_context_manager(self):
        with Board(self.name) as board:
            self.assertFalse(board.closed)
        self.assertTrue(board.closed)

    def test_close_then_call_raises(self):
        self.board.close()
        with self.assertRaises(ValueError):
            self.board.check()
        with self.assertRaises(ValueError):
            self.board.record("E101", 60, "job-1")

    def test_close_twice(self):
        self.board.close()
        self.board.close()
        self.assertTrue(self.board.closed)

    def test_close_keeps_board(self):
        event_id = self.board.record("E101", 60, "job-1")
        self.board.close()
        with Board(self.name, create=False) as board:
            self.assertEqual([e.id for e in board.active()], [event_id])

    def test_close_during_wait(self):
        self.board.record("E101", 60, "job-1")
        waiter = BackgroundCall(self.board.wait, timeout=2.0)
        wait_until(lambda: not waiter.is_alive()
                   or self.board.stats()["waiters"])
        self.board.close()
        self.assertTrue(self.board.closed)
        self.assertIs(waiter.outcome(), False)
        # The last call in progress released the handle.
        self.assertIsNone(self.board._handle)


class UnlinkTest(BoardTestCase):

    def test_unlink_removes_name(self):
        self.board.unlink()
        with self.assertRaises(RlboardError) as caught:
            Board(self.name, create=False)
        self.assertEqual(caught.exception.code, -errno.ENOENT)

    def test_unlink_attached_board_goes_on(self):
        event_id = self.board.record("E101", 60, "job-1")
        self.board.unlink()
        self.assertEqual([e.id for e in self.board.active()], [event_id])
        self.assertTrue(self.board.stats()["name_removed"])

    def test_unlink_then_open_is_empty(self):
        self.board.record("E101", 60, "job-1")
        self.board.unlink()
        with Board(self.name) as board:
            self.assertEqual(board.active(), [])

    def test_unlink_missing(self):
        self.board.unlink()
        with self.assertRaises(RlboardError) as caught:
            self.board.unlink()
        self.assertEqual(caught.exception.name, "ENOENT")

    def test_unlink_missing_ok(self):
        self.board.unlink()
        self.board.unlink(missing_ok=True)

    def test_unlink_invalid_name(self):
        self.assert_invalid(RLB_EINVALNAME, rlboard.unlink, "a/b")


class RecordTest(BoardTestCase):

    def test_record_returns_uuid4(self):
        event_id = self.board.record("E101", 60, "job-1")
        self.assertRegex(event_id, UUID4_PATTERN)
        self.assertEqual(uuid.UUID(event_id).version, 4)

    def test_record_ids_differ(self):
        first = self.board.record("E101", 60, "job-1")
        second = self.board.record("E101", 60, "job-1")
        self.assertNotEqual(first, second)

    def test_record_stores_fields(self):
        before = datetime.datetime.now(datetime.timezone.utc)
        event_id = self.board.record("E101", 60, "job-1", model="m1")
        after = datetime.datetime.now(datetime.timezone.utc)

        [event] = self.board.active()
        self.assertEqual(event.id, event_id)
        self.assertEqual(event.error_code, "E101")
        self.assertEqual(event.model, "m1")
        self.assertEqual(event.source_job_hash, JOB_1_HASH)
        self.assertEqual(event.duration_seconds, 60.0)
        self.assertEqual(event.recorded_at.utcoffset(),
                         datetime.timedelta(0))
        self.assertEqual(event.expires_at.utcoffset(),
                         datetime.timedelta(0))
        # The wall clock may be read a microsecond apart on each side.
        tick = datetime.timedelta(milliseconds=1)
        self.assertGreaterEqual(event.recorded_at, before - tick)
        self.assertLessEqual(event.recorded_at, after + tick)
        self.assertLessEqual(event.seconds_left, 48.0)
        self.assertGreater(event.seconds_left, 40.0)

    def test_record_expiry_scaled_by_ttl(self):
        self.board.record("E101", 60, "job-1")
        [event] = self.board.active()
        ttl = (event.expires_at - event.recorded_at).total_seconds()
        self.assertAlmostEqual(ttl, 48.0, delta=0.001)

    def test_record_without_model(self):
        self.board.record("E101", 60, "job-1")
        [event] = self.board.active()
        self.assertIsNone(event.model)

    def test_record_int_and_float_durations(self):
        self.board.record("E101", 10, "job-1")
        self.board.record("E102", 2.5, "job-1")
        durations = sorted(e.duration_seconds for e in self.board.active())
        self.assertEqual(durations, [2.5, 10.0])

    def test_record_at_limits(self):
        code = "C" * 31
        model = "m" * 95
        self.board.record(code, 2592000.0, "j" * 1024, model)
        [event] = self.board.active()
        self.assertEqual(event.error_code, code)
        self.assertEqual(event.model, model)
        self.assertEqual(event.duration_seconds, 2592000.0)
        self.assertEqual(event.source_job_hash, rlboard.job_hash("j" * 1024))

    def test_record_utf8_model(self):
        self.board.record("E101", 60, "job-\u00e9", model="mod\u00e8le")
        [event] = self.board.active()
        self.assertEqual(event.model, "mod\u00e8le")
        self.assertEqual(event.source_job_hash, rlboard.job_hash("job-\u00e9"))

    def test_record_counts_in_stats(self):
        self.board.record("E101", 60, "job-1")
        self.board.record("E102", 60, "job-2")
        stats = self.board.stats()
        self.assertEqual(stats["records"], 2)
        self.assertEqual(stats["live"], 2)

    def test_event_is_frozen(self):
        self.board.record("E101", 60, "job-1")
        [event] = self.board.active()
        with self.assertRaises(dataclasses.FrozenInstanceError):
            event.model = "other"


class TtlFactorTest(BoardTestCase):

    board_options = {"ttl_factor": 0.5}

    def test_record_uses_board_ttl_factor(self):
        self.board.record("E101", 10, "job-1")
        [event] = self.board.active()
        ttl = (event.expires_at - event.recorded_at).total_seconds()
        self.assertAlmostEqual(ttl, 5.0, delta=0.001)
        self.assertEqual(event.duration_seconds, 10.0)
        self.assertEqual(self.board.stats()["ttl_factor"], 0.5)


class InputErrorTest(BoardTestCase):
    """Every rejected input raises a ValueError subclass with the library's
    code and message, and records nothing."""

    def assert_nothing_recorded(self):
        self.assertEqual(self.board.active(), [])
        self.assertEqual(self.board.stats()["records"], 0)

    def test_record_bad_durations(self):
        for duration in [-5, 0, 0.0, -0.0, math.nan, math.inf, -math.inf,
                         1e12, 2592000.001, 10**400]:
            with self.subTest(duration=duration):
                error = self.assert_invalid(RLB_EINVALDURATION,
                                            self.board.record, "E101",
                                            duration, "job-1")
                self.assertIsInstance(error, ValueError)
                self.assertEqual(error.name, "RLB_EINVALDURATION")
                self.assertEqual(error.message, "invalid duration")
                self.assertIn("duration_seconds", str(error))
        self.assert_nothing_recorded()

    def test_record_duration_shown_in_message(self):
        error = self.assert_invalid(RLB_EINVALDURATION, self.board.record,
                                    "E101", -5, "job-1")
        self.assertIn("-5", str(error))

    def test_record_missing_code(self):
        error = self.assert_invalid(RLB_EINVALCODE, self.board.record, None,
                                    60, "job-1")
        self.assertEqual(error.message, "invalid error code")
        self.assert_nothing_recorded()

    def test_record_missing_job(self):
        error = self.assert_invalid(RLB_EINVALJOB, self.board.record, "E101",
                                    60, None)
        self.assertEqual(error.message, "invalid job id")
        self.assert_nothing_recorded()

    def test_record_empty_strings(self):
        self.assert_invalid(RLB_EINVALCODE, self.board.record, "", 60,
                            "job-1")
        self.assert_invalid(RLB_EINVALJOB, self.board.record, "E101", 60, "")
        self.assert_invalid(RLB_EINVALMODEL, self.board.record, "E101", 60,
                            "job-1", "")
        self.assert_nothing_recorded()

    def test_record_oversized_fields(self):
        self.assert_invalid(RLB_EINVALCODE, self.board.record, "C" * 32, 60,
                            "job-1")
        error = self.assert_invalid(RLB_EINVALMODEL, self.board.record,
                                    "E101", 60, "job-1", "m" * 96)
        self.assertEqual(error.message, "invalid model")
        self.assertIn("96 bytes", str(error))
        self.assert_invalid(RLB_EINVALJOB, self.board.record, "E101", 60,
                            "j" * 1025)
        self.assert_nothing_recorded()

    def test_record_oversized_multibyte_model(self):
        # 48 characters of two bytes each: 96 bytes, one over the limit.
        self.assert_invalid(RLB_EINVALMODEL, self.board.record, "E101", 60,
                            "job-1", "\u00e9" * 48)
        self.assert_nothing_recorded()

    def test_record_nul_characters(self):
        self.assert_invalid(RLB_EINVALCODE, self.board.record, "E1\x0001",
                            60, "job-1")
        self.assert_invalid(RLB_EINVALJOB, self.board.record, "E101", 60,
                            "job\x00-1")
        self.assert_invalid(RLB_EINVALMODEL, self.board.record, "E101", 60,
                            "job-1", "m\x001")
        self.assert_nothing_recorded()

    def test_record_lone_surrogate(self):
        self.assert_invalid(RLB_EINVALMODEL, self.board.record, "E101", 60,
                            "job-1", "m\udcff")
        self.assert_nothing_recorded()

    def test_record_wrong_types(self):
        with self.assertRaises(TypeError):
            self.board.record(101, 60, "job-1")
        with self.assertRaises(TypeError):
            self.board.record(b"E101", 60, "job-1")
        with self.assertRaises(TypeError):
            self.board.record("E101", "60", "job-1")
        with self.assertRaises(TypeError):
            self.board.record("E101", None, "job-1")
        with self.assertRaises(TypeError):
            self.board.record("E101", True, "job-1")
        with self.assertRaises(TypeError):
            self.board.record("E101", 60, 1)
        with self.assertRaises(TypeError):
            self.board.record("E101", 60, "job-1", model=1)
        self.assert_nothing_recorded()

    def test_filter_errors(self):
        for call in [self.board.check, self.board.active, self.board.clear]:
            with self.subTest(call=call.__name__):
                self.assert_invalid(RLB_EINVALCODE, call, error_code="")
                self.assert_invalid(RLB_EINVALCODE, call,
                                    error_code="C" * 32)
                self.assert_invalid(RLB_EINVALMODEL, call, model="")
                self.assert_invalid(RLB_EINVALMODEL, call, model="m" * 96)
                with self.assertRaises(TypeError):
                    call(model=5)

    def test_error_pickles(self):
        error = self.assert_invalid(RLB_EINVALDURATION, self.board.record,
                                    "E101", -5, "job-1")
        copy = pickle.loads(pickle.dumps(error))
        self.assertIsInstance(copy, InvalidInputError)
        self.assertEqual(copy.code, error.code)
        self.assertEqual(str(copy), str(error))


class CheckTest(BoardTestCase):

    def test_check_empty_board(self):
        self.assertIsNone(self.board.check())

    def test_check_seconds_left(self):
        self.board.record("E101", 60, "job-1", "m1")
        seconds_left = self.board.check(model="m1")
        self.assertLessEqual(seconds_left, 48.0)
        self.assertGreater(seconds_left, 40.0)

    def test_check_filters(self):
        self.board.record("E101", 60, "job-1", "m1")
        self.board.record("E102", 100, "job-2")
        self.board.record("E103", 30, "job-3", "m2")

        self.assertIsNotNone(self.board.check())
        self.assertIsNotNone(self.board.check(error_code="E101"))
        self.assertIsNotNone(self.board.check(model="m1"))
        self.assertIsNotNone(self.board.check("E101", "m1"))
        self.assertIsNotNone(self.board.check("E103", "m2"))
        self.assertIsNone(self.board.check(error_code="E104"))
        self.assertIsNone(self.board.check(model="m3"))
        self.assertIsNone(self.board.check("E101", "m2"))
        self.assertIsNone(self.board.check("E103", "m1"))

    def test_check_skips_events_without_model(self):
        self.board.record("E102", 60, "job-1")
        self.assertIsNone(self.board.check(model="m1"))
        self.assertIsNone(self.board.check("E102", "m1"))
        self.assertIsNotNone(self.board.check("E102"))

    def test_check_latest_expiry(self):
        self.board.record("E101", 10, "job-1", "m1")
        self.board.record("E101", 100, "job-1", "m2")
        self.board.record("E102", 50, "job-1", "m1")

        self.assertGreater(self.board.check(), 70.0)
        self.assertGreater(self.board.check(error_code="E101"), 70.0)
        seconds_m1 = self.board.check(model="m1")
        self.assertGreater(seconds_m1, 30.0)
        self.assertLessEqual(seconds_m1, 40.0)
        self.assertLessEqual(self.board.check("E101", "m1"), 8.0)

    def test_check_expired_event(self):
        self.board.record("E101", 0.05, "job-1")
        time.sleep(0.2)
        self.assertIsNone(self.board.check())
        self.assertIsNone(self.board.check("E101"))


class ActiveTest(BoardTestCase):

    def test_active_empty_board(self):
        self.assertEqual(self.board.active(), [])

    def test_active_order_expires_last_first(self):
        short = self.board.record("E101", 10, "job-1")
        long = self.board.record("E101", 100, "job-1")
        middle = self.board.record("E101", 50, "job-1")
        ids = [event.id for event in self.board.active()]
        self.assertEqual(ids, [long, middle, short])

    def test_active_filters(self):
        first = self.board.record("E101", 60, "job-1", "m1")
        second = self.board.record("E102", 50, "job-2")
        third = self.board.record("E101", 40, "job-3", "m2")

        def ids(**filters):
            return [event.id for event in self.board.active(**filters)]

        self.assertEqual(ids(), [first, second, third])
        self.assertEqual(ids(error_code="E101"), [first, third])
        self.assertEqual(ids(model="m1"), [first])
        self.assertEqual(ids(error_code="E101", model="m2"), [third])
        self.assertEqual(ids(error_code="E102", model="m1"), [])
        self.assertEqual(ids(error_code="E104"), [])
        self.assertEqual(ids(model="m3"), [])

    def test_active_skips_expired(self):
        self.board.record("E101", 0.05, "job-1")
        live = self.board.record("E101", 60, "job-1")
        time.sleep(0.2)
        self.assertEqual([event.id for event in self.board.active()], [live])


class CleanupTest(BoardTestCase):

    def test_cleanup_empty_board(self):
        self.assertEqual(self.board.cleanup(), 0)

    def test_cleanup_counts_expired(self):
        self.board.record("E101", 0.05, "job-1")
        self.board.record("E102", 0.05, "job-2", "m1")
        live = self.board.record("E101", 60, "job-3")
        time.sleep(0.2)

        self.assertEqual(self.board.cleanup(), 2)
        self.assertEqual(self.board.cleanup(), 0)
        self.assertEqual([event.id for event in self.board.active()], [live])
        stats = self.board.stats()
        self.assertEqual(stats["cleaned"], 2)
        self.assertEqual(stats["stored"], 1)

    def test_cleanup_keeps_live(self):
        self.board.record("E101", 60, "job-1")
        self.assertEqual(self.board.cleanup(), 0)
        self.assertEqual(len(self.board.active()), 1)


class CapacityTest(BoardTestCase):

    board_options = {"capacity": 2}

    def test_full_board_evicts_soonest(self):
        soonest = self.board.record("E101", 10, "job-1")
        kept = self.board.record("E101", 60, "job-2")
        newest = self.board.record("E101", 30, "job-3")

        ids = [event.id for event in self.board.active()]
        self.assertEqual(ids, [kept, newest])
        self.assertNotIn(soonest, ids)
        stats = self.board.stats()
        self.assertEqual(stats["capacity"], 2)
        self.assertEqual(stats["evictions"], 1)
        self.assertEqual(stats["live"], 2)


class StatsTest(BoardTestCase):

    def test_stats_fields(self):
        stats = self.board.stats()
        expected_keys = {
            "capacity", "live", "stored", "records", "evictions",
            "expired_reused", "cleaned", "cleared", "restored", "recoveries",
            "board_id", "created_at_us", "ttl_factor", "jitter_ms",
            "probe_timeout_ms", "layout_version", "waiters", "segment_bytes",
            "name_removed", "probe_held", "mode",
        }
        self.assertEqual(set(stats), expected_keys)
        self.assertEqual(stats["mode"], 0o600)
        self.assertEqual(stats["capacity"], 4096)
        self.assertEqual(stats["live"], 0)
        self.assertEqual(stats["records"], 0)
        self.assertEqual(stats["ttl_factor"], 0.8)
        self.assertEqual(stats["jitter_ms"], 500)
        self.assertEqual(stats["probe_timeout_ms"], 30000)
        self.assertEqual(stats["waiters"], 0)
        self.assertIs(stats["name_removed"], False)
        self.assertIs(stats["probe_held"], False)
        self.assertGreater(stats["segment_bytes"], 0)
        self.assertGreater(stats["created_at_us"], 0)

    def test_stats_board_id_shared(self):
        with Board(self.name) as other:
            self.assertEqual(other.stats()["board_id"],
                             self.board.stats()["board_id"])


class WaitTest(BoardTestCase):

    def test_wait_empty_board(self):
        self.assertTrue(self.board.wait(timeout=STEP_TIMEOUT, jitter_ms=0))

    def test_wait_until_short_event_expires(self):
        self.board.record("E101", 0.1, "job-1", "m1")
        self.assertTrue(self.board.wait(model="m1", timeout=STEP_TIMEOUT,
                                        jitter_ms=0))
        self.assertIsNone(self.board.check(model="m1"))

    def test_wait_times_out(self):
        self.board.record("E101", 60, "job-1", "m1")
        self.assertFalse(self.board.wait(model="m1", timeout=0.1,
                                         jitter_ms=0))
        self.assertIsNotNone(self.board.check(model="m1"))

    def test_wait_zero_timeout(self):
        self.board.record("E101", 60, "job-1")
        self.assertFalse(self.board.wait(timeout=0, jitter_ms=0))
        self.assertFalse(self.board.wait(timeout=-1, jitter_ms=0))

    def test_wait_ignores_other_keys(self):
        self.board.record("E101", 60, "job-1", "m1")
        self.assertTrue(self.board.wait(model="m2", timeout=STEP_TIMEOUT,
                                        jitter_ms=0))
        self.assertTrue(self.board.wait(error_code="E102",
                                        timeout=STEP_TIMEOUT, jitter_ms=0))

    def test_wait_released_by_clear(self):
        event_id = self.board.record("E101", 60, "job-1")
        waiter = BackgroundCall(self.board.wait, "E101",
                                timeout=STEP_TIMEOUT, jitter_ms=0)
        self.assertTrue(wait_until(lambda: not waiter.is_alive()
                                   or self.board.stats()["waiters"] == 1))
        self.assertEqual(self.board.clear(id=event_id), 1)
        self.assertIs(waiter.outcome(), True)

    def test_wait_counts_waiters(self):
        self.board.record("E101", 60, "job-1")
        waiter = BackgroundCall(self.board.wait, timeout=STEP_TIMEOUT,
                                jitter_ms=0)
        self.assertTrue(wait_until(lambda: not waiter.is_alive()
                                   or self.board.stats()["waiters"] == 1))
        self.assertEqual(self.board.stats()["waiters"], 1)
        self.board.clear()
        self.assertIs(waiter.outcome(), True)
        self.assertEqual(self.board.stats()["waiters"], 0)

    def test_wait_invalid_arguments(self):
        self.assert_invalid(RLB_EINVALARG, self.board.wait, timeout=math.nan)
        self.assert_invalid(RLB_EINVALARG, self.board.wait, jitter_ms=2**31)
        self.assert_invalid(RLB_EINVALCODE, self.board.wait, error_code="")
        with self.assertRaises(TypeError):
            self.board.wait(timeout="1")


class ClearTest(BoardTestCase):

    def test_clear_by_id(self):
        first = self.board.record("E101", 60, "job-1")
        second = self.board.record("E101", 60, "job-2")
        self.assertEqual(self.board.clear(id=first), 1)
        self.assertEqual([event.id for event in self.board.active()],
                         [second])
        self.assertEqual(self.board.stats()["cleared"], 1)

    def test_clear_by_id_not_live(self):
        event_id = self.board.record("E101", 60, "job-1")
        self.assertEqual(self.board.clear(id=event_id), 1)
        self.assertEqual(self.board.clear(id=event_id), 0)
        self.assertEqual(self.board.clear(id=str(uuid.uuid4())), 0)

    def test_clear_invalid_id(self):
        self.board.record("E101", 60, "job-1")
        for bad_id in ["", "not-a-uuid", "x" * 36, "a\0b"]:
            with self.subTest(id=bad_id):
                error = self.assert_invalid(RLB_EINVALID, self.board.clear,
                                            id=bad_id)
                self.assertEqual(error.message, "invalid event id")
        self.assertEqual(len(self.board.active()), 1)

    def test_clear_by_filters(self):
        self.board.record("E101", 60, "job-1", "m1")
        self.board.record("E101", 60, "job-2", "m2")
        kept = self.board.record("E102", 60, "job-3", "m1")
        self.assertEqual(self.board.clear(error_code="E101"), 2)
        self.assertEqual(self.board.clear(error_code="E101"), 0)
        self.assertEqual([event.id for event in self.board.active()], [kept])

    def test_clear_by_model(self):
        self.board.record("E101", 60, "job-1", "m1")
        kept = self.board.record("E101", 60, "job-2")
        self.assertEqual(self.board.clear(model="m1"), 1)
        self.assertEqual([event.id for event in self.board.active()], [kept])

    def test_clear_all(self):
        for job in ["job-1", "job-2", "job-3"]:
            self.board.record("E101", 60, job)
        self.assertEqual(self.board.clear(), 3)
        self.assertIsNone(self.board.check())

    def test_clear_id_with_filters(self):
        event_id = self.board.record("E101", 60, "job-1")
        with self.assertRaises(TypeError):
            self.board.clear(id=event_id, error_code="E101")
        self.assertEqual(len(self.board.active()), 1)


class SnapshotRestoreTest(BoardTestCase):

    def setUp(self):
        super().setUp()
        self.directory = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.directory.name, "events.sqlite")
        self.other_name = unique_board_name()

    def tearDown(self):
        rlboard.unlink(self.other_name, missing_ok=True)
        self.directory.cleanup()
        super().tearDown()

    def record_three(self):
        self.board.record("E101", 60, "job-1", "m1")
        self.board.record("E102", 120, "job-2")
        self.board.record("E103", 30, "job-3", "m\u00e8")
        return self.board.active()

    def insert_row(self, row):
        with sqlite3.connect(self.path) as connection:
            connection.execute(
                "INSERT INTO rate_limit_events (id, error_code, model, "
                "recorded_at, expires_at, source_job_hash, duration_seconds)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        connection.close()

    def test_snapshot_empty_board(self):
        self.assertEqual(self.board.snapshot(self.path), 0)
        with sqlite3.connect(self.path) as connection:
            count = connection.execute(
                "SELECT count(*) FROM rate_limit_events").fetchone()[0]
        connection.close()
        self.assertEqual(count, 0)

    def test_snapshot_writes_table(self):
        events = self.record_three()
        self.assertEqual(self.board.snapshot(self.path), 3)

        with sqlite3.connect(self.path) as connection:
            rows = connection.execute(
                "SELECT id, error_code, model, recorded_at, expires_at, "
                "source_job_hash, duration_seconds FROM rate_limit_events"
            ).fetchall()
        connection.close()
        by_id = {row[0]: row for row in rows}
        self.assertEqual(set(by_id), {event.id for event in events})
        for event in events:
            row = by_id[event.id]
            self.assertEqual(row[1], event.error_code)
            self.assertEqual(row[2], event.model)
            self.assertEqual(datetime.datetime.fromisoformat(row[3]),
                             event.recorded_at)
            self.assertEqual(datetime.datetime.fromisoformat(row[4]),
                             event.expires_at)
            self.assertTrue(row[3].endswith("+00:00"))
            self.assertEqual(row[5], event.source_job_hash)
            self.assertEqual(row[6], event.duration_seconds)

    def test_snapshot_accepts_path_like(self):
        self.record_three()
        self.assertEqual(self.board.snapshot(pathlib.Path(self.path)), 3)

    def test_snapshot_restore_round_trip(self):
        events = self.record_three()
        self.board.snapshot(self.path)

        with Board(self.other_name) as other:
            result = other.restore(self.path)
            restored = other.active()
            stats = other.stats()

        self.assertEqual(result, rlboard.RestoreResult(3, 0, 0, 0))
        self.assertEqual(result.restored, 3)
        self.assertEqual(stats["restored"], 3)
        strip = [dataclasses.replace(e, seconds_left=0.0) for e in events]
        self.assertEqual(
            [dataclasses.replace(e, seconds_left=0.0) for e in restored],
            strip)

    def test_restore_twice_counts_duplicates(self):
        self.record_three()
        self.board.snapshot(self.path)
        result = self.board.restore(self.path)
        self.assertEqual(result, rlboard.RestoreResult(0, 0, 3, 0))
        self.assertEqual(len(self.board.active()), 3)

    def insert_rows(self):
        """Insert one live, one expired and one invalid row; return the
        id of the live row."""
        now = datetime.datetime.now(datetime.timezone.utc)
        ttl = datetime.timedelta(seconds=48)
        live_id = str(uuid.uuid4())
        self.insert_row((live_id, "E101", None, now.isoformat(),
                         (now + ttl).isoformat(), JOB_1_HASH, 60.0))
        old = now - datetime.timedelta(seconds=120)
        self.insert_row((str(uuid.uuid4()), "E101", "m1", old.isoformat(),
                         (old + ttl).isoformat(), JOB_1_HASH, 60.0))
        self.insert_row(("not-a-uuid", "E101", None, now.isoformat(),
                         (now + ttl).isoformat(), JOB_1_HASH, 60.0))
        return live_id

    def test_restore_skips_bad_rows(self):
        self.board.snapshot(self.path)
        live_id = self.insert_rows()
        skipped = []

        with Board(self.other_name) as other:
            result = other.restore(
                self.path,
                on_skip=lambda row_id, reason: skipped.append(
                    (row_id, reason)))
            ids = [event.id for event in other.active()]

        self.assertEqual(result, rlboard.RestoreResult(1, 1, 0, 1))
        self.assertEqual(ids, [live_id])
        self.assertEqual(len(skipped), 1)
        self.assertEqual(skipped[0][0], "not-a-uuid")
        self.assertNotEqual(skipped[0][1], "")

    def test_restore_callback_error_raised(self):
        self.board.snapshot(self.path)
        self.insert_rows()

        def fail(row_id, reason):
            raise KeyError(row_id)

        with Board(self.other_name) as other:
            with self.assertRaises(KeyError):
                other.restore(self.path, on_skip=fail)

    def test_snapshot_onto_non_sqlite_file(self):
        with open(self.path, "wb") as file:
            file.write(b"this is not a database, " * 100)
        self.record_three()
        with self.assertRaises(RlboardError) as caught:
            self.board.snapshot(self.path)
        self.assertEqual(caught.exception.code, RLB_ENOTSQLITE)
        self.assertIn(self.path, str(caught.exception))

    def test_restore_missing_file(self):
        with self.assertRaises(RlboardError) as caught:
            self.board.restore(os.path.join(self.directory.name, "none"))
        self.assertEqual(caught.exception.code, -errno.ENOENT)

    def test_snapshot_path_with_nul(self):
        self.assert_invalid(RLB_EINVALARG, self.board.snapshot, "a\0b")


class ThreadTest(BoardTestCase):

    def test_threads_record_and_check(self):
        writers = 4
        records_each = 50
        ids = [[] for _ in range(writers)]
        errors = []
        done = threading.Event()

        def write(index):
            try:
                for i in range(records_each):
                    ids[index].append(self.board.record(
                        f"E{index}", 60 + i, f"job-{index}-{i}",
                        f"model-{index}"))
            except Exception as exc:
                errors.append(exc)

        def read():
            try:
                while not done.is_set():
                    self.board.check(model="model-0")
                    self.board.active(error_code="E1")
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(i,))
                   for i in range(writers)]
        readers = [threading.Thread(target=read) for _ in range(2)]
        for thread in threads + readers:
            thread.start()
        for thread in threads:
            thread.join(STEP_TIMEOUT)
        done.set()
        for thread in readers:
            thread.join(STEP_TIMEOUT)

        self.assertFalse(any(t.is_alive() for t in threads + readers))
        self.assertEqual(errors, [])
        all_ids = [event_id for chunk in ids for event_id in chunk]
        self.assertEqual(len(set(all_ids)), writers * records_each)
        self.assertEqual({e.id for e in self.board.active()}, set(all_ids))
        self.assertEqual(self.board.stats()["records"], writers * records_each)
        for index in range(writers):
            self.assertEqual(
                len(self.board.active(error_code=f"E{index}",
                                      model=f"model-{index}")),
                records_each)


class ProcessTest(BoardTestCase):

    def test_processes_share_board(self):
        child = run_python(f"""
            import rlboard
            with rlboard.Board({self.name!r}) as board:
                print(board.record("E101", 60, "job-1", "m1"))
        """)
        self.assertEqual(child.returncode, 0, child.stderr)
        child_id = child.stdout.strip()

        [event] = self.board.active()
        self.assertEqual(event.id, child_id)
        self.assertEqual(event.source_job_hash, JOB_1_HASH)
        self.assertIsNotNone(self.board.check(model="m1"))

        parent_id = self.board.record("E102", 120, "job-2", "m2")
        child = run_python(f"""
            import rlboard
            with rlboard.Board({self.name!r}, create=False) as board:
                print(board.check("E102", "m2") is not None)
                print(",".join(e.id for e in board.active()))
        """)
        self.assertEqual(child.returncode, 0, child.stderr)
        limited, ids = child.stdout.split()
        self.assertEqual(limited, "True")
        self.assertEqual(ids.split(","), [parent_id, child_id])

    def test_process_wait_released(self):
        event_id = self.board.record("E101", 60, "job-1", "m1")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [PACKAGE_DIR, env.get("PYTHONPATH")]))
        code = textwrap.dedent(f"""
            import rlboard
            with rlboard.Board({self.name!r}, create=False) as board:
                print(board.wait(model="m1", timeout={STEP_TIMEOUT},
                                 jitter_ms=0))
        """)
        with subprocess.Popen([sys.executable, "-c", code], env=env,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) as child:
            try:
                self.assertTrue(wait_until(
                    lambda: child.poll() is not None
                    or self.board.stats()["waiters"] == 1))
                self.assertEqual(self.board.clear(id=event_id), 1)
                stdout, stderr = child.communicate(timeout=STEP_TIMEOUT)
            finally:
                if child.poll() is None:
                    child.kill()
        self.assertEqual(child.returncode, 0, stderr)
        self.assertEqual(stdout.strip(), "True")


class ModuleTest(unittest.TestCase):

    def test_job_hash(self):
        self.assertEqual(rlboard.job_hash("job-1"), JOB_1_HASH)

    def test_job_hash_invalid(self):
        with self.assertRaises(InvalidInputError) as caught:
            rlboard.job_hash("")
        self.assertEqual(caught.exception.code, RLB_EINVALJOB)

    def test_library_version(self):
        self.assertRegex(rlboard.library_version(), r"^\d+\.\d+\.\d+$")


if __name__ == "__main__":
    unittest.main()
