"""What the Train tab shows for a job, built from the database row and the run's folder (no Gradio here).

Loss curves (plotly), the validation table, a status summary in Markdown, the job list, and a JSON digest
for API clients. Everything is derived from persistent state, so any browser can re-attach at any time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from medgan.jobs import runner
from medgan.jobs.progress import Progress, read_progress
from medgan.jobs.store import JobRecord

CPU_WARNING = ("Training on the CPU is slow (tens of images per second at 64 px): keep steps and image size "
               "small for a demo, or run on a machine with a CUDA GPU.")


def fmt_duration(seconds: float | None) -> str:
    """``1 h 02 min``, ``3 min 05 s``, ``12 s``; an em dash when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def loss_figure(p: Progress, title: str = "") -> go.Figure:
    """One line per loss term against the training step."""
    fig = go.Figure()
    for key, series in sorted(p.losses.items()):
        fig.add_trace(go.Scatter(x=p.steps, y=series, mode="lines", name=key, connectgaps=True))
    fig.update_layout(title=title or "losses", xaxis_title="step", yaxis_title="loss", height=320,
                      margin={"l": 50, "r": 10, "t": 40, "b": 40}, legend={"orientation": "h", "y": -0.25},
                      template="plotly_white")
    if not p.steps:
        fig.add_annotation(text="waiting for the first step…", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    return fig


def val_table(p: Progress) -> pd.DataFrame:
    """Validation metrics, one row per evaluation (newest first)."""
    if not p.vals:
        return pd.DataFrame({"step": [], "metric": []})
    df = pd.DataFrame(p.vals[::-1])
    for col in df.columns:
        if col != "step" and pd.api.types.is_float_dtype(df[col]):
            df[col] = df[col].round(4)
    return df


def queue_position(job: JobRecord, jobs: list[JobRecord]) -> int | None:
    """1-based place of a queued job among queued jobs (oldest first)."""
    if job.status != "queued":
        return None
    queued = sorted((j for j in jobs if j.status == "queued"), key=lambda j: j.created)
    return next((i + 1 for i, j in enumerate(queued) if j.id == job.id), None)


def status_markdown(job: JobRecord | None, p: Progress | None, position: int | None = None) -> str:
    """A short human summary of the job's state, speed and device."""
    if job is None:
        return "No job selected. Fill in the form and press **Start**, or pick a job above."
    p = p or Progress()
    s = p.summary()
    lines = [f"**{job.name}** — `{job.id}` — **{job.status.upper()}**"]
    if job.status == "queued":
        lines.append(f"Waiting in the queue (position {position or '?'}); it starts when a "
                     f"{'GPU' if job.device != 'cpu' else 'CPU'} slot frees up.")
    total = s["total"] or job.total_steps
    step = s["step"] or job.step
    if total:
        pct = 100.0 * step / total
        lines.append(f"Step **{step} / {total}** ({pct:.0f} %)")
    if job.status == "running" and p.start is None:
        lines.append("Starting the worker process (loading PyTorch, data and model)…")
    if job.status == "running" and s["it_s"] is not None:
        imgs = f", {s['imgs_s']:.1f} img/s" if s["imgs_s"] is not None else ""
        lines.append(f"Speed {s['it_s']:.2f} it/s{imgs} — ETA {fmt_duration(s['eta_s'])}")
    device = s["device"] or ("cpu" if job.slot == "cpu" else job.slot)
    name = s["device_name"] or job.device_name
    if device:
        lines.append(f"Device: {device}" + (f" ({name})" if name and name.lower() != str(device).lower() else ""))
        if str(device).startswith("cpu") and job.status in ("queued", "running"):
            lines.append(f"⚠️ {CPU_WARNING}")
    if job.started:
        end = job.ended or time.time()
        lines.append(f"Elapsed {fmt_duration(end - job.started)}")
    if job.reason:
        lines.append(f"Reason: {job.reason}")
    if job.published:
        lines.append(f"Published as **{job.published}**: it appears in the Studio's model pickers.")
    lines.append(f"Data: {job.data_desc}" + _removal_note(job))
    ft = (p.start or {}).get("fine_tune")
    if ft:
        extra = (f"; frozen: {', '.join(ft['frozen'])}" if ft.get("frozen") else "") + (
            f"; learning-rate warm-up {ft['warmup_steps']} steps" if ft.get("warmup_steps") else "")
        lines.append(f"Fine-tuned from **{ft.get('init_from')}**; discriminator: {ft.get('discriminator', '—')}"
                     + extra)
    lines += quality_lines(p)
    if ft:
        lines += benchmark_lines(ft.get("init_from"))
    return "  \n".join(lines)


def _removal_note(job: JobRecord) -> str:
    """What happens to the job's uploaded data when it asked for its removal."""
    if not job.spec.get("remove_data"):
        return ""
    if not Path(str(job.spec.get("data") or "")).exists():
        return " — the uploaded data has been removed"
    if job.status == "finished":
        return " — the uploaded data is kept while another job uses it"
    return " — the uploaded data is removed when the job finishes"


QUALITY_KEYS = (("fd_medgan", "FD-medgan (lower = closer to the data)"), ("label_agreement", "label agreement"),
                ("diversity_l1", "diversity (pairwise L1)"))


def quality(p: Progress) -> dict[str, Any]:
    """The latest readout per split: ``val`` (conditional tasks' validation metrics), ``test``, and for
    generation ``parent`` / ``after`` (the fixed-sample-set readout)."""
    out: dict[str, Any] = {}
    for row in p.vals:
        out[row.get("split") or "val"] = {k: v for k, v in row.items() if k != "split"}
    return out


def quality_lines(p: Progress) -> list[str]:
    """A plain-words readout: before → after for a generation fine-tune, the validation metrics otherwise."""
    q = quality(p)
    if "after" in q:
        before, after = q.get("parent", {}), q["after"]
        parts = []
        for key, label in QUALITY_KEYS:
            if key in after:
                was = f"{before[key]:.4g} → " if key in before else ""
                parts.append(f"{label} {was}{after[key]:.4g}")
        head = f"Quality on a fixed set of {after.get('samples', '?')} samples" + (
            " (parent → fine-tuned)" if before else "")
        return [f"{head}: " + " · ".join(parts)]
    row = q.get("test") or q.get("val")
    if not row:
        return []
    what = "test" if "test" in q else "validation"
    vals = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "step" and isinstance(v, int | float))
    return [f"Quality ({what} set, step {row.get('step')}): {vals}"]


