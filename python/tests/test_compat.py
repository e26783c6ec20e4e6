"""Tests of rlboard.compat.RateLimitStore: the SQLite store's rate-limit
methods, with that store's semantics, on a board of each test's own."""

import dataclasses
import datetime
import math
import os
import subprocess
import sys
import textwrap
import time
import unittest
import uuid

import rlboard
from rlboard import compat

JOB_1_HASH = "9af12d10801c5d48"
STEP_TIMEOUT = 30.0
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(
    rlboard.__file__)))
EVENT_FIELDS = ["id", "error_code", "model", "recorded_at", "expires_at",
                "source_job_hash", "duration_seconds"]


def unique_board_name():
    return f"pytest-compat-{os.getpid()}-{uuid.uuid4().hex[:12]}"


class StoreTestCase(unittest.TestCase):

    def setUp(self):
        self.name = unique_board_name()
        self.store = compat.RateLimitStore(self.name)

    def tearDown(self):
        self.store.close()
        rlboard.unlink(self.name, missing_ok=True)


class RecordTest(StoreTestCase):

    def test_record_returns_uuid4(self):
        event_id = self.store.record_rate_limit_event("E101", 60, "job-1")
        self.assertEqual(str(uuid.UUID(event_id)), event_id)
        self.assertEqual(uuid.UUID(event_id).version, 4)

    def test_record_store_semantics(self):
        event_id = self.store.record_rate_limit_event("E101", 60, "job-1",
                                                      "m1")
        [event] = self.store.get_active_rate_limits()
        self.assertEqual(event.id, event_id)
        self.assertEqual(event.error_code, "E101")
        self.assertEqual(event.model, "m1")
        self.assertEqual(event.source_job_hash, JOB_1_HASH)
        self.assertEqual(event.duration_seconds, 60.0)
        ttl = (event.expires_at - event.recorded_at).total_seconds()
        self.assertAlmostEqual(ttl, 0.8 * 60, delta=0.001)

    def test_record_model_keyword(self):
        self.store.record_rate_limit_event("E103", 10, "job-1", model="m2")
        [event] = self.store.get_active_rate_limits()
        self.assertEqual(event.model, "m2")

    def test_record_invalid_input(self):
        cases = [
            ("E101", -5, "job-1", None),
            ("E101", 0, "job-1", None),
            ("E101", math.nan, "job-1", None),
            ("E101", math.inf, "job-1", None),
            ("E101", 1e12, "job-1", None),
            (None, 60, "job-1", None),
            ("", 60, "job-1", None),
            ("E101", 60, "", None),
            ("E101", 60, "job-1", ""),
            ("C" * 32, 60, "job-1", None),
            ("E101", 60, "job-1", "m" * 96),
            ("E101", 60, "j" * 1025, None),
        ]
        for args in cases:
            with self.subTest(args=[repr(a)[:20] for a in args]):
                with self.assertRaises(ValueError) as caught:
                    self.store.record_rate_limit_event(*args)
                self.assertIsInstance(caught.exception,
                                      rlboard.InvalidInputError)
                self.assertTrue(caught.exception.message.startswith(
                    "invalid "))
        self.assertEqual(self.store.get_active_rate_limits(), [])


class IsRateLimitedTest(StoreTestCase):

    def test_not_limited(self):
        self.assertEqual(self.store.is_rate_limited(), (False, None))
        self.assertEqual(self.store.is_rate_limited("E101", "m1"),
                         (False, None))

    def test_limited_with_seconds_left(self):
        self.store.record_rate_limit_event("E101", 60, "job-1", "m1")
        limited, seconds_left = self.store.is_rate_limited(model="m1")
        self.assertIs(limited, True)
        self.assertLessEqual(seconds_left, 48.0)
        self.assertGreater(seconds_left, 40.0)

    def test_filters(self):
        self.store.record_rate_limit_event("E101", 60, "job-1", "m1")
        self.store.record_rate_limit_event("E104", 60, "job-2")

        self.assertTrue(self.store.is_rate_limited()[0])
        self.assertTrue(self.store.is_rate_limited("E101")[0])
        self.assertTrue(self.store.is_rate_limited("E104")[0])
        self.assertTrue(self.store.is_rate_limited(model="m1")[0])
        self.assertTrue(self.store.is_rate_limited("E101", "m1")[0])
        self.assertFalse(self.store.is_rate_limited("E102")[0])
        self.assertFalse(self.store.is_rate_limited(model="m2")[0])
        self.assertFalse(self.store.is_rate_limited("E104", "m1")[0])

    def test_seconds_left_latest_expiry(self):
        self.store.record_rate_limit_event("E101", 10, "job-1", "m1")
        self.store.record_rate_limit_event("E102", 100, "job-2", "m1")
        limited, seconds_left = self.store.is_rate_limited(model="m1")
        self.assertTrue(limited)
        self.assertGreater(seconds_left, 70.0)

    def test_expired_event_not_limiting(self):
        self.store.record_rate_limit_event("E101", 0.05, "job-1", "m1")
        time.sleep(0.2)
        self.assertEqual(self.store.is_rate_limited(model="m1"),
                         (False, None))


