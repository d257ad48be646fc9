"""Degradations for the enhancement task and hole masks for inpainting. Pure NumPy on [0, 1] float images (H, W).

Seed values (comparative study): blur σ = 1.5 px, noise σ = 15/255, ×4 down/up-sampling (64 → 256),
square holes of 50×50 px at 256 px (scaled with the image size), free-form strokes.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.draw import line_aa
from skimage.transform import resize

DEGRADATIONS: tuple[str, ...] = ("denoise", "sr4", "deblur")
BLUR_SIGMA = 1.5
NOISE_SIGMA = 15.0 / 255.0
SR_FACTOR = 4
HOLE_SIZE_AT_256 = 50


def gaussian_blur(image: np.ndarray, sigma: float = BLUR_SIGMA) -> np.ndarray:
    """Gaussian blur, float32 (H, W) in [0, 1] → same."""
    return ndimage.gaussian_filter(image.astype(np.float32), sigma=sigma, mode="reflect")


def gaussian_noise(image: np.ndarray, sigma: float = NOISE_SIGMA, rng: np.random.Generator | None = None) -> np.ndarray:
    """Additive Gaussian noise (σ in [0, 1] units), clipped to [0, 1]."""
    rng = rng or np.random.default_rng(0)
    return np.clip(image + rng.normal(0.0, sigma, image.shape), 0.0, 1.0).astype(np.float32)


def downsample(image: np.ndarray, factor: int = SR_FACTOR) -> np.ndarray:
    """Anti-aliased ×factor down-sampling: (H, W) → (H/factor, W/factor)."""
    h, w = image.shape
    return resize(image, (h // factor, w // factor), order=3, anti_aliasing=True, mode="reflect").astype(np.float32)


def upsample_bicubic(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bicubic up-sampling to ``shape``, clipped to [0, 1] (the super-resolution baseline)."""
    return np.clip(resize(image, shape, order=3, mode="reflect", anti_aliasing=False), 0.0, 1.0).astype(np.float32)


def degrade(image: np.ndarray, kind: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Apply a named degradation; the result always has the input's (H, W).

    kind: "denoise" (adds noise σ=15/255), "sr4" (×4 down-sampling then bicubic back up), "deblur" (blur σ=1.5).
    """
    if kind == "denoise":
        return gaussian_noise(image, rng=rng)
    if kind == "sr4":
        return upsample_bicubic(downsample(image), image.shape)
    if kind == "deblur":
        return gaussian_blur(image)
    raise ValueError(f"unknown degradation {kind!r}; valid: {', '.join(DEGRADATIONS)}")


def hole_size(size: int) -> int:
    """Square hole side for an image side ``size`` (50 at 256)."""
    return max(4, round(HOLE_SIZE_AT_256 * size / 256))


def square_hole(shape: tuple[int, int], rng: np.random.Generator | None = None,
                center: tuple[int, int] | None = None, within: np.ndarray | None = None) -> np.ndarray:
    """Boolean (H, W) mask with one square hole (True = missing). The centre is random (inside ``within`` when
    given, e.g. the brain mask) unless ``center`` is given."""
    rng = rng or np.random.default_rng(0)
    h, w = shape
    s = hole_size(min(h, w))
    if center is None:
        if within is not None and within.any():
            ys, xs = np.nonzero(within)
            i = int(rng.integers(len(ys)))
            cy, cx = int(ys[i]), int(xs[i])
        else:
            cy, cx = int(rng.integers(s // 2, h - s // 2)), int(rng.integers(s // 2, w - s // 2))
    else:
        cy, cx = center
    y0 = int(np.clip(cy - s // 2, 0, h - s))
    x0 = int(np.clip(cx - s // 2, 0, w - s))
    mask = np.zeros(shape, dtype=bool)
    mask[y0 : y0 + s, x0 : x0 + s] = True
    return mask


def stroke_hole(shape: tuple[int, int], rng: np.random.Generator | None = None, strokes: int = 4,
                width: int | None = None) -> np.ndarray:
    """Free-form hole: a few thick random strokes. Boolean (H, W), True = missing."""
    rng = rng or np.random.default_rng(0)
    h, w = shape
    width = width or max(3, min(h, w) // 24)
    canvas = np.zeros(shape, dtype=bool)
    for _ in range(strokes):
        y, x = int(rng.integers(h)), int(rng.integers(w))
        for _ in range(int(rng.integers(2, 5))):
            ny = int(np.clip(y + rng.integers(-h // 4, h // 4 + 1), 0, h - 1))
            nx = int(np.clip(x + rng.integers(-w // 4, w // 4 + 1), 0, w - 1))
            rr, cc, _ = line_aa(y, x, ny, nx)
            canvas[rr, cc] = True
            y, x = ny, nx
    return ndimage.binary_dilation(canvas, iterations=width // 2)


INPUT_FILLS: tuple[str, ...] = ("zero", "biharmonic")


def fill_hole(image: np.ndarray, mask: np.ndarray, method: str = "biharmonic") -> np.ndarray:
    """The image with its hole (``mask`` True = missing) filled: "zero" sets it to 0.5 (0 in the models' [-1, 1]
    units), "biharmonic" solves the
    biharmonic equation from the hole's border (scikit-image; ~10–50 ms for a 50–96 px hole at 256 px).
    float32 (H, W) in [0, 1] → same."""
    image = np.asarray(image, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    if method == "zero":
        return np.where(mask, 0.5, image).astype(np.float32)
    if method != "biharmonic":
        raise ValueError(f"unknown hole fill {method!r}; valid: {', '.join(INPUT_FILLS)}")
    if not mask.any():
        return image
    if mask.all():
        return np.full_like(image, float(image.mean()))
    from skimage.restoration import inpaint_biharmonic

    return np.clip(inpaint_biharmonic(image, mask), 0.0, 1.0).astype(np.float32)


def box_hole(shape: tuple[int, int], rng: np.random.Generator, max_side: int, within: np.ndarray | None = None,
             min_side: int = 24) -> np.ndarray:
    """A random rectangle hole, sides in [min_side, max_side] px at 256 (scaled to ``shape``), centred on a random
    ``within`` pixel when given. Boolean (H, W), True = missing."""
    h, w = shape
    s = min(h, w) / 256
    lo, hi = max(4, round(min_side * s)), max(5, round(max_side * s))
    sy, sx = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
    if within is not None and within.any():
        ys, xs = np.nonzero(within)
        i = int(rng.integers(len(ys)))
        cy, cx = int(ys[i]), int(xs[i])
    else:
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
    y0, x0 = int(np.clip(cy - sy // 2, 0, max(0, h - sy))), int(np.clip(cx - sx // 2, 0, max(0, w - sx)))
    mask = np.zeros(shape, dtype=bool)
    mask[y0 : y0 + sy, x0 : x0 + sx] = True
    return mask