def benchmark_lines(parent: str | None) -> list[str]:
    """The parent's headline rows of ``benchmarks/quality.py`` (its card's ``metrics.quality``): the parent beside the
    classical baselines on the same inputs, to read the fine-tune's validation figures against. Empty when the
    parent's card has none (generation, a user model)."""
    if not parent:
        return []
    from medgan.inference import find_card

    try:
        rows = (find_card(parent).metrics or {}).get("quality", {}).get("rows", [])
    except ValueError:
        return []
    if not rows:
        return []
    head = rows[0]["condition"]
    parts = []
    for row in (r for r in rows if r.get("condition") == head):
        figs = [f"{k} {v:.4g}" for k, v in row.items() if k not in ("condition", "method")
                and isinstance(v, int | float)][:2]
        parts.append(f"{row['method']} {', '.join(figs)}")
    return [f"Beside it, from {parent}'s card (`python benchmarks/quality.py`, {head}): " + " · ".join(parts)]


def jobs_frame(jobs: list[JobRecord]) -> pd.DataFrame:
    """The job list for the page (newest first)."""
    rows = []
    for j in jobs:
        rows.append({"id": j.id, "name": j.name, "task": j.task, "arch": j.arch, "status": j.status,
                     "progress": f"{j.step}/{j.total_steps}", "device": j.device_name or j.slot or j.device,
                     "created": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(j.created))})
    cols = ["id", "name", "task", "arch", "status", "progress", "device", "created"]
    return pd.DataFrame(rows, columns=cols)


def job_choices(jobs: list[JobRecord]) -> list[tuple[str, str]]:
    """(label, id) pairs for the job picker."""
    return [(f"{j.name} · {j.status} · {j.id}", j.id) for j in jobs]


def job_digest(job: JobRecord, jobs: list[JobRecord] | None = None) -> dict[str, Any]:
    """JSON status of a job for API clients: the row, progress, latest losses/val metrics, log tail."""
    p = read_progress(job.out_dir)
    d = job.to_dict()
    d.pop("spec", None)
    d["queue_position"] = queue_position(job, jobs or [])
    d["report"] = p.summary()
    d["n_steps_logged"] = len(p.steps)
    d["val_history"] = p.vals
    d["quality"] = quality(p)
    d["fine_tune"] = (p.start or {}).get("fine_tune")
    d["remove_data"] = bool(job.spec.get("remove_data"))
    d["command"] = runner.shell_command(job.args, job.out_dir, job.resume)
    d["log_tail"] = runner.log_tail(job.out_dir, lines=20)
    d["has_checkpoint"] = (Path(job.out_dir) / "model.safetensors").exists()
    return d
