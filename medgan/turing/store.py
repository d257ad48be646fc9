"""The Turing-test store: studies, cases, readers, per-reader case order and votes (SQLAlchemy Core).

Every write is one short transaction (SQLite: ``BEGIN IMMEDIATE`` via :mod:`medgan.db`; PostgreSQL: read committed)
retried on lock/serialization failures. Votes use ``INSERT … ON CONFLICT DO NOTHING`` against a unique constraint
on (study, reader, case) and a unique idempotency key, so double clicks and retries add nothing.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine, and_, func, select
from sqlalchemy.exc import OperationalError

from medgan.turing import queries as Q
from medgan.turing.codes import StudyError, hash_code, new_code
from medgan.turing.schema import assignments, cases, ensure_schema, readers, studies, votes
from medgan.turing.store_readers import ReaderMixin
from medgan.turing.study_types import CaseRecord, Reader, ServedCase, StudyInfo, StudyOptions, VoteResult
from medgan.turing.txn import insert_for, is_retryable, write_lock

logger = logging.getLogger(__name__)
T = TypeVar("T")
__all__ = ["Reader", "ServedCase", "StudyError", "StudyInfo", "TuringStore", "VoteResult", "hash_code", "new_code"]

VOTE_VALUES = ("real", "generated")


class TuringStore(ReaderMixin):
    """All database access of the Turing test. ``engine`` defaults to :func:`medgan.db.get_engine`."""

    def __init__(self, engine: Engine | None = None, retries: int = 10) -> None:
        if engine is None:
            from medgan.db import get_engine

            engine = get_engine()
        self.engine = engine
        self.retries = retries
        self._write_lock = write_lock(engine)
        self._totals_cache: dict[int, tuple[int, int]] = {}
        self._options_cache: dict[str, StudyOptions] = {}
        self._vote_insert = insert_for(engine, votes).on_conflict_do_nothing().returning(votes.c.id)
        ensure_schema(engine)

    # -- plumbing -------------------------------------------------------------------------------------------
    def _read(self) -> Connection:
        """A connection for reads (SQLite: a deferred transaction that does not take the write lock)."""
        return self.engine.connect().execution_options(medgan_read_only=True)

    def _tx(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction, retrying on lock / serialization failures.

        SQLite: writers of this process also queue on an in-process lock (fair, no busy-wait polling); other
        processes are kept out by ``BEGIN IMMEDIATE`` and the busy timeout.
        """
        delay = 0.005
        for attempt in range(self.retries):
            try:
                with self._write_lock, self.engine.begin() as conn:
                    return fn(conn)
            except OperationalError as exc:
                if attempt == self.retries - 1 or not is_retryable(exc):
                    raise
                logger.debug("retrying transaction after %s", exc.orig)
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
        raise RuntimeError("unreachable")

    def _options(self, raw: str) -> StudyOptions:
        opts = self._options_cache.get(raw)
        if opts is None:
            opts = self._options_cache[raw] = StudyOptions.from_dict(json.loads(raw))
        return opts

    # -- studies --------------------------------------------------------------------------------------------
    def create_study(self, name: str, options: StudyOptions, records: list[CaseRecord], description: str = "",
                     secret: str | None = None, design: dict | None = None) -> int:
        """Insert a study and its rendered cases (in the given order: case ids follow it); returns the study id.
        ``secret`` (hex) is the study's randomness, ``design`` its JSON design record. Raises StudyError if the
        name exists."""
        name = name.strip()
        if not name or len(name) > 200:
            raise StudyError("a study needs a name of 1 to 200 characters")

        def run(conn: Connection) -> int:
            if conn.execute(select(studies.c.id).where(studies.c.name == name)).first():
                raise StudyError(f"a study named {name!r} already exists")
            sid = conn.execute(
                studies.insert().values(name=name, status="open", options=json.dumps(options.to_dict()),
                                        description=description, created_at=time.time(), secret=secret,
                                        design=json.dumps(design, default=str) if design is not None else None)
            ).inserted_primary_key[0]
            conn.execute(cases.insert(), [
                {"study_id": sid, "case_key": r.case_key, "truth": r.truth, "source": r.source,
                 "source_ref": r.source_ref, "practice": r.practice, "sha256": r.sha256, "png": r.png}
                for r in records
            ])
            return int(sid)

        return self._tx(run)

    def get_study(self, name_or_id: str | int) -> StudyInfo:
        col = studies.c.id if isinstance(name_or_id, int) else studies.c.name
        with self._read() as conn:
            row = conn.execute(select(studies).where(col == name_or_id)).mappings().first()
        if row is None:
            raise StudyError(f"no study {name_or_id!r}")
        return StudyInfo(id=row["id"], name=row["name"], status=row["status"],
                         options=StudyOptions.from_dict(json.loads(row["options"])),
                         description=row["description"], created_at=row["created_at"],
                         design=json.loads(row["design"]) if row["design"] else None)

    def _secret(self, conn: Connection, study_id: int) -> bytes | None:
        row = conn.execute(select(studies.c.secret).where(studies.c.id == study_id)).first()
        return bytes.fromhex(row[0]) if row and row[0] else None

    def list_studies(self) -> list[StudyInfo]:
        with self._read() as conn:
            ids = [r[0] for r in conn.execute(select(studies.c.id).order_by(studies.c.id))]
        return [self.get_study(int(i)) for i in ids]

    def set_status(self, name_or_id: str | int, status: str) -> None:
        """Close (``"closed"``) or reopen (``"open"``) a study."""
        if status not in ("open", "closed"):
            raise StudyError("status must be 'open' or 'closed'")
        study = self.get_study(name_or_id)
        self._tx(lambda conn: conn.execute(
            studies.update().where(studies.c.id == study.id)
            .values(status=status, closed_at=time.time() if status == "closed" else None)))

    def case_table(self, study_id: int) -> list[dict]:
        """Admin/analysis only: case id, key, truth, source, practice, sha256, and ``case`` — the stable case id
        within the study (C001, C002, … in the secret random order the cases were stored in; the same for every
        reader)."""
        with self._read() as conn:
            rows = conn.execute(select(cases.c.id, cases.c.case_key, cases.c.truth, cases.c.source,
                                       cases.c.source_ref, cases.c.practice, cases.c.sha256)
                                .where(cases.c.study_id == study_id).order_by(cases.c.id)).mappings().all()
        width = max(3, len(str(len(rows))))
        return [{**dict(r), "case": f"C{i + 1:0{width}d}"} for i, r in enumerate(rows)]

    def case_png(self, case_key: str) -> bytes:
        with self._read() as conn:
            row = conn.execute(select(cases.c.png).where(cases.c.case_key == case_key)).first()
        if row is None:
            raise StudyError(f"no case {case_key!r}")
        return bytes(row[0])

    # -- reading --------------------------------------------------------------------------------------------
    def _totals(self, conn: Connection, reader: Reader) -> tuple[int, int]:
        """(cases, practice cases) of a reader; fixed once assigned, so cached."""
        got = self._totals_cache.get(reader.id)
        if got is None:
            total, n_practice = conn.execute(Q.READER_TOTALS, {"rid": reader.id}).one()
            got = self._totals_cache[reader.id] = (int(total), int(n_practice or 0))
        return got

    def _serve(self, reader: Reader, position: int | None) -> ServedCase | None:
        def run(conn: Connection) -> tuple | None:
            if position is None:
                row = conn.execute(Q.NEXT_UNANSWERED, {"rid": reader.id}).first()
            else:
                row = conn.execute(Q.AT_POSITION, {"rid": reader.id, "pos": position}).first()
            if row is None:
                return None
            served = row.served_at
            if served is None:
                served = time.time()
                conn.execute(Q.MARK_SERVED, {"aid": row.id, "now": served})
            return (row, served, row, *self._totals(conn, reader))

        out = self._tx(run)
        if out is None:
            return None
        row, served, case, total, n_practice = out
        return ServedCase(token=row.token, png=bytes(case.png), position=int(row.position), total=total,
                          n_practice=n_practice, practice=bool(case.practice), served_at=float(served),
                          previous_vote=row.vote, previous_confidence=row.confidence)

    def next_case(self, reader: Reader) -> ServedCase | None:
        """The first unanswered case (marks it served now if it never was); None when the reader is done."""
        return self._serve(reader, None)

    def case_at(self, reader: Reader, position: int) -> ServedCase | None:
        """The reader's case at ``position`` (revisiting; only when the study allows it)."""
        return self._serve(reader, position)

    def progress(self, reader: Reader) -> tuple[int, int]:
        """(answered, total) for a reader."""
        with self._read() as conn:
            total = conn.execute(select(func.count()).select_from(assignments)
                                 .where(assignments.c.reader_id == reader.id)).scalar_one()
            done = conn.execute(select(func.count()).select_from(votes)
                                .where(votes.c.reader_id == reader.id)).scalar_one()
        return int(done), int(total)

    # -- voting ---------------------------------------------------------------------------------------------
    def submit_vote(self, reader: Reader, token: str, vote: str, confidence: int | None = None,
                    idempotency_key: str | None = None, replace: bool = False) -> VoteResult:
        """Record one vote (committed on return). Duplicates (same case or same key) are accepted=False."""
        if vote not in VOTE_VALUES:
            raise StudyError(f"vote must be one of {VOTE_VALUES}, got {vote!r}")
        if confidence is not None and not (1 <= int(confidence) <= 5):
            raise StudyError("confidence must be an integer from 1 to 5")
        key = idempotency_key or f"{reader.id}:{token}"

        def run(conn: Connection) -> VoteResult:
            a = conn.execute(Q.ASSIGNMENT_BY_TOKEN, {"token": token, "rid": reader.id}).first()
            if a is None:
                raise StudyError("unknown case token for this reader")
            if a.status != "open":
                raise StudyError("this study is closed and accepts no votes")
            if a.locked_at is not None:  # a retry of a recorded vote is a duplicate; anything else is refused
                old = conn.execute(Q.EXISTING_VOTE, {"rid": reader.id, "cid": a.case_id}).first()
                if old is None or replace:
                    raise StudyError("your answers are locked and can no longer be changed")
                return VoteResult(accepted=False, time_ms=old.time_ms, timed_out=bool(old.timed_out),
                                  practice_truth=None, finished=True)
            opts = self._options(a.options)
            if a.served_at is None:
                raise StudyError("this case has not been shown yet")
            now = time.time()
            time_ms = int(round((now - a.served_at) * 1000))
            timed_out = bool(opts.time_limit_s and time_ms > opts.time_limit_s * 1000)
            conf = None if confidence is None else int(confidence)
            values = {"study_id": reader.study_id, "reader_id": reader.id, "case_id": a.case_id, "vote": vote,
                      "confidence": conf, "time_ms": time_ms, "timed_out": timed_out, "created_at": now,
                      "updated_at": None, "idempotency_key": key}
            accepted = conn.execute(self._vote_insert, values).first() is not None
            if not accepted and replace and opts.allow_revisit:
                accepted = conn.execute(Q.REPLACE_VOTE, {"rid": reader.id, "cid": a.case_id, "new_vote": vote,
                                                         "new_confidence": conf, "now": now}).first() is not None
            if not accepted:
                old = conn.execute(Q.EXISTING_VOTE, {"rid": reader.id, "cid": a.case_id}).first()
                if old is not None:
                    time_ms, timed_out = old.time_ms, bool(old.timed_out)
            remaining = conn.execute(Q.REMAINING, {"rid": reader.id}).scalar_one()
            if remaining == 0:
                conn.execute(Q.MARK_FINISHED, {"rid": reader.id, "now": now})
                if not opts.allow_revisit:  # every answer was final when given
                    conn.execute(Q.MARK_LOCKED, {"rid": reader.id, "now": now})
            return VoteResult(accepted=accepted, time_ms=time_ms, timed_out=timed_out,
                              practice_truth=a.truth if a.practice else None, finished=remaining == 0)

        return self._tx(run)

    # -- analysis input -------------------------------------------------------------------------------------
    def vote_rows(self, study_id: int, include_practice: bool = False) -> list[dict]:
        """Admin only: one dict per vote with reader, case (the study's case id), case token (per reader), truth,
        source, vote, confidence, time."""
        j = votes.join(readers, readers.c.id == votes.c.reader_id).join(cases, cases.c.id == votes.c.case_id) \
            .join(assignments, and_(assignments.c.reader_id == votes.c.reader_id,
                                    assignments.c.case_id == votes.c.case_id))
        q = (select(readers.c.label.label("reader"), assignments.c.token.label("case_token"),
                    cases.c.case_key, cases.c.truth, cases.c.source, cases.c.practice, votes.c.vote,
                    votes.c.confidence, votes.c.time_ms, votes.c.timed_out, votes.c.created_at,
                    votes.c.updated_at)
             .select_from(j).where(votes.c.study_id == study_id).order_by(votes.c.id))
        if not include_practice:
            q = q.where(cases.c.practice.is_(False))
        with self._read() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
        case_ids = {c["case_key"]: c["case"] for c in self.case_table(study_id)}
        for r in rows:
            r["case"] = case_ids[r["case_key"]]
        return rows

    def reader_table(self, study_id: int) -> list[dict]:
        """Admin only: readers with progress."""
        with self._read() as conn:
            rows = conn.execute(select(readers.c.id, readers.c.label, readers.c.kind, readers.c.finished_at)
                                .where(readers.c.study_id == study_id).order_by(readers.c.id)).mappings().all()
            out = []
            for r in rows:
                n = conn.execute(select(func.count()).select_from(votes).where(votes.c.reader_id == r["id"])).scalar_one()
                out.append({"reader": r["label"], "kind": r["kind"], "answered": int(n),
                            "finished": r["finished_at"] is not None})
        return out

    def count_votes(self, study_id: int | None = None) -> int:
        q = select(func.count()).select_from(votes)
        if study_id is not None:
            q = q.where(votes.c.study_id == study_id)
        with self._read() as conn:
            return int(conn.execute(q).scalar_one())
