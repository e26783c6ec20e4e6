"""Python binding of rlboard, a shared-memory rate-limit board.

A Board is one process's handle on a board that many processes share. A
worker that receives "slow down" from an API records an event. Every worker
checks the board before each request and holds off while a matching event
is live.

    from rlboard import Board

    with Board("workers") as board:
        board.record("E101", 60, "job-1", model="m1")
        seconds_left = board.check(model="m1")  # just under 48.0

Failures raise RlboardError with the library's code, name and message.
Invalid input raises InvalidInputError, which is also a ValueError, and
changes nothing on the board.
"""

import collections
import contextlib
import ctypes
import dataclasses
import datetime
import errno
import math
import numbers
import os
import threading
import time

from . import _lib

__all__ = [
    "Board",
    "Event",
    "InvalidInputError",
    "RestoreResult",
    "RlboardError",
    "job_hash",
    "library_version",
    "unlink",
]

DEFAULT_BOARD = "rlboard"

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_UINT32_MAX = 2**32 - 1
_INT_MIN = -(2**31)
_INT_MAX = 2**31 - 1
# Values longer than this are named by their length in error messages.
_SHOWN_VALUE_MAX = 64


class RlboardError(Exception):
    """A failed library call.

    code is the negative return code, name its symbolic name such as
    "RLB_ELOCKTIMEOUT" or "ENOENT", and message the library's text for it.
    detail, when not None, names the value at fault.
    """

    def __init__(self, code, detail=None):
        self.code = code
        self.name = _lib.error_name(code)
        self.message = _lib.strerror(code)
        self.detail = detail
        # args are the constructor's arguments, so the error pickles.
        super().__init__(code, detail)

    def __str__(self):
        text = self.message
        if self.detail:
            text = f"{text}: {self.detail}"
        return f"{text} ({self.name})"

    @property
    def errno(self):
        """The errno value of a system error, or None for a library code."""
        if self.name.startswith("RLB_"):
            return None
        return -self.code


class InvalidInputError(RlboardError, ValueError):
    """An argument that the library rejected, leaving the board unchanged."""


def _error(code, detail=None):
    """Build the exception for a negative return code."""
    if _lib.error_name(code).startswith("RLB_EINVAL"):
        return InvalidInputError(code, detail)
    return RlboardError(code, detail)


def _describe(field, value):
    """Name a value in an error message, by its length when it is long."""
    if isinstance(value, str) and len(value) > _SHOWN_VALUE_MAX:
        size = len(value.encode("utf-8", "surrogatepass"))
        return f"{field} of {size} bytes"
    return f"{field}={value!r}"


def _encode(value, field, code):
    """Encode an optional str argument as UTF-8 for a char * parameter.

    None passes as NULL, so the library decides whether the argument may be
    missing. A NUL character would cut the string short in C, so it is
    rejected here with the code the library uses for that field.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{field} must be str or None, not "
                        f"{type(value).__name__}")
    if "\0" in value:
        raise InvalidInputError(
            code, f"{_describe(field, value)} contains a NUL character"
        )
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            code, f"{_describe(field, value)} is not valid Unicode"
        ) from exc


def _encode_path(path):
    """Encode a str, bytes or os.PathLike path for the file system."""
    encoded = os.fsencode(path)
    if b"\0" in encoded:
        raise InvalidInputError(
            _lib.EINVALARG, f"path={path!r} contains a NUL character"
        )
    return encoded


def _to_double(value, field, code):
    """Convert a real number to float, raising TypeError for others."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{field} must be a real number, not "
                        f"{type(value).__name__}")
    try:
        return float(value)
    except OverflowError as exc:
        raise InvalidInputError(code, _describe(field, value)) from exc


