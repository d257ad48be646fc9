"""Domain randomisation: many brains out of one template (pure NumPy on [0, 1] float slices).

Each family is a small random transform of an (image, labels) pair; :func:`randomise` draws a subset of them.
In the spirit of SynthSeg, ``contrast`` resamples each tissue class's intensity (the label map drives the image),
so contrast varies widely, from T1-like to PD- and FLAIR-like. The T2-like ordering (CSF brightest, white matter
darkest) is never drawn by ``contrast``: it is the held-out family :func:`t2_like` that tests generalisation.

After the transforms the slice is re-windowed the way inputs are at run time (MR: 0.5–99.5 percentile of the
non-zero pixels to [0, 1]), so the training data sees the same normalisation as the Studio and the API.

Families: deform, gamma, contrast, bias, noise, blur, resolution, background.
Held out (never drawn in training, used by the benchmarks): t2_like, and the fixed test corruptions of
:data:`TEST_SHIFTS`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage
from skimage.transform import resize

FAMILIES: tuple[str, ...] = ("deform", "gamma", "contrast", "bias", "noise", "blur", "resolution", "background")
HELD_OUT: tuple[str, ...] = ("t2_like",)

Pair = tuple[np.ndarray, "np.ndarray | None"]


def window_tissue(img: np.ndarray, lo: float = 0.5, hi: float = 99.5) -> np.ndarray:
    """MR window: the ``lo``–``hi`` percentiles of the non-zero pixels mapped to [0, 1] (zero stays zero when
    the background is zero). float32 (H, W) → float32 (H, W) in [0, 1]."""
    img = np.asarray(img, dtype=np.float32)
    vals = img[img > 0]
    if vals.size < 16:
        return np.clip(img, 0, 1)
    a, b = np.percentile(vals, [lo, hi])
    a = min(float(a), 0.0) if img.min() >= 0 and (img == 0).mean() > 0.05 else float(a)
    if b - a < 1e-6:
        return np.clip(img, 0, 1)
    return np.clip((img - a) / (b - a), 0.0, 1.0).astype(np.float32)


def deform(img: np.ndarray, lab: np.ndarray | None, rng: np.random.Generator, strength: float = 1.0) -> Pair:
    """Random affine (rotation ±20°, scale 0.85–1.15, shear ±0.1) and a smooth elastic field (≤ 4 px at 256); the
    image is resampled with cubic splines (linear interpolation would blur it), the labels nearest-neighbour."""
    h, w = img.shape
    s = h / 256
    ang = np.deg2rad(rng.uniform(-20, 20) * strength)
    sc = np.exp(rng.uniform(np.log(0.85), np.log(1.15)) * strength)
    sh = rng.uniform(-0.1, 0.1) * strength
    mat = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]]) @ np.array([[1, sh], [0, 1]]) / sc
    centre = np.array([h / 2 - 0.5, w / 2 - 0.5])
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    coords = np.stack([yy - centre[0], xx - centre[1]])
    src = np.tensordot(mat, coords, axes=1) + centre[:, None, None]
    amp = rng.uniform(0, 4) * s * strength
    for axis in range(2):
        field = ndimage.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), 12 * s)
        src[axis] += amp * field / (np.abs(field).max() + 1e-6)
    out = np.clip(ndimage.map_coordinates(img, src, order=3, mode="constant"), 0, 1).astype(np.float32)  # sharp
    out_lab = None if lab is None else ndimage.map_coordinates(lab, src, order=0, mode="constant").astype(lab.dtype)
    return out, out_lab


def gamma(img: np.ndarray, rng: np.random.Generator, lo: float = 0.5, hi: float = 2.0) -> np.ndarray:
    """``img ** γ`` with γ log-uniform in [lo, hi]."""
    return np.power(np.clip(img, 0, 1), np.exp(rng.uniform(np.log(lo), np.log(hi)))).astype(np.float32)


def _class_means(img: np.ndarray, lab: np.ndarray, k: int) -> np.ndarray:
    return np.array([float(img[lab == c].mean()) if (lab == c).any() else 0.0 for c in range(k)])


def remap_classes(img: np.ndarray, lab: np.ndarray, targets: np.ndarray, texture: float = 1.0,
                  smooth: float = 0.7) -> np.ndarray:
    """Label-driven contrast: each class c moves to mean ``targets[c]`` keeping ``texture``× its own deviations;
    the class map is smoothed (σ = ``smooth`` px) so partial-volume edges stay soft. Background (class 0) keeps its
    target too."""
    k = len(targets)
    means = _class_means(img, lab, k)
    base = np.zeros_like(img, dtype=np.float32)
    for c in range(k):
        onehot = (lab == c).astype(np.float32)
        if smooth > 0:
            onehot = ndimage.gaussian_filter(onehot, smooth)
        base += onehot * float(targets[c])
    dev = np.zeros_like(img, dtype=np.float32)
    for c in range(1, k):
        sel = lab == c
        dev[sel] = img[sel] - means[c]
    scale = texture * max(0.3, float(np.ptp(targets[1:])) / max(float(np.ptp(means[1:])), 1e-3))
    return np.clip(base + scale * dev, 0, 1).astype(np.float32)


def contrast(img: np.ndarray, lab: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SynthSeg-style random class intensities (tissue classes in [0.1, 1]), never the T2-like ordering
    CSF > grey matter > white matter (held out); the background stays dark."""
    k = int(lab.max()) + 1 if lab.size else 1
    k = max(k, 4)
    for _ in range(20):
        t = rng.uniform(0.1, 1.0, k)
        if k >= 4 and t[1] > t[2] > t[3]:  # the held-out T2-like order
            continue
        break
    t[0] = 0.0
    return remap_classes(img, lab, t, texture=rng.uniform(0.5, 1.5), smooth=rng.uniform(0.3, 1.2))


