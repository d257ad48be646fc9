"""Event handlers of the Studio's run and compare panels."""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr
import numpy as np

from medgan import domain as D
from medgan import tasks
from medgan.ui import compare as C
from medgan.ui import domain_view as DV
from medgan.ui import load_view as LV
from medgan.ui.common import Session, UserError, friendly
from medgan.ui.run_panel import TASK_LABELS, card_line, model_choices
from medgan.ui.studio_handlers import commit_strokes, label_slice, need_scan, unit_slice

logger = logging.getLogger(__name__)


def task_key(label: str) -> str:
    for k, v in TASK_LABELS.items():
        if label in (k, v):
            return k
    raise UserError(f"unknown task {label!r}")


@friendly("list the checkpoints")
def on_task(task_label: str) -> tuple:
    task = task_key(task_label)
    choices = model_choices(task)
    value = choices[0][1] if choices else None
    return (gr.Dropdown(choices=choices, value=value), card_line(value),
            gr.Dropdown(visible=task == "enhancement"), gr.Checkbox(visible=task == "enhancement"),
            gr.Number(visible=task == "generation"), gr.Button(interactive=task != "generation"))


def on_model(name: str | None) -> str:
    return card_line(name)


def _run_one(task: str, model: str, s: Session, image: np.ndarray, labels: np.ndarray | None,
             region: np.ndarray, degradation: str | None, already_degraded: bool, seed: int,
             n: int) -> tuple[tasks.TaskResult, list[tasks.TaskResult]]:
    has_labels = labels is not None and bool(labels.any())
    if task == "synthesis":
        if not has_labels:
            raise UserError("paint a label map first (or press Auto-labels / Dataset labels)")
        return tasks.synthesize(labels, model, seed=seed, reference=image), []
    if task == "inpainting":
        if not region.any():
            raise UserError("paint the region to fill with the white brush first")
        return tasks.inpaint(image, region, model, labels=labels if has_labels else None, seed=seed), []
    if task == "segmentation":
        return tasks.segment(image, model, reference_labels=labels if has_labels else None), []
    if task == "enhancement":
        return tasks.enhance(image, model, degradation=degradation or None, degrade=not already_degraded,
                             seed=seed), []
    samples = tasks.generate(model, n=int(n), seed=seed)
    return samples[0], samples


def _outputs(s: Session, task: str, image: np.ndarray | None, labels: np.ndarray | None, r: tasks.TaskResult,
             samples: list[tasks.TaskResult], status: str, dom: D.DomainCheck | None = None) -> tuple:
    """The run outputs (``run_out`` of the Studio): each compare panel under a title that says what it shows,
    the panels a task has nothing for hidden (generation: the samples and their label maps in the gallery)."""
    view = C.compare_view(task, image, labels, r, samples)

    def panel(name: str) -> Any:
        shown = name not in view.hidden
        kind = gr.ImageSlider if name == "slider" else gr.Image
        return kind(value=view.pictures.get(name) if shown else None, label=view.titles.get(name, ""),
                    visible=shown)

    gallery = gr.Gallery(value=view.gallery, visible=bool(view.gallery), columns=view.columns,
                         label=view.titles.get("gallery", "Generated samples"))
    fig = DV.chart(C.chart(task, view.metrics, image, r.output, r.labels), dom)
    return (s, panel("original"), panel("input"), panel("output"), panel("slider"), panel("diff"),
            DV.metrics_table(C.metrics_frame(view.metrics), dom), fig, gallery, DV.status(status, dom))


def _honest(s: Session, task: str, metrics: dict[str, float], check: D.DomainCheck | None,
            auto: bool) -> dict[str, float]:
    """Metrics named for what they compare with (vs the U-Net's own Auto-labels: agreement), plus the domain."""
    if task == "segmentation" and auto:
        metrics = D.as_agreement(metrics)
    return {**metrics, **(check.metrics() if check is not None else {})}


RUN_OUTPUTS = 10  # what _outputs returns (the Studio's run_out): a problem with the input keeps all of them


@friendly("run the model", keep=RUN_OUTPUTS)
def on_run_slice(s: Session, strokes: str | None, task_label: str, model: str | None, degradation: str,
                 already_degraded: bool, seed: float, n: float, level: float, width: float) -> tuple:
    task = task_key(task_label)
    if not model:
        raise UserError(f"no checkpoint is installed for {task}")
    seed = int(seed or 0)
    if task != "generation":
        need_scan(s)
        region = commit_strokes(s, strokes)
        image, labels = unit_slice(s, level, width), label_slice(s)
    else:
        image, labels, region = None, None, None
    r, samples = _run_one(task, model, s, image, labels, region, degradation, already_degraded, seed, int(n or 4))
    dom = None if task == "generation" else D.check(image, model, s.scan)
    r.metrics = _honest(s, task, r.metrics, dom, (s.axis, s.index) in s.auto_labelled)
    s.result = {"task": task, "model": model, "seed": seed, "slice": None if task == "generation" else
                f"{list(LV.AXES)[s.axis]} {s.index}", "metrics": dict(r.metrics),
                "output": r.output, "labels": r.labels, "axis": s.axis, "index": s.index,
                "level": level, "width": width, "samples": [x.output for x in samples]}
    if samples:
        s.result["metrics"] = C.sample_metrics(samples)
    return _outputs(s, task, image, labels, r, samples, f"Ran **{model}** ({task}).", dom)


