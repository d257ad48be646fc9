"""One display geometry per slice: where a (H, W) slice lies on the painter's square canvas.

A 64×64 MR, a 512×512 CT and a 189×256 coronal view all fill the same canvas, centred, at their physical aspect
ratio (pixel spacing), with black margins. The painter (``painter.js``) draws the slice and its labels into
:attr:`DisplayGeometry.box` and paints in voxels, so what is painted lands on the voxels under the brush.
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
