"""Distances between two sets of feature vectors: Fréchet distance and kernel inception distance (KID).

These are pure functions of features (N, D); which network produced the features decides the metric's name
("FD-medgan" for the in-domain segmentation encoder, "FID" for InceptionV3 pool3): see
:mod:`medgan.metrics.features`. Computation is in float64.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["frechet_distance", "kid", "feature_stats", "frechet_from_stats"]


def _feats(x: Tensor | np.ndarray, name: str) -> Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, Tensor) or x.ndim != 2:
        raise ValueError(f"{name}: expected features shaped (N, D), got {getattr(x, 'shape', type(x).__name__)}")
    if x.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 feature vectors, got {x.shape[0]}")
    return x.detach().double().cpu()


def feature_stats(feats: Tensor | np.ndarray) -> tuple[Tensor, Tensor]:
    """Mean (D,) and unbiased covariance (D, D), float64."""
    f = _feats(feats, "feats")
    mu = f.mean(0)
    c = f - mu
    return mu, c.T @ c / (f.shape[0] - 1)


def _sqrt_psd(m: Tensor) -> Tensor:
    w, v = torch.linalg.eigh((m + m.T) / 2)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def frechet_from_stats(mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor) -> Tensor:
    """‖μ1 − μ2‖² + tr(C1 + C2 − 2 (C1 C2)^½), 0-d float64 ≥ 0.

    tr((C1 C2)^½) is computed as the sum of square roots of the eigenvalues of the symmetric PSD matrix
    C1^½ C2 C1^½ (same spectrum), which is stable where ``scipy.linalg.sqrtm`` can return complex noise."""
    s1 = _sqrt_psd(cov1)
    mid = s1 @ cov2 @ s1
    tr_sqrt = torch.linalg.eigvalsh((mid + mid.T) / 2).clamp_min(0).sqrt().sum()
    d = ((mu1 - mu2) ** 2).sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * tr_sqrt
    return d.clamp_min(0.0)


def frechet_distance(feats_a: Tensor | np.ndarray, feats_b: Tensor | np.ndarray) -> Tensor:
    """Fréchet distance between Gaussians fitted to two feature sets (N_a, D) and (N_b, D): 0-d float64."""
    a, b = _feats(feats_a, "feats_a"), _feats(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    return frechet_from_stats(*feature_stats(a), *feature_stats(b))


def _poly_kernel(x: Tensor, y: Tensor) -> Tensor:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _mmd2_unbiased(x: Tensor, y: Tensor) -> Tensor:
    m = x.shape[0]
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return sxx + syy - 2 * kxy.mean()


def kid(feats_a: Tensor | np.ndarray, feats_b: Tensor | np.ndarray, subsets: int = 100,
        subset_size: int = 1000, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Kernel distance: unbiased MMD² with the cubic polynomial kernel k(x, y) = (x·y / D + 1)³, averaged over
    ``subsets`` random subsets of ``subset_size`` (capped by the smaller set) drawn without replacement.

    Returns (mean, std) as 0-d float64 tensors. Unbiased: its expectation is 0 for equal distributions, so
    small negative values occur."""
    a, b = _feats(feats_a, "feats_a"), _feats(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    m = min(int(subset_size), a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError(f"subset_size must be >= 2, got {subset_size}")
    g = torch.Generator().manual_seed(int(seed))
    vals = torch.stack([
        _mmd2_unbiased(a[torch.randperm(a.shape[0], generator=g)[:m]], b[torch.randperm(b.shape[0], generator=g)[:m]])
        for _ in range(subsets)
    ])
    std = vals.std(unbiased=True) if subsets > 1 else torch.zeros((), dtype=torch.float64)
    return vals.mean(), std
