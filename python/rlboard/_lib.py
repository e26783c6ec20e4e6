"""Load librlboard with ctypes and declare the C API of include/rlboard.h.

The library is found through the environment variable RLBOARD_LIBRARY (a
path), then the path that CMake wrote into _install.py when it installed the
package (when that file exists), then ctypes.util.find_library("rlboard"),
then the soname "librlboard.so.1" on the dynamic loader's search path.
Calls go through ctypes.CDLL, which releases the GIL for the duration of
each call.

The structures below mirror the C structures field by field, so a change to
the header must be made here too.
"""

import ctypes
import ctypes.util
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_int,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)

SONAME = "librlboard.so.1"

# Limits and flags from rlboard.h.
NAME_MAX = 200
CODE_MAX = 31
MODEL_MAX = 95
JOB_MAX = 1024
ID_LEN = 36
HASH_LEN = 16
TIME_TEXT_LEN = 40
CREATE = 0x1
EXCLUSIVE = 0x2

# The library's codes that the binding branches on, from RLB_ERRORS in
# rlboard.h. Messages and names always come from the library itself.
EINVALNAME = -32001
EINVALCODE = -32002
EINVALMODEL = -32003
EINVALJOB = -32004
EINVALDURATION = -32005
EINVALCAPACITY = -32006
EINVALTTL = -32007
EINVALMODE = -32008
EINVALARG = -32009
ENOTFOUND = -32017
ETIMEDOUT = -32018
EINVALID = -32019


class Board(Structure):
    """Opaque struct rlb_board, used only through pointers."""


class Options(Structure):
    _fields_ = [
        ("flags", c_uint32),
        ("capacity", c_uint32),
        ("ttl_factor", c_double),
        ("mode", c_uint32),
        ("jitter_ms", c_uint32),
        ("probe_timeout_ms", c_uint32),
        ("lock_timeout_ms", c_uint32),
    ]


class Event(Structure):
    _fields_ = [
        ("id", c_char * (ID_LEN + 1)),
        ("error_code", c_char * (CODE_MAX + 1)),
        ("model", c_char * (MODEL_MAX + 1)),
        ("has_model", c_int),
        ("recorded_at_us", c_int64),
        ("expires_at_us", c_int64),
        ("source_job_hash", c_char * (HASH_LEN + 1)),
        ("duration_seconds", c_double),
        ("seconds_left", c_double),
    ]


class Stats(Structure):
    _fields_ = [
        ("capacity", c_uint32),
        ("live", c_uint32),
        ("stored", c_uint32),
        ("records", c_uint64),
        ("evictions", c_uint64),
        ("expired_reused", c_uint64),
        ("cleaned", c_uint64),
        ("cleared", c_uint64),
        ("restored", c_uint64),
        ("recoveries", c_uint64),
        ("board_id", c_uint64),
        ("created_at_us", c_int64),
        ("ttl_factor", c_double),
        ("jitter_ms", c_uint32),
        ("probe_timeout_ms", c_uint32),
        ("layout_version", c_uint32),
        ("waiters", c_uint32),
        ("segment_bytes", c_uint64),
        ("name_removed", c_int),
        ("probe_held", c_int),
        ("mode", c_uint32),
    ]


class SnapshotResult(Structure):
    _fields_ = [
        ("events", c_size_t),
        ("duration_ms", c_double),
    ]


class RestoreResult(Structure):
    _fields_ = [
        ("restored", c_size_t),
        ("expired", c_size_t),
        ("duplicate", c_size_t),
        ("invalid", c_size_t),
    ]


BoardPtr = POINTER(Board)
CharBuffer = POINTER(c_char)
LOG_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p)
VIOLATION_FN = CFUNCTYPE(None, c_void_p, c_char_p)
ROW_FN = CFUNCTYPE(None, c_void_p, c_char_p, c_char_p)

