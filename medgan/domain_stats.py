"""The in-domain score's calibration: features of a slice and their distribution over the training slices.

Features of a [0, 1] slice (padded to a square, resized to 256): the bundled ``unet_segmentation`` encoder's
pooled features (``medgan.metrics.features.medgan_features``), reduced by PCA to ``N_PCA`` whitened components,
plus simple image statistics (:data:`STAT_NAMES`: background fraction and level, border level, intensity
histogram of the tissue, saturation, fine texture). The reference set is the embedded train split and
``AUG_COPIES`` augmented copies of each train slice (flips, rotation, shifts and the intensity families of
``medgan.data.randomise`` the models are meant to tolerate: gamma, bias, noise, blur, resolution). The score of a
slice is its Mahalanobis distance (Ledoit–Wolf covariance) to the reference set divided by a threshold chosen so
that ``CALIBRATION_TARGET`` of the reference and validation slices pass; a score ≤ 1 is in domain.

The statistics are small; they ship beside the checkpoints (``checkpoints/domain_stats.npz``) and are rebuilt into
``MEDGAN_HOME/cache`` (about a minute on a CPU) when the U-Net weights they were computed with changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

logger = logging.getLogger(__name__)

VERSION = 1
SIZE = 256
N_PCA = 16
AUG_COPIES = 4
CALIBRATION_TARGET = 0.99
AUG_FAMILIES = ("gamma", "bias", "noise", "blur", "resolution")
BG_LEVEL = 0.02
BORDER = 12
HIST_BINS = 8
STAT_NAMES: tuple[str, ...] = (
    "background fraction", "border level", "border spread", "tissue mean", "tissue spread",
    *(f"tissue histogram {i}" for i in range(HIST_BINS)), "saturated fraction", "fine texture",
)
STAT_WORDS = {
    "background fraction": ("much less zero background than a skull-stripped brain slice",
                            "far more empty background than a brain slice"),
    "border level": ("", "a non-zero background at the image edges (not skull-stripped, or another body part)"),
    "border spread": ("", "structure or noise at the image edges"),
    "saturated fraction": ("", "many saturated (white) pixels"),
    "fine texture": ("an unusually smooth image", "much more fine texture or noise than the training slices"),
    "tissue mean": ("darker tissue than T1 brain MR", "brighter tissue than T1 brain MR"),
    "tissue spread": ("a narrower intensity range than T1 brain MR", "a wider intensity spread than T1 brain MR"),
}
BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints" / "domain_stats.npz"
SEGMENTER = "unet_segmentation"


# --------------------------------------------------------------------------------------------- features
def fit(image: np.ndarray) -> np.ndarray:
    """(H, W) [0, 1] → (256, 256) float32: centred zero padding to a square, then resize (as the tasks do)."""
    from medgan.io import fit_to_square

    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2 or min(img.shape) < 8:
        raise ValueError(f"the domain score needs one 2-D slice of at least 8×8 pixels, got {img.shape}")
    img = np.clip(np.nan_to_num(img, nan=0.0), 0, 1)
    return fit_to_square(img, SIZE, fill=0.0)[0].astype(np.float32)


def image_stats(sq: np.ndarray) -> np.ndarray:
    """The statistics of :data:`STAT_NAMES` of a fitted (256, 256) slice: float64 (S,)."""
    bg = sq < BG_LEVEL
    frame = np.concatenate([sq[:BORDER].ravel(), sq[-BORDER:].ravel(), sq[:, :BORDER].ravel(),
                            sq[:, -BORDER:].ravel()])
    tissue = sq[~bg]
    if tissue.size < 32:
        tissue = np.zeros(32, np.float32)
    hist = np.histogram(tissue, bins=HIST_BINS, range=(BG_LEVEL, 1.0))[0] / max(tissue.size, 1)
    smooth = ndimage.gaussian_filter(sq, 1.0)
    texture = float(np.abs(sq - smooth)[~bg].mean()) if (~bg).any() else 0.0
    return np.array([bg.mean(), frame.mean(), frame.std(), tissue.mean(), tissue.std(), *hist,
                     (sq > 0.98).mean(), texture], dtype=np.float64)


def encoder_features(fitted: np.ndarray) -> np.ndarray:
    """U-Net encoder features of fitted slices (N, 256, 256) → float64 (N, D)."""
    from medgan.metrics.features import medgan_features

    return medgan_features(SEGMENTER, batch_size=16)(np.asarray(fitted, np.float32)).numpy().astype(np.float64)


def features(images: list[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(encoder features (N, D), image statistics (N, S)) of [0, 1] slices of any size."""
    fitted = np.stack([fit(im) for im in images])
    return encoder_features(fitted), np.stack([image_stats(f) for f in fitted])


