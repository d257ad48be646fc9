"""Launch a training job as its own OS process and talk to it (cancel, liveness).

The worker is ``python -m medgan train <args> --out <dir> [--resume]``, the same command as in a terminal,
in its own process group (so a Ctrl-C or a stop of the app does not reach it, and it outlives a restart; it
stays in the app's session, so the kernel's per-session CPU scheduling treats it like a terminal run),
with stdout + stderr appended to ``<dir>/train.log``. Cancelling writes ``<dir>/STOP``; the loop finishes its step,
writes a checkpoint, records ``end: cancelled`` and exits 0.

A job can also be handed to a pre-started worker (:mod:`medgan.jobs.warm`) that runs the same command in an
already-started interpreter; its command line does not name the job, so ``<dir>/worker.json`` records which
process (pid and start time) adopted the job, and :func:`pid_is_worker` accepts either proof.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import medgan
from medgan.atomic import atomic_write_json

PROJECT_ROOT = Path(medgan.__file__).resolve().parent.parent
LOG_NAME = "train.log"
IDENTITY_NAME = "worker.json"  # {"pid", "start"} of the worker process that runs the job in this folder
TRAIN_ENTRY: list[str] = ["-m", "medgan", "train"]  # after the interpreter: the worker's entry point


def train_command(args: list[str], out_dir: str | Path, resume: bool = False) -> list[str]:
    """The worker's argv."""
    cmd = [sys.executable, *TRAIN_ENTRY, *args, "--out", str(out_dir)]
    if resume:
        cmd.append("--resume")
    return cmd


def shell_command(args: list[str], out_dir: str | Path, resume: bool = False) -> str:
    """The same command as a terminal user would type it."""
    cmd = ["python", "-m", "medgan", "train", *args, "--out", str(out_dir)] + (["--resume"] if resume else [])
    return shlex.join(cmd)


def worker_env(slot: str = "cpu", extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker on ``slot`` (``cpu`` or ``cuda:<i>``): unbuffered output, the project importable,
    only the slot's GPU visible."""
    env = os.environ.copy()
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if slot.startswith("cuda:"):
        env["CUDA_VISIBLE_DEVICES"] = slot.split(":", 1)[1]
    env.update(extra_env or {})
    return env


def prepare_out(args: list[str], out_dir: str | Path, resume: bool = False) -> Path:
    """Make the job folder ready for a new worker: no STOP file, no earlier worker identity, the command as the
    log's first line."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "STOP").unlink(missing_ok=True)
    (out / IDENTITY_NAME).unlink(missing_ok=True)
    with open(out / LOG_NAME, "ab") as logf:
        logf.write(("$ " + shell_command(args, out, resume) + "\n").encode())
    return out


def launch(args: list[str], out_dir: str | Path, *, resume: bool = False, slot: str = "cpu",
           extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the worker for a job in ``out_dir`` on ``slot`` (``cpu`` or ``cuda:<i>``); returns the Popen."""
    out = prepare_out(args, out_dir, resume)
    cmd = train_command(args, out, resume)
    with open(out / LOG_NAME, "ab") as logf:
        return subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=worker_env(slot, extra_env), stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=subprocess.STDOUT, process_group=0)


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), or None where it cannot be read."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[19]
    except (OSError, IndexError):
        return None


def record_worker(out_dir: str | Path, pid: int) -> None:
    """Write ``<dir>/worker.json``: the process ``pid`` (and its start time, so a reused pid never matches) runs the
    job in ``out_dir``."""
    atomic_write_json(Path(out_dir) / IDENTITY_NAME, {"pid": int(pid), "start": process_start(pid)})


def _recorded_worker(pid: int, out_dir: str | Path) -> bool:
    try:
        rec = json.loads((Path(out_dir) / IDENTITY_NAME).read_text())
    except (OSError, ValueError):
        return False
    return rec.get("pid") == pid and rec.get("start") is not None and rec.get("start") == process_start(pid)


def pid_is_worker(pid: int | None, out_dir: str | Path) -> bool:
    """True when ``pid`` is alive and is the training worker writing into ``out_dir`` (not a reused pid): its command
    line names the folder, or the folder's ``worker.json`` names the process (pid and start time)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust the pid
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # a zombie is dead
        return False
    if str(out_dir).encode() in cmdline and b"train" in cmdline:
        return True
    return _recorded_worker(pid, out_dir)  # a pre-started worker that adopted the job


def request_stop(pid: int | None, out_dir: str | Path, send_sigterm: bool = False) -> None:
    """Ask the worker to stop after its current step: the STOP file (safe at any moment, even while the
    worker is still importing), and SIGTERM only when asked (the loop handles it once it runs; before that a
    SIGTERM would kill the process)."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "STOP").touch()
    if send_sigterm and pid and pid_is_worker(pid, out_dir):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def exit_reason(returncode: int | None) -> str:
    """Plain words for a worker's exit status."""
    if returncode is None:
        return "the worker process disappeared"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the worker process was killed by {name}"
    return f"the worker process exited with code {returncode}"


def log_tail(out_dir: str | Path, lines: int = 40, max_bytes: int = 64_000) -> str:
    """The last ``lines`` lines of the job's log (carriage-return progress bars collapsed)."""
    path = Path(out_dir) / LOG_NAME
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    out = []
    for line in data.split("\n"):
        parts = [p for p in line.split("\r") if p.strip()]
        out.append(parts[-1] if parts else "")
    while out and not out[-1]:
        out.pop()
    return "\n".join(out[-lines:])
