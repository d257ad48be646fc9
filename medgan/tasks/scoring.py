"""The metrics of a batch of task results, computed together: the checks that each :class:`~medgan.tasks.encode.Job`
queued while decoding (PSNR / SSIM, Dice / IoU, the segmentation U-Net's label agreement) run as a few batched
tensor operations over all slices of the batch instead of one small call per slice and metric. The values are
the same as per slice: PSNR capped by :func:`~medgan.metrics.image.finite_psnr`, SSIM as
:func:`~medgan.metrics.image.ssim`, Dice / IoU per foreground class present in either map, and their mean."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from medgan.metrics.image import finite_psnr, psnr, ssim
from medgan.metrics.segmentation import confusion_counts
from medgan.tasks.encode import Job, LabelCheck, QualityCheck, TaskResult, card_value

Segmenter = Callable[[list[np.ndarray]], list[np.ndarray]]


def _groups(items: Sequence[Any], key: Callable[[Any], Any]) -> dict[Any, list[int]]:
    out: dict[Any, list[int]] = {}
    for i, item in enumerate(items):
        out.setdefault(key(item), []).append(i)
    return out


def quality_metrics(checks: Sequence[QualityCheck]) -> list[dict[str, float]]:
    """PSNR and SSIM of each check, batched over the checks of one image size (and one kind: whole / masked)."""
    out: list[dict[str, float]] = [{} for _ in checks]
    for (_, _, masked), idx in _groups(checks, lambda c: (c.out.shape, c.prefix, c.mask is not None)).items():
        a = np.stack([checks[i].out for i in idx]).astype(np.float32, copy=False)
        b = np.stack([checks[i].ref for i in idx]).astype(np.float32, copy=False)
        m = np.stack([checks[i].mask for i in idx]).astype(bool, copy=False) if masked else None
        p = finite_psnr(psnr(a, b, mask=m)).tolist()
        s = ssim(a, b, mask=m).tolist()
        for j, i in enumerate(idx):
            pre = checks[i].prefix
            out[i] = {f"{pre}psnr": float(p[j]), f"{pre}ssim": float(s[j])}
    return out


def label_metrics(checks: Sequence[LabelCheck]) -> list[dict[str, float]]:
    """Dice (and IoU) per foreground class present in either map, plus the mean Dice, for each check; the
    confusion counts of all checks of one size come from one histogram."""
    out: list[dict[str, float]] = [{} for _ in checks]
    for _, idx in _groups(checks, lambda c: c.pred.shape).items():
        pred = np.stack([checks[i].pred for i in idx]).astype(np.int64)
        ref = np.stack([checks[i].ref for i in idx]).astype(np.int64)
        k = max(int(pred.max()), int(ref.max())) + 1
        k = max([k] + [len(checks[i].names or ()) for i in idx])
        tp, ps, ts = (t.numpy() for t in confusion_counts(pred, ref, k, per_image=True))
        both = ps + ts
        dice = np.where(both > 0, 2 * tp / np.maximum(both, 1e-12), 1.0)
        iou = np.where(both > 0, tp / np.maximum(both - tp, 1e-12), 1.0)
        for j, i in enumerate(idx):
            c = checks[i]
            out[i] = _named(dice[j], iou[j] if c.iou else None, both[j] > 0, c.names, c.prefix)
    return out


def _named(dice: np.ndarray, iou: np.ndarray | None, present: np.ndarray,
           names: Sequence[str] | None, prefix: str) -> dict[str, float]:
    out: dict[str, float] = {}
    fg = []
    for c in range(1, len(dice)):
        if not present[c]:
            continue
        name = names[c] if names and c < len(names) else f"class {c}"
        out[f"{prefix} {name}"] = float(dice[c])
        fg.append(float(dice[c]))
        if iou is not None:
            out[f"iou {name}"] = float(iou[c])
    if fg:
        out[f"{prefix} mean"] = float(np.mean(fg))
    return out


def dice_metrics(pred: np.ndarray, ref: np.ndarray, names: Sequence[str] | None, prefix: str = "dice",
                 iou: bool = False) -> dict[str, float]:
    """Dice (and IoU) per foreground class present in either label map (H, W), plus their mean."""
    return label_metrics([LabelCheck(pred, ref, names, prefix, iou)])[0]


def score(results: list[TaskResult], jobs: list[Job], segmenter: Any | None,
          segment: Segmenter | None = None) -> None:
    """Fill each result's metrics from its job's queued checks, in the order the job asked for them.
    ``segmenter``: the loaded segmentation U-Net (None skips the label-agreement checks); ``segment`` labels
    a list of [0, 1] images with it, in batches."""
    qual = [(n, c) for n, j in enumerate(jobs) for c in j.quality]
    for (n, _), m in zip(qual, quality_metrics([c for _, c in qual])):
        results[n].metrics.update(m)
    labs = [(n, c) for n, j in enumerate(jobs) for c in j.labels]
    checks = [(n, c) for n, j in enumerate(jobs) for c in j.checks] if segmenter is not None else []
    if checks and segment is not None:
        images = [c.image for _, c in checks] + [c.ref for _, c in checks if c.ref_is_image]
        segs = iter(segment(images))
        preds = [next(segs) for _ in checks]
        names = card_value(segmenter.card, "label_classes")
        labs += [(n, LabelCheck(p, next(segs) if c.ref_is_image else c.ref, names, c.prefix))
                 for (n, c), p in zip(checks, preds)]
        for (n, c), p in zip(checks, preds):
            if c.image is results[n].output:
                results[n].unet_labels = p
    for (n, _), m in zip(labs, label_metrics([c for _, c in labs])):
        results[n].metrics.update(m)
    for r, j in zip(results, jobs):
        if j.after is not None and r.metrics:
            j.after(r.metrics)