# --------------------------------------------------------------------------------------------- calibration
@dataclass
class Calibration:
    """PCA of the encoder features, standardisation of the statistics, the reference set's location and
    precision matrix, and the threshold on the Mahalanobis distance."""

    fingerprint: str
    enc_mean: np.ndarray
    pca: np.ndarray  # (N_PCA, D), rows scaled so the reference components have unit variance
    stat_mean: np.ndarray
    stat_std: np.ndarray
    location: np.ndarray
    precision: np.ndarray
    threshold: float
    pass_rates: dict[str, float]

    def embed(self, enc: np.ndarray, stats: np.ndarray) -> np.ndarray:
        return np.concatenate([(enc - self.enc_mean) @ self.pca.T, (stats - self.stat_mean) / self.stat_std], 1)

    def distance(self, enc: np.ndarray, stats: np.ndarray) -> np.ndarray:
        z = self.embed(enc, stats) - self.location
        return np.sqrt(np.maximum(np.einsum("ni,ij,nj->n", z, self.precision, z), 0))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        os.close(fd)
        np.savez_compressed(tmp, version=VERSION, fingerprint=self.fingerprint, enc_mean=self.enc_mean,
                            pca=self.pca, stat_mean=self.stat_mean, stat_std=self.stat_std, location=self.location,
                            precision=self.precision, threshold=self.threshold,
                            pass_names=np.array(list(self.pass_rates)), pass_values=np.array(list(
                                self.pass_rates.values()), dtype=np.float64))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Calibration:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != VERSION:
                raise ValueError(f"{path}: version {int(z['version'])}, expected {VERSION}")
            return cls(str(z["fingerprint"]), z["enc_mean"], z["pca"], z["stat_mean"], z["stat_std"], z["location"],
                       z["precision"], float(z["threshold"]),
                       dict(zip([str(n) for n in z["pass_names"]], [float(v) for v in z["pass_values"]])))


