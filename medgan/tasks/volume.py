"""Running a slice task over a whole volume, batched through the model (``medgan.tasks.run_volume``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from medgan.domain import normalise
from medgan.tasks import core as tasks

logger = logging.getLogger(__name__)

BATCH = 8


@dataclass
class VolumeResult:
    """output: float32 (Z, H, W) in [0, 1]; labels: uint8 (Z, H, W) or None; input_display like output;
    metrics: mean of each per-slice metric; per_slice: the per-slice metric dicts."""

    output: np.ndarray
    labels: np.ndarray | None
    input_display: np.ndarray
    metrics: dict[str, float]
    per_slice: list[dict[str, float]]


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
               metrics: bool = True) -> VolumeResult:
    """Run a slice task over every slice (axis 0) in batches of ``batch`` slices.

    scan: a Scan or float32 (Z, H, W) in [0, 1]; labels (Z, H, W) for synthesis (required; a Scan's own labels
    are used when not given) and as reference (segmentation) or guide (inpainting); regions bool (Z, H, W) for
    inpainting (slices without a region are copied; in synthesis, all-background slices give an empty slice
    without a model call and no metrics). progress(done, total) is called after each batch.
    metrics=False skips the label-agreement metrics that need the segmentation U-Net.
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

    def prepare(i: int) -> tasks.Job | None:
        lab = None if labels is None else np.asarray(labels[i])
        if task == "synthesis":
            if not lab.any():  # an all-background slice synthesises to empty background: no model call
                empty = np.zeros_like(vol[i])
                results[i] = tasks.TaskResult(empty, lab.astype(np.uint8), empty, {})
                return None
            return tasks.prepare_synthesis(lab, card, reference=vol[i])
        if task == "inpainting":
            reg = np.asarray(regions[i]).astype(bool)
            if not reg.any():
                results[i] = tasks.TaskResult(vol[i], None if lab is None else lab.astype(np.uint8), vol[i], {})
                return None
            return tasks.prepare_inpainting(vol[i], reg, card, labels=lab)
        if task == "segmentation":
            return tasks.prepare_segmentation(vol[i], card, reference_labels=lab)
        return tasks.prepare_enhancement(vol[i], card, degradation=degradation, seed=seed + i)

    done = 0
    for start in range(0, z, batch):
        ids = list(range(start, min(z, start + batch)))
        jobs = {i: prepare(i) for i in ids}
        todo = [i for i in ids if jobs[i] is not None]
        if todo:
            for i, r in zip(todo, tasks.run_jobs(module, [jobs[i] for i in todo], seed + start, metrics)):
                results[i] = r
        done += len(ids)
        if progress is not None:
            progress(done, z)
    per = [r.metrics for r in results]
    keys = sorted({k for m in per for k in m})
    mean = {k: float(np.nanmean([m[k] for m in per if k in m])) for k in keys}
    labs = [r.labels for r in results]
    out_labels = None if any(x is None for x in labs) else np.stack(labs).astype(np.uint8)
    disp = np.stack([r.input_display if r.input_display is not None else r.output for r in results])
    return VolumeResult(np.stack([r.output for r in results]), out_labels, disp, mean, per)
