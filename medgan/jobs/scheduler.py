"""The job queue: a thread in the app process that starts queued jobs and watches running ones.

Slots: one per CUDA GPU (``cuda:<i>``) plus one ``cpu`` slot; a job holds one slot while it runs, the others
wait (status ``queued``) in creation order. The thread never trains: each job is a separate OS process
(:mod:`medgan.jobs.runner`), started cold or handed to a pre-started worker that waits on the free slot
(:mod:`medgan.jobs.warm`). On start it re-adopts running jobs whose worker is still alive and marks the
others failed with a reason. When a worker exits, its ``end`` record (or its exit status when there is none)
decides the job's final status; a finished job's model is published to ``MEDGAN_HOME/checkpoints``, and its
uploaded data removed when the job asked for it (``remove_data``) and no queued or running job uses it. Uploads
that no job uses are swept after a day (:func:`medgan.jobs.data.sweep_uploads`).
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from pathlib import Path

from medgan.jobs import runner
from medgan.jobs.data import release_upload, sweep_uploads, upload_folder
from medgan.jobs.progress import read_progress
from medgan.jobs.publish import existing_names, publish
from medgan.jobs.spec import JobSpec, check_spec, train_args
from medgan.jobs.store import JobRecord, JobStore
from medgan.jobs.warm import WarmPool, warm_enabled
from medgan.paths import medgan_home

log = logging.getLogger(__name__)

ACTIVE_POLL_S = 0.25
IDLE_POLL_S = 3.0
CLAIM_GRACE_S = 30.0  # a job claimed by another process may take this long to get its pid
SWEEP_EVERY_S = 6 * 3600.0  # how often uploads that no job uses are looked for


def detect_gpus() -> list[str]:
    """``cuda:<i>`` for every visible CUDA device (empty on a CPU-only machine)."""
    try:
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    except Exception:  # noqa: BLE001 - a broken CUDA install means no GPU
        return []


def gpu_name() -> str | None:
    """Name of the first CUDA device, or None."""
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001
        return None


class Scheduler:
    """Owns the worker processes this app process started; all state lives in the database. With ``warm`` it
    keeps a pre-started worker on every free slot (:class:`medgan.jobs.warm.WarmPool`)."""

    def __init__(self, store: JobStore | None = None, home: Path | None = None,
                 gpus: list[str] | None = None, warm: bool = False) -> None:
        self.store = store or JobStore()
        self.home = Path(home or medgan_home())
        self.jobs_dir = self.home / "jobs"
        self.gpus = detect_gpus() if gpus is None else list(gpus)
        self._procs: dict[str, subprocess.Popen] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._last_step: dict[str, int] = {}
        self._records_at_launch: dict[str, int] = {}
        self.warm = WarmPool(self.home / "warm") if warm else None
        self._swept = 0.0

    # ---- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> Scheduler:
        with self._lock:
            if self._thread is None:
                self.recover()
                self._thread = threading.Thread(target=self._loop, name="medgan-jobs", daemon=True)
                self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.warm is not None:
            with self._lock:
                self.warm.close()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                active = self.tick()
            except Exception:  # noqa: BLE001 - keep the queue alive; the next tick retries
                log.exception("job scheduler tick failed")
                active = True
            self._wake.wait(ACTIVE_POLL_S if active else IDLE_POLL_S)
            self._wake.clear()

    # ---- requests --------------------------------------------------------------------------------------
    def submit(self, spec: JobSpec) -> JobRecord:
        """Queue a job for ``spec`` (checked first; ValueError with a message when invalid)."""
        check_spec(spec)
        if spec.device == "cuda" and not self.gpus:
            raise ValueError("no CUDA GPU on this server; choose device auto or cpu")
        job_id = self.store.new_id()
        spec.name = spec.name or f"{spec.arch}_{spec.task}_{job_id}"
        if self.store.name_taken(spec.name) or spec.name in existing_names():
            raise ValueError(f"a model or job named {spec.name!r} already exists; choose another model name")
        out = self.jobs_dir / job_id
        out.mkdir(parents=True, exist_ok=True)
        job = self.store.create(job_id=job_id, name=spec.name, task=spec.task, arch=spec.arch,
                                spec=spec.to_dict(), args=train_args(spec), data_desc=spec.data_desc,
                                out_dir=str(out), device=spec.device, total_steps=spec.steps)
        self.wake()
        return job

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued job at once, or ask a running one to stop after its current step."""
        job = self._get(job_id)
        if job.status == "queued":
            if self.store.update(job_id, expect=("queued",), status="cancelled", ended=time.time(),
                                 reason="cancelled before it started"):
                return self._get(job_id)
            job = self._get(job_id)
        if job.status == "running":
            self.store.update(job_id, expect=("running",), cancel_requested=True)
            runner.request_stop(job.pid, job.out_dir)
            self.wake()
            return self._get(job_id)
        raise ValueError(f"job {job_id} is {job.status}; only queued or running jobs can be cancelled")

    def resume(self, job_id: str) -> JobRecord:
        """Queue a cancelled or failed job to continue from its last checkpoint (``--resume``)."""
        job = self._get(job_id)
        if job.status not in ("cancelled", "failed"):
            raise ValueError(f"job {job_id} is {job.status}; only cancelled or failed jobs can be resumed")
        if not (Path(job.out_dir) / "train_state.safetensors").exists():
            raise ValueError(f"job {job_id} stopped before its first checkpoint; there is nothing to resume. "
                             "Start a new job instead.")
        data = str(job.spec.get("data") or "")
        if upload_folder(data) is not None and not Path(data).exists():
            raise ValueError(f"job {job_id}'s uploaded data has been removed (uploads are removed when a job that "
                             "asked for it finishes, or after a day when no job uses them); start a new job with "
                             "the zip")
        if not self.store.update(job_id, expect=("cancelled", "failed"), status="queued", resume=True,
                                 reason=None, ended=None, cancel_requested=False, pid=None, slot=None):
            raise ValueError(f"job {job_id} changed state meanwhile; try again")
        self.wake()
        return self._get(job_id)

    def _get(self, job_id: str) -> JobRecord:
        job = self.store.get(job_id)
        if job is None:
            raise ValueError(f"no job with id {job_id!r}")
        return job

    # ---- the loop's work -------------------------------------------------------------------------------
    def recover(self) -> None:
        """At start-up: re-adopt running jobs whose worker is alive, close the others."""
        for job in self.store.list(statuses=("running",)):
            if job.id in self._procs:
                continue
            if runner.pid_is_worker(job.pid, job.out_dir):
                log.info("re-adopting running job %s (pid %s)", job.id, job.pid)
                continue
            if job.pid is None and job.started and time.time() - job.started < CLAIM_GRACE_S:
                continue
            self._finish(job, None, restarted=True)

    def tick(self) -> bool:
        """One pass: reap exited workers, record progress, start what the free slots allow. True if busy."""
        with self._lock:
            running = self.store.list(statuses=("running",))
            for job in running:
                proc = self._procs.get(job.id)
                if proc is not None:
                    rc = proc.poll()
                    if rc is not None:
                        del self._procs[job.id]
                        self._finish(job, rc)
                        continue
                elif not runner.pid_is_worker(job.pid, job.out_dir):
                    if job.pid is None and job.started and time.time() - job.started < CLAIM_GRACE_S:
                        continue
                    self._finish(job, None)  # adopted (or another process's) worker is gone
                    continue
                self._record_progress(job)
                if job.cancel_requested and not (Path(job.out_dir) / "STOP").exists():
                    runner.request_stop(job.pid, job.out_dir)
            started = self._start_queued()
            if time.time() - self._swept > SWEEP_EVERY_S:
                self._sweep()
            if self.warm is not None:
                busy = self.store.busy_slots()
                self.warm.fill([s for s in self.slots if s not in busy])
            return bool(self._procs) or started or bool(running)

    @property
    def slots(self) -> list[str]:
        """Every slot a job can hold: the GPUs, then the CPU."""
        return [*self.gpus, "cpu"]

    def _record_progress(self, job: JobRecord) -> None:
        p = read_progress(job.out_dir)
        if p.step != self._last_step.get(job.id) or (p.start and not job.device_name):
            self._last_step[job.id] = p.step
            values: dict = {"step": p.step}
            if p.total:
                values["total_steps"] = p.total
            if p.start:
                values["device_name"] = str(p.start.get("device_name") or p.start.get("device") or "")[:120]
            self.store.update(job.id, expect=("running",), **values)

    def _pick_slot(self, job: JobRecord, busy: set[str]) -> str | None:
        if job.device == "cpu" or (job.device == "auto" and not self.gpus):
            return None if "cpu" in busy else "cpu"
        free = [g for g in self.gpus if g not in busy]
        return free[0] if free else None

    def _start_queued(self) -> bool:
        started = False
        for job in self.store.queued():
            if job.device == "cuda" and not self.gpus:
                self.store.update(job.id, expect=("queued",), status="failed", ended=time.time(),
                                  reason="no CUDA GPU on this server")
                continue
            slot = self._pick_slot(job, self.store.busy_slots())
            if slot is None:
                continue
            if not self.store.update(job.id, expect=("queued",), status="running", slot=slot, pid=None,
                                     started=time.time(), ended=None, reason=None):
                continue  # another app process took it
            self._records_at_launch[job.id] = read_progress(job.out_dir).records
            proc = self.warm.hand_off(slot, job.args, job.out_dir, job.resume) if self.warm is not None else None
            how = "a pre-started worker" if proc is not None else "a new worker"
            try:
                proc = proc or runner.launch(job.args, job.out_dir, resume=job.resume, slot=slot)
            except OSError as exc:
                self.store.update(job.id, status="failed", ended=time.time(),
                                  reason=f"could not start the worker process: {exc}")
                continue
            self._procs[job.id] = proc
            self.store.update(job.id, pid=proc.pid)
            log.info("started job %s on %s in %s (pid %d)", job.id, slot, how, proc.pid)
            started = True
        return started

    def _finish(self, job: JobRecord, returncode: int | None, restarted: bool = False) -> None:
        """Close a job whose worker is gone: final status from its end record, else failed with a reason."""
        p = read_progress(job.out_dir)
        end = p.end
        if end is not None and p.end_index <= self._records_at_launch.pop(job.id, -1):
            end = None  # the end of an earlier run in the same folder (before a resume)
        values: dict = {"ended": time.time(), "pid": None, "step": max(p.step, p.checkpoint_step or 0)}
        ckpt = (f"the last checkpoint (step {p.checkpoint_step}) is kept; press Resume to continue"
                if p.checkpoint_step is not None else "no checkpoint had been written yet")
        if end is not None and end.get("status") in ("finished", "cancelled", "failed") and returncode in (0, None):
            values["status"] = end["status"]
            values["reason"] = end.get("reason") or None
        elif end is not None and end.get("status") == "failed":
            values["status"], values["reason"] = "failed", end.get("reason") or runner.exit_reason(returncode)
        else:
            if restarted:
                what = "the server restarted while the job was running and its worker process is gone"
            elif returncode is None:
                what = "the worker process ended without reporting an end"
            else:
                what = runner.exit_reason(returncode)
            tail = runner.log_tail(job.out_dir, lines=3) if returncode and returncode > 0 else ""
            last = tail.strip().splitlines()[-1] if tail.strip() else ""
            values["status"] = "failed"
            values["reason"] = f"{what} at step {p.step}; {ckpt}" + (f" (last log line: {last})" if last else "")
        if values["status"] == "cancelled" and not values.get("reason"):
            values["reason"] = f"cancelled at step {p.step}; {ckpt}"
        if values["status"] == "finished":
            # publish before the status changes, so a job seen as finished always has its model in the pickers
            values.update(self._publish(job, p))
        if not self.store.update(job.id, expect=("running",), **values):
            return
        self._last_step.pop(job.id, None)
        if values["status"] == "finished" and job.spec.get("remove_data"):
            others = [str(j.spec.get("data") or "") for j in self.store.list(statuses=("queued", "running"))]
            if release_upload(str(job.spec.get("data") or ""), others):
                log.info("removed the uploaded data of finished job %s", job.id)

    def _sweep(self) -> None:
        """Remove uploads that no job uses and that nobody touched for a day."""
        self._swept = time.time()
        used = [str(j.spec.get("data") or "") for j in self.store.list(limit=100_000)]
        for name in sweep_uploads(used):
            log.info("removed unused uploaded data %s", name)

    def _publish(self, job: JobRecord, p) -> dict:  # noqa: ANN001
        """Copy the finished model into the checkpoints folder; the job fields to record (published or reason)."""
        try:
            name = publish(job.out_dir, job.name, data_desc=job.data_desc, job_id=job.id,
                           command=runner.shell_command(job.args, job.out_dir),
                           val_metrics=p.vals[-1] if p.vals else None)
            return {"published": name}
        except (OSError, ValueError) as exc:
            log.warning("could not publish job %s: %s", job.id, exc)
            return {"reason": f"finished, but publishing the model failed: {exc}"}


_SCHEDULERS: dict[str, Scheduler] = {}
_SCHED_LOCK = threading.Lock()


def get_scheduler(start: bool = True) -> Scheduler:
    """The process-wide scheduler for the current ``MEDGAN_HOME`` (started on first use)."""
    key = str(medgan_home())
    with _SCHED_LOCK:
        sched = _SCHEDULERS.get(key)
        if sched is None:
            sched = _SCHEDULERS[key] = Scheduler(warm=warm_enabled())
    return sched.start() if start else sched