class GetActiveRateLimitsTest(StoreTestCase):

    def test_empty(self):
        self.assertEqual(self.store.get_active_rate_limits(), [])

    def test_fields(self):
        self.store.record_rate_limit_event("E101", 60, "job-1")
        [event] = self.store.get_active_rate_limits()
        names = [field.name for field in dataclasses.fields(event)]
        self.assertEqual(names, EVENT_FIELDS)
        self.assertIsNone(event.model)
        self.assertIs(event.recorded_at.tzinfo, datetime.timezone.utc)
        self.assertIs(event.expires_at.tzinfo, datetime.timezone.utc)

    def test_order_expires_last_first(self):
        short = self.store.record_rate_limit_event("E101", 10, "job-1")
        long = self.store.record_rate_limit_event("E101", 100, "job-2")
        middle = self.store.record_rate_limit_event("E101", 50, "job-3")
        ids = [event.id for event in self.store.get_active_rate_limits()]
        self.assertEqual(ids, [long, middle, short])

    def test_model_filter(self):
        first = self.store.record_rate_limit_event("E101", 60, "job-1", "m1")
        self.store.record_rate_limit_event("E101", 50, "job-2")
        third = self.store.record_rate_limit_event("E102", 40, "job-3", "m1")
        ids = [e.id for e in self.store.get_active_rate_limits(model="m1")]
        self.assertEqual(ids, [first, third])
        self.assertEqual(self.store.get_active_rate_limits(model="m2"), [])
        self.assertEqual(len(self.store.get_active_rate_limits()), 3)

    def test_error_code_filter(self):
        self.store.record_rate_limit_event("E101", 60, "job-1", "m1")
        second = self.store.record_rate_limit_event("E102", 50, "job-2")
        events = self.store.get_active_rate_limits(error_code="E102")
        self.assertEqual([event.id for event in events], [second])

    def test_skips_expired(self):
        self.store.record_rate_limit_event("E101", 0.05, "job-1")
        live = self.store.record_rate_limit_event("E101", 60, "job-2")
        time.sleep(0.2)
        ids = [event.id for event in self.store.get_active_rate_limits()]
        self.assertEqual(ids, [live])


class CleanupTest(StoreTestCase):

    def test_cleanup_counts(self):
        self.assertEqual(self.store.cleanup_expired_rate_limits(), 0)
        self.store.record_rate_limit_event("E101", 0.05, "job-1")
        self.store.record_rate_limit_event("E102", 0.05, "job-2", "m1")
        live = self.store.record_rate_limit_event("E101", 60, "job-3")
        time.sleep(0.2)
        self.assertEqual(self.store.cleanup_expired_rate_limits(), 2)
        self.assertEqual(self.store.cleanup_expired_rate_limits(), 0)
        ids = [event.id for event in self.store.get_active_rate_limits()]
        self.assertEqual(ids, [live])


class StoreTest(unittest.TestCase):

    def test_stores_share_board(self):
        name = unique_board_name()
        try:
            with compat.RateLimitStore(name) as first, \
                    compat.RateLimitStore(name) as second:
                event_id = first.record_rate_limit_event("E101", 60, "job-1")
                ids = [e.id for e in second.get_active_rate_limits()]
            self.assertEqual(ids, [event_id])
        finally:
            rlboard.unlink(name, missing_ok=True)

    def test_store_options(self):
        name = unique_board_name()
        try:
            with compat.RateLimitStore(name, capacity=8,
                                       ttl_factor=1.0) as store:
                store.record_rate_limit_event("E101", 10, "job-1")
                [event] = store.get_active_rate_limits()
                stats = store.board.stats()
            ttl = (event.expires_at - event.recorded_at).total_seconds()
            self.assertAlmostEqual(ttl, 10.0, delta=0.001)
            self.assertEqual(stats["capacity"], 8)
        finally:
            rlboard.unlink(name, missing_ok=True)

    def test_store_closed(self):
        name = unique_board_name()
        try:
            store = compat.RateLimitStore(name)
            store.close()
            with self.assertRaises(ValueError):
                store.is_rate_limited()
        finally:
            rlboard.unlink(name, missing_ok=True)

    def test_command_line_example(self):
        name = unique_board_name()
        code = textwrap.dedent(f"""
            from rlboard import compat
            s = compat.RateLimitStore({name!r})
            s.record_rate_limit_event('E101', 60, 'job-1', 'm1')
            print(s.is_rate_limited(model='m1'))
        """)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [PACKAGE_DIR, env.get("PYTHONPATH")]))
        try:
            child = subprocess.run([sys.executable, "-c", code], env=env,
                                   capture_output=True, text=True,
                                   timeout=STEP_TIMEOUT)
        finally:
            rlboard.unlink(name, missing_ok=True)
        self.assertEqual(child.returncode, 0, child.stderr)
        self.assertRegex(child.stdout, r"^\(True, 4[0-8]\.\d+\)\n$")


if __name__ == "__main__":
    unittest.main()
