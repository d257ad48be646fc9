"""The Turing-test store's readers: reader codes, users as readers, each reader's case order, locking, score.

A mixin of :class:`medgan.turing.store.TuringStore` (it uses the store's transactions and study lookups)."""

from __future__ import annotations

import secrets
import time

from sqlalchemy import Connection, and_, func, select
from sqlalchemy.exc import IntegrityError

from medgan.turing import queries as Q
from medgan.turing.codes import StudyError, hash_code, new_code, reader_rng
from medgan.turing.schema import assignments, cases, readers, votes
from medgan.turing.study_types import Reader, StudyInfo
from medgan.turing.txn import insert_for


class ReaderMixin:
    """Reader registration and per-reader case order (needs ``engine``, ``_tx``, ``_read``, ``get_study``,
    ``_secret`` of the store)."""

    def _create_reader(self, conn: Connection, study: StudyInfo, reader_key: str, kind: str) -> int | None:
        count = conn.execute(select(func.count()).select_from(readers)
                             .where(readers.c.study_id == study.id)).scalar_one()
        label = f"R{count + 1:02d}" if kind == "code" else reader_key.split(":", 1)[1][:64]
        row = conn.execute(insert_for(self.engine, readers).values(
            study_id=study.id, reader_key=reader_key, kind=kind, label=label, created_at=time.time()
        ).on_conflict_do_nothing().returning(readers.c.id)).first()
        if row is None:
            return None
        rid = row[0]
        self._assign(conn, study, rid, reader_key)
        return int(rid)

    def _assign(self, conn: Connection, study: StudyInfo, reader_id: int, reader_key: str) -> None:
        rows = conn.execute(select(cases.c.id, cases.c.practice).where(cases.c.study_id == study.id)
                            .order_by(cases.c.id)).all()
        rng = reader_rng(self._secret(conn, study.id), study.options.seed, reader_key)
        practice = [r[0] for r in rows if r[1]]
        main = [r[0] for r in rows if not r[1]]
        order = [practice[i] for i in rng.permutation(len(practice))] + [main[i] for i in rng.permutation(len(main))]
        conn.execute(assignments.insert(), [
            {"study_id": study.id, "reader_id": reader_id, "case_id": cid, "position": pos,
             "token": secrets.token_urlsafe(18)} for pos, cid in enumerate(order)
        ])

    def issue_codes(self, name_or_id: str | int, n: int) -> list[tuple[str, str]]:
        """Create ``n`` readers with random codes; returns [(label, code)] — the only time codes are visible."""
        if not 1 <= n <= 500:
            raise StudyError("issue between 1 and 500 reader codes at a time")
        study = self.get_study(name_or_id)
        out: list[tuple[str, str]] = []
        for _ in range(n):
            code = new_code()
            rid = self._tx(lambda conn, c=code: self._create_reader(conn, study, hash_code(c), "code"))
            if rid is None:  # astronomically unlikely collision
                continue
            out.append((self.reader(rid).label, code))
        return out

    def reader(self, reader_id: int) -> Reader:
        with self._read() as conn:
            row = conn.execute(select(readers).where(readers.c.id == reader_id)).mappings().first()
        if row is None:
            raise StudyError("unknown reader")
        return Reader(id=row["id"], study_id=row["study_id"], label=row["label"], kind=row["kind"],
                      locked_at=row["locked_at"])

    def reader_by_code(self, name_or_id: str | int, code: str) -> Reader:
        study = self.get_study(name_or_id)
        with self._read() as conn:
            rid = conn.execute(select(readers.c.id).where(and_(readers.c.study_id == study.id,
                                                                readers.c.reader_key == hash_code(code)))).first()
        if rid is None:
            raise StudyError("this reader code is not valid for this study")
        return self.reader(int(rid[0]))

    def reader_by_code_any(self, code: str) -> Reader:
        """The reader holding ``code`` in any open or closed study."""
        with self._read() as conn:
            rid = conn.execute(select(readers.c.id).where(readers.c.reader_key == hash_code(code))).first()
        if rid is None:
            raise StudyError("this reader code is not valid (codes look like ABCD-EFGH-JKLM)")
        return self.reader(int(rid[0]))

    def lock_reader(self, reader: Reader) -> Reader:
        """Make a reader's answers final (every case answered first); afterwards votes and changes are refused."""
        def run(conn: Connection) -> None:
            if conn.execute(Q.REMAINING, {"rid": reader.id}).scalar_one():
                raise StudyError("answer every case before locking your answers")
            conn.execute(Q.MARK_LOCKED, {"rid": reader.id, "now": time.time()})

        self._tx(run)
        return self.reader(reader.id)

    def reader_score(self, reader: Reader) -> tuple[int, int]:
        """(correct, scored) over the reader's non-practice, in-time votes — only once the reader's answers are
        locked (a score the reader could still change by revisiting would leak the truth case by case)."""
        if self.reader(reader.id).locked_at is None:
            raise StudyError("the score is shown only after the answers are locked")
        with self._read() as conn:
            rows = conn.execute(select(votes.c.vote, cases.c.truth).select_from(votes.join(cases))
                                .where(and_(votes.c.reader_id == reader.id, cases.c.practice.is_(False),
                                            votes.c.timed_out.is_(False)))).all()
        return sum(v == t for v, t in rows), len(rows)

    def reader_for_user(self, name_or_id: str | int, username: str) -> Reader:
        """The reader row of an authenticated user (created with its case order on first visit)."""
        if not username:
            raise StudyError("no authenticated user")
        study = self.get_study(name_or_id)
        key = "user:" + username
        for _ in range(3):
            with self._read() as conn:
                rid = conn.execute(select(readers.c.id).where(and_(readers.c.study_id == study.id,
                                                                    readers.c.reader_key == key))).first()
            if rid is not None:
                return self.reader(int(rid[0]))
            try:
                self._tx(lambda conn: self._create_reader(conn, study, key, "user"))
            except IntegrityError:
                pass
        raise StudyError("could not register the reader")
