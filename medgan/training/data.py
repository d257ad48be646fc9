"""Training data: slice sets (embedded brain, phantoms, folders), seed augmentations, and per-task batches.

Batches are dicts of tensors (images in [-1, 1], see docs/architecture.md):
  "input"  generator input (absent for generation), "target" what the generator should produce
  (generation: cat(image, one-hot labels) (N, 1 + K, H, W)), "mask" (N, 1, H, W) hole mask for inpainting
  (1 = missing), "labels" (N, H, W) int64 for segmentation.
Sampling is a pure function of (seed, step): the same global batch on every rank and after a resume.

Under data parallelism :class:`BatchSampler` is the distributed sampler: step ``i``'s global batch of N·B slices
is cut into N contiguous, disjoint shares of B, one per rank, and each sample's randomness (crop, hole, noise,
augmentation) is seeded by its position in the global batch, so the ranks' shares concatenated are exactly the
batch one process draws with batch size N·B. ``torch.utils.data.distributed.DistributedSampler`` is not used:
it is epoch-driven (an iterator per epoch, padding or dropping the epoch's tail, ``set_epoch`` to reshuffle), so a
resume at an arbitrary step would have to replay the epoch up to that step and the last batch of an epoch would
differ from the single-process one; drawing each step's batch directly from (seed, step) keeps exact resume and
the N ranks ≙ one process equality.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy import ndimage
from skimage.transform import resize

from medgan.data.folders import load_folder
from medgan.data.randomise import FAMILIES, randomise
from medgan.tasks.specs import make_task_sample
from medgan.training.config import DataConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SliceSet:
    """images float32 (N, S, S) in [0, 1]; labels uint8 (N, S, S) or None; ``labelled`` bool (N,): which slices
    have labels, when only some do (None: all of them, if there are labels)."""

    images: np.ndarray
    labels: np.ndarray | None
    labelled: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def label(self, i: int) -> np.ndarray | None:
        """Slice ``i``'s labels, or None where it has none."""
        if self.labels is None or (self.labelled is not None and not self.labelled[i]):
            return None
        return self.labels[i]


def _resize_set(images: np.ndarray, labels: np.ndarray | None, size: int) -> SliceSet:
    if images.shape[-1] == size and images.shape[-2] == size:
        return SliceSet(images.astype(np.float32), labels)
    imgs = np.stack([resize(im, (size, size), order=1, anti_aliasing=True, preserve_range=True) for im in images])
    labs = None
    if labels is not None:
        labs = np.stack([resize(lb, (size, size), order=0, anti_aliasing=False, preserve_range=True)
                         for lb in labels]).astype(np.uint8)
    return SliceSet(np.clip(imgs, 0, 1).astype(np.float32), labs)


