"""Overlap and distance metrics for integer label maps.

Inputs: ``pred`` and ``target`` integer label maps (H, W) or (N, H, W) (tensors or NumPy arrays; 0 = background).
Counts are pooled over all images of the batch (a volume-level Dice, as the empirical study reports); pass
``per_image=True`` for one row per image.

Empty-class convention: a class absent from both ``pred`` and ``target`` has no overlap to measure; its score is
``empty_value`` (default 1.0: "correctly predicted absent"; pass ``float("nan")`` to drop it from means, which
:func:`mean_dice` and :func:`mean_iou` ignore with ``nanmean``). A class present in only one of them scores 0.

Hausdorff 95: per class, the larger of the two directed 95th-percentile surface distances (MONAI's convention),
in millimetres when ``spacing`` is given (pixel units otherwise). Both empty → 0.0; one empty → ``inf``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

__all__ = ["dice_per_class", "iou_per_class", "mean_dice", "mean_iou", "hausdorff95", "confusion_counts"]


def _labels(x: Tensor | np.ndarray, name: str) -> Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    if x.is_floating_point():
        if not torch.equal(x, x.round()):
            raise ValueError(f"{name}: expected an integer label map, got non-integer floats")
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"{name}: expected a label map (H, W) or (N, H, W), got shape {tuple(x.shape)}")
    return x.long()


def confusion_counts(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, num_classes: int,
                     per_image: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """True positives, predicted-class sizes and target-class sizes per class: three float64 tensors (K,)
    (or (N, K) with ``per_image``)."""
    p, t = _labels(pred, "pred"), _labels(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(p.shape)} vs {tuple(t.shape)}")
    for x, name in ((p, "pred"), (t, "target")):
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= num_classes):
            raise ValueError(f"{name}: labels must lie in 0..{num_classes - 1}, got {int(x.min())}..{int(x.max())}")
    n, k = p.shape[0], num_classes
    # one joint histogram of (image, pred, target) triples: the whole confusion matrix of every image at once
    joint = (torch.arange(n, device=p.device).view(n, 1) * (k * k) + p.reshape(n, -1) * k + t.reshape(n, -1)).reshape(-1)
    conf = torch.bincount(joint, minlength=n * k * k).view(n, k, k).double()
    tp, ps, ts = conf.diagonal(dim1=1, dim2=2), conf.sum(2), conf.sum(1)
    if not per_image:
        tp, ps, ts = tp.sum(0), ps.sum(0), ts.sum(0)
    return tp, ps, ts


def _score(num: Tensor, den: Tensor, both_empty: Tensor, empty_value: float) -> Tensor:
    out = num / den.clamp_min(1e-12)
    return torch.where(both_empty, torch.full_like(out, empty_value), out)


def dice_per_class(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, num_classes: int,
                   include_background: bool = False, empty_value: float = 1.0,
                   per_image: bool = False) -> Tensor:
    """Dice 2|P∩T| / (|P| + |T|) per class, float64 (K',) with K' = K or K - 1 (background excluded by default);
    (N, K') with ``per_image``. See the module notes for classes empty in both maps."""
    tp, ps, ts = confusion_counts(pred, target, num_classes, per_image)
    d = _score(2 * tp, ps + ts, (ps + ts) == 0, empty_value)
    return d if include_background else d[..., 1:]


def iou_per_class(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, num_classes: int,
                  include_background: bool = False, empty_value: float = 1.0,
                  per_image: bool = False) -> Tensor:
    """Intersection over union |P∩T| / |P∪T| per class, float64 (K',) or (N, K'); same conventions as Dice."""
    tp, ps, ts = confusion_counts(pred, target, num_classes, per_image)
    d = _score(tp, ps + ts - tp, (ps + ts) == 0, empty_value)
    return d if include_background else d[..., 1:]


def mean_dice(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, num_classes: int,
              include_background: bool = False, empty_value: float = 1.0) -> Tensor:
    """Mean over classes of :func:`dice_per_class` (NaN classes ignored), 0-d float64."""
    return torch.nanmean(dice_per_class(pred, target, num_classes, include_background, empty_value))


def mean_iou(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, num_classes: int,
             include_background: bool = False, empty_value: float = 1.0) -> Tensor:
    """Mean over classes of :func:`iou_per_class` (NaN classes ignored), 0-d float64."""
    return torch.nanmean(iou_per_class(pred, target, num_classes, include_background, empty_value))


def _surface(mask: np.ndarray) -> np.ndarray:
    if not mask.any():
        return mask
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def _hd95_one(p: np.ndarray, t: np.ndarray, spacing: tuple[float, ...]) -> float:
    if not p.any() and not t.any():
        return 0.0
    if not p.any() or not t.any():
        return float("inf")
    sp, st = _surface(p), _surface(t)
    dt_t = ndimage.distance_transform_edt(~st, sampling=spacing)
    dt_p = ndimage.distance_transform_edt(~sp, sampling=spacing)
    return float(max(np.percentile(dt_t[sp], 95), np.percentile(dt_p[st], 95)))


def hausdorff95(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, num_classes: int,
                spacing: tuple[float, ...] | None = None, include_background: bool = False) -> Tensor:
    """95th-percentile Hausdorff distance per class, float64 (K',), in mm when ``spacing`` is given.

    ``spacing``: (row, col) mm, or (slice, row, col) mm to measure an (N, H, W) stack as one 3-D volume. Without
    a 3-D spacing, an (N, H, W) stack is measured slice by slice and the class's value is the mean over the
    slices where it appears in either map (``inf`` if any such slice has it in only one map)."""
    p = _labels(pred, "pred").cpu().numpy()
    t = _labels(target, "target").cpu().numpy()
    if p.shape != t.shape:
        raise ValueError(f"pred and target shapes differ: {p.shape} vs {t.shape}")
    if spacing is not None and len(spacing) not in (2, 3):
        raise ValueError(f"spacing must have 2 (row, col) or 3 (slice, row, col) values, got {spacing}")
    volume = spacing is not None and len(spacing) == 3
    sp2 = tuple(float(s) for s in (spacing or (1.0, 1.0)))
    first = 0 if include_background else 1
    out = []
    for c in range(first, num_classes):
        if volume:
            out.append(_hd95_one(p == c, t == c, sp2))
        else:
            per = [_hd95_one(p[i] == c, t[i] == c, sp2[-2:]) for i in range(p.shape[0])
                   if (p[i] == c).any() or (t[i] == c).any()]
            out.append(float(np.mean(per)) if per else 0.0)
    return torch.tensor(out, dtype=torch.float64)