def fingerprint() -> str:
    """SHA-256 (first 16 hex digits) of the segmenter's weights file: the features depend on them."""
    from medgan.inference import find_card

    h = hashlib.sha256()
    with open(find_card(SEGMENTER).weights_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def reference_slices(seed: int = 0) -> list[np.ndarray]:
    """The embedded train slices and ``AUG_COPIES`` augmented copies of each (seeded)."""
    from medgan.data import load_brain
    from medgan.data.randomise import randomise
    from medgan.training.data import augment_pair

    train = load_brain("train")
    rng = np.random.default_rng(seed)
    out = [im for im in train.images]
    for _ in range(AUG_COPIES):
        for im, lab in zip(train.images, train.labels):
            a, b = augment_pair(im, lab, rng)
            a, _ = randomise(a, b, rng, p=0.5, families=AUG_FAMILIES)
            out.append(a)
    return out


def build(seed: int = 0) -> Calibration:
    """Compute the calibration from the embedded data (about a minute on a CPU)."""
    from sklearn.covariance import LedoitWolf

    from medgan.data import load_brain

    enc, stats = features(reference_slices(seed))
    enc_mean = enc.mean(0)
    u, s, vt = np.linalg.svd(enc - enc_mean, full_matrices=False)
    comp_std = s[:N_PCA] / np.sqrt(max(len(enc) - 1, 1))
    pca = vt[:N_PCA] / np.maximum(comp_std, 1e-8)[:, None]
    stat_mean, stat_std = stats.mean(0), np.maximum(stats.std(0), 1e-3)
    partial = Calibration("", enc_mean, pca, stat_mean, stat_std, np.zeros(1), np.zeros((1, 1)), 1.0, {})
    z = partial.embed(enc, stats)
    lw = LedoitWolf().fit(z)
    cal = Calibration(fingerprint(), enc_mean, pca, stat_mean, stat_std, lw.location_, lw.precision_, 1.0, {})
    d_ref = cal.distance(enc, stats)
    val = load_brain("val").images
    d_val = cal.distance(*features(list(val)))
    cal.threshold = float(np.quantile(np.concatenate([d_ref, d_val]), CALIBRATION_TARGET)) * 1.05
    test = load_brain("test").images
    d_test = cal.distance(*features(list(test)))
    cal.pass_rates = {"reference": float((d_ref <= cal.threshold).mean()), "val": float((d_val <= cal.threshold).mean()),
                      "test": float((d_test <= cal.threshold).mean())}
    logger.info("domain score calibrated: threshold %.2f, pass rates %s", cal.threshold, cal.pass_rates)
    return cal


_CAL: Calibration | None = None
_LOCK = threading.Lock()


def _cache_path(fp: str) -> Path:
    from medgan.db import medgan_home

    return medgan_home() / "cache" / f"domain_stats_v{VERSION}_{fp}.npz"


def calibration() -> Calibration:
    """The calibration for the installed U-Net: the bundled file when it matches, else the cache, else built
    (and cached) on first use."""
    global _CAL
    with _LOCK:
        if _CAL is not None:
            return _CAL
        fp = fingerprint()
        for path in (BUNDLED, _cache_path(fp)):
            if path.exists():
                try:
                    cal = Calibration.load(path)
                except (OSError, ValueError, KeyError) as exc:
                    logger.warning("ignoring domain statistics %s: %s", path, exc)
                    continue
                if cal.fingerprint == fp:
                    _CAL = cal
                    return cal
        logger.info("computing the in-domain score's statistics for %s (first use)", SEGMENTER)
        cal = build()
        cal.save(_cache_path(fp))
        _CAL = cal
        return cal


def reset() -> None:
    global _CAL
    with _LOCK:
        _CAL = None


# --------------------------------------------------------------------------------------------- score
def score_many(images: list[np.ndarray]) -> np.ndarray:
    """Scores (N,) of [0, 1] slices: distance / threshold (≤ 1 in domain)."""
    cal = calibration()
    enc, stats = features(images)
    return cal.distance(enc, stats) / cal.threshold


def score(image: np.ndarray) -> tuple[float, list[str]]:
    """(score, what differs in words) of one [0, 1] slice; ValueError for a slice it cannot read."""
    cal = calibration()
    enc, stats = features([image])
    s = float(cal.distance(enc, stats)[0] / cal.threshold)
    why: list[str] = []
    if s > 1:
        zs = (stats[0] - cal.stat_mean) / cal.stat_std
        for i in np.argsort(-np.abs(zs)):
            name = STAT_NAMES[i]
            words = STAT_WORDS.get(name)
            if abs(zs[i]) < 4 or not words:
                continue
            text = words[1] if zs[i] > 0 else words[0]
            if text and text not in why:
                why.append(text)
            if len(why) == 2:
                break
        why.append(f"its features are {s:.1f}× the in-domain threshold away from the training slices")
    return s, why


def reference_info() -> dict[str, Any]:
    cal = calibration()
    return {"threshold": cal.threshold, "pass_rates": dict(cal.pass_rates), "fingerprint": cal.fingerprint}
