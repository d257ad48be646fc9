"""The five tasks over NumPy slices: preprocessing, model call, postprocessing, metrics.

Every function takes slices of any size ``(H, W)``: images float32 in ``[0, 1]``, label maps integer with
``0 = background``, region masks boolean (True = missing). The slice is padded to a square and resized to the
model's ``image_size``, the model runs under ``torch.inference_mode``, and the output is mapped back to
``(H, W)`` (labels with nearest-neighbour so they stay integer). ``model`` is a checkpoint name or a loaded
model (``medgan.inference.LoadedModel``: ``.module`` + ``.card``).

Metrics (DESIGN.md): synthesis Dice(seg(output), input labels) using the bundled ``unet_segmentation`` when
present, plus PSNR/SSIM vs the real slice when given; inpainting PSNR/SSIM on the whole image and inside the
region, Dice(seg(output), seg(original)); segmentation Dice and IoU per class; enhancement PSNR/SSIM of the
output and of the degraded input vs the clean image (and their gain); generation: agreement between the
generated label map and the U-Net's segmentation of the generated image.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from medgan.data import corruptions
from medgan.io import FitInfo, fit_to_square, unfit
from medgan.metrics.image import finite_psnr, psnr, ssim
from medgan.metrics.segmentation import dice_per_class, iou_per_class

logger = logging.getLogger(__name__)

TASKS: tuple[str, ...] = ("synthesis", "inpainting", "segmentation", "enhancement", "generation")
SEGMENTER = "unet_segmentation"


@dataclass
class TaskResult:
    """output: float32 (H, W) in [0, 1]; labels: uint8 (H, W) or None; input_display: float32 (H, W) in [0, 1]
    (what the model saw: labels scaled to [0, 1], the image with the hole blanked, the degraded image);
    metrics: flat name → value."""

    output: np.ndarray
    labels: np.ndarray | None = None
    input_display: np.ndarray | None = None
    metrics: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- model access
def card_value(card: Any, key: str, default: Any = None) -> Any:
    """A model card field (cards may be dataclasses or plain dicts)."""
    if isinstance(card, dict):
        return card.get(key, default)
    return getattr(card, key, default)


def resolve(model: Any) -> tuple[torch.nn.Module, Any]:
    """A checkpoint name or a loaded model → (module in eval mode, card)."""
    if isinstance(model, str):
        from medgan.inference import load_model

        model = load_model(model)
    return model.module, model.card


def check_task(card: Any, task: str) -> None:
    got = card_value(card, "task")
    if got is not None and got != task:
        name = card_value(card, "name", "this checkpoint")
        raise ValueError(f"{name} serves {got}, not {task}; pick a {task} checkpoint")


def segmenter() -> Any | None:
    """The segmentation U-Net ``unet_segmentation`` (loaded once), or None when it is not installed."""
    from medgan.inference import list_cards, load_model

    if not any(c.name == SEGMENTER for c in list_cards("segmentation")):
        return None
    try:
        return load_model(SEGMENTER)
    except Exception as exc:  # a broken checkpoint only disables the metrics that need it
        logger.warning("cannot load %s for label-agreement metrics: %s", SEGMENTER, exc)
        return None


@dataclass
class _Loaded:
    module: torch.nn.Module
    card: Any


# --------------------------------------------------------------------------------------------- geometry
def _fit(x: np.ndarray, size: int, labels: bool = False) -> tuple[np.ndarray, FitInfo]:
    """(H, W) → (size, size): centred zero padding to a square, then resize (nearest for labels)."""
    sq, info = fit_to_square(x, size, labels=labels, fill=None if labels else 0.0)
    return (sq if labels else sq.astype(np.float32)), info


def _unfit(x: np.ndarray, info: FitInfo, labels: bool = False) -> np.ndarray:
    out = unfit(x, info, labels=labels)
    return out if labels else np.clip(out, 0, 1).astype(np.float32)


def _num_classes(card: Any, default: int = 4) -> int:
    names = card_value(card, "label_classes")
    return len(names) if names else default


def _one_hot(labels: np.ndarray, k: int) -> torch.Tensor:
    """(H, W) int → (1, K, H, W) float; values ≥ K count as background."""
    lab = torch.from_numpy(labels.astype(np.int64))
    lab[(lab < 0) | (lab >= k)] = 0
    return torch.nn.functional.one_hot(lab, k).permute(2, 0, 1)[None].float()


def _img_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None] * 2 - 1


def _to_unit(t: torch.Tensor) -> np.ndarray:
    """(1, 1, S, S) in [-1, 1] → (S, S) float32 in [0, 1]."""
    return ((t[0, 0].float().clamp(-1, 1) + 1) / 2).numpy().astype(np.float32)


def _check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"the {what} must be one 2-D slice (H, W), got shape {image.shape}")
    if min(image.shape) < 8:
        raise ValueError(f"the {what} is too small ({image.shape[0]}×{image.shape[1]}); at least 8×8 is needed")
    image = np.nan_to_num(image.astype(np.float32), nan=0.0)
    return np.clip(image, 0.0, 1.0)


def segment_labels(image: np.ndarray, model: Any) -> np.ndarray:
    """Label map uint8 (H, W) of a [0, 1] image with a segmentation model."""
    module, card = resolve(model)
    size = int(card_value(card, "image_size", 256))
    sq, info = _fit(image, size)
    x = _img_tensor(sq)
    with torch.inference_mode():
        logits = module(x)
    lab = logits[0].argmax(0).to(torch.uint8).numpy()
    return _unfit(lab, info, labels=True).astype(np.uint8)


def _dice_metrics(pred: np.ndarray, ref: np.ndarray, names: list[str] | tuple[str, ...] | None,
                  prefix: str = "dice", iou: bool = False) -> dict[str, float]:
    """Dice (and IoU) per foreground class present in either map, plus their mean."""
    k = max(int(pred.max()), int(ref.max())) + 1
    if names:
        k = max(k, len(names))
    out: dict[str, float] = {}
    dice = dice_per_class(pred, ref, k, include_background=True).numpy()
    ious = iou_per_class(pred, ref, k, include_background=True).numpy() if iou else None
    fg = []
    for c in range(1, k):
        if not ((pred == c).any() or (ref == c).any()):
            continue
        name = names[c] if names and c < len(names) else f"class {c}"
        out[f"{prefix} {name}"] = float(dice[c])
        fg.append(float(dice[c]))
        if ious is not None:
            out[f"iou {name}"] = float(ious[c])
    if fg:
        out[f"{prefix} mean"] = float(np.mean(fg))
    return out


def _quality(out: np.ndarray, ref: np.ndarray, prefix: str = "") -> dict[str, float]:
    return {f"{prefix}psnr": float(finite_psnr(psnr(out, ref))), f"{prefix}ssim": float(ssim(out, ref))}


# --------------------------------------------------------------------------------------------- tasks
def synthesize(labels: np.ndarray, model: Any, seed: int = 0, reference: np.ndarray | None = None) -> TaskResult:
    """Label map (H, W) int → image (H, W) in [0, 1]. ``reference``: the real slice the labels came from."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"the label map must be one 2-D slice (H, W), got shape {labels.shape}")
    module, card = resolve(model)
    check_task(card, "synthesis")
    size = int(card_value(card, "image_size", 256))
    k = _num_classes(card)
    labels = np.clip(labels.astype(np.int64), 0, None)
    if labels.max() >= k:
        logger.warning("label values ≥ %d are treated as background", k)
        labels = np.where(labels >= k, 0, labels)
    labels = labels.astype(np.uint8)
    torch.manual_seed(int(seed))
    lab_s, info = _fit(labels, size, labels=True)
    x = _one_hot(lab_s, k)
    with torch.inference_mode():
        y = module(x)
    out = _unfit(_to_unit(y), info)
    metrics: dict[str, float] = {}
    seg = segmenter()
    names = card_value(card, "label_classes")
    if seg is not None:
        metrics.update(_dice_metrics(segment_labels(out, seg), labels, names))
    if reference is not None:
        metrics.update(_quality(out, _check_image(reference, "reference")))
    disp = (labels.astype(np.float32) / max(k - 1, 1)).astype(np.float32)
    return TaskResult(out.astype(np.float32), labels, disp, metrics)


