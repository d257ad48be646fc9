"""Label-map files → integer class maps: the one reader behind the API and the Studio's label loader.

A label map is accepted in three forms, whatever the file (PNG / JPEG / TIFF / NIfTI / DICOM SEG):

1. class indices ``0..K-1`` (pixel value = class; what the Studio and /segment save);
2. evenly spaced display values ``k·255/(K-1)`` (0/85/170/255 for 4 classes), or any subset of them;
3. the app's class colours (:data:`medgan.ui.common.PALETTE`, RGB or RGBA; transparent = background), a few
   anti-aliased edge pixels snapped to the nearest class colour.

Anything else is refused with a message that says what the file holds and what is accepted. Maps smaller than
:data:`medgan.io.MIN_SIDE` on a side are refused too.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from medgan.io import DEFAULT_LIMITS, check_min_side, read_scan
from medgan.io.limits import human_bytes
from medgan.io.reader import sniff
from medgan.ui.common import PALETTE, UserError

MIN_ALPHA = 40  # RGBA pixels more transparent than this are background
COLOUR_TOLERANCE = 40.0  # RGB distance within which a pixel counts as a class colour
BLEND_TOLERANCE = 12.0  # RGB distance within which a pixel counts as a blend of two class colours (an edge)
MIN_CLASS_SHARE = 0.99  # share of the visible pixels that must be class colours or blends of two


def display_values(num_classes: int) -> list[int]:
    """The display grey of each class: ``round(k·255/(K-1))`` for k = 0..K-1 (0/85/170/255 for K = 4)."""
    k = max(int(num_classes), 2)
    return [int(round(i * 255 / (k - 1))) for i in range(k)]


def accepted(num_classes: int) -> str:
    """What a label map may hold, in words."""
    k = max(int(num_classes), 2)
    return (f"accepted: class indices 0..{k - 1}, display values {'/'.join(map(str, display_values(k)))} "
            f"(class·255/{k - 1}), or the app's class colours")


def _describe(values: np.ndarray) -> str:
    vals = np.unique(values)
    lo, hi = (f"{v:g}" for v in (float(vals.min()), float(vals.max())))
    if vals.size <= 6:
        return f"found the values {', '.join(f'{float(v):g}' for v in vals)}"
    return f"found {vals.size} distinct values {lo}..{hi}"


def decode_grey(arr: np.ndarray, num_classes: int) -> np.ndarray:
    """(H, W) numbers → uint8 classes: indices 0..K-1 as they are, display values k·255/(K-1) → k."""
    a = np.asarray(arr)
    if a.size == 0:
        raise UserError("the label map is empty")
    if a.dtype.kind == "f":
        if not np.isfinite(a).all() or not np.array_equal(a, np.rint(a)):
            raise UserError(f"the label map holds non-integer values ({_describe(a)}); {accepted(num_classes)}")
    vals = np.unique(a).astype(np.int64)
    k = max(int(num_classes), 2)
    if vals.min() >= 0 and vals.max() < k:
        return a.astype(np.uint8)
    grid = display_values(k)
    if set(vals.tolist()) <= set(grid):
        lut = np.zeros(256, np.uint8)
        lut[grid] = np.arange(k, dtype=np.uint8)
        return lut[a.astype(np.int64)]
    raise UserError(f"the label map is not a {k}-class map: {_describe(a)}; {accepted(k)}")


def _blend_distance(rgb: np.ndarray, pal: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """(N, 3) colours → (N,) distance to the nearest blend of two palette colours (an anti-aliased edge)."""
    i, j = np.triu_indices(len(pal), 1)
    a, ab = pal[i], pal[j] - pal[i]
    out = np.empty(len(rgb), np.float32)
    for s in range(0, len(rgb), chunk):
        x = rgb[s : s + chunk, None, :]
        t = np.clip(((x - a) * ab).sum(-1) / (ab * ab).sum(-1), 0.0, 1.0)
        out[s : s + chunk] = np.sqrt(((x - (a + t[..., None] * ab)) ** 2).sum(-1)).min(-1)
    return out


def decode_colour(rgba: np.ndarray, num_classes: int) -> np.ndarray:
    """(H, W, 3|4) uint8 in the app's class colours → uint8 classes (transparent or black = background).

    Every visible pixel must be a class colour or, on an anti-aliased edge, a blend of two (snapped to the
    nearest class colour the map uses); most pixels must be class colours."""
    arr = np.asarray(rgba)
    rgb = arr[..., :3].astype(np.float32)
    visible = arr[..., 3] >= MIN_ALPHA if arr.shape[-1] == 4 else np.ones(arr.shape[:2], bool)
    k = max(int(num_classes), 2)
    pal = np.array(PALETTE[:k], np.float32)
    d = np.sqrt(((rgb[..., None, :] - pal) ** 2).sum(-1))
    nearest, close = d.argmin(-1), visible & (d.min(-1) <= COLOUR_TOLERANCE)
    n_visible, n_close = int(visible.sum()), int(close.sum())
    other = visible & ~close
    if n_close >= n_visible / 2:
        other[other] = _blend_distance(rgb[other], pal) > BLEND_TOLERANCE
    if other.sum() > (1 - MIN_CLASS_SHARE) * n_visible:
        extra = np.array(PALETTE[k:], np.float32)
        if len(extra):
            de = np.sqrt(((rgb[other][:, None, :] - extra) ** 2).sum(-1))
            hit = de.min(-1) <= COLOUR_TOLERANCE
            if hit.mean() > 0.5:
                cls = k + int(np.bincount(de.argmin(-1)[hit]).argmax())
                raise UserError(f"the label map uses the colour of class {cls} but the model has {k} classes "
                                f"(0..{k - 1}); {accepted(k)}")
        colours = len(np.unique(arr[visible][:, :3], axis=0))
        share = 100.0 * other.sum() / n_visible
        raise UserError(f"the label map is a colour image with {colours} distinct colours, {share:.0f} % of its "
                        f"pixels neither class colours nor blends of two; {accepted(k)}")
    used = np.unique(nearest[close])
    allowed = used if used.size else np.array([0])
    snapped = allowed[d[..., allowed].argmin(-1)]  # edge pixels: the nearest class the map uses
    return np.where(visible, np.where(close, nearest, snapped), 0).astype(np.uint8)


def decode_labels(arr: np.ndarray, num_classes: int) -> np.ndarray:
    """A decoded label image (H, W) grey or (H, W, 2|3|4) grey+alpha / colour → uint8 classes (H, W)."""
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[-1] == 2:  # grey + alpha: transparent is background
        a = np.where(a[..., 1] >= MIN_ALPHA, a[..., 0], 0)
    if a.ndim == 3:
        visible = a[..., 3] >= MIN_ALPHA if a.shape[-1] == 4 else np.ones(a.shape[:2], bool)
        grey = (a[..., 0] == a[..., 1]) & (a[..., 1] == a[..., 2])
        if grey[visible].all():  # grey stored as RGB(A): a grey map
            return decode_grey(np.where(visible, a[..., 0], 0), num_classes)
        return decode_colour(a, num_classes)
    if a.ndim != 2:
        raise UserError(f"a label map must be one 2-D slice, got an array of shape {a.shape}")
    return decode_grey(a, num_classes)


def _raster(path: str) -> np.ndarray:
    """A PNG / JPEG as it is stored (grey, grey + alpha, RGB or RGBA), within the read limits."""
    from PIL import Image

    limits = DEFAULT_LIMITS
    size = os.path.getsize(path)
    if size > limits.max_file_bytes:
        raise UserError(f"the label map file of {human_bytes(size)} exceeds the limit of "
                        f"{human_bytes(limits.max_file_bytes)}")
    try:
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > limits.max_voxels:
                raise UserError(f"the label map of {im.size[1]}×{im.size[0]} px is too large")
            if im.mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif im.mode == "PA":
                im = im.convert("RGBA")
            elif im.mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("L" if im.mode == "1" else "RGB")
            return np.asarray(im)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on corrupt files
        raise UserError(f"{os.path.basename(path)} is not a readable image ({type(exc).__name__})") from exc


def read_label_map(path: str, num_classes: int, slice_index: int = -1) -> np.ndarray:
    """A label-map file → uint8 (H, W) classes 0..K-1 (K = ``num_classes``).

    PNG / JPEG are read as stored (colour kept); TIFF, NIfTI and DICOM (SEG) through :func:`medgan.io.read_scan`,
    taking slice ``slice_index`` (the middle one when < 0). UserError for a map that is none of the accepted
    forms, too small, or a slice out of range."""
    if sniff(path) in ("png", "jpeg"):
        arr: Any = _raster(path)
    else:
        scan = read_scan(path)
        vol = np.asarray(scan.labels if scan.labels is not None else scan.volume)
        i = vol.shape[0] // 2 if slice_index is None or slice_index < 0 else int(slice_index)
        if i >= vol.shape[0]:
            raise UserError(f"slice_index {i} is out of range: the label map has {vol.shape[0]} slice(s)")
        arr = vol[i]
    check_min_side(arr.shape[0], arr.shape[1], "label map")
    return decode_labels(arr, num_classes)


def read_region_map(path: str) -> np.ndarray:
    """A region file (inpainting): bool (H, W), True where a pixel is non-zero (visible, for RGBA)."""
    if sniff(path) in ("png", "jpeg"):
        arr = _raster(path)
        if arr.ndim == 3:
            alpha = arr[..., -1] >= MIN_ALPHA if arr.shape[-1] in (2, 4) else None
            nonzero = (arr[..., : 1 if arr.shape[-1] == 2 else 3] > 0).any(-1)
            arr = nonzero if alpha is None else nonzero & alpha
    else:
        scan = read_scan(path)
        vol = np.asarray(scan.labels if scan.labels is not None else scan.volume)
        arr = vol[vol.shape[0] // 2]
    check_min_side(arr.shape[0], arr.shape[1], "region mask")
    return np.asarray(arr) > 0
