"""A pre-started training worker: ``python -m medgan.jobs.warm_worker --ready FILE``.

Started by the app (:mod:`medgan.jobs.warm`) before any job needs it, it pays the start-up costs of a training
process once: importing torch, the training modules and the optimiser machinery (the first ``torch.optim.Adam``
imports ``torch._dynamo``, seconds on a small CPU). It then writes its pid to ``FILE`` and waits for one line
of JSON on its standard input, ``{"args": [...], "out": DIR}``, where ``args`` is everything after
``python -m medgan train``. From then on it is that command: its output is appended to ``DIR/train.log``, its
standard input is closed, and ``medgan.cli.main(["train", *args])`` runs with the same ``sys.argv`` a terminal
run would have; the exit status is the command's.

Idle, it exits when its standard input closes (the app stopped or gave it back) or its parent process is gone,
so no idle worker outlives the app. A job it adopted keeps running after the app stops, like any worker.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import sys
from pathlib import Path

log = logging.getLogger(__name__)

POLL_S = 1.0  # how often an idle worker checks that its parent is still there


def preload() -> None:
    """Import what every training run imports and create one Adam optimiser (its first use imports the
    compiler stack). A failure is only logged: the job's own run then reports it in its log."""
    try:
        import torch

        import medgan.cli  # noqa: F401
        import medgan.training.cli  # noqa: F401
        import medgan.training.export  # noqa: F401
        import medgan.training.loop  # noqa: F401

        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.Adam([p], lr=1e-3)
        p.grad = torch.zeros(1)
        opt.step()
        torch.optim.RMSprop([p], lr=1e-3)
    except Exception:  # noqa: BLE001 - the job's run shows the same error where the user sees it
        log.exception("preloading the training modules failed")


def read_job(fd: int = 0, parent: int | None = None) -> dict | None:
    """Block until one line of JSON arrives on ``fd``; None when it closes or the parent process goes away."""
    parent = os.getppid() if parent is None else parent
    buf = b""
    while True:
        ready, _, _ = select.select([fd], [], [], POLL_S)
        if not ready:
            if os.getppid() != parent:
                return None
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        buf += chunk
        if b"\n" in buf:
            msg = json.loads(buf.split(b"\n", 1)[0])
            return msg if isinstance(msg, dict) and isinstance(msg.get("args"), list) else None


def adopt(out: Path) -> None:
    """Become the job's process: output appended to ``out/train.log``, no standard input."""
    out.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    log_fd = os.open(out / "train.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.dup2(null_fd, 0)
    os.close(log_fd)
    os.close(null_fd)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m medgan.jobs.warm_worker", description=__doc__.split("\n\n")[0])
    p.add_argument("--ready", required=True, help="file that receives this process's pid once it is ready")
    a = p.parse_args(argv)
    parent = os.getppid()
    preload()
    ready = Path(a.ready)
    ready.write_text(str(os.getpid()))
    try:
        msg = read_job(0, parent)
    finally:
        ready.unlink(missing_ok=True)
    if msg is None:
        return 0
    args = [str(x) for x in msg["args"]]
    adopt(Path(msg["out"]))
    from medgan import __main__ as entry
    from medgan.cli import main as cli_main

    sys.argv = [entry.__file__, "train", *args]
    try:
        return cli_main(["train", *args])
    except SystemExit as exc:  # argparse errors exit like the command would
        return exc.code if isinstance(exc.code, int) else 1


if __name__ == "__main__":
    sys.exit(main())
