"""Training-job records in the app's database (the same engine as the Turing test store).

One row per job: its id, status (queued → running → finished | cancelled | failed, with a reason), the
form's values and the exact command-line arguments, its output folder, the worker's pid and the slot
(``cpu`` or ``cuda:<i>``) it holds, timestamps (seconds since the epoch, UTC) and progress.
State changes are conditional updates, so several app processes sharing one database never start a job twice.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    update,
)

from medgan.db import get_engine

STATUSES = ("queued", "running", "finished", "cancelled", "failed")
ACTIVE = ("queued", "running")

metadata = MetaData()

jobs_table = Table(
    "training_jobs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(80), nullable=False),
    Column("task", String(20), nullable=False),
    Column("arch", String(40), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("reason", Text, nullable=True),
    Column("spec", Text, nullable=False),
    Column("args", Text, nullable=False),
    Column("data_desc", Text, nullable=False, default=""),
    Column("out_dir", Text, nullable=False),
    Column("device", String(16), nullable=False, default="auto"),
    Column("device_name", String(120), nullable=True),
    Column("slot", String(16), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("resume", Boolean, nullable=False, default=False),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("step", Integer, nullable=False, default=0),
    Column("total_steps", Integer, nullable=False, default=0),
    Column("published", String(120), nullable=True),
    Column("created", Float, nullable=False),
    Column("started", Float, nullable=True),
    Column("ended", Float, nullable=True),
)


@dataclass
class JobRecord:
    """A row of ``training_jobs``; ``spec`` and ``args`` decoded from JSON."""

    id: str
    name: str
    task: str
    arch: str
    status: str
    reason: str | None
    spec: dict[str, Any]
    args: list[str]
    data_desc: str
    out_dir: str
    device: str
    device_name: str | None
    slot: str | None
    pid: int | None
    resume: bool
    cancel_requested: bool
    step: int
    total_steps: int
    published: str | None
    created: float
    started: float | None
    ended: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def progress(self) -> float:
        """Fraction of steps done, in [0, 1]."""
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = {str(k): getattr(self, str(k)) for k in jobs_table.c.keys()}
        d["progress"] = round(self.progress, 4)
        return d


def _record(row: Any) -> JobRecord:
    m = dict(row._mapping)
    m["spec"] = json.loads(m["spec"])
    m["args"] = json.loads(m["args"])
    m["resume"] = bool(m["resume"])
    m["cancel_requested"] = bool(m["cancel_requested"])
    return JobRecord(**m)


class JobStore:
    """CRUD over ``training_jobs`` on ``engine`` (default: :func:`medgan.db.get_engine`)."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or get_engine()
        metadata.create_all(self.engine)

    @staticmethod
    def new_id() -> str:
        return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)

    def create(self, *, job_id: str, name: str, task: str, arch: str, spec: dict[str, Any], args: list[str],
               data_desc: str, out_dir: str, device: str, total_steps: int) -> JobRecord:
        """Insert a queued job and return it."""
        with self.engine.begin() as conn:
            conn.execute(jobs_table.insert().values(
                id=job_id, name=name, task=task, arch=arch, status="queued", reason=None,
                spec=json.dumps(spec), args=json.dumps(args), data_desc=data_desc, out_dir=out_dir,
                device=device, resume=False, cancel_requested=False, step=0, total_steps=total_steps,
                created=time.time()))
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> JobRecord | None:
        if not isinstance(job_id, str) or not job_id:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs_table).where(jobs_table.c.id == job_id)).first()
        return _record(row) if row is not None else None

    def list(self, statuses: tuple[str, ...] | None = None, limit: int = 200) -> list[JobRecord]:
        """Jobs, newest first (optionally only those with a status in ``statuses``)."""
        q = select(jobs_table).order_by(jobs_table.c.created.desc()).limit(limit)
        if statuses:
            q = q.where(jobs_table.c.status.in_(statuses))
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(q)]

    def queued(self) -> list[JobRecord]:
        """Queued jobs, oldest first (the order they start in)."""
        q = select(jobs_table).where(jobs_table.c.status == "queued").order_by(jobs_table.c.created)
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(q)]

    def update(self, job_id: str, *, expect: tuple[str, ...] | None = None, **values: Any) -> bool:
        """Set ``values`` on the job; when ``expect`` is given only if its status is one of them. True if done."""
        q = update(jobs_table).where(jobs_table.c.id == job_id)
        if expect:
            q = q.where(jobs_table.c.status.in_(expect))
        with self.engine.begin() as conn:
            return conn.execute(q.values(**values)).rowcount == 1

    def busy_slots(self) -> set[str]:
        """Slots held by running jobs."""
        q = select(jobs_table.c.slot).where(jobs_table.c.status == "running")
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(q) if r[0]}

    def name_taken(self, name: str) -> bool:
        """True when another job (not failed) already uses ``name``."""
        q = select(jobs_table.c.id).where(jobs_table.c.name == name, jobs_table.c.status != "failed")
        with self.engine.connect() as conn:
            return conn.execute(q).first() is not None
