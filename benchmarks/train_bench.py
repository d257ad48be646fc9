"""Overhead of training through the job system vs the command line, and Start → first progress latency.

Runs the same ``python -m medgan train`` job twice per round: once directly from the command line, once
started through the live app's ``/train_start`` endpoint (the app's queue thread launches the worker; a
client polls ``/train_status`` every second like an open browser tab). Throughput is images/s measured from the
run's own ``metrics.jsonl`` step records (warm-up steps excluded). Latencies are measured from the Start call
to: the job holding a worker pid (queue), the worker's first record (the page shows device and total steps),
and the first training step (loss curve and it/s appear). Jobs start in the slot's pre-started worker
(:mod:`medgan.jobs.warm`); each Start waits until that worker is ready, as it is when a user presses Start on an
idle server, and says how long it waited. ``--no-warm`` runs the app with ``MEDGAN_WARM_WORKERS=0`` (every job
starts a new process) for a before/after comparison under the same load.

    python benchmarks/train_bench.py [--steps 30] [--rounds 3] [--arch pix2pix] [--image-size 64] [--no-warm]

Targets: ≤ 5 % fewer images/s through the job system; ≤ 3 s (median) from Start to the first training step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live_server import LiveApp  # noqa: E402

WARMUP = 3
STEP_TARGET_S = 3.0


def imgs_per_s(metrics: Path, batch: int) -> float:
    """Images/s over the step records after the warm-up steps (wall clock between step records)."""
    recs = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    steps = [r for r in recs if r.get("type") == "step"]
    if len(steps) <= WARMUP + 1:
        raise RuntimeError(f"too few steps in {metrics} to measure throughput")
    a, b = steps[WARMUP], steps[-1]
    return (b["step"] - a["step"]) * batch / (b["time"] - a["time"])


def cli_args(a: argparse.Namespace, name: str) -> list[str]:
    """Exactly the arguments the job system gives the worker for the same form (same cadences, same seed)."""
    from medgan.jobs.spec import JobSpec, check_spec, train_args

    spec = JobSpec(task="synthesis", arch=a.arch, data="phantoms", steps=a.steps, batch_size=a.batch_size,
                   lr_g=2e-4, lr_d=2e-4, lambda_l1=100.0, n_critic=1, image_size=a.image_size, device="cpu",
                   seed=0, name=name, ckpt_every=a.steps)
    return train_args(check_spec(spec))


def run_cli(a: argparse.Namespace, out: Path) -> float:
    cmd = [sys.executable, "-m", "medgan", "train", *cli_args(a, out.name), "--out", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return imgs_per_s(out / "metrics.jsonl", a.batch_size)


def wait_warm(home: Path, timeout: float = 120.0) -> float | None:
    """Seconds spent waiting for the CPU slot's pre-started worker to be ready (None: none came)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if list((home / "warm").glob("cpu-*.ready")):
            return time.perf_counter() - t0
        time.sleep(0.1)
    return None


def run_job(a: argparse.Namespace, client, name: str) -> tuple[float, float, float, float]:
    t0 = time.perf_counter()
    _, job_id = client.predict("synthesis", a.arch, "denoise", "(from scratch)", "phantoms", None, None, a.steps,
                               a.batch_size, 2e-4, 2e-4, 100, 1, a.image_size, False, False, "cpu", 0, name,
                               a.steps, api_name="/train_start")
    t_pid = t_first = t_step = None
    while True:
        s = client.predict(job_id, api_name="/train_status")
        now = time.perf_counter() - t0
        if t_pid is None and s.get("pid"):
            t_pid = now
        if t_first is None and s["report"]["device"]:
            t_first = now
        if t_step is None and s["report"]["step"] >= 1:
            t_step = now
        if s["status"] not in ("queued", "running"):
            break
        time.sleep(0.05 if t_step is None else a.poll)
    if s["status"] != "finished":
        raise RuntimeError(f"job ended {s['status']}: {s['reason']}")
    expected = cli_args(a, name)
    if s["args"] != expected:
        raise RuntimeError(f"the job ran different arguments than the CLI run: {s['args']} != {expected}")
    return imgs_per_s(Path(s["out_dir"]) / "metrics.jsonl", a.batch_size), t_pid, t_first, t_step


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--arch", default="pix2pix")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--poll", type=float, default=1.0, help="status polling interval once training runs (s)")
    p.add_argument("--no-warm", action="store_true", help="no pre-started workers (MEDGAN_WARM_WORKERS=0)")
    a = p.parse_args()
    import gradio_client

    home = Path(tempfile.mkdtemp(prefix="medgan-train-bench-"))
    direct, jobs, lat = [], [], []
    env = {"MEDGAN_HOME": str(home), "MEDGAN_LOG_LEVEL": "WARNING", "MEDGAN_WARM_WORKERS": "0" if a.no_warm else "1"}
    with LiveApp(env=env, timeout=180, warm_workers=True) as app:
        client = gradio_client.Client(app.url, verbose=False)
        load = os.getloadavg()
        print(f"app ready in {app.startup_seconds:.1f} s; {a.rounds} round(s) of {a.steps} steps, {a.arch} "
              f"synthesis {a.image_size} px, batch {a.batch_size}, CPU, {os.cpu_count()} cores, "
              f"{'no pre-started workers' if a.no_warm else 'pre-started workers'}; load average "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

        def job(r: int) -> tuple[float, float, float, float]:
            if not a.no_warm:
                waited = wait_warm(home)
                print(f"round {r + 1}: " + ("no pre-started worker came within 120 s; the job starts cold"
                                            if waited is None else f"waited {waited:.1f} s for the pre-started worker"))
            return run_job(a, client, f"bench-{r}")

        for r in range(a.rounds):  # alternate the order so a change in background load hits both alike
            if r % 2:
                j, t_pid, t_first, t_step = job(r)
                d = run_cli(a, home / f"cli-{r}")
            else:
                d = run_cli(a, home / f"cli-{r}")
                j, t_pid, t_first, t_step = job(r)
            direct.append(d)
            jobs.append(j)
            lat.append((t_pid, t_first, t_step))
            print(f"round {r + 1}: CLI {d:.2f} img/s | job system {j:.2f} img/s | Start→worker pid {t_pid:.2f} s, "
                  f"→first record {t_first:.2f} s, →first step {t_step:.2f} s")
    d, j = statistics.median(direct), statistics.median(jobs)
    overhead = 100.0 * (d - j) / d
    first = statistics.median(x[1] for x in lat)
    step = statistics.median(x[2] for x in lat)
    print(f"median images/s: CLI {d:.2f}, job system {j:.2f} → {overhead:+.1f} % fewer through the job system "
          f"(target ≤ 5 %): {'OK' if overhead <= 5 else 'MISSED'}")
    load = os.getloadavg()
    print(f"median Start → first progress update (worker's first record: status, device, total): {first:.2f} s")
    print(f"median Start → first training step: {step:.2f} s (target ≤ {STEP_TARGET_S:.0f} s): "
          f"{'OK' if step <= STEP_TARGET_S else 'MISSED'}; load average at the end {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
