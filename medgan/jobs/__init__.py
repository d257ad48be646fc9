"""Training jobs started from the UI: records in the app database, a queue, one OS process per job."""

from __future__ import annotations

from medgan.jobs.spec import ARCHS, TASKS, JobSpec, check_spec, seed_hyper, train_args
from medgan.jobs.store import JobRecord, JobStore

__all__ = ["ARCHS", "TASKS", "JobRecord", "JobSpec", "JobStore", "check_spec", "seed_hyper", "train_args"]