def _to_int(value, field, code, minimum, maximum):
    """Check that an int fits its C type, which would otherwise wrap."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{field} must be an int, not "
                        f"{type(value).__name__}")
    if not minimum <= value <= maximum:
        raise InvalidInputError(code, _describe(field, value))
    return int(value)


def _check(rc, details=None, default=None):
    """Raise for a negative return code, naming the value at fault.

    details maps a return code to the text that names the argument the code
    refers to, and default is the text for every other code.
    """
    if rc < 0:
        detail = details.get(rc, default) if details else default
        raise _error(rc, detail)
    return rc


def _datetime(us):
    """Convert microseconds since the epoch to an aware UTC datetime."""
    return _EPOCH + datetime.timedelta(microseconds=us)


def _decode(raw):
    return raw.decode("utf-8", "replace")


@dataclasses.dataclass(frozen=True)
class Event:
    """One live event as read from the board.

    recorded_at and expires_at are wall-clock times in UTC. duration_seconds
    is the duration the recorder passed, not scaled by the TTL factor.
    seconds_left was measured with CLOCK_MONOTONIC when the board was read.
    """

    id: str
    error_code: str
    model: "str | None"
    recorded_at: datetime.datetime
    expires_at: datetime.datetime
    source_job_hash: str
    duration_seconds: float
    seconds_left: float

    @classmethod
    def _from_c(cls, raw):
        return cls(
            id=_decode(raw.id),
            error_code=_decode(raw.error_code),
            model=_decode(raw.model) if raw.has_model else None,
            recorded_at=_datetime(raw.recorded_at_us),
            expires_at=_datetime(raw.expires_at_us),
            source_job_hash=_decode(raw.source_job_hash),
            duration_seconds=raw.duration_seconds,
            seconds_left=raw.seconds_left,
        )


RestoreResult = collections.namedtuple(
    "RestoreResult", ["restored", "expired", "duplicate", "invalid"]
)
RestoreResult.__doc__ = """Counts of rows that Board.restore() added or
skipped: restored, expired, duplicate (id already on the board) and
invalid."""


def _filter_details(error_code, model):
    return {
        _lib.EINVALCODE: _describe("error_code", error_code),
        _lib.EINVALMODEL: _describe("model", model),
    }


class Board:
    """A handle on a shared-memory board.

    name is the board's name with or without the leading slash. Without it
    the environment variable RLBOARD is used, and without that "rlboard".
    With create (the default) a missing board is created. Only then do
    capacity, ttl_factor and mode (permission bits such as 0o600) apply,
    and None for any of them keeps the library's default.

    A Board may be used from several threads at once. close() does not wait
    for calls in progress, because the handle is released when the last of
    them returns.
    """

    def __init__(self, name=None, *, create=True, capacity=None,
                 ttl_factor=None, mode=None):
        if name is None:
            name = os.environ.get("RLBOARD") or DEFAULT_BOARD
        encoded_name = _encode(name, "name", _lib.EINVALNAME)

        options = _lib.Options()
        _lib.rlb_options_init(ctypes.byref(options))
        options.flags = _lib.CREATE if create else 0
        if capacity is not None:
            options.capacity = _to_int(capacity, "capacity",
                                       _lib.EINVALCAPACITY, 0, _UINT32_MAX)
        if ttl_factor is not None:
            options.ttl_factor = _to_double(ttl_factor, "ttl_factor",
                                            _lib.EINVALTTL)
        if mode is not None:
            options.mode = _to_int(mode, "mode", _lib.EINVALMODE, 0,
                                   _UINT32_MAX)

        handle = _lib.BoardPtr()
        rc = _lib.rlb_open(ctypes.byref(handle), encoded_name,
                           ctypes.byref(options))
        _check(rc, {
            _lib.EINVALNAME: _describe("name", name),
            _lib.EINVALCAPACITY: _describe("capacity", capacity),
            _lib.EINVALTTL: _describe("ttl_factor", ttl_factor),
            _lib.EINVALMODE: _describe(
                "mode", oct(mode) if isinstance(mode, int) else mode),
            -errno.ENOENT: f"board {name!r} does not exist",
        })

        self._handle = handle
        self._name = _decode(_lib.rlb_name(handle))
        self._lock = threading.Lock()
        self._calls = 0
        self._closing = False

    @property
    def name(self):
        """The board's name, with its leading slash."""
        return self._name

    @property
    def closed(self):
        """True once close() was called."""
        return self._closing

    def __repr__(self):
        state = "closed" if self._closing else "open"
        return f"<rlboard.Board {self._name!r} {state}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle:
            self._handle = None
            _lib.rlb_close(handle)

    @contextlib.contextmanager
    def _use(self):
        """Yield the C handle, keeping it open for the duration of a call."""
        with self._lock:
            if self._closing:
                raise ValueError(f"board {self._name!r} is closed")
            self._calls += 1
        try:
            yield self._handle
        finally:
            with self._lock:
                self._calls -= 1
                release = self._closing and self._calls == 0
                handle = self._handle if release else None
                if release:
                    self._handle = None
            if handle:
                _lib.rlb_close(handle)

    def close(self):
        """Detach from the board, which stays. A second close() does
        nothing."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            handle = self._handle if self._calls == 0 else None
            if handle:
                self._handle = None
        if handle:
            _lib.rlb_close(handle)

    def unlink(self, missing_ok=False):
        """Remove the board's name, as the module function unlink() does."""
        unlink(self._name, missing_ok=missing_ok)

    def record(self, error_code, duration_seconds, job_id, model=None):
        """Record an event and return its id.

        The event expires after ttl_factor * duration_seconds. job_id is
        stored only as its hash. model None records an event without one.
        """
        code_bytes = _encode(error_code, "error_code", _lib.EINVALCODE)
        duration = _to_double(duration_seconds, "duration_seconds",
                              _lib.EINVALDURATION)
        job_bytes = _encode(job_id, "job_id", _lib.EINVALJOB)
        model_bytes = _encode(model, "model", _lib.EINVALMODEL)
        event_id = ctypes.create_string_buffer(_lib.ID_LEN + 1)

        with self._use() as handle:
            rc = _lib.rlb_record(handle, code_bytes, duration, job_bytes,
                                 model_bytes, event_id)
        _check(rc, {
            _lib.EINVALCODE: _describe("error_code", error_code),
            _lib.EINVALDURATION: _describe("duration_seconds",
                                           duration_seconds),
            _lib.EINVALJOB: _describe("job_id", job_id),
            _lib.EINVALMODEL: _describe("model", model),
        })
        return _decode(event_id.value)

    def check(self, error_code=None, model=None):
        """Return the seconds left on the matching live event that expires
        last, or None when no matching event is live.

        None for a filter matches any value. A given model does not match
        events recorded without one. The library reads the board without
        taking its write lock, so a check does not wait for the lock to be
        free.
        """
        code_bytes = _encode(error_code, "error_code", _lib.EINVALCODE)
        model_bytes = _encode(model, "model", _lib.EINVALMODEL)
        seconds_left = ctypes.c_double()

        with self._use() as handle:
            rc = _lib.rlb_check(handle, code_bytes, model_bytes,
                                ctypes.byref(seconds_left))
        _check(rc, _filter_details(error_code, model))
        return seconds_left.value if rc == 1 else None

    def active(self, error_code=None, model=None):
        """Return the live events that match, the one that expires last
        first, as a list of Event."""
        code_bytes = _encode(error_code, "error_code", _lib.EINVALCODE)
        model_bytes = _encode(model, "model", _lib.EINVALMODEL)
        events = ctypes.POINTER(_lib.Event)()
        count = ctypes.c_size_t()

        with self._use() as handle:
            rc = _lib.rlb_list(handle, code_bytes, model_bytes,
                               ctypes.byref(events), ctypes.byref(count))
        _check(rc, _filter_details(error_code, model))
        try:
            return [Event._from_c(events[i]) for i in range(count.value)]
        finally:
            _lib.rlb_events_free(events)

    def cleanup(self):
        """Remove expired events and return how many were removed."""
        removed = ctypes.c_size_t()
        with self._use() as handle:
            rc = _lib.rlb_cleanup(handle, ctypes.byref(removed))
        _check(rc)
        return removed.value

    def wait(self, error_code=None, model=None, timeout=None,
             jitter_ms=None):
        """Block until no matching event is live. Return True when clear
        and False when timeout seconds passed first.

        timeout None or math.inf waits without bound, and a negative
        timeout counts as 0. After the board clears, the call sleeps a
        random delay below jitter_ms milliseconds so that released workers
        spread out. None or a negative jitter_ms uses the board's setting.
        A signal that interrupts the wait runs its Python handler, and the
        wait then goes on for the time left.
        """
        code_bytes = _encode(error_code, "error_code", _lib.EINVALCODE)
        model_bytes = _encode(model, "model", _lib.EINVALMODEL)
        deadline = None
        if timeout is not None:
            seconds = _to_double(timeout, "timeout", _lib.EINVALARG)
            if math.isnan(seconds):
                raise InvalidInputError(_lib.EINVALARG, "timeout=nan")
            if seconds != math.inf:
                deadline = time.monotonic() + max(seconds, 0.0)
        jitter = -1
        if jitter_ms is not None:
            jitter = _to_int(jitter_ms, "jitter_ms", _lib.EINVALARG,
                             _INT_MIN, _INT_MAX)

        with self._use() as handle:
            while True:
                seconds = -1.0
                if deadline is not None:
                    seconds = max(deadline - time.monotonic(), 0.0)
                rc = _lib.rlb_wait(handle, code_bytes, model_bytes, seconds,
                                   jitter)
                # On -EINTR the signal's Python handler runs here, between
                # two calls, and may raise.
                if rc != -errno.EINTR:
                    break
        if rc == _lib.ETIMEDOUT:
            return False
        details = _filter_details(error_code, model)
        details[_lib.EINVALARG] = (
            f"timeout={timeout!r}, jitter_ms={jitter_ms!r}")
        _check(rc, details)
        return True

    def clear(self, id=None, error_code=None, model=None):
        """Remove live events early, wake every waiter and return how many
        were removed.

        With id, removes that event (0 when it is not live). Otherwise
        removes every live event that matches the filters, where None
        matches any value, so clear() empties the board.
        """
        if id is not None and (error_code is not None or model is not None):
            raise TypeError("clear() takes either id or the filters "
                            "error_code and model, not both")
        if id is not None:
            return self._clear_id(id)

        code_bytes = _encode(error_code, "error_code", _lib.EINVALCODE)
        model_bytes = _encode(model, "model", _lib.EINVALMODEL)
        removed = ctypes.c_size_t()
        with self._use() as handle:
            rc = _lib.rlb_clear(handle, code_bytes, model_bytes,
                                ctypes.byref(removed))
        _check(rc, _filter_details(error_code, model))
        return removed.value

    def _clear_id(self, event_id):
        id_bytes = _encode(event_id, "id", _lib.EINVALID)
        with self._use() as handle:
            rc = _lib.rlb_clear_id(handle, id_bytes)
        if rc == _lib.ENOTFOUND:
            return 0
        _check(rc, {_lib.EINVALID: _describe("id", event_id)})
        return 1

    def snapshot(self, path):
        """Write the live events into the rate_limit_events table of the
        SQLite file at path, replacing its rows, and return their number."""
        result = _lib.SnapshotResult()
        with self._use() as handle:
            rc = _lib.rlb_snapshot(handle, _encode_path(path),
                                   ctypes.byref(result))
        _check(rc, default=f"path={os.fspath(path)!r}")
        return result.events

    def restore(self, path, on_skip=None):
        """Add the unexpired rows of a snapshot file that are not on the
        board, and return a RestoreResult of counts.

        on_skip, when given, is called as on_skip(id, reason) for every
        invalid row, with id None for a row without one. An exception that
        it raises is raised again once the library call has returned.
        """
        result = _lib.RestoreResult()
        raised = []

        def report(_context, row_id, reason):
            if raised:
                return
            try:
                on_skip(None if row_id is None else _decode(row_id),
                        _decode(reason or b""))
            except BaseException as exc:  # re-raised below
                raised.append(exc)

        callback = _lib.ROW_FN(report) if on_skip else _lib.ROW_FN()
        with self._use() as handle:
            rc = _lib.rlb_restore(handle, _encode_path(path),
                                  ctypes.byref(result), callback, None)
        if raised:
            raise raised[0]
        _check(rc, default=f"path={os.fspath(path)!r}")
        return RestoreResult(result.restored, result.expired,
                             result.duplicate, result.invalid)

    def stats(self):
        """Return the board's counters and settings as a dict.

        The keys are the fields of struct rlb_stats. created_at_us is in
        microseconds since the epoch, and name_removed and probe_held are
        bool.
        """
        raw = _lib.Stats()
        with self._use() as handle:
            rc = _lib.rlb_stats_get(handle, ctypes.byref(raw))
        _check(rc)
        stats = {field: getattr(raw, field) for field, _ in raw._fields_}
        stats["name_removed"] = bool(stats["name_removed"])
        stats["probe_held"] = bool(stats["probe_held"])
        return stats


def unlink(name, missing_ok=False):
    """Remove a board's name.

    Processes attached to the board keep using it, and the next
    Board(name) creates a new, empty board. A missing board raises
    RlboardError with name "ENOENT" unless missing_ok is true.
    """
    rc = _lib.rlb_unlink(_encode(name, "name", _lib.EINVALNAME))
    if rc == -errno.ENOENT and missing_ok:
        return
    _check(rc, {_lib.EINVALNAME: _describe("name", name),
                -errno.ENOENT: f"board {name!r} does not exist"})


def job_hash(job_id):
    """Return the 16 hex digits that an event stores for job_id."""
    out = ctypes.create_string_buffer(_lib.HASH_LEN + 1)
    rc = _lib.rlb_job_hash(_encode(job_id, "job_id", _lib.EINVALJOB), out)
    _check(rc, {_lib.EINVALJOB: _describe("job_id", job_id)})
    return _decode(out.value)


def library_version():
    """Return the version string of the loaded library, such as "1.0.0"."""
    return _decode(_lib.rlb_version())
