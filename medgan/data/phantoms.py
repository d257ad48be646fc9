"""Procedural phantoms for fast tests: ellipses with texture, a bias field and Rician-like noise, with labels
that follow the brain dataset's classes (0 background, 1 CSF, 2 "grey", 3 "white")."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def phantom(size: int = 64, seed: int = 0, noise: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """One phantom: image float32 (size, size) in [0, 1], labels uint8 (size, size) in {0..3}."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    labels = np.zeros((size, size), dtype=np.uint8)
    a, b = rng.uniform(0.33, 0.45), rng.uniform(0.28, 0.42)
    cy, cx = rng.uniform(-0.04, 0.04, 2)
    outer = ((yy - cy) / a) ** 2 + ((xx - cx) / b) ** 2
    labels[outer <= 1.0] = 2
    labels[outer <= 0.55] = 3
    for _ in range(int(rng.integers(1, 4))):
        ey, ex = rng.uniform(-0.12, 0.12, 2)
        ra, rb = rng.uniform(0.03, 0.09, 2)
        labels[(((yy - cy - ey) / ra) ** 2 + ((xx - cx - ex) / rb) ** 2) <= 1.0] = 1
    means = np.array([0.0, 0.25, 0.55, 0.85], dtype=np.float32)
    img = means[labels]
    texture = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 1.5).astype(np.float32)
    img = img + 0.04 * texture * (labels > 0)
    bias = 1.0 + 0.15 * (yy * rng.uniform(-1, 1) + xx * rng.uniform(-1, 1))
    img = img * bias
    n1, n2 = rng.normal(0, noise, (2, size, size))
    img = np.sqrt((img + n1) ** 2 + n2**2)  # Rician-like magnitude noise
    return np.clip(img, 0.0, 1.0).astype(np.float32), labels


def phantom_set(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` phantoms: images (n, size, size) float32, labels (n, size, size) uint8."""
    pairs = [phantom(size, seed * 100_003 + i) for i in range(n)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
