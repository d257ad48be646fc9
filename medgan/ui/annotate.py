"""Annotate: the label painter (ImageEditor with one layer: class colours = labels, white = the region to inpaint)
and label-map files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from medgan.ui.common import PALETTE, REGION, REGION_COLOUR, grey_rgb, label_rgba, merge_layers, snap_labels

logger = logging.getLogger(__name__)



def brush_colours(num_classes: int) -> list[str]:
    """Brush palette: classes 1..K-1 in their fixed colours, then white for the inpainting region."""
    cols = [f"rgb({r}, {g}, {b})" for (r, g, b) in PALETTE[1 : max(2, min(num_classes, len(PALETTE)))]]
    return [*cols, "rgb({}, {}, {})".format(*REGION_COLOUR)]


def editor_value(image: np.ndarray, labels: np.ndarray | None, region: np.ndarray | None = None) -> dict:
    """ImageEditor value: background = the windowed slice; one layer with the coloured labels and the region."""
    h, w = image.shape
    layer = label_rgba(labels) if labels is not None else np.zeros((h, w, 4), np.uint8)
    if region is not None and region.any():
        layer[region] = (*REGION_COLOUR, 200)
    bg = np.concatenate([grey_rgb(image), np.full((h, w, 1), 255, np.uint8)], -1)
    return {"background": bg, "layers": [layer], "composite": None}


def read_editor(value: dict | None, shape: tuple[int, int], num_classes: int,
                previous: np.ndarray | None = None) -> tuple[np.ndarray | None, np.ndarray]:
    """Editor value → (labels uint8 (H, W), or None when the editor is empty; region bool (H, W)).

    Pixels painted white are the region; under them the labels keep their ``previous`` values."""
    if not value or not value.get("layers"):
        return None, np.zeros(shape, bool)
    merged = merge_layers(list(value["layers"]), shape, num_classes)
    region = merged == REGION
    labels = merged.copy()
    labels[region] = 0 if previous is None else np.asarray(previous)[region]
    return labels, region


def read_label_file(path: str, shape: tuple[int, int], num_classes: int) -> np.ndarray:
    """A label map file → uint8 (H, W) for the current slice.

    PNG: either integer values (grey, 0..K-1) or palette colours (as saved by the Studio). NIfTI / DICOM SEG:
    the middle slice of its volume (or the only one). The map must have the slice's size."""
    low = path.lower()
    if low.endswith((".png", ".tif", ".tiff")):
        from PIL import Image

        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGBA") if im.mode in ("RGB", "RGBA", "P") else im)
        if arr.ndim == 3:
            opaque = arr.copy()
            opaque[..., 3] = np.where(arr[..., :3].sum(-1) > 0, 255, 0)
            lab = snap_labels(opaque, arr.shape[:2], num_classes)
            lab[lab == REGION] = 0
        else:
            lab = arr.astype(np.int64)
    else:
        from medgan.io import read_scan

        scan = read_scan(path)
        vol = scan.labels if scan.labels is not None else scan.volume
        lab = np.rint(np.asarray(vol[vol.shape[0] // 2])).astype(np.int64)
    if lab.shape != tuple(shape):
        raise ValueError(f"the label map is {lab.shape[0]}×{lab.shape[1]} but the slice is {shape[0]}×{shape[1]}")
    if lab.min() < 0 or lab.max() >= num_classes:
        raise ValueError(f"label values must be 0..{num_classes - 1}; found {int(lab.min())}..{int(lab.max())}")
    return lab.astype(np.uint8)


def save_label_png(labels: np.ndarray, folder: Path) -> str:
    """Write the label map as an integer PNG (pixel value = class) and return its path."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "labels.png"
    Image.fromarray(labels.astype(np.uint8), mode="L").save(path)
    return str(path)
