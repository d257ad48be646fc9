"""The app's database: one SQLAlchemy engine shared by the Turing test store and the training jobs.

SQLite by default (a file under ``MEDGAN_HOME``, or ``/data`` on a Hugging Face Space with persistent storage),
PostgreSQL when ``MEDGAN_DATABASE_URL`` points to one. SQLite runs in WAL mode with a busy timeout, and write
transactions take the lock up front (``BEGIN IMMEDIATE``) so concurrent writers queue instead of failing.
"""

from __future__ import annotations

import os
import threading

from sqlalchemy import Engine, create_engine, event

from medgan.paths import medgan_home  # noqa: F401 (re-exported: callers import it from here too)

SQLITE_BUSY_TIMEOUT_MS = 10_000
_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def database_url() -> str:
    """``MEDGAN_DATABASE_URL`` or the default SQLite file in :func:`medgan_home`."""
    url = os.environ.get("MEDGAN_DATABASE_URL")
    if url:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    return f"sqlite:///{medgan_home() / 'medgan.db'}"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        # read-only work may opt out of the up-front write lock: conn.execution_options(medgan_read_only=True)
        if conn.get_execution_options().get("medgan_read_only"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def get_engine(url: str | None = None) -> Engine:
    """A process-wide engine per URL (created once, thread-safe)."""
    url = url or database_url()
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                                          "check_same_thread": False},
                                       pool_size=16, max_overflow=48)
                _configure_sqlite(engine)
            else:
                engine = create_engine(url, pool_size=10, max_overflow=40, pool_pre_ping=True)
            _ENGINES[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, and forked worker processes)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
