"""The five tasks over NumPy slices: preprocessing, model call, postprocessing, metrics.

Every function takes slices of any size ``(H, W)``: images float32 in ``[0, 1]``, label maps integer with
``0 = background``, region masks boolean (True = missing). The slice is padded to a square and resized to the
model's ``image_size``, the model runs under ``torch.inference_mode``, and the output is mapped back to
``(H, W)`` (labels with nearest-neighbour so they stay integer). ``model`` is a checkpoint name or a loaded
model (``medgan.inference.LoadedModel``: ``.module`` + ``.card``).

Metrics (DESIGN.md), named for what they compare with: synthesis "label agreement with the U-Net" (Dice of the
bundled ``unet_segmentation``'s labels of the output vs the input labels, when the U-Net is present), plus
PSNR/SSIM vs the real slice when given; inpainting PSNR/SSIM on the whole image and inside the region, and the
U-Net's label agreement between output and original; segmentation Dice and IoU per class vs reference labels
(accuracy only when the reference is real: the dataset's or the user's labels); enhancement PSNR/SSIM of the
output and of the degraded input vs the clean image (and their gain); generation: label agreement between the
generated label map and the U-Net's segmentation of the generated image.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from medgan.inference import list_cards, load_model
from medgan.tasks.encode import (
    Job,
    TaskResult,
    card_value,
    fit_slice,
    image_tensor,
    prepare_enhancement,
    prepare_generation,
    prepare_inpainting,
    prepare_segmentation,
    prepare_synthesis,
    unfit_slice,
)
from medgan.tasks.scoring import score
from medgan.tasks.specs import TASK_NAMES

logger = logging.getLogger(__name__)

SEGMENTER = "unet_segmentation"


def resolve(model: Any) -> tuple[torch.nn.Module, Any]:
    """A checkpoint name or a loaded model → (module in eval mode, card)."""
    if isinstance(model, str):
        model = load_model(model)
    return model.module, model.card


def check_task(card: Any, task: str) -> None:
    got = card_value(card, "task")
    if got is not None and got != task:
        name = card_value(card, "name", "this checkpoint")
        raise ValueError(f"{name} serves {got}, not {task}; pick a {task} checkpoint")


def segmenter() -> Any | None:
    """The segmentation U-Net ``unet_segmentation`` (loaded once), or None when it is not installed."""
    if not any(c.name == SEGMENTER for c in list_cards("segmentation")):
        return None
    try:
        return load_model(SEGMENTER)
    except Exception as exc:  # a broken checkpoint only disables the metrics that need it
        logger.warning("cannot load %s for label-agreement metrics: %s", SEGMENTER, exc)
        return None


def run_jobs(module: torch.nn.Module, jobs: list[Job], seed: int = 0, metrics: bool = True) -> list[TaskResult]:
    """One batched forward pass for ``jobs``, per-slice decoding, then the metrics of the whole batch together
    (:func:`medgan.tasks.scoring.score`; the segmentation U-Net of the label-agreement metrics also runs batched,
    and is skipped with ``metrics=False``)."""
    torch.manual_seed(int(seed))
    with torch.inference_mode():
        y = module(torch.cat([j.x for j in jobs])).float().numpy()
    results = [j.finish(y[i : i + 1]) for i, j in enumerate(jobs)]
    seg = segmenter() if metrics and any(j.checks for j in jobs) else None
    score(results, jobs, seg, None if seg is None else lambda images: segment_many(images, seg))
    return results


def segment_many(images: list[np.ndarray], model: Any, batch: int = 4) -> list[np.ndarray]:
    """Label maps uint8 (H, W) of [0, 1] images of any sizes, segmented in batches."""
    module, card = resolve(model)
    size = int(card_value(card, "image_size", 256))
    out: list[np.ndarray] = []
    for start in range(0, len(images), batch):
        fitted = [fit_slice(im, size) for im in images[start : start + batch]]
        x = torch.cat([image_tensor(sq) for sq, _ in fitted])
        with torch.inference_mode():
            lab = module(x).float().numpy().argmax(1).astype(np.uint8)
        out += [unfit_slice(lab[i], info, labels=True).astype(np.uint8) for i, (_, info) in enumerate(fitted)]
    return out


def segment_labels(image: np.ndarray, model: Any) -> np.ndarray:
    """Label map uint8 (H, W) of a [0, 1] image with a segmentation model."""
    return segment_many([image], model)[0]


def _one(task: str, model: Any, prepare: Callable[[Any], Job], seed: int = 0) -> TaskResult:
    module, card = resolve(model)
    check_task(card, task)
    return run_jobs(module, [prepare(card)], seed)[0]


def synthesize(labels: np.ndarray, model: Any, seed: int = 0, reference: np.ndarray | None = None) -> TaskResult:
    """Label map (H, W) int → image (H, W) in [0, 1]. ``reference``: the real slice the labels came from."""
    return _one("synthesis", model, lambda card: prepare_synthesis(labels, card, reference), seed)


def inpaint(image: np.ndarray, region: np.ndarray, model: Any, labels: np.ndarray | None = None,
            seed: int = 0) -> TaskResult:
    """Fill ``region`` (bool (H, W), True = missing) of ``image`` (H, W) [0, 1]; outside the region the output
    equals the input exactly. ``labels`` (H, W) int guide the fill when the model takes them."""
    return _one("inpainting", model, lambda card: prepare_inpainting(image, region, card, labels), seed)


def segment(image: np.ndarray, model: Any, reference_labels: np.ndarray | None = None) -> TaskResult:
    """Image (H, W) [0, 1] → label map; ``output`` is the label map scaled to [0, 1] for display."""
    return _one("segmentation", model, lambda card: prepare_segmentation(image, card, reference_labels))


def enhance(image: np.ndarray, model: Any, degradation: str | None = None, degrade: bool = True,
            clean: np.ndarray | None = None, seed: int = 0) -> TaskResult:
    """Enhancement (denoise, ×4 super-resolution, deblur) of an image (H, W) [0, 1].

    degrade=True: ``image`` is the clean slice; it is degraded at the model's resolution (``degradation``, by
    default the card's) and restored, and metrics compare both with it. degrade=False: ``image`` is already
    degraded (for sr4: already up-sampled to the output grid); ``clean`` (optional) gives the metrics.
    """
    return _one("enhancement", model,
                lambda card: prepare_enhancement(image, card, degradation, degrade, clean, seed), seed)


def generate(model: Any, n: int = 4, seed: int = 0) -> list[TaskResult]:
    """``n`` samples of image + label map from noise (seeded). Metrics per sample: Dice between the generated
    label map and the U-Net's segmentation of the generated image (when the U-Net is present)."""
    if not 1 <= int(n) <= 64:
        raise ValueError(f"the number of samples must be between 1 and 64, got {n}")
    module, card = resolve(model)
    check_task(card, "generation")
    z_dim = int(card_value(card, "z_dim", 128) or 128)
    z = torch.randn(int(n), z_dim, generator=torch.Generator().manual_seed(int(seed)))

    return run_jobs(module, [prepare_generation(z[i : i + 1], card) for i in range(int(n))], seed)


TASK_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "synthesis": synthesize, "inpainting": inpaint, "segmentation": segment, "enhancement": enhance,
    "generation": generate,
}


def get_task(name: str) -> Callable[..., Any]:
    """Task function by name; unknown names raise ValueError listing the valid ones."""
    if name not in TASK_FUNCTIONS:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(TASK_NAMES)}")
    return TASK_FUNCTIONS[name]
