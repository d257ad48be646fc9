"""Intensity windowing, slicing along any axis, and resize/pad helpers (labels stay integer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medgan.io.scan import Scan

# (level, width) in Hounsfield units.
CT_PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "soft tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}

AXES: dict[str, int] = {"axial": 0, "coronal": 1, "sagittal": 2}

DISPLAY_WINDOW: tuple[float, float] = (127.5, 255.0)  # (level, width) of an 8-bit display image: 0..255 → 0..1
RASTER_FORMATS = ("png", "jpeg", "tiff")


def preset(name: str) -> tuple[float, float]:
    """(level, width) of a CT preset; ValueError listing the valid names."""
    try:
        return CT_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown window preset {name!r}; valid: {', '.join(CT_PRESETS)}") from None


def window(volume: np.ndarray, level: float, width: float) -> np.ndarray:
    """Linear window: level − width/2 → 0, level + width/2 → 1, clipped. float32, same shape."""
    width = max(float(width), 1e-6)
    lo = float(level) - width / 2.0
    out = np.subtract(volume, np.float32(lo), dtype=np.float32)
    out *= np.float32(1.0 / width)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def percentile_range(volume: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """(lo, hi) intensity percentiles, computed on at most ~1M voxels (strided subsample) for speed."""
    flat = np.asarray(volume).reshape(-1)
    step = max(1, flat.size // 1_000_000)
    sample = flat[::step]
    lo, hi = np.percentile(sample, [low, high])
    return float(lo), float(hi)


def window_percentile(volume: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """MR-style windowing: the [low, high] percentiles → [0, 1] (float32, clipped)."""
    lo, hi = percentile_range(volume, low, high)
    return window(volume, (lo + hi) / 2.0, max(hi - lo, 1e-6))


def is_display_8bit(scan: Scan | np.ndarray) -> bool:
    """Whether an image is an 8-bit display picture (shown as 0..255 → [0, 1], not auto-windowed): a uint8
    array, or a PNG / JPEG / TIFF stored at 8 bits per sample whose values lie in 0..255. A 16-bit file is
    never one, whatever its values (12-bit data in a 16-bit PNG is auto-windowed)."""
    if isinstance(scan, np.ndarray):
        return scan.dtype == np.uint8
    if getattr(scan, "source_format", "") not in RASTER_FORMATS:
        return False
    if (getattr(scan, "metadata", None) or {}).get("data type") not in ("uint8", "bool"):
        return False
    vol = np.asarray(scan.volume)
    return bool(vol.size) and float(vol.min()) >= 0.0 and float(vol.max()) <= 255.0


def auto_window(scan: Scan) -> tuple[float, float]:
    """(level, width): CT → soft tissue preset; anything else → 0.5–99.5 percentiles of the volume."""
    if scan.modality == "CT":
        return CT_PRESETS["soft tissue"]
    lo, hi = percentile_range(scan.volume)
    return (lo + hi) / 2.0, max(hi - lo, 1e-6)


def take_slice(volume: np.ndarray, axis: int | str, index: int) -> np.ndarray:
    """(H, W) view of a (Z, H, W) volume along ``axis`` (0/"axial", 1/"coronal", 2/"sagittal").

    Coronal and sagittal slices are flipped so that the slice axis Z runs bottom → top.
    """
    if isinstance(axis, str):
        if axis not in AXES:
            raise ValueError(f"unknown axis {axis!r}; valid: {', '.join(AXES)} or 0, 1, 2")
        axis = AXES[axis]
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2 (or {', '.join(AXES)}), got {axis}")
    n = volume.shape[axis]
    if not -n <= index < n:
        raise IndexError(f"slice {index} out of range for axis {axis} with {n} slices")
    sl = np.take(volume, index, axis=axis)
    return sl if axis == 0 else sl[::-1]


def resize_image(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """float32 (H, W) → (h, w): bilinear when enlarging, area averaging when shrinking."""
    from PIL import Image

    h, w = int(shape[0]), int(shape[1])
    src = np.ascontiguousarray(img, dtype=np.float32)
    if src.shape == (h, w):
        return src.copy()
    shrink = h < src.shape[0] and w < src.shape[1]
    resample = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(src).resize((w, h), resample=resample), dtype=np.float32)


def resize_labels(lab: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Integer (H, W) label map → (h, w) by nearest neighbour (pixel centres); dtype kept."""
    h, w = int(shape[0]), int(shape[1])
    rows = np.minimum(((np.arange(h) + 0.5) * lab.shape[0] / h).astype(np.intp), lab.shape[0] - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * lab.shape[1] / w).astype(np.intp), lab.shape[1] - 1)
    return lab[rows[:, None], cols[None, :]]


@dataclass(frozen=True)
class FitInfo:
    """How :func:`fit_to_square` changed an image: original shape, padding (top, bottom, left, right), size."""

    shape: tuple[int, int]
    pad: tuple[int, int, int, int]
    size: int


def fit_to_square(img: np.ndarray, size: int, *, labels: bool = False, fill: float | None = None
                  ) -> tuple[np.ndarray, FitInfo]:
    """Pad (H, W) to a centred square (aspect kept), then resize to (size, size).

    Images are padded with ``fill`` (default: their minimum) and resized bilinearly/by area; label maps
    (``labels=True``) are padded with 0 and resized by nearest neighbour, keeping their integer dtype.
    """
    h, w = int(img.shape[0]), int(img.shape[1])
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    pad = (top, side - h - top, left, side - w - left)
    if labels:
        sq = np.zeros((side, side), dtype=img.dtype)
    else:
        value = float(np.min(img)) if fill is None and img.size else float(fill or 0.0)
        sq = np.full((side, side), value, dtype=np.float32)
    sq[top : top + h, left : left + w] = img
    out = resize_labels(sq, (size, size)) if labels else resize_image(sq, (size, size))
    return out, FitInfo((h, w), pad, int(size))


def unfit(img_sq: np.ndarray, info: FitInfo, *, labels: bool = False) -> np.ndarray:
    """Undo :func:`fit_to_square`: resize back to the padded square, then crop to the original (H, W)."""
    h, w = info.shape
    top, bottom, left, right = info.pad
    side = h + top + bottom
    back = resize_labels(img_sq, (side, side)) if labels else resize_image(img_sq, (side, side))
    return back[top : top + h, left : left + w]
