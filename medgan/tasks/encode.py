"""Each task's encode / decode of one slice, without loading any model: ``prepare_<task>(..., card)`` returns a
:class:`Job` whose ``x`` is the model input ``(1, C, S, S)`` and whose ``finish(y)`` maps the model output back
to the slice (a :class:`TaskResult`). Slices are any size ``(H, W)``: images float32 in ``[0, 1]``, label maps
integer with ``0 = background``, region masks boolean (True = missing); the slice is padded to a square and
resized to the card's ``image_size`` and mapped back afterwards (labels nearest-neighbour); enhancement keeps a slice
that fits in the model's grid at its own pixel scale (mirrored out, not resized: :func:`pad_slice`). ``finish`` only
decodes: the metrics it asks for are queued on the job (:class:`QualityCheck`, :class:`LabelCheck`,
:class:`SegCheck`) and computed for a whole batch at once by :mod:`medgan.tasks.scoring`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from medgan.data import corruptions
from medgan.io import FitInfo, fit_to_square, unfit

logger = logging.getLogger(__name__)


@dataclass
class TaskResult:
    """output: float32 (H, W) in [0, 1]; labels: uint8 (H, W) or None; input_display: float32 (H, W) in [0, 1]
    (what the model saw: labels scaled to [0, 1], the image with the hole blanked, the degraded image);
    metrics: flat name → value; unet_labels: uint8 (H, W), the segmentation U-Net's labels of ``output`` when a
    label-agreement metric ran, else None."""

    output: np.ndarray
    labels: np.ndarray | None = None
    input_display: np.ndarray | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    unet_labels: np.ndarray | None = None


def card_value(card: Any, key: str, default: Any = None) -> Any:
    """A model card field (cards may be dataclasses or plain dicts)."""
    if isinstance(card, dict):
        return card.get(key, default)
    return getattr(card, key, default)


def fit_slice(x: np.ndarray, size: int, labels: bool = False) -> tuple[np.ndarray, FitInfo]:
    """(H, W) → (size, size): centred zero padding to a square, then resize (nearest for labels)."""
    sq, info = fit_to_square(x, size, labels=labels, fill=None if labels else 0.0)
    return (sq if labels else sq.astype(np.float32)), info


def unfit_slice(x: np.ndarray, info: FitInfo, labels: bool = False) -> np.ndarray:
    out = unfit(x, info, labels=labels)
    return out if labels else np.clip(out, 0, 1).astype(np.float32)


def pad_slice(x: np.ndarray, size: int) -> tuple[np.ndarray, tuple[slice, slice]]:
    """An image (H, W) with H, W ≤ ``size`` → (size, size) at its own pixel scale: centred, mirrored outwards
    (no resampling), and the window that holds the image."""
    h, w = x.shape
    if h > size or w > size:
        raise ValueError(f"a {h}×{w} slice does not fit in {size}×{size} without resizing")
    top, left = (size - h) // 2, (size - w) // 2
    padded = np.pad(x, ((top, size - h - top), (left, size - w - left)), mode="reflect" if min(h, w) > 1 else "edge")
    return padded.astype(np.float32), (slice(top, top + h), slice(left, left + w))


def _num_classes(card: Any, default: int = 4) -> int:
    names = card_value(card, "label_classes")
    return len(names) if names else default


def _one_hot(labels: np.ndarray, k: int) -> torch.Tensor:
    """(H, W) int → (1, K, H, W) float; values outside 0..K-1 count as background."""
    lab = np.asarray(labels).astype(np.int64)
    lab = np.where((lab < 0) | (lab >= k), 0, lab)
    return torch.from_numpy((lab[None] == np.arange(k)[:, None, None]).astype(np.float32)[None])


def image_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W) in [0, 1] → (1, 1, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(np.asarray(img, dtype=np.float32) * np.float32(2) - np.float32(1))[None, None]


def _to_unit(y: np.ndarray) -> np.ndarray:
    """(1, C, S, S) in [-1, 1] (channel 0 is the image) → (S, S) float32 in [0, 1]."""
    return ((np.clip(y[0, 0], -1, 1) + np.float32(1)) / np.float32(2)).astype(np.float32)


def _check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"the {what} must be one 2-D slice (H, W), got shape {image.shape}")
    if min(image.shape) < 8:
        raise ValueError(f"the {what} is too small ({image.shape[0]}×{image.shape[1]}); at least 8×8 is needed")
    image = np.nan_to_num(image.astype(np.float32), nan=0.0)
    return np.clip(image, 0.0, 1.0)


@dataclass
class QualityCheck:
    """PSNR and SSIM of ``out`` vs ``ref`` (images (H, W) in [0, 1]), named ``{prefix}psnr`` / ``{prefix}ssim``;
    with ``mask`` (bool (H, W)) inside the mask only."""

    out: np.ndarray
    ref: np.ndarray
    prefix: str = ""
    mask: np.ndarray | None = None


@dataclass
class LabelCheck:
    """Dice (and IoU with ``iou``) per foreground class of label maps ``pred`` vs ``ref`` (H, W), plus the mean;
    ``names``: the class names (index = label value)."""

    pred: np.ndarray
    ref: np.ndarray
    names: list[str] | tuple[str, ...] | None = None
    prefix: str = "dice"
    iou: bool = False


@dataclass
class SegCheck:
    """A label-agreement metric to compute once the segmenter has run: Dice(seg(image), ref) where ``ref`` is a
    label map, or seg(ref) when ``ref_is_image``."""

    image: np.ndarray
    ref: np.ndarray
    ref_is_image: bool = False
    prefix: str = "label agreement with the U-Net"  # agreement with the U-Net, not accuracy (medgan.domain)


@dataclass
class Job:
    """One slice prepared for the model: input ``x`` (1, C, S, S) and ``finish(y)`` → TaskResult, where y is the
    model's output for this slice, float32 (1, C', S, S). ``finish`` queues the metrics: ``quality`` and
    ``labels`` (computed as they are), ``checks`` (after the segmentation U-Net has run), then ``after(metrics)``
    derives the metrics that need the others."""

    x: torch.Tensor
    finish: Callable[[np.ndarray], TaskResult]
    checks: list[SegCheck] = field(default_factory=list)
    quality: list[QualityCheck] = field(default_factory=list)
    labels: list[LabelCheck] = field(default_factory=list)
    after: Callable[[dict[str, float]], None] | None = None


def _size(card: Any) -> int:
    return int(card_value(card, "image_size", 256))


def prepare_synthesis(labels: np.ndarray, card: Any, reference: np.ndarray | None = None) -> Job:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"the label map must be one 2-D slice (H, W), got shape {labels.shape}")
    k = _num_classes(card)
    labels = np.clip(labels.astype(np.int64), 0, None)
    if labels.max() >= k:
        logger.warning("label values ≥ %d are treated as background", k)
        labels = np.where(labels >= k, 0, labels)
    labels = labels.astype(np.uint8)
    ref = None if reference is None else _check_image(reference, "reference")
    lab_s, info = fit_slice(labels, _size(card), labels=True)
    job = Job(_one_hot(lab_s, k), lambda y: y)

    def finish(y: np.ndarray) -> TaskResult:
        out = unfit_slice(_to_unit(y), info)
        if card_value(card, "zero_background"):  # skull-stripped training data: background is exactly 0
            out = np.where(labels == 0, np.float32(0.0), out)
        job.checks.append(SegCheck(out, labels))
        if ref is not None:
            job.quality.append(QualityCheck(out, ref))
        return TaskResult(out, labels, (labels / max(k - 1, 1)).astype(np.float32))

    job.finish = finish
    return job


def _gain_over_biharmonic(m: dict[str, float]) -> None:
    m["region psnr gain over biharmonic"] = m["region psnr"] - m["biharmonic region psnr"]


def prepare_inpainting(image: np.ndarray, region: np.ndarray, card: Any, labels: np.ndarray | None = None) -> Job:
    image = _check_image(image)
    region = np.asarray(region).astype(bool)
    if region.shape != image.shape:
        raise ValueError(f"the region mask is {region.shape[0]}×{region.shape[1]} but the image is "
                         f"{image.shape[0]}×{image.shape[1]}; they must match")
    if not region.any():
        raise ValueError("the inpainting region is empty: paint the area to fill (white brush) first")
    size = _size(card)
    k = max(int(card_value(card, "in_channels", 2 + _num_classes(card))) - 2, 0)
    img_s, info = fit_slice(image, size)
    m_s = fit_slice(region.astype(np.float32), size)[0] > 0.25  # area-resized: thin strokes survive shrinking
    mask_t = torch.from_numpy(m_s.astype(np.float32))[None, None]
    fill = card_value(card, "input_fill") or "zero"
    # the classical fill at the model's working size: the model's input when its card says so, and always the
    # baseline its region metrics stand beside
    formula = corruptions.fill_hole(img_s, m_s, "biharmonic")
    seen = image_tensor(np.where(m_s, np.float32(0.5), img_s)) if fill == "zero" else image_tensor(
        formula if fill == "biharmonic" else corruptions.fill_hole(img_s, m_s, fill))
    parts = [seen, mask_t]
    lab = None if labels is None else np.asarray(labels).astype(np.uint8)
    if lab is not None and lab.shape != image.shape:
        raise ValueError("the label map and the image must have the same size")
    if k:
        parts.append(_one_hot(fit_slice(lab, size, labels=True)[0], k) if lab is not None else torch.zeros(1, k, size, size))
    job = Job(torch.cat(parts, 1), lambda y: y)

    def finish(y: np.ndarray) -> TaskResult:
        out = np.where(region, unfit_slice(_to_unit(y), info), image).astype(np.float32)
        classical = np.where(region, unfit_slice(formula, info), image).astype(np.float32)
        job.quality += [QualityCheck(out, image), QualityCheck(out, image, "region ", mask=region),
                        QualityCheck(classical, image, "biharmonic region ", mask=region)]
        job.after = _gain_over_biharmonic
        job.checks.append(SegCheck(out, lab) if lab is not None else SegCheck(out, image, ref_is_image=True))
        return TaskResult(out, lab, np.where(region, 0.0, image).astype(np.float32))

    job.finish = finish
    return job


def prepare_segmentation(image: np.ndarray, card: Any, reference_labels: np.ndarray | None = None) -> Job:
    image = _check_image(image)
    ref = None if reference_labels is None else np.asarray(reference_labels).astype(np.uint8)
    if ref is not None and ref.shape != image.shape:
        raise ValueError("the reference label map and the image must have the same size")
    sq, info = fit_slice(image, _size(card))
    k = _num_classes(card)
    job = Job(image_tensor(sq), lambda y: y)

    def finish(y: np.ndarray) -> TaskResult:
        labels = unfit_slice(y[0].argmax(0).astype(np.uint8), info, labels=True).astype(np.uint8)
        if ref is not None:
            job.labels.append(LabelCheck(labels, ref, card_value(card, "label_classes"), iou=True))
        return TaskResult((labels / max(k - 1, 1)).astype(np.float32), labels, image)

    job.finish = finish
    return job


def prepare_enhancement(image: np.ndarray, card: Any, degradation: str | None = None, degrade: bool = True,
                        clean: np.ndarray | None = None, seed: int = 0) -> Job:
    image = _check_image(image)
    kind = degradation or card_value(card, "degradation") or "denoise"
    if kind not in corruptions.DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r}; valid: {', '.join(corruptions.DEGRADATIONS)}")
    size = _size(card)
    # A degradation is defined per pixel (noise σ, blur σ, the ×4 grid), and the model learnt it at its own pixel
    # scale: a slice that fits in the model's grid is mirrored out to it, not resampled (resizing a 64 px MR to
    # 256 px made the ×4 model restore a ×16 blur, below bicubic); larger slices are resized to fit.
    rng = np.random.default_rng(seed)
    if max(image.shape) <= size:
        if degrade:
            clean = image
        degraded = corruptions.degrade(image, kind, rng=rng) if degrade else image
        deg_s, window = pad_slice(degraded, size)
        back: Callable[[np.ndarray], np.ndarray] = lambda out: np.clip(out[window], 0, 1).astype(np.float32)  # noqa: E731
    else:
        if degrade:
            clean = image
            clean_s, info = fit_slice(image, size)
            deg_s = corruptions.degrade(clean_s, kind, rng=rng)
            degraded = unfit_slice(deg_s, info)
        else:
            degraded = image
            deg_s, info = fit_slice(image, size)
        back = lambda out: unfit_slice(out, info)  # noqa: E731
    if clean is not None:
        clean = _check_image(clean, "clean image")
        if clean.shape != image.shape:
            raise ValueError("the clean image and the input must have the same size")

    job = Job(image_tensor(deg_s), lambda y: y)

    def gains(m: dict[str, float]) -> None:
        m["psnr gain"] = m["psnr"] - m["input psnr"]
        m["ssim gain"] = m["ssim"] - m["input ssim"]

    def finish(y: np.ndarray) -> TaskResult:
        out = back(_to_unit(y))
        if clean is not None:
            job.quality += [QualityCheck(out, clean), QualityCheck(degraded, clean, "input ")]
            job.after = gains
        return TaskResult(out, None, degraded.astype(np.float32))

    job.finish = finish
    return job


def prepare_generation(z: torch.Tensor, card: Any) -> Job:
    """One noise row ``z`` (1, z_dim) → a Job whose output is the image (channel 0) and, when the generator
    makes them, the label map (argmax of channels 1..K), with the label-agreement check queued."""
    job = Job(z, lambda y: y)

    def finish(y: np.ndarray) -> TaskResult:
        img = _to_unit(y)
        lab = y[0, 1:].argmax(0).astype(np.uint8) if y.shape[1] > 1 else None
        if lab is not None:
            job.checks.append(SegCheck(img, lab))
        return TaskResult(img, lab, img, {})

    job.finish = finish
    return job
