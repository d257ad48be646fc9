"""Running a slice task over a whole volume, batched through the model (``medgan.tasks.run_volume``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medgan.domain import normalise
from medgan.tasks import core as tasks
from medgan.tasks.workers import in_workers, worker_count

logger = logging.getLogger(__name__)

BATCH = 2  # slices per model call: on CPU, small batches keep the activations in cache
TISSUE = 0.02  # a [0, 1] slice with no pixel above this holds no tissue


@dataclass
class VolumeResult:
    """output: float32 (Z, H, W) in [0, 1]; labels: uint8 (Z, H, W) or None; input_display like output;
    metrics: mean of each per-slice metric over the slices that ran; per_slice: the per-slice metric dicts ({}
    for a slice that did not run); skipped: the indices of the empty slices (no tissue, no labels) that were
    left as background without a model call."""

    output: np.ndarray
    labels: np.ndarray | None
    input_display: np.ndarray
    metrics: dict[str, float]
    per_slice: list[dict[str, float]]
    skipped: list[int] = field(default_factory=list)


def unit_volume(scan: Any) -> np.ndarray:
    """A Scan (or array) → float32 (Z, H, W) in [0, 1]: arrays already in [0, 1] and the embedded data as they
    are, otherwise the models' input normalisation :func:`medgan.domain.normalise` (CT soft tissue; MR
    0.5–99.5 percentiles of the non-zero voxels, a zero background kept)."""
    vol = np.asarray(getattr(scan, "volume", scan), dtype=np.float32)
    if vol.ndim == 2:
        vol = vol[None]
    if getattr(scan, "source_format", "") == "embedded" or (vol.min() >= 0 and vol.max() <= 1):
        return np.clip(vol, 0, 1)
    return normalise(scan if hasattr(scan, "modality") else vol)


def run_volume(task: str, scan: Any, model: Any, labels: np.ndarray | None = None,
               regions: np.ndarray | None = None, seed: int = 0, degradation: str | None = None,
               progress: Callable[[int, int], None] | None = None, batch: int = BATCH,
               metrics: bool = True, workers: int | None = None) -> VolumeResult:
    """Run a slice task over every slice (axis 0) in batches of ``batch`` slices, the batches spread over
    ``workers`` threads of one intra-op thread each (default: the caller's torch thread count; see
    :mod:`medgan.tasks.workers`). The conditional generators are deterministic in eval mode, so the result does
    not depend on which worker ran a batch.

    scan: a Scan or float32 (Z, H, W) in [0, 1]; labels (Z, H, W) for synthesis (required; a Scan's own labels
    are used when not given) and as reference (segmentation) or guide (inpainting); regions bool (Z, H, W) for
    inpainting (slices without a region are copied). Empty slices are not run and count in no metric: in
    synthesis an all-background label slice gives an empty image; in the other tasks a slice with no tissue (no
    pixel above :data:`TISSUE`) and no labels stays as it is (segmentation: background labels); their indices
    are ``skipped``. progress(done, total) is called on the calling thread after each batch. metrics=False
    skips the label-agreement metrics that need the segmentation U-Net.
    """
    if task == "generation":
        raise ValueError("generation has no input volume; use generate(model, n, seed)")
    tasks.get_task(task)
    vol = unit_volume(scan)
    if labels is None and getattr(scan, "labels", None) is not None and task in ("synthesis", "segmentation"):
        labels = scan.labels
    if task == "synthesis" and labels is None:
        raise ValueError("synthesis needs a label map for every slice")
    if task == "inpainting" and regions is None:
        raise ValueError("inpainting needs a region mask volume")
    for name, arr in (("label", labels), ("region", regions)):
        if arr is not None and np.shape(arr) != vol.shape:
            raise ValueError(f"the {name} volume is {'×'.join(map(str, np.shape(arr)))} but the scan is "
                             f"{'×'.join(map(str, vol.shape))}")
    module, card = tasks.resolve(model)
    tasks.check_task(card, task)
    z = vol.shape[0]
    results: list[tasks.TaskResult | None] = [None] * z
    empty = _empty_slices(vol, labels)
    skipped: list[int] = []

    def prepare(i: int) -> tasks.Job | None:
        lab = None if labels is None else np.asarray(labels[i])
        if task == "synthesis":
            if not lab.any():  # an all-background slice synthesises to empty background: no model call
                blank = np.zeros_like(vol[i])
                results[i] = tasks.TaskResult(blank, lab.astype(np.uint8), blank, {})
                skipped.append(i)
                return None
            return tasks.prepare_synthesis(lab, card, reference=vol[i])
        if empty[i]:  # no tissue and no labels: background in, background out
            results[i] = _background(task, vol[i], lab)
            skipped.append(i)
            return None
        if task == "inpainting":
            reg = np.asarray(regions[i]).astype(bool)
            if not reg.any():
                results[i] = tasks.TaskResult(vol[i], None if lab is None else lab.astype(np.uint8), vol[i], {})
                return None
            return tasks.prepare_inpainting(vol[i], reg, card, labels=lab)
        if task == "segmentation":
            return tasks.prepare_segmentation(vol[i], card, reference_labels=lab)
        return tasks.prepare_enhancement(vol[i], card, degradation=degradation, seed=seed + i)

    def run_batch(ids: list[int]) -> int:
        jobs = {i: prepare(i) for i in ids}
        todo = [i for i in ids if jobs[i] is not None]
        if todo:
            for i, r in zip(todo, tasks.run_jobs(module, [jobs[i] for i in todo], seed + ids[0], metrics)):
                results[i] = r
        return len(ids)

    done = 0
    batches = [list(range(start, min(z, start + batch))) for start in range(0, z, batch)]
    for n in in_workers(run_batch, batches, worker_count() if workers is None else workers):
        done += n
        if progress is not None:
            progress(done, z)
    per = [r.metrics for r in results]
    keys = list(dict.fromkeys(k for m in per for k in m))
    mean = {k: float(np.nanmean([m[k] for m in per if k in m])) for k in keys}
    labs = [r.labels for r in results]
    out_labels = None if any(x is None for x in labs) else np.stack(labs).astype(np.uint8)
    disp = np.stack([r.input_display if r.input_display is not None else r.output for r in results])
    return VolumeResult(np.stack([r.output for r in results]), out_labels, disp, mean, per, sorted(skipped))


def _empty_slices(vol: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """bool (Z,): slices with no pixel above :data:`TISSUE` and no foreground label."""
    empty = vol.reshape(len(vol), -1).max(1) <= TISSUE
    if labels is not None:
        empty &= ~np.asarray(labels).reshape(len(vol), -1).any(1)
    return empty


def _background(task: str, image: np.ndarray, labels: np.ndarray | None) -> tasks.TaskResult:
    """The result of an empty slice without a model call: segmentation gives background labels, the image
    tasks give the slice as it is."""
    lab = None if labels is None else np.asarray(labels).astype(np.uint8)
    if task == "segmentation":
        bg = np.zeros(image.shape, np.uint8)
        return tasks.TaskResult(np.zeros_like(image), bg, image, {})
    return tasks.TaskResult(image.copy(), lab, image, {})
