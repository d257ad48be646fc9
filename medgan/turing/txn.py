"""Transaction helpers of the Turing store: dialect-specific INSERT (for ON CONFLICT), retryable errors, and the
per-process fair write lock used with SQLite."""

from __future__ import annotations

import contextlib
import threading
from collections import deque

from sqlalchemy import Engine

_RETRY_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available


def is_retryable(exc: Exception) -> bool:
    """True for lock / serialization / deadlock failures worth retrying."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    msg = str(orig or exc).lower()
    return "database is locked" in msg or "database table is locked" in msg or "busy" in msg


def insert_for(engine: Engine, table):  # noqa: ANN001, ANN202
    """The dialect's INSERT construct (it has ``on_conflict_do_nothing``)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


class FairLock:
    """A first-come, first-served lock (ownership is handed to the oldest waiter), so no writer starves."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Event] = deque()
        self._held = False

    def __enter__(self) -> FairLock:
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                return self
            event = threading.Event()
            self._waiters.append(event)
        event.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False


_WRITE_LOCKS: dict[str, FairLock | contextlib.nullcontext] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(engine: Engine):  # noqa: ANN202
    """One fair lock per SQLite database per process; a no-op for PostgreSQL."""
    key = str(engine.url)
    with _WRITE_LOCKS_GUARD:
        if key not in _WRITE_LOCKS:
            _WRITE_LOCKS[key] = FairLock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        return _WRITE_LOCKS[key]
