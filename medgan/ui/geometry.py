"""One display geometry per slice: where a (H, W) slice lies on the painter's fixed square canvas.

The painter (``gr.ImageEditor`` with a fixed canvas) gets its background and its label layer at exactly the
canvas size, so the browser never rescales or re-positions one of them on its own: a 64×64 MR, a 512×512 CT and a
189×256 coronal view all fill the same canvas, centred, at their physical aspect ratio (pixel spacing), with black
(background) or transparent (layer) margins. Edits come back through :meth:`DisplayGeometry.from_canvas`, which
samples each voxel's centre on the canvas, so labels sent and read back unchanged are the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CANVAS = 512  # the painter's canvas side in display pixels


@dataclass(frozen=True)
class DisplayGeometry:
    """shape: the slice (H, W) in voxels; spacing: its (row, column) pixel size in mm; canvas: the square's side."""

    shape: tuple[int, int]
    spacing: tuple[float, float] = (1.0, 1.0)
    canvas: int = CANVAS

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(top, left, height, width) of the slice on the canvas, in display pixels."""
        h, w = self.shape
        dy, dx = (float(s) if np.isfinite(s) and s > 0 else 1.0 for s in self.spacing)
        ph, pw = h * dy, w * dx
        scale = self.canvas / max(ph, pw)
        dh = int(np.clip(round(ph * scale), 1, self.canvas))
        dw = int(np.clip(round(pw * scale), 1, self.canvas))
        return (self.canvas - dh) // 2, (self.canvas - dw) // 2, dh, dw

    def _rows_cols(self) -> tuple[np.ndarray, np.ndarray]:
        """For each canvas pixel of the box: the voxel row / column it shows (nearest)."""
        h, w = self.shape
        _, _, dh, dw = self.box
        rows = np.minimum(((np.arange(dh) + 0.5) * h / dh).astype(np.int64), h - 1)
        cols = np.minimum(((np.arange(dw) + 0.5) * w / dw).astype(np.int64), w - 1)
        return rows, cols

    def to_canvas(self, arr: np.ndarray, fill: int | tuple[int, ...] = 0, smooth: bool = False) -> np.ndarray:
        """uint8 (H, W) or (H, W, C) → (canvas, canvas[, C]); ``fill`` outside the slice; ``smooth``: bilinear
        (for pictures; labels stay nearest so every display pixel is one class)."""
        arr = np.asarray(arr)
        if arr.shape[:2] != tuple(self.shape):
            raise ValueError(f"expected a {self.shape[0]}×{self.shape[1]} slice, got {arr.shape[0]}×{arr.shape[1]}")
        top, left, dh, dw = self.box
        if smooth:
            from PIL import Image

            picture = np.asarray(Image.fromarray(arr).resize((dw, dh), Image.Resampling.BILINEAR))
        else:
            rows, cols = self._rows_cols()
            picture = arr[np.ix_(rows, cols)]
        out = np.empty((self.canvas, self.canvas, *arr.shape[2:]), arr.dtype)
        out[...] = fill
        out[top:top + dh, left:left + dw] = picture
        return out

    def from_canvas(self, arr: np.ndarray) -> np.ndarray:
        """(canvas, canvas[, C]) → (H, W[, C]): the canvas pixel at each voxel's centre (margins are ignored)."""
        arr = np.asarray(arr)
        if arr.shape[:2] != (self.canvas, self.canvas):
            arr = _nearest(arr, (self.canvas, self.canvas))
        top, left, dh, dw = self.box
        h, w = self.shape
        rows = top + np.minimum(((np.arange(h) + 0.5) * dh / h).astype(np.int64), dh - 1)
        cols = left + np.minimum(((np.arange(w) + 0.5) * dw / w).astype(np.int64), dw - 1)
        return arr[np.ix_(rows, cols)]


def _nearest(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = arr.shape[:2]
    rows = np.minimum((np.arange(shape[0]) * h / shape[0]).astype(np.int64), h - 1)
    cols = np.minimum((np.arange(shape[1]) * w / shape[1]).astype(np.int64), w - 1)
    return arr[np.ix_(rows, cols)]


def slice_spacing(spacing: tuple[float, float, float], axis: int) -> tuple[float, float]:
    """The (row, column) pixel size of a slice along ``axis`` of a (Z, H, W) volume with (z, y, x) spacing."""
    sz, sy, sx = (float(s) for s in spacing)
    return ((sy, sx), (sz, sx), (sz, sy))[int(axis)]


def geometry_for(scan: object, axis: int, shape: tuple[int, int], canvas: int = CANVAS) -> DisplayGeometry:
    """The display geometry of a slice of ``scan`` along ``axis`` (spacing from the scan; 1 mm when unknown)."""
    spacing = tuple(getattr(scan, "spacing", (1.0, 1.0, 1.0)) or (1.0, 1.0, 1.0))
    if len(spacing) != 3:
        spacing = (1.0, 1.0, 1.0)
    return DisplayGeometry((int(shape[0]), int(shape[1])), slice_spacing(spacing, axis), canvas)
