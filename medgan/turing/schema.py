"""Turing-test tables (prefix ``turing_``) and their creation / migration on start.

Times are server epoch seconds (float). Case images are stored in the database as canonical PNG bytes so a study
lives in one place whatever the backend (SQLite file or PostgreSQL).
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 3
metadata = MetaData()

meta = Table(
    "turing_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

studies = Table(
    "turing_studies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("status", String(16), nullable=False, default="open"),
    Column("options", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("closed_at", Float, nullable=True),
    # the study's secret randomness (hex; never shown to readers, never derived from public parameters) and its
    # design record (JSON: seed commitment, checkpoints, real source, presentation check)
    Column("secret", String(64), nullable=True),
    Column("design", Text, nullable=True),
)

cases = Table(
    "turing_cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("turing_studies.id", ondelete="CASCADE"), nullable=False),
    Column("case_key", String(64), nullable=False, unique=True),
    Column("truth", String(16), nullable=False),  # "real" | "generated"
    Column("source", String(200), nullable=False),  # checkpoint name or real-set name
    Column("source_ref", String(500), nullable=False, default=""),
    Column("practice", Boolean, nullable=False, default=False),
    Column("sha256", String(64), nullable=False),
    Column("png", LargeBinary, nullable=False),
    Index("ix_turing_cases_study", "study_id"),
)

readers = Table(
    "turing_readers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("turing_studies.id", ondelete="CASCADE"), nullable=False),
    Column("reader_key", String(128), nullable=False),  # "user:<name>" or "code:<sha256>"
    Column("kind", String(16), nullable=False),
    Column("label", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("locked_at", Float, nullable=True),  # answers final (no more changes); the score may be shown
    UniqueConstraint("study_id", "reader_key", name="uq_turing_reader"),
)

assignments = Table(
    "turing_assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("turing_studies.id", ondelete="CASCADE"), nullable=False),
    Column("reader_id", Integer, ForeignKey("turing_readers.id", ondelete="CASCADE"), nullable=False),
    Column("case_id", Integer, ForeignKey("turing_cases.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("served_at", Float, nullable=True),
    UniqueConstraint("reader_id", "position", name="uq_turing_assign_pos"),
    UniqueConstraint("reader_id", "case_id", name="uq_turing_assign_case"),
)

votes = Table(
    "turing_votes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("turing_studies.id", ondelete="CASCADE"), nullable=False),
    Column("reader_id", Integer, ForeignKey("turing_readers.id", ondelete="CASCADE"), nullable=False),
    Column("case_id", Integer, ForeignKey("turing_cases.id", ondelete="CASCADE"), nullable=False),
    Column("vote", String(16), nullable=False),  # "real" | "generated"
    Column("confidence", Integer, nullable=True),
    Column("time_ms", Integer, nullable=True),
    Column("timed_out", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=True),
    Column("idempotency_key", String(128), nullable=False, unique=True),
    UniqueConstraint("study_id", "reader_id", "case_id", name="uq_turing_vote"),
    Index("ix_turing_votes_study", "study_id"),
    Index("ix_turing_votes_reader_case", "reader_id", "case_id"),
)

# Migrations: version → SQL statements, or (table, column, SQL type) columns to add when missing, bringing the
# schema from version-1 to version.
MIGRATIONS: dict[int, list[str | tuple[str, str, str]]] = {
    2: ["CREATE INDEX IF NOT EXISTS ix_turing_votes_reader_case ON turing_votes (reader_id, case_id)"],
    3: [("turing_studies", "secret", "VARCHAR(64)"), ("turing_studies", "design", "TEXT"),
        ("turing_readers", "locked_at", "FLOAT")],
}


def _apply(conn, step: str | tuple[str, str, str]) -> None:  # noqa: ANN001
    if isinstance(step, str):
        conn.exec_driver_sql(step)
        return
    from sqlalchemy import inspect

    table, column, sql_type = step
    if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")

_READY: set[str] = set()
_LOCK = threading.Lock()


def ensure_schema(engine: Engine) -> None:
    """Create the tables if missing and apply pending migrations (idempotent; once per engine per process)."""
    key = str(engine.url)
    with _LOCK:
        if key in _READY:
            return
        for attempt in range(3):  # several processes may start at once: the loser of a CREATE race retries
            try:
                metadata.create_all(engine, checkfirst=True)
                break
            except (OperationalError, ProgrammingError, IntegrityError):
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))
        with engine.begin() as conn:
            row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
            current = int(row[0]) if row else 0
            if current == 0:
                conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            elif current < SCHEMA_VERSION:
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    for step in MIGRATIONS.get(version, []):
                        _apply(conn, step)
                    logger.info("turing schema migrated to version %d", version)
                conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))
            elif current > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the database holds Turing schema version {current}, newer than this code ({SCHEMA_VERSION})"
                )
        _READY.add(key)


def forget_schema_cache() -> None:
    """Tests: forget which engines were prepared."""
    with _LOCK:
        _READY.clear()