@friendly("run the model on the whole volume", keep=RUN_OUTPUTS)
def on_run_volume(s: Session, strokes: str | None, task_label: str, model: str | None, degradation: str,
                  already_degraded: bool, seed: float, n: float, level: float, width: float,
                  progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
    task = task_key(task_label)
    if task == "generation":
        raise UserError("generation has no input volume; use “Run on slice” with the number of samples")
    if not model:
        raise UserError(f"no checkpoint is installed for {task}")
    need_scan(s)
    seed = int(seed or 0)
    region = commit_strokes(s, strokes)
    vol = LV.window(np.asarray(s.scan.volume), level, width)
    vol_t = _to_slices(vol, s.axis)
    lab_t = None if s.labels is None else _to_slices(s.labels, s.axis)
    regions = None
    if task == "inpainting":
        if region is None or not region.any():
            raise UserError("paint the region to fill with the white brush first; it is applied to every slice")
        regions = np.broadcast_to(region, vol_t.shape) & (vol_t > tasks.TISSUE)
    if task == "synthesis" and (lab_t is None or not lab_t.any()):
        raise UserError("the volume has no label map; load a labelled scan or paint labels first")
    progress((0, vol_t.shape[0]), desc="running on every slice", unit="slices")
    res = tasks.run_volume(task, vol_t, model, labels=lab_t, regions=regions, seed=seed,
                           degradation=(degradation or None) if task == "enhancement" else None,
                           progress=lambda i, z: progress((i, z), desc="running on every slice", unit="slices"))
    out_vol = _from_slices(res.output, s.axis)
    out_lab = None if res.labels is None else _from_slices(res.labels, s.axis)
    i = s.index
    dom = D.check(vol_t[i], model, s.scan)
    res.metrics = _honest(s, task, res.metrics, dom, bool(s.auto_labelled))
    r = tasks.TaskResult(res.output[i], None if res.labels is None else res.labels[i], res.input_display[i],
                         res.metrics)
    s.result = {"task": task, "model": model, "seed": seed, "slice": f"volume ({vol_t.shape[0]} slices)",
                "metrics": res.metrics, "output": r.output, "labels": r.labels, "axis": s.axis, "index": i,
                "level": level, "width": width, "volume": out_vol, "volume_labels": out_lab,
                "per_slice": res.per_slice, "samples": []}
    image = vol_t[i]
    labels = None if lab_t is None else lab_t[i]
    return _outputs(s, task, image, labels, r, [], _volume_status(task, model, res, i), dom)


def _volume_status(task: str, model: str, res: tasks.VolumeResult, i: int) -> str:
    """What a whole-volume run did: how many slices have metrics, which empty slices it left as background."""
    z, n = len(res.per_slice), len(res.skipped)
    measured = sum(1 for m in res.per_slice if m)
    means = (f"metrics are means over the {measured} slice{'s' if measured != 1 else ''} that have them"
             if measured else "no slice has metrics")
    why = "no labels" if task == "synthesis" else "no tissue, no labels"
    empty = "" if not n else (f"; {n} empty slice{'s' if n > 1 else ''} ({why}) {'were' if n > 1 else 'was'} "
                              "left as background without a model call and count in no metric")
    return f"Ran **{model}** on {z} slices ({means}{empty}; the view shows slice {i})."


def _to_slices(vol: np.ndarray, axis: int) -> np.ndarray:
    """(Z, H, W) → slices along ``axis`` in display orientation (as :func:`load_view.take`)."""
    v = np.moveaxis(vol, axis, 0)
    return np.ascontiguousarray(v if axis == 0 else v[:, ::-1])


def _from_slices(v: np.ndarray, axis: int) -> np.ndarray:
    v = v if axis == 0 else v[:, ::-1]
    return np.ascontiguousarray(np.moveaxis(v, 0, axis))


@friendly("pin the run")
def on_pin(s: Session) -> tuple:
    if not s.result:
        raise UserError("run a model first, then pin the result")
    s.pinned.append(C.pin_row(s.result))
    return s, C.pinned_frame(s.pinned)


def on_unpin(s: Session) -> tuple:
    s.pinned = []
    return s, C.pinned_frame([])


def pinned_initial() -> Any:
    return C.pinned_frame([])
