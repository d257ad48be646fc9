"""Run the retraining recipe: train every row of :data:`medgan.recipes.table.RECIPES` under one profile (each as
its own ``python -m medgan train`` process, ``profile.jobs`` at once, time-boxed), export each run
(:func:`medgan.training.export.export_run`), add the hardware and wall time to its card, run the quality reports
on the new checkpoints, and decide which new checkpoint beats the installed one.

Output folder: ``runs/<name>/`` (training runs), ``logs/<name>.log``, ``checkpoints/<name>.safetensors|.json``
(the new cards), ``quality/`` (report output), ``summary.json``.

"Beats": a generation checkpoint passes more of the bars of ``benchmarks/generation_quality.py`` (both at
:data:`GENERATION_QUALITY_SIZE`, each drawn through the installed one's renderer) than the installed one, or as
many with a lower FD-medgan; a conditional one has a higher value of its recipe's primary
test metric (PSNR, PSNR in the hole, mean Dice), both measured on the same held-out test slices by the export.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medgan.recipes.table import RECIPES, Profile, Recipe, planned_steps, train_args

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent.parent
# the size at which new and installed generation checkpoints are measured (the bars' headline size; a model that
# outputs more, through its renderer, is area-reduced to it)
GENERATION_QUALITY_SIZE = 128


@dataclass
class Outcome:
    """What happened to one recipe row."""

    name: str
    task: str
    planned_steps: int
    steps: int = 0
    status: str = "not run"  # finished | time-boxed | failed | not run
    train_s: float = 0.0
    hardware: str = ""
    metric: str = ""
    new: float | None = None
    installed: float | None = None
    beats: bool = False
    replaced: bool = False
    report_failed: str = ""  # the quality report that measured it and exited with an error
    detail: dict[str, Any] = field(default_factory=dict)


def _env(profile: Profile) -> dict[str, str]:
    env = dict(os.environ)
    if profile.threads:
        env["OMP_NUM_THREADS"] = str(profile.threads)
        env["MKL_NUM_THREADS"] = str(profile.threads)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _last_event(run: Path, kind: str) -> dict[str, Any]:
    path = run / "metrics.jsonl"
    found: dict[str, Any] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        if ev.get("type") == kind:
            found = ev
    return found


def train_many(rows: list[Recipe], profile: Profile, out: Path, python: str = sys.executable) -> dict[str, Outcome]:
    """Train ``rows`` as separate processes, ``profile.jobs`` at once; a run still going ``train_seconds`` after
    its start gets ``OUT/STOP`` (it finishes its step, checkpoints and exits), and is killed 120 s later."""
    outcomes = {r.name: Outcome(r.name, r.task, planned_steps(r, profile)) for r in rows}
    (out / "logs").mkdir(parents=True, exist_ok=True)
    queue = list(rows)
    active: dict[str, tuple[subprocess.Popen, float, Any]] = {}
    env = _env(profile)
    while queue or active:
        while queue and len(active) < max(1, profile.jobs):
            r = queue.pop(0)
            run = out / "runs" / r.name
            args = train_args(r, profile, str(run))
            log = open(out / "logs" / f"{r.name}.log", "w")  # noqa: SIM115 (closed when the process ends)
            cmd = [python, "-m", "medgan", "train", *args]
            log.write(" ".join(cmd) + "\n")
            log.flush()
            logger.info("train %s: %s", r.name, " ".join(args))
            active[r.name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT)),
                              time.time(), log)
        time.sleep(0.5)
        for name, (proc, t0, log) in list(active.items()):
            run = out / "runs" / name
            elapsed = time.time() - t0
            if proc.poll() is None:
                if profile.train_seconds and elapsed > profile.train_seconds and not (run / "STOP").exists():
                    run.mkdir(parents=True, exist_ok=True)
                    (run / "STOP").write_text("time box\n")
                if profile.train_seconds and elapsed > profile.train_seconds + 120:
                    proc.kill()
                continue
            log.close()
            o = outcomes[name]
            o.train_s = round(elapsed, 1)
            end, start = _last_event(run, "end"), _last_event(run, "start")
            o.hardware = str(start.get("device_name", ""))
            o.steps = int(_last_event(run, "checkpoint").get("step", 0))
            o.status = {"finished": "finished", "cancelled": "time-boxed"}.get(end.get("status"), "failed")
            if proc.returncode != 0 and o.status != "time-boxed":
                o.status = "failed"
            del active[name]
    return outcomes


def export_all(outcomes: dict[str, Outcome], out: Path, profile: Profile) -> None:
    """Export every trained run into ``out/checkpoints`` and record the hardware, wall time and recipe in its
    card (``training_hardware``, ``training_wall_s``, ``recipe``)."""
    from medgan.atomic import atomic_write_json
    from medgan.training.export import export_run

    dest = out / "checkpoints"
    dest.mkdir(parents=True, exist_ok=True)
    for o in outcomes.values():
        run = out / "runs" / o.name
        if o.status == "failed" or not (run / "model.json").exists():
            o.status = "failed"
            continue
        weights = export_run(run, dest)
        card_path = weights.with_suffix(".json")
        card = json.loads(card_path.read_text())
        card["training_hardware"] = {"device": o.hardware or profile.device, "profile": profile.name}
        card["training_wall_s"] = o.train_s
        card["recipe"] = f"python -m medgan train-all --profile {profile.name}"
        renderer = _installed_renderer(o.name) if card.get("task") == "generation" else None
        if renderer and not card.get("renderer"):  # drawn as the installed one is, so the two compare like for like
            card["renderer"] = renderer
        atomic_write_json(card_path, card)


def _installed_renderer(name: str) -> str | None:
    """The renderer of the installed generation checkpoint called ``name`` (None when there is none)."""
    from medgan.inference import find_card

    try:
        return find_card(name).renderer
    except ValueError:  # nothing installed under that name
        return None


def run_quality(out: Path, profile: Profile, names: list[str], python: str = sys.executable) -> dict[str, Any]:
    """``benchmarks/generation_quality.py`` on the new generation checkpoints and the installed ones of the same
    names (one run: the real-slice reference is computed once; JSON kept), and ``benchmarks/quality.py`` on the new
    conditional ones (text report), the two at once; returns the generation figures as
    ``{"new": {...}, "installed": {...}}`` and, under ``"failed"``, each report that exited with an error
    (``{"conditional": "quality/conditional.txt (exit 1)"}``)."""
    qdir = out / "quality"
    qdir.mkdir(parents=True, exist_ok=True)
    env = _env(profile)
    gen = [n for n in names if n.endswith("_generation")]
    procs: list[tuple[subprocess.Popen, Any, Path]] = []

    def start(cmd: list[str], log: Path) -> None:
        f = open(log, "w")  # noqa: SIM115 (closed below)
        procs.append((subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT)), f, log))

    if gen:
        start([python, str(ROOT / "benchmarks" / "generation_quality.py"), "--samples", str(profile.quality_samples),
               "--seeds", str(profile.quality_seeds), "--auc-epochs", str(profile.auc_epochs), "--names", *gen,
               "--size", str(GENERATION_QUALITY_SIZE),
               "--checkpoints", str(out / "checkpoints"), "--json", str(qdir / "generation_new.json"),
               "--installed-json", str(qdir / "generation_installed.json")], qdir / "generation.txt")
    cond = [n for n in names if not n.endswith("_generation")]
    if cond:
        from medgan.recipes.table import recipe

        tasks = sorted({recipe(n).task for n in cond})
        start([python, str(ROOT / "benchmarks" / "quality.py"), "--tasks", ",".join(tasks),
               "--max-slices", str(profile.quality_max_slices), "--threads", str(profile.quality_threads),
               "--models", ",".join(cond),
               "--checkpoints", str(out / "checkpoints")], qdir / "conditional.txt")
    failed: dict[str, str] = {}
    for proc, f, log in procs:
        if proc.wait() != 0:
            failed[log.stem] = f"{log.relative_to(out)} (exit {proc.returncode})"  # generation | conditional
            logger.error("quality report failed: %s", failed[log.stem])
        f.close()
    found: dict[str, Any] = {"new": {}, "installed": {}}
    for which in ("new", "installed"):
        path = qdir / f"generation_{which}.json"
        if path.exists():
            found[which] = json.loads(path.read_text())
    found["failed"] = failed
    return found


def _generation_key(res: dict[str, Any] | None) -> tuple[int, float] | None:
    if not res:
        return None
    return int(res.get("bars_passed", 0)), -float(res.get("fd_medgan_vs_train", float("inf")))


def decide(outcomes: dict[str, Outcome], out: Path, quality: dict[str, Any]) -> None:
    """Fill ``metric`` / ``new`` / ``installed`` / ``beats`` of each outcome (see the module docstring); a model
    whose quality report failed (``quality["failed"]``) says so and beats nothing."""
    from medgan.inference import find_card
    from medgan.recipes.table import recipe

    failed = quality.get("failed", {})
    for o in outcomes.values():
        if o.status == "failed":
            continue
        r = recipe(o.name)
        o.report_failed = failed.get("generation" if r.task == "generation" else "conditional", "")
        if r.task == "generation":
            new, old = quality["new"].get(o.name), quality["installed"].get(o.name)
            o.metric = "bars passed (FD-medgan)"
            o.new = None if new is None else float(new["bars_passed"])
            o.installed = None if old is None else float(old["bars_passed"])
            o.detail = {"new": new, "installed": old}
            kn, ko = _generation_key(new), _generation_key(old)
            o.beats = kn is not None and (ko is None or kn > ko) and not o.report_failed
            continue
        metric = r.primary[0]
        card = json.loads((out / "checkpoints" / f"{o.name}.json").read_text())
        o.metric = f"test {metric}"
        o.new = (card.get("metrics", {}).get("test") or {}).get(metric)
        try:
            o.installed = (find_card(o.name).metrics.get("test") or {}).get(metric)
        except ValueError:
            o.installed = None
        o.beats = o.new is not None and (o.installed is None or o.new > o.installed) and not o.report_failed


def replace_installed(outcomes: dict[str, Outcome], out: Path, dest: Path | None = None) -> None:
    """Copy each beating checkpoint (weights + card) over the bundled one in ``dest`` (default ``checkpoints/``)."""
    dest = dest or ROOT / "checkpoints"
    for o in outcomes.values():
        if not o.beats:
            continue
        for suffix in (".safetensors", ".json"):
            shutil.copyfile(out / "checkpoints" / f"{o.name}{suffix}", dest / f"{o.name}{suffix}")
        o.replaced = True


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def format_summary(outcomes: dict[str, Outcome], profile: Profile, wall_s: float) -> str:
    """The table ``train-all`` prints: per model status, steps done / planned, training seconds, the deciding
    metric new vs installed, the verdict, and the generation bars."""
    lines = [f"train-all --profile {profile.name} ({profile.summary}): {wall_s:.0f} s wall time",
             f"{'model':22s} {'status':10s} {'steps':>11s} {'train s':>8s}  {'metric':26s} {'new':>8s} "
             f"{'installed':>9s}  verdict"]
    for o in outcomes.values():
        verdict = "REPLACED" if o.replaced else ("beats installed" if o.beats else "keeps installed")
        lines.append(f"{o.name:22s} {o.status:10s} {o.steps:>5d}/{o.planned_steps:<5d} {o.train_s:8.1f}  "
                     f"{o.metric:26s} {_fmt(o.new):>8s} {_fmt(o.installed):>9s}  {verdict}")
        if o.report_failed:
            lines.append(f"    quality report FAILED: {o.report_failed}")
        new = (o.detail or {}).get("new") or {}
        if new.get("bars"):
            lines.append("    bars: " + ", ".join(f"{k} {'PASS' if v else 'MISS'}" for k, v in new["bars"].items()))
    return "\n".join(lines)


def run_all(profile: Profile, out: Path, only: list[str] | None = None, replace: bool = False,
            quality: bool = True, python: str = sys.executable) -> dict[str, Outcome]:
    """The whole recipe under ``profile`` into ``out``; returns the outcome per checkpoint name."""
    rows = [r for r in RECIPES if not only or r.name in only]
    unknown = sorted(set(only or []) - {r.name for r in RECIPES})
    if unknown:
        raise ValueError(f"no recipe for {', '.join(unknown)}; valid: {', '.join(r.name for r in RECIPES)}")
    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    outcomes = train_many(rows, profile, out, python=python)
    export_all(outcomes, out, profile)
    names = [o.name for o in outcomes.values() if o.status != "failed"]
    found = run_quality(out, profile, names, python=python) if quality and names else {"new": {}, "installed": {}}
    decide(outcomes, out, found)
    if replace:
        replace_installed(outcomes, out)
    wall = time.time() - t0
    summary = format_summary(outcomes, profile, wall)
    (out / "summary.json").write_text(json.dumps({"profile": profile.name, "wall_s": round(wall, 1),
                                                  "models": {k: asdict(v) for k, v in outcomes.items()}},
                                                 indent=2, default=str) + "\n")
    sys.stdout.write(summary + "\n")  # the command's report (stdout), as the export command writes its own
    return outcomes
