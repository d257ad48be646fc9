"""Pre-started workers: a job handed to one runs the real training command, is cancelled by its STOP file,
is re-adopted by a restarted scheduler (its command line does not name the job: ``worker.json`` does), falls
back to a cold start when the warm worker is gone, and an idle warm worker never outlives its app process.
Real processes, a real SQLite job store, real 32 px training on phantoms."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from medgan.jobs import runner
from medgan.jobs.scheduler import Scheduler
from medgan.jobs.spec import JobSpec
from medgan.jobs.store import JobStore
from medgan.jobs.warm import WARM_ENV, warm_enabled

ROOT = Path(__file__).resolve().parent.parent


def _sched(tmp_path: Path, warm: bool) -> Scheduler:
    store = JobStore(create_engine(f"sqlite:///{tmp_path / 'jobs.db'}"))
    return Scheduler(store=store, home=tmp_path, gpus=[], warm=warm)


def _spec(steps: int, name: str) -> JobSpec:
    return JobSpec(task="synthesis", arch="pix2pix", data="phantoms", steps=steps, batch_size=2, image_size=32,
                   device="cpu", name=name, ckpt_every=1)


def _until(cond, timeout: float, what: str, tick=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tick is not None:
            tick()
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z"


def test_the_switch_reads_the_environment(monkeypatch):
    monkeypatch.delenv(WARM_ENV, raising=False)
    assert warm_enabled()
    for off in ("0", "false", "off", "no"):
        monkeypatch.setenv(WARM_ENV, off)
        assert not warm_enabled()


def test_identity_file_proves_the_worker_and_refuses_a_reused_pid(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not runner.pid_is_worker(sleeper.pid, tmp_path)  # neither its command line nor a record names it
        runner.record_worker(tmp_path, sleeper.pid)
        assert runner.pid_is_worker(sleeper.pid, tmp_path)
        rec = json.loads((tmp_path / runner.IDENTITY_NAME).read_text())
        rec["start"] = str(int(rec["start"]) - 1)  # the same pid, but an earlier process: a reused pid
        (tmp_path / runner.IDENTITY_NAME).write_text(json.dumps(rec))
        assert not runner.pid_is_worker(sleeper.pid, tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    runner.record_worker(tmp_path, sleeper.pid)
    assert not runner.pid_is_worker(sleeper.pid, tmp_path)  # gone


def test_a_warm_worker_runs_the_job_is_cancelled_and_re_adopted_after_a_restart(tmp_path):
    first = _sched(tmp_path, warm=True)
    try:
        first.tick()  # starts the CPU slot's warm worker
        warm = _until(lambda: (w := first.warm.worker("cpu")) and w.ready and w, 120, "the warm worker")
        job = first.submit(_spec(400, "warm_job"))
        first.tick()
        row = first.store.get(job.id)
        assert row.status == "running" and row.pid == warm.proc.pid  # handed over, not started anew
        out = Path(row.out_dir)
        assert json.loads((out / runner.IDENTITY_NAME).read_text())["pid"] == warm.proc.pid
        assert runner.pid_is_worker(row.pid, out)
        assert str(out) not in Path(f"/proc/{row.pid}/cmdline").read_text()  # proof is worker.json, not argv
        _until(lambda: first.store.get(job.id).step >= 2, 120, "training steps", tick=first.tick)

        # the app restarts: a new scheduler finds the job running and adopts its worker
        second = _sched(tmp_path, warm=False)
        second.recover()
        assert second.store.get(job.id).status == "running"
        second.cancel(job.id)
        assert (out / "STOP").exists()
        _until(lambda: second.store.get(job.id).status != "running", 120, "the cancel", tick=second.tick)
        done = second.store.get(job.id)
        assert done.status == "cancelled" and (out / "train_state.safetensors").exists()  # resumable
        log = (out / runner.LOG_NAME).read_text()
        assert log.startswith("$ python -m medgan train --task synthesis") and f"--out {out}" in log.splitlines()[0]
        assert f"training cancelled: {out}" in log  # the command's own output, in the job's log
        events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert events[0]["type"] == "start" and (events[-1]["type"], events[-1]["status"]) == ("end", "cancelled")
        first.store.update(job.id, status="cancelled")  # keep the first scheduler from reaping it again
        assert first.warm.worker("cpu") is None  # the slot's warm worker was used up
    finally:
        first.stop()


def test_a_dead_warm_worker_falls_back_to_a_cold_start(tmp_path):
    sched = _sched(tmp_path, warm=True)
    try:
        sched.tick()
        warm = sched.warm.worker("cpu")
        assert warm is not None
        os.kill(warm.proc.pid, signal.SIGKILL)
        warm.proc.wait()
        job = sched.submit(_spec(2, "cold_job"))
        sched.tick()
        row = sched.store.get(job.id)
        assert row.pid != warm.proc.pid
        assert not (Path(row.out_dir) / runner.IDENTITY_NAME).exists()
        assert runner.pid_is_worker(row.pid, row.out_dir)  # a cold worker: its command line names the folder
        _until(lambda: sched.store.get(job.id).status != "running", 180, "the job", tick=sched.tick)
        assert sched.store.get(job.id).status == "finished", sched.store.get(job.id).reason
        assert sched.warm.worker("cpu") is None  # a worker that died is not replaced at once
    finally:
        sched.stop()


def test_an_idle_warm_worker_exits_with_its_app_process(tmp_path):
    code = ("import sys, time; from pathlib import Path; from medgan.jobs.warm import WarmPool\n"
            "pool = WarmPool(Path(sys.argv[1])); pool.fill(['cpu'])\n"
            "print(pool.worker('cpu').proc.pid, flush=True)\n"
            "import os; os._exit(0)\n")  # an app that dies without closing anything
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "warm")], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True)
    pid = int(out.stdout.split()[0])
    _until(lambda: not _alive(pid), 120, "the orphaned warm worker to exit")
    assert not list((tmp_path / "warm").glob("*.ready"))


def test_a_job_in_a_warm_worker_survives_an_app_restart_and_is_cancelled_by_the_new_app(tmp_path):
    """The real app (``python app.py``): the job runs in the pre-started worker, the app stops, the worker goes on,
    a new app on the same home re-adopts it and cancels it through the API."""
    gradio_client = pytest.importorskip("gradio_client")
    from tests.live_server import LiveApp

    env = {"MEDGAN_HOME": str(tmp_path / "home"), "MEDGAN_LOG_LEVEL": "WARNING", "MEDGAN_AUTH": "",
           "MEDGAN_ADMIN_PASSWORD": "", "SPACE_ID": "", "MEDGAN_WARM_WORKERS": "1"}
    warm = tmp_path / "home" / "warm"
    with LiveApp(env=env, timeout=180, warm_workers=True) as app:
        c = gradio_client.Client(app.url, verbose=False)
        _until(lambda: list(warm.glob("cpu-*.ready")), 120, "the warm worker")
        ready_pid = int(next(warm.glob("cpu-*.ready")).read_text())
        _, job_id = c.predict("synthesis", "pix2pix", "denoise", "(from scratch)", "phantoms", None, None, 400, 2,
                              2e-4, 2e-4, 100, 1, 32, False, False, "cpu", 0, "restart_job", 0,
                              api_name="/train_start")
        s = _until(lambda: (st := c.predict(job_id, api_name="/train_status"))["step"] >= 2 and st, 120, "steps")
        assert s["pid"] == ready_pid and s["status"] == "running"
    assert _alive(ready_pid)  # the app is gone, the job's worker is not
    with LiveApp(env=env, timeout=180, warm_workers=True) as app:
        c = gradio_client.Client(app.url, verbose=False)
        s = c.predict(job_id, api_name="/train_status")
        assert s["status"] == "running" and s["pid"] == ready_pid  # re-adopted, not failed
        assert "Stopping" in c.predict(job_id, api_name="/train_cancel")
        s = _until(lambda: (st := c.predict(job_id, api_name="/train_status"))["status"] != "running" and st, 120,
                   "the cancel")
        assert s["status"] == "cancelled" and s["has_checkpoint"]
    _until(lambda: not _alive(ready_pid), 30, "the worker to exit")
