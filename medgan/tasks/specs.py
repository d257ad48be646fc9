"""One :class:`TaskSpec` per task, in one registry (:data:`TASKS`): what every layer needs to know about a task.

Training data (:func:`make_sample`), validation, the evaluation protocol, the cards, the run panel and the job
specs read a task's rules from here instead of deciding them again. Channel counts are for ``k`` label classes.
Training samples are float32 NumPy arrays; images in ``[-1, 1]`` ``(1, H, W)``, one-hot label maps ``(K, H, W)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor

from medgan.data.corruptions import DEGRADATIONS, box_hole, degrade, fill_hole, hole_size, stroke_hole
from medgan.tasks import encode

if TYPE_CHECKING:  # typing only: training.config takes the task list from this module
    from medgan.training.config import DataConfig

Sample = dict[str, np.ndarray]
SampleFn = Callable[[np.ndarray, "np.ndarray | None", "DataConfig", int, np.random.Generator], Sample]


def one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    """(H, W) integer → (K, H, W) float32 one-hot."""
    return (labels[None] == np.arange(k)[:, None, None]).astype(np.float32)


def square_mask(shape: tuple[int, int], side: int, within: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Boolean (H, W) mask with one ``side``-px square hole centred on a random ``within`` pixel."""
    h, w = shape
    side = min(side, h, w)
    if within.any():
        ys, xs = np.nonzero(within)
        i = int(rng.integers(len(ys)))
        cy, cx = int(ys[i]), int(xs[i])
    else:
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
    y0 = int(np.clip(cy - side // 2, 0, h - side))
    x0 = int(np.clip(cx - side // 2, 0, w - side))
    m = np.zeros(shape, dtype=bool)
    m[y0 : y0 + side, x0 : x0 + side] = True
    return m


# --------------------------------------------------------------------------------------------- training samples
def _synthesis(img: np.ndarray, lab: np.ndarray | None, cfg: DataConfig, k: int, rng: np.random.Generator) -> Sample:
    assert lab is not None
    sample = {"input": one_hot(lab, k), "target": img[None] * 2.0 - 1.0}
    if cfg.zero_background:
        sample["background"] = (lab == 0).astype(np.float32)[None]
    return sample


def _segmentation(img: np.ndarray, lab: np.ndarray | None, cfg: DataConfig, k: int,
                  rng: np.random.Generator) -> Sample:
    assert lab is not None
    return {"input": img[None] * 2.0 - 1.0, "target": one_hot(lab, k), "labels": lab.astype(np.int64)}


def _generation(img: np.ndarray, lab: np.ndarray | None, cfg: DataConfig, k: int, rng: np.random.Generator) -> Sample:
    assert lab is not None
    return {"target": np.concatenate([img[None] * 2.0 - 1.0, one_hot(lab, k)], axis=0)}


def _inpainting(img: np.ndarray, lab: np.ndarray | None, cfg: DataConfig, k: int, rng: np.random.Generator) -> Sample:
    """Input ``cat(what the generator sees, hole mask (1 = missing), one-hot labels or zeros)``; in the hole it
    sees 0 (``cfg.input_fill="zero"``) or a classical pre-fill ("biharmonic"). The hole: free-form strokes
    (``cfg.stroke_holes``), else a random rectangle up to ``cfg.hole_max`` px at 256 on tissue, else a 50×50
    square on tissue; the labels are dropped with ``cfg.label_dropout``."""
    x = img[None] * 2.0 - 1.0
    within = lab > 0 if lab is not None else img > 0.05
    if rng.random() < cfg.stroke_holes:
        mb = stroke_hole(img.shape, rng=rng)
    elif cfg.hole_max:
        mb = box_hole(img.shape, rng, cfg.hole_max, within)
    else:
        mb = square_mask(img.shape, hole_size(cfg.image_size), within, rng)
    m = mb.astype(np.float32)[None]
    cond = one_hot(lab, k) if lab is not None and rng.random() >= cfg.label_dropout else np.zeros(
        (k,) + img.shape, np.float32)
    seen = x * (1 - m) if cfg.input_fill == "zero" else fill_hole(img, mb, cfg.input_fill)[None] * 2.0 - 1.0
    return {"input": np.concatenate([seen, m, cond], axis=0), "target": x, "mask": m}


def _enhancement(img: np.ndarray, lab: np.ndarray | None, cfg: DataConfig, k: int,
                 rng: np.random.Generator) -> Sample:
    if cfg.degradation is None:
        raise ValueError(f"enhancement needs a degradation: {', '.join(DEGRADATIONS)}")
    return {"input": degrade(img, cfg.degradation, rng=rng)[None] * 2.0 - 1.0, "target": img[None] * 2.0 - 1.0}


# --------------------------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class TaskSpec:
    """A task's rules. ``in_channels(k)`` / ``out_channels(k)``: the generator's channels (``None``: noise);
    ``sample``: one training sample from a [0, 1] slice and its labels; ``prepare``: the inference encode/decode
    (:mod:`medgan.tasks.encode`); ``composited``: the output is the input outside the mask, the model inside;
    ``val_metrics``: what validation (and so the card's ``val`` / ``test``) reports; ``card_phrase``: the card
    summary's "what" (``{degradation}`` filled in); ``label``: the UI's name; ``archs``: the architectures that
    serve the task, the default first; ``degradations``: the degradations it accepts."""

    name: str
    label: str
    card_phrase: str
    archs: tuple[str, ...]
    in_channels: Callable[[int], int | None]
    out_channels: Callable[[int], int]
    sample: SampleFn
    prepare: Callable[..., encode.Job]
    val_metrics: tuple[str, ...]
    needs_labels: bool = False
    composited: bool = False
    degradations: tuple[str, ...] = ()

    def composite(self, raw: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """What the generator's raw output ``(N, C, H, W)`` means for this task: for inpainting the target outside
        ``batch["mask"]`` and the output inside it; black (-1) where ``batch["background"]`` is (synthesis with
        ``zero_background``); otherwise the output as it is."""
        if "background" in batch:
            return raw * (1 - batch["background"]) - batch["background"]
        if not self.composited:
            return raw
        m = batch["mask"]
        return batch["target"] * (1 - m) + raw * m

    def phrase(self, degradation: str | None = None) -> str:
        """The card summary's description of what the model does."""
        return self.card_phrase.format(degradation=degradation or "")


TASKS: dict[str, TaskSpec] = {
    "synthesis": TaskSpec(
        "synthesis", "Synthesis (labels → image)", "labels → T1 brain slice", ("spade", "pix2pix"),
        lambda k: k, lambda k: 1, _synthesis, encode.prepare_synthesis, ("psnr", "ssim"), needs_labels=True),
    "inpainting": TaskSpec(
        "inpainting", "Inpainting (fill a region)", "inpaints a masked region", ("spade", "pix2pix"),
        lambda k: 2 + k, lambda k: 1, _inpainting, encode.prepare_inpainting, ("psnr", "ssim", "psnr_hole"),
        composited=True),
    "segmentation": TaskSpec(
        "segmentation", "Segmentation (image → labels)", "T1 slice → CSF/GM/WM labels", ("pix2pix", "unet"),
        lambda k: 1, lambda k: k, _segmentation, encode.prepare_segmentation, ("dice_mean", "dice_<class>"),
        needs_labels=True),
    "enhancement": TaskSpec(
        "enhancement", "Enhancement (denoise, ×4 SR, deblur)", "{degradation} enhancement", ("wgangp", "pix2pix"),
        lambda k: 1, lambda k: 1, _enhancement, encode.prepare_enhancement,
        ("psnr", "ssim", "psnr_input", "ssim_input"), degradations=DEGRADATIONS),
    "generation": TaskSpec(
        "generation", "Generation (noise → image + labels)", "noise → image + labels",
        ("dcgan", "lsgan", "wgangp", "hingegan", "stylegan"), lambda k: None, lambda k: 1 + k, _generation,
        encode.prepare_generation, (), needs_labels=True),
}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_spec(name: str) -> TaskSpec:
    """The spec of task ``name``; ValueError listing the valid names otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(TASKS)}") from None


def make_task_sample(task: str, img: np.ndarray, lab: np.ndarray | None, cfg: Any, k: int,
                     rng: np.random.Generator) -> Sample:
    """One training sample of ``task`` from a [0, 1] slice ``img`` (H, W) and its labels (H, W) or None."""
    spec = get_spec(task)
    if lab is None and spec.needs_labels:
        raise ValueError(f"task {task!r} needs label maps; this dataset has none")
    return spec.sample(np.ascontiguousarray(img, dtype=np.float32), lab, cfg, k, rng)
