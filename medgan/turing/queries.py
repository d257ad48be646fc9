"""Pre-built SQL statements of the reader hot path (built once; SQLAlchemy caches their compiled form)."""

from __future__ import annotations

from sqlalchemy import and_, bindparam, case, func, select

from medgan.turing.schema import assignments, cases, readers, studies, votes

_unvoted = assignments.outerjoin(votes, and_(votes.c.reader_id == assignments.c.reader_id,
                                             votes.c.case_id == assignments.c.case_id))
_with_case = _unvoted.join(cases, cases.c.id == assignments.c.case_id)
_cols = (assignments.c.id, assignments.c.token, assignments.c.position, assignments.c.served_at,
         assignments.c.case_id, votes.c.vote, votes.c.confidence, cases.c.png, cases.c.practice)

READER_TOTALS = (select(func.count(), func.sum(case((cases.c.practice.is_(True), 1), else_=0)))
                 .select_from(assignments.join(cases)).where(assignments.c.reader_id == bindparam("rid")))
NEXT_UNANSWERED = (select(*_cols).select_from(_with_case)
                   .where(and_(assignments.c.reader_id == bindparam("rid"), votes.c.id.is_(None)))
                   .order_by(assignments.c.position).limit(1))
AT_POSITION = (select(*_cols).select_from(_with_case)
               .where(and_(assignments.c.reader_id == bindparam("rid"), assignments.c.position == bindparam("pos"))))
MARK_SERVED = (assignments.update()
               .where(and_(assignments.c.id == bindparam("aid"), assignments.c.served_at.is_(None)))
               .values(served_at=bindparam("now")))
ASSIGNMENT_BY_TOKEN = (select(assignments.c.case_id, assignments.c.served_at, cases.c.practice, cases.c.truth,
                              studies.c.status, studies.c.options, readers.c.locked_at)
                       .select_from(assignments.join(cases).join(studies, studies.c.id == assignments.c.study_id)
                                    .join(readers, readers.c.id == assignments.c.reader_id))
                       .where(and_(assignments.c.token == bindparam("token"),
                                   assignments.c.reader_id == bindparam("rid"))))
EXISTING_VOTE = (select(votes.c.time_ms, votes.c.timed_out)
                 .where(and_(votes.c.reader_id == bindparam("rid"), votes.c.case_id == bindparam("cid"))))
REPLACE_VOTE = (votes.update()
                .where(and_(votes.c.reader_id == bindparam("rid"), votes.c.case_id == bindparam("cid")))
                .values(vote=bindparam("new_vote"), confidence=bindparam("new_confidence"),
                        updated_at=bindparam("now"))
                .returning(votes.c.id))
REMAINING = (select(func.count()).select_from(_unvoted)
             .where(and_(assignments.c.reader_id == bindparam("rid"), votes.c.id.is_(None))))
MARK_FINISHED = (readers.update().where(and_(readers.c.id == bindparam("rid"), readers.c.finished_at.is_(None)))
                 .values(finished_at=bindparam("now")))
MARK_LOCKED = (readers.update().where(and_(readers.c.id == bindparam("rid"), readers.c.locked_at.is_(None)))
               .values(locked_at=bindparam("now")))