def load_slices(cfg: DataConfig, split: str) -> SliceSet:
    """The slices of ``split`` ("train", "val", "test") for ``cfg.source`` at ``cfg.image_size``."""
    if cfg.source == "embedded":
        from medgan.data import load_brain

        b = load_brain(split)
        return _resize_set(b.images, b.labels, cfg.image_size)
    if cfg.source == "embedded+pydicom":  # the brain, with its labels, plus real slices of other anatomy without
        from medgan.data import load_brain
        from medgan.data.extra_scans import pydicom_training_slices

        b = load_brain(split)
        brain = _resize_set(b.images, b.labels, cfg.image_size)
        if split != "train":
            return brain
        extra = pydicom_training_slices(cfg.image_size)
        assert brain.labels is not None
        return SliceSet(np.concatenate([brain.images, extra]),
                        np.concatenate([brain.labels, np.zeros(extra.shape, brain.labels.dtype)]),
                        np.r_[np.ones(len(brain), bool), np.zeros(len(extra), bool)])
    if cfg.source == "phantoms":
        from medgan.data.phantoms import phantom_set

        n = cfg.num_phantoms if split == "train" else max(4, cfg.num_phantoms // 8)
        imgs, labs = phantom_set(n, cfg.image_size, seed={"train": 0, "val": 1, "test": 2}[split])
        return SliceSet(imgs, labs)

    data = load_folder(cfg.source, cfg.image_size)
    images = np.asarray(getattr(data, "images", data[0] if isinstance(data, tuple) else data), dtype=np.float32)
    labels = getattr(data, "labels", data[1] if isinstance(data, tuple) and len(data) > 1 else None)
    labels = None if labels is None else np.asarray(labels).astype(np.uint8)
    n = len(images)
    n_val = max(1, n // 10) if n > 1 else 0
    sl = slice(0, n - n_val) if split == "train" else slice(n - n_val, n) if n_val else slice(0, n)
    return _resize_set(images[sl], None if labels is None else labels[sl], cfg.image_size)


def augment_pair(img: np.ndarray, lab: np.ndarray | None, rng: np.random.Generator, zoom_out: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Seed augmentations: horizontal/vertical flips, rotation ±15°, translation ±15 px (at 256, scaled); with
    ``zoom_out`` > 0 also a random shrink of the content by a factor in [1 - zoom_out, 1] (background around it).
    The image is resampled with cubic splines: linear interpolation at random sub-pixel offsets blurs every
    training target (−16 % mean |Laplacian| on the test slices), and generators learn that blur."""
    if rng.random() < 0.5:
        img, lab = img[:, ::-1], None if lab is None else lab[:, ::-1]
    if rng.random() < 0.5:
        img, lab = img[::-1], None if lab is None else lab[::-1]
    s = img.shape[0]
    angle = np.deg2rad(rng.uniform(-15, 15))
    shift = rng.uniform(-15, 15, 2) * s / 256
    c, sn = np.cos(angle), np.sin(angle)
    mat = np.array([[c, -sn], [sn, c]])
    if zoom_out > 0:
        mat = mat / rng.uniform(1.0 - zoom_out, 1.0)  # output → input coordinates: > 1 shrinks the content
    centre = np.array([s / 2 - 0.5, s / 2 - 0.5])
    offset = centre - mat @ centre - shift
    img = ndimage.affine_transform(np.ascontiguousarray(img), mat, offset=offset, order=3, mode="constant")
    if lab is not None:
        lab = ndimage.affine_transform(np.ascontiguousarray(lab), mat, offset=offset, order=0, mode="constant")
    return np.clip(img, 0, 1).astype(np.float32), lab


def random_crop(img: np.ndarray, lab: np.ndarray | None, size: int, rng: np.random.Generator,
                uniform: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """A ``size``×``size`` crop centred (when possible) on a random foreground pixel, or anywhere (``uniform``)."""
    h, w = img.shape
    if size >= h and size >= w:
        return img, lab
    fg = lab > 0 if lab is not None else img > 0.05
    if fg.any() and not uniform:
        ys, xs = np.nonzero(fg)
        i = int(rng.integers(len(ys)))
        cy, cx = int(ys[i]), int(xs[i])
    else:
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
    y0 = int(np.clip(cy - size // 2, 0, h - size))
    x0 = int(np.clip(cx - size // 2, 0, w - size))
    return img[y0 : y0 + size, x0 : x0 + size], None if lab is None else lab[y0 : y0 + size, x0 : x0 + size]


def blank_slice(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A tissue-free slice: a dark level in [0, 0.06] with faint Gaussian noise (σ ≤ 0.02), clipped to [0, 1]."""
    level, sigma = rng.uniform(0.0, 0.06), rng.uniform(0.0, 0.02)
    return np.clip(level + sigma * rng.standard_normal(shape), 0.0, 1.0).astype(np.float32)


def make_sample(img: np.ndarray, lab: np.ndarray | None, task: str, cfg: DataConfig, k: int,
                rng: np.random.Generator, augment: bool, crop: bool = False) -> dict[str, np.ndarray]:
    """One training/validation sample for ``task`` as float32 arrays (images in [-1, 1]); with ``crop`` and
    ``cfg.crop_size`` a random crop (holes keep their full-image size)."""
    if augment:
        img, lab = augment_pair(img, lab, rng, zoom_out=cfg.zoom_out)
    if augment and cfg.randomise > 0:
        img, lab = randomise(img, lab, rng, p=cfg.randomise, families=cfg.randomise_families or FAMILIES)
    if crop and cfg.crop_size:
        uniform = cfg.uniform_crops > 0 and rng.random() < cfg.uniform_crops
        img, lab = random_crop(img, lab, cfg.crop_size, rng, uniform=uniform)
    if crop and task == "segmentation" and lab is not None and cfg.blank_fraction > 0 \
            and rng.random() < cfg.blank_fraction:  # no tissue → background everywhere
        img, lab = blank_slice(img.shape, rng), np.zeros_like(lab)
    return make_task_sample(task, img, lab, cfg, k, rng)


def collate(samples: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    return {key: torch.from_numpy(np.stack([s[key] for s in samples])) for key in samples[0]}


class BatchSampler:
    """Deterministic, rank-sharded batches: step ``i`` draws the global batch (``world`` × ``cfg.batch_size``
    slices, wrapping into the next epoch) from epoch permutations seeded by ``seed`` and gives rank ``r`` the
    disjoint share ``[r·B, (r + 1)·B)``; each sample's randomness comes from (seed, step, global position)."""

    def __init__(self, data: SliceSet, task: str, cfg: DataConfig, k: int, seed: int, rank: int = 0,
                 world: int = 1) -> None:
        self.data, self.task, self.cfg, self.k = data, task, cfg, k
        self.seed, self.rank, self.world = seed, rank, world
        if len(data) == 0:
            raise ValueError("the training set is empty")

    def global_indices(self, step: int) -> np.ndarray:
        n, gb = len(self.data), self.cfg.batch_size * self.world
        start = step * gb
        out = []
        while len(out) < gb:
            epoch, pos = divmod(start + len(out), n)
            perm = np.random.default_rng([self.seed, 7, epoch]).permutation(n)
            out.extend(perm[pos : min(n, pos + gb - len(out))].tolist())
        return np.asarray(out)

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        idx = self.global_indices(step)
        b = self.cfg.batch_size
        samples = []
        for j in range(self.rank * b, (self.rank + 1) * b):
            rng = np.random.default_rng([self.seed, 11, step, j])
            i = int(idx[j])
            lab = self.data.label(i)
            samples.append(make_sample(self.data.images[i], lab, self.task, self.cfg, self.k, rng, self.cfg.augment,
                                       crop=True))
        return collate(samples)


def fixed_batches(data: SliceSet, task: str, cfg: DataConfig, k: int, limit: int, batch_size: int = 4,
                  seed: int = 1234) -> list[dict[str, torch.Tensor]]:
    """Deterministic evaluation batches (no augmentation; holes/noise seeded per slice index)."""
    n = min(limit, len(data))
    samples = []
    for i in range(n):
        lab = data.label(i)
        samples.append(make_sample(data.images[i], lab, task, _eval_cfg(cfg), k,
                                   np.random.default_rng([seed, i]), False))
    return [collate(samples[i : i + batch_size]) for i in range(0, n, batch_size)]


def _eval_cfg(cfg: DataConfig) -> DataConfig:
    return replace(cfg, label_dropout=1.0, stroke_holes=0.0, hole_max=0)  # blind 50×50 holes: what users have