# name: (restype, argtypes)
_PROTOTYPES = {
    "rlb_set_log_callback": (None, [LOG_FN, c_void_p]),
    "rlb_strerror": (c_char_p, [c_int]),
    "rlb_error_name": (c_char_p, [c_int]),
    "rlb_version": (c_char_p, []),
    "rlb_version_number": (c_int, []),
    "rlb_options_init": (None, [POINTER(Options)]),
    "rlb_name_check": (c_int, [c_char_p]),
    "rlb_open": (c_int, [POINTER(BoardPtr), c_char_p, POINTER(Options)]),
    "rlb_close": (c_int, [BoardPtr]),
    "rlb_unlink": (c_int, [c_char_p]),
    "rlb_name": (c_char_p, [BoardPtr]),
    "rlb_job_hash": (c_int, [c_char_p, CharBuffer]),
    "rlb_record": (
        c_int,
        [BoardPtr, c_char_p, c_double, c_char_p, c_char_p, CharBuffer],
    ),
    "rlb_check": (c_int, [BoardPtr, c_char_p, c_char_p, POINTER(c_double)]),
    "rlb_list": (
        c_int,
        [
            BoardPtr,
            c_char_p,
            c_char_p,
            POINTER(POINTER(Event)),
            POINTER(c_size_t),
        ],
    ),
    "rlb_events_free": (None, [POINTER(Event)]),
    "rlb_cleanup": (c_int, [BoardPtr, POINTER(c_size_t)]),
    "rlb_stats_get": (c_int, [BoardPtr, POINTER(Stats)]),
    "rlb_verify": (c_int, [BoardPtr, VIOLATION_FN, c_void_p]),
    "rlb_clear_id": (c_int, [BoardPtr, c_char_p]),
    "rlb_clear": (c_int, [BoardPtr, c_char_p, c_char_p, POINTER(c_size_t)]),
    "rlb_wait": (c_int, [BoardPtr, c_char_p, c_char_p, c_double, c_int]),
    "rlb_probe_acquire": (
        c_int,
        [BoardPtr, c_char_p, c_char_p, POINTER(c_uint64)],
    ),
    "rlb_probe_release": (c_int, [BoardPtr, c_uint64, c_int]),
    "rlb_parse_retry_after": (
        c_int,
        [c_char_p, c_int, c_int64, POINTER(c_double)],
    ),
    "rlb_snapshot": (c_int, [BoardPtr, c_char_p, POINTER(SnapshotResult)]),
    "rlb_restore": (
        c_int,
        [BoardPtr, c_char_p, POINTER(RestoreResult), ROW_FN, c_void_p],
    ),
    "rlb_parse_time": (c_int, [c_char_p, POINTER(c_int64)]),
    "rlb_format_time": (c_int, [c_int64, CharBuffer]),
}


class _MissingFunction:
    """Placeholder for a function that the loaded library does not export.

    Calling it raises NotImplementedError naming the function and the
    library file, so a library without that function fails only the calls
    that need it.
    """

    def __init__(self, name, path):
        self._name = name
        self._path = path

    def __call__(self, *args):
        raise NotImplementedError(
            f"{self._name} is not exported by {self._path}"
        )


def _library_path():
    path = os.environ.get("RLBOARD_LIBRARY")
    if path:
        return path
    try:
        from ._install import LIBRARY
    except ImportError:
        LIBRARY = None
    if LIBRARY and os.path.exists(LIBRARY):
        return LIBRARY
    return ctypes.util.find_library("rlboard") or SONAME


def _load():
    path = _library_path()
    try:
        cdll = ctypes.CDLL(path)
    except OSError as exc:
        raise ImportError(
            f"cannot load the rlboard library from {path!r}: {exc}. "
            "Install librlboard or set RLBOARD_LIBRARY to the path of "
            "librlboard.so."
        ) from exc
    return path, cdll


path, cdll = _load()
missing = []

for _name, (_restype, _argtypes) in _PROTOTYPES.items():
    try:
        _function = getattr(cdll, _name)
    except AttributeError:
        missing.append(_name)
        globals()[_name] = _MissingFunction(_name, path)
        continue
    _function.restype = _restype
    _function.argtypes = _argtypes
    globals()[_name] = _function


def strerror(code):
    """Return the library's message for a return code."""
    return rlb_strerror(code).decode("utf-8", "replace")


def error_name(code):
    """Return the library's symbolic name for a return code."""
    return rlb_error_name(code).decode("utf-8", "replace")