def inpaint(image: np.ndarray, region: np.ndarray, model: Any, labels: np.ndarray | None = None,
            seed: int = 0) -> TaskResult:
    """Fill ``region`` (bool (H, W), True = missing) of ``image`` (H, W) [0, 1]; outside the region the output
    equals the input exactly. ``labels`` (H, W) int guide the fill when the model takes them."""
    image = _check_image(image)
    region = np.asarray(region).astype(bool)
    if region.shape != image.shape:
        raise ValueError(f"the region mask is {region.shape[0]}×{region.shape[1]} but the image is "
                         f"{image.shape[0]}×{image.shape[1]}; they must match")
    if not region.any():
        raise ValueError("the inpainting region is empty: paint the area to fill on the region layer")
    module, card = resolve(model)
    check_task(card, "inpainting")
    size = int(card_value(card, "image_size", 256))
    in_ch = int(card_value(card, "in_channels", 2 + _num_classes(card)))
    k = max(in_ch - 2, 0)
    img_s, info = _fit(image, size)
    m_s = _fit(region.astype(np.float32), size)[0] > 0.25  # area-resized: thin strokes survive shrinking
    x_img = _img_tensor(img_s)
    mask_t = torch.from_numpy(m_s.astype(np.float32))[None, None]
    parts = [x_img * (1 - mask_t), mask_t]
    if k:
        if labels is not None:
            lab = np.asarray(labels).astype(np.int64)
            if lab.shape != image.shape:
                raise ValueError("the label map and the image must have the same size")
            parts.append(_one_hot(_fit(lab, size, labels=True)[0], k))
        else:
            parts.append(torch.zeros(1, k, size, size))
    torch.manual_seed(int(seed))
    with torch.inference_mode():
        g = module(torch.cat(parts, 1))
    fill = _unfit(_to_unit(g), info)
    out = np.where(region, fill, image).astype(np.float32)
    metrics = _quality(out, image)
    inside = _quality_masked(out, image, region)
    metrics.update(inside)
    seg = segmenter()
    if seg is not None:
        ref = labels if labels is not None else segment_labels(image, seg)
        metrics.update(_dice_metrics(segment_labels(out, seg), np.asarray(ref).astype(np.uint8),
                                     card_value(seg.card, "label_classes")))
    disp = np.where(region, 0.0, image).astype(np.float32)
    out_labels = None if labels is None else np.asarray(labels).astype(np.uint8)
    return TaskResult(out, out_labels, disp, metrics)


