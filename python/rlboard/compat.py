"""RateLimitStore: the rate-limit methods of the SQLite store, on a board.

Code written against the SQLite store's rate-limit methods can use this
class instead, with the same method names, arguments and results:

    from rlboard import compat

    store = compat.RateLimitStore("workers")
    store.record_rate_limit_event("E101", 60, "job-1", "m1")
    limited, seconds_left = store.is_rate_limited(model="m1")

The events live on a shared-memory board instead of in a table, so every
process that uses the same board name reads them. Board.snapshot() and
Board.restore(), reached through the board attribute, move them to and from
the store's rate_limit_events table.
"""

import dataclasses
import datetime

from . import Board

__all__ = ["RateLimitEvent", "RateLimitStore"]


@dataclasses.dataclass(frozen=True)
class RateLimitEvent:
    """One live event, with the columns of the rate_limit_events table.

    recorded_at and expires_at are timezone-aware UTC datetimes. model is
    None for an event recorded without one.
    """

    id: str
    error_code: str
    model: "str | None"
    recorded_at: datetime.datetime
    expires_at: datetime.datetime
    source_job_hash: str
    duration_seconds: float


class RateLimitStore:
    """The SQLite store's rate-limit methods, backed by a board.

    board_name selects the board as Board() does: None uses the environment
    variable RLBOARD, then "rlboard". The keyword arguments create,
    capacity, ttl_factor and mode are passed to Board. Errors are raised as
    by Board: invalid input as rlboard.InvalidInputError, a ValueError.
    """

    def __init__(self, board_name=None, *, create=True, capacity=None,
                 ttl_factor=None, mode=None):
        self.board = Board(board_name, create=create, capacity=capacity,
                           ttl_factor=ttl_factor, mode=mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Detach from the board. The events stay on it."""
        self.board.close()

    def record_rate_limit_event(self, error_code, duration_seconds, job_id,
                                model=None):
        """Record a rate-limit event and return its id.

        The event expires after 0.8 * duration_seconds with the default TTL
        factor. The job id is stored as the first 16 hex digits of SHA-256
        over the job id followed by a colon.
        """
        return self.board.record(error_code, duration_seconds, job_id, model)

    def is_rate_limited(self, error_code=None, model=None):
        """Return (True, seconds left) when a matching event is live, else
        (False, None).

        None for a filter matches any value. The seconds left are those of
        the matching event that expires last.
        """
        seconds_left = self.board.check(error_code, model)
        if seconds_left is None:
            return False, None
        return True, seconds_left

    def get_active_rate_limits(self, model=None, error_code=None):
        """Return the live events that match as RateLimitEvent objects, the
        one that expires last first. None for a filter matches any value."""
        return [
            RateLimitEvent(
                id=event.id,
                error_code=event.error_code,
                model=event.model,
                recorded_at=event.recorded_at,
                expires_at=event.expires_at,
                source_job_hash=event.source_job_hash,
                duration_seconds=event.duration_seconds,
            )
            for event in self.board.active(error_code, model)
        ]

    def cleanup_expired_rate_limits(self):
        """Remove expired events and return how many were removed."""
        return self.board.cleanup()