def t2_like(img: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """The held-out T2-like remap: CSF bright (0.95), grey matter 0.55, white matter 0.35, background 0."""
    return remap_classes(img, lab, np.array([0.0, 0.95, 0.55, 0.35]), texture=1.0, smooth=0.7)


def bias(img: np.ndarray, rng: np.random.Generator, amount: float = 0.3) -> np.ndarray:
    """A smooth multiplicative field in [1 - amount, 1 + amount] (a random linear ramp plus a blob)."""
    h, w = img.shape
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    a = rng.uniform(-1, 1, 3)
    field = a[0] * yy + a[1] * xx + a[2] * (yy**2 + xx**2 - 0.5)
    field = field / (np.abs(field).max() + 1e-6)
    return np.clip(img * (1 + amount * rng.uniform(0.3, 1.0) * field), 0, 1).astype(np.float32)


def bias_fixed(img: np.ndarray, amount: float) -> np.ndarray:
    """A fixed left-to-right ramp, ``1 - amount`` to ``1 + amount`` (the test shift)."""
    h, w = img.shape
    ramp = np.linspace(1 - amount, 1 + amount, w)[None, :]
    return np.clip(img * ramp, 0, 1).astype(np.float32)


def rician(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Rician noise of level ``sigma`` (magnitude of a complex Gaussian-corrupted signal)."""
    re = img + sigma * rng.standard_normal(img.shape)
    im = sigma * rng.standard_normal(img.shape)
    return np.clip(np.sqrt(re**2 + im**2), 0, 1).astype(np.float32)


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(img.astype(np.float32), sigma)


def resolution(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Down-sample by 1.5–3 along one or both axes and back (thick slices, low matrix)."""
    h, w = img.shape
    fy, fx = rng.uniform(1.5, 3.0), rng.uniform(1.5, 3.0)
    if rng.random() < 0.5:
        fy = 1.0 if rng.random() < 0.5 else fy
        fx = 1.0 if fy > 1 else fx
    small = resize(img, (max(8, round(h / fy)), max(8, round(w / fx))), order=1, anti_aliasing=True)
    return np.clip(resize(small, (h, w), order=1), 0, 1).astype(np.float32)


def background(img: np.ndarray, lab: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """A non-zero background outside the tissue: a level up to 0.15 with smooth texture and noise."""
    out = img.copy()
    bg = (lab == 0) if lab is not None else img < 0.02
    level = rng.uniform(0.02, 0.15)
    tex = ndimage.gaussian_filter(rng.standard_normal(img.shape).astype(np.float32), rng.uniform(1, 6))
    tex = tex / (np.abs(tex).max() + 1e-6)
    out[bg] = np.clip(level * (1 + 0.5 * tex[bg]) + 0.01 * rng.standard_normal(int(bg.sum())), 0, 1)
    return out.astype(np.float32)


def randomise(img: np.ndarray, lab: np.ndarray | None, rng: np.random.Generator, p: float = 0.5,
              families: tuple[str, ...] = FAMILIES) -> Pair:
    """Apply each family in ``families`` with probability ``p`` (contrast needs labels), then re-window.
    img float32 (H, W) in [0, 1]; lab integer (H, W) or None. Returns the new (img, lab)."""
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown randomisation families {sorted(unknown)}; valid: {', '.join(FAMILIES)}")
    on = {f for f in families if rng.random() < p}
    if "deform" in on:
        img, lab = deform(img, lab, rng)
    if "contrast" in on and lab is not None:
        img = contrast(img, lab, rng)
    if "gamma" in on:
        img = gamma(img, rng)
    if "background" in on:
        img = background(img, lab, rng)
    if "bias" in on:
        img = bias(img, rng)
    if "blur" in on:
        img = blur(img, rng.uniform(0.3, 1.5))
    if "resolution" in on:
        img = resolution(img, rng)
    if "noise" in on:
        img = rician(img, rng.uniform(0.005, 0.06), rng)
    if on & {"contrast", "gamma", "bias", "noise", "background"}:
        img = window_tissue(img)
    return np.clip(img, 0, 1).astype(np.float32), lab


# The fixed shifts the benchmarks test on (none of them drawn as such in training; t2_like never).
TEST_SHIFTS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "gamma 0.6": lambda im, lb: np.power(im, 0.6).astype(np.float32),
    "gamma 1.6": lambda im, lb: np.power(im, 1.6).astype(np.float32),
    "bias +30%": lambda im, lb: window_tissue(bias_fixed(im, 0.3)),
    "bias -30%": lambda im, lb: window_tissue(bias_fixed(im, -0.3)),
    "noise 0.05": lambda im, lb: np.clip(im + 0.05 * np.random.default_rng(0).standard_normal(im.shape), 0, 1
                                         ).astype(np.float32),
    "blur 1": lambda im, lb: blur(im, 1.0),
    "T2-like (held out)": lambda im, lb: window_tissue(t2_like(im, lb)),
}