def _quality_masked(out: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """PSNR and mean SSIM inside ``mask`` (the SSIM map averaged over the region)."""
    return {"region psnr": float(finite_psnr(psnr(out, ref, mask=mask))),
            "region ssim": float(ssim(out, ref, mask=mask))}


def segment(image: np.ndarray, model: Any, reference_labels: np.ndarray | None = None) -> TaskResult:
    """Image (H, W) [0, 1] → label map; ``output`` is the label map scaled to [0, 1] for display."""
    image = _check_image(image)
    module, card = resolve(model)
    check_task(card, "segmentation")
    labels = segment_labels(image, _Loaded(module, card))
    k = _num_classes(card)
    metrics: dict[str, float] = {}
    if reference_labels is not None:
        ref = np.asarray(reference_labels)
        if ref.shape != image.shape:
            raise ValueError("the reference label map and the image must have the same size")
        metrics.update(_dice_metrics(labels, ref.astype(np.uint8), card_value(card, "label_classes"), iou=True))
    out = (labels.astype(np.float32) / max(k - 1, 1)).astype(np.float32)
    return TaskResult(out, labels, image, metrics)


def enhance(image: np.ndarray, model: Any, degradation: str | None = None, degrade: bool = True,
            clean: np.ndarray | None = None, seed: int = 0) -> TaskResult:
    """Enhancement (denoise, ×4 super-resolution, deblur) of an image (H, W) [0, 1].

    degrade=True: ``image`` is the clean slice; it is degraded at the model's resolution (``degradation``, by
    default the card's) and restored, and metrics compare both with it. degrade=False: ``image`` is already
    degraded (for sr4: already up-sampled to the output grid); ``clean`` (optional) gives the metrics.
    """
    image = _check_image(image)
    module, card = resolve(model)
    check_task(card, "enhancement")
    size = int(card_value(card, "image_size", 256))
    kind = degradation or card_value(card, "degradation") or "denoise"
    if kind not in corruptions.DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r}; valid: {', '.join(corruptions.DEGRADATIONS)}")
    if degrade:
        clean = image
        clean_s, info = _fit(image, size)
        deg_s = corruptions.degrade(clean_s, kind, rng=np.random.default_rng(seed))
        degraded = _unfit(deg_s, info)
    else:
        degraded = image
        deg_s, info = _fit(image, size)
    with torch.inference_mode():
        y = module(_img_tensor(deg_s))
    out = _unfit(_to_unit(y), info)
    metrics: dict[str, float] = {}
    if clean is not None:
        clean = _check_image(clean, "clean image")
        if clean.shape != image.shape:
            raise ValueError("the clean image and the input must have the same size")
        q_out, q_in = _quality(out, clean), _quality(degraded, clean, "input ")
        metrics.update(q_out)
        metrics.update(q_in)
        metrics["psnr gain"] = q_out["psnr"] - q_in["input psnr"]
        metrics["ssim gain"] = q_out["ssim"] - q_in["input ssim"]
    return TaskResult(out, None, degraded.astype(np.float32), metrics)


