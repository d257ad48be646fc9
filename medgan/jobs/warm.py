"""Pre-started ("warm") workers: one idle training process per free slot, so a job starts in about a second.

A cold start of ``python -m medgan train`` spends seconds importing torch and the optimiser machinery before
its first step. :class:`WarmPool` keeps, for each slot (``cpu``, ``cuda:<i>``) that no job holds, one
:mod:`medgan.jobs.warm_worker` process that has paid those costs and waits for a job on a pipe. Handing a job
over (:meth:`WarmPool.hand_off`) writes the same first log line as a cold start, records the process in the job
folder (``worker.json``, which :func:`medgan.jobs.runner.pid_is_worker` checks), then sends the arguments; from
then on the process is that job's worker (same log, own process group, same STOP-file cancel). The slot gets a
new warm worker once it is free again, so a replacement never competes with a running job for the CPU.

``MEDGAN_WARM_WORKERS=0`` turns this off (every job starts cold). A warm worker that cannot take the job (it
died, its pipe is closed) is replaced by a cold start, so a job never depends on one.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from medgan.jobs import runner

log = logging.getLogger(__name__)

WARM_ENV = "MEDGAN_WARM_WORKERS"
WORKER_ENTRY: list[str] = ["-m", "medgan.jobs.warm_worker"]
RETRY_S = 60.0  # after a warm worker died without taking a job, wait this long before starting another


def warm_enabled() -> bool:
    """False when ``MEDGAN_WARM_WORKERS`` is 0 / false / no / off (default: on)."""
    return os.environ.get(WARM_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass
class WarmWorker:
    """An idle worker process for one slot; ``ready_file`` holds its pid once its imports are done."""

    slot: str
    proc: subprocess.Popen
    ready_file: Path
    started: float

    @property
    def ready(self) -> bool:
        return self.ready_file.exists()


class WarmPool:
    """The idle workers of one app process, by slot. Not thread-safe: the scheduler calls it under its lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._workers: dict[str, WarmWorker] = {}
        self._failed_at: dict[str, float] = {}

    def status(self) -> dict[str, str]:
        """``{slot: "ready" | "starting"}`` for the live idle workers."""
        self._reap()
        return {s: "ready" if w.ready else "starting" for s, w in self._workers.items()}

    def worker(self, slot: str) -> WarmWorker | None:
        """The live idle worker of ``slot``, if any."""
        self._reap()
        return self._workers.get(slot)

    def fill(self, slots: list[str]) -> None:
        """Start a warm worker for each of ``slots`` that has none (and did not just fail)."""
        self._reap()
        for slot in slots:
            if slot in self._workers or time.time() - self._failed_at.get(slot, 0.0) < RETRY_S:
                continue
            try:
                self._workers[slot] = self._spawn(slot)
            except OSError as exc:
                log.warning("could not start a warm worker for %s: %s", slot, exc)
                self._failed_at[slot] = time.time()

    def _spawn(self, slot: str) -> WarmWorker:
        self.folder.mkdir(parents=True, exist_ok=True)
        tag = slot.replace(":", "-")
        ready = self.folder / f"{tag}-{secrets.token_hex(4)}.ready"
        with open(self.folder / f"{tag}.log", "ab") as logf:
            proc = subprocess.Popen([sys.executable, *WORKER_ENTRY, "--ready", str(ready)], cwd=runner.PROJECT_ROOT,
                                    env=runner.worker_env(slot), stdin=subprocess.PIPE, stdout=logf,
                                    stderr=subprocess.STDOUT, process_group=0)
        log.info("started a warm worker for %s (pid %d)", slot, proc.pid)
        return WarmWorker(slot, proc, ready, time.time())

    def _reap(self) -> None:
        for slot, w in list(self._workers.items()):
            rc = w.proc.poll()
            if rc is not None:
                log.warning("the warm worker for %s (pid %d) exited with code %s before taking a job; see %s",
                            slot, w.proc.pid, rc, self.folder / f"{slot.replace(':', '-')}.log")
                del self._workers[slot]
                w.ready_file.unlink(missing_ok=True)
                self._failed_at[slot] = time.time()

    def hand_off(self, slot: str, args: list[str], out_dir: str | Path, resume: bool = False
                 ) -> subprocess.Popen | None:
        """Give the job to the idle worker of ``slot``; its Popen, or None when there is none or it cannot take
        the job (start the job cold then)."""
        w = self.worker(slot)
        if w is None:
            return None
        del self._workers[slot]
        out = runner.prepare_out(args, out_dir, resume)
        full = [*args, "--out", str(out)] + (["--resume"] if resume else [])
        try:
            runner.record_worker(out, w.proc.pid)
            assert w.proc.stdin is not None
            w.proc.stdin.write((json.dumps({"args": full, "out": str(out)}) + "\n").encode())
            w.proc.stdin.close()
        except (OSError, ValueError) as exc:
            log.warning("the warm worker for %s could not take job %s (%s); starting it cold", slot, out, exc)
            (out / runner.IDENTITY_NAME).unlink(missing_ok=True)
            self._stop(w)
            return None
        return w.proc

    def close(self) -> None:
        """Let every idle worker go (it exits when its pipe closes)."""
        for w in self._workers.values():
            self._stop(w)
        self._workers.clear()

    @staticmethod
    def _stop(w: WarmWorker) -> None:
        try:
            if w.proc.stdin is not None and not w.proc.stdin.closed:
                w.proc.stdin.close()
        except OSError:
            pass
        w.ready_file.unlink(missing_ok=True)