def generate(model: Any, n: int = 4, seed: int = 0) -> list[TaskResult]:
    """``n`` samples of image + label map from noise (seeded). Metrics per sample: Dice between the generated
    label map and the U-Net's segmentation of the generated image (when the U-Net is present)."""
    if not 1 <= int(n) <= 64:
        raise ValueError(f"the number of samples must be between 1 and 64, got {n}")
    module, card = resolve(model)
    check_task(card, "generation")
    z_dim = int(card_value(card, "z_dim", 128) or 128)
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(int(n), z_dim, generator=gen)
    with torch.inference_mode():
        y = module(z)
    seg = segmenter()
    names = card_value(card, "label_classes")
    results = []
    for i in range(int(n)):
        img = ((y[i, 0].clamp(-1, 1) + 1) / 2).numpy().astype(np.float32)
        lab = y[i, 1:].argmax(0).to(torch.uint8).numpy() if y.shape[1] > 1 else None
        metrics: dict[str, float] = {}
        if seg is not None and lab is not None:
            metrics.update(_dice_metrics(segment_labels(img, seg), lab, names, prefix="label agreement"))
        results.append(TaskResult(img, lab, img, metrics))
    return results


TASK_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "synthesis": synthesize, "inpainting": inpaint, "segmentation": segment, "enhancement": enhance,
    "generation": generate,
}


def get_task(name: str) -> Callable[..., Any]:
    """Task function by name; unknown names raise ValueError listing the valid ones."""
    if name not in TASK_FUNCTIONS:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(TASKS)}")
    return TASK_FUNCTIONS[name]


# --------------------------------------------------------------------------------------------- volumes
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
    """A Scan (or array) → float32 (Z, H, W) in [0, 1]: CT with the soft-tissue window, others by percentiles."""
    vol = np.asarray(getattr(scan, "volume", scan), dtype=np.float32)
    if vol.ndim == 2:
        vol = vol[None]
    if getattr(scan, "source_format", "") == "embedded" or (vol.min() >= 0 and vol.max() <= 1):
        return np.clip(vol, 0, 1)
    try:
        from medgan.io import auto_window

        return np.clip(np.asarray(auto_window(scan), dtype=np.float32), 0, 1)
    except Exception:  # windowing helpers not available: robust percentiles
        lo, hi = np.percentile(vol, [0.5, 99.5])
        return np.clip((vol - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def run_volume(task: str, scan: Any, model: Any, labels: np.ndarray | None = None,
               regions: np.ndarray | None = None, seed: int = 0, degradation: str | None = None,
               progress: Callable[[int, int], None] | None = None) -> VolumeResult:
    """Run a slice task over every slice of a volume (axis 0).

    scan: a Scan or float32 (Z, H, W) in [0, 1]; labels (Z, H, W) for synthesis (required) and as reference
    for segmentation / guide for inpainting; regions bool (Z, H, W) for inpainting (slices without a region are
    copied). progress(done, total) is called after each slice.
    """
    if task == "generation":
        raise ValueError("generation has no input volume; use generate(model, n, seed)")
    fn = get_task(task)
    vol = unit_volume(scan)
    if labels is None and getattr(scan, "labels", None) is not None and task in ("synthesis", "segmentation"):
        labels = scan.labels
    if task == "synthesis" and labels is None:
        raise ValueError("synthesis needs a label map for every slice")
    if task == "inpainting" and regions is None:
        raise ValueError("inpainting needs a region mask volume")
    loaded = _Loaded(*resolve(model))
    z = vol.shape[0]
    outs, labs, disps, per = [], [], [], []
    for i in range(z):
        lab = None if labels is None else np.asarray(labels[i])
        if task == "synthesis":
            r = fn(lab, loaded, seed=seed + i, reference=vol[i])
        elif task == "inpainting":
            reg = np.asarray(regions[i]).astype(bool)
            r = fn(vol[i], reg, loaded, labels=lab, seed=seed + i) if reg.any() else \
                TaskResult(vol[i], lab, vol[i], {})
        elif task == "segmentation":
            r = fn(vol[i], loaded, reference_labels=lab)
        else:
            r = fn(vol[i], loaded, degradation=degradation, seed=seed + i)
        outs.append(r.output)
        labs.append(r.labels)
        disps.append(r.input_display if r.input_display is not None else r.output)
        per.append(r.metrics)
        if progress is not None:
            progress(i + 1, z)
    keys = sorted({k for m in per for k in m})
    mean = {k: float(np.nanmean([m[k] for m in per if k in m])) for k in keys}
    out_labels = None if any(x is None for x in labs) else np.stack(labs).astype(np.uint8)
    return VolumeResult(np.stack(outs), out_labels, np.stack(disps), mean, per)
