"""Annotate: the label painter (ImageEditor with a "labels" and a "region" layer) and label-map files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from medgan.ui.common import PALETTE, REGION, REGION_COLOUR, UserError, grey_rgb, label_rgba, merge_layers
from medgan.ui.label_files import read_label_map

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
    """A label map file → uint8 (H, W) for the current slice, read as the API reads it
    (:func:`medgan.ui.label_files.read_label_map`: indices, display values or class colours; NIfTI / DICOM SEG:
    the middle slice). The map must have the slice's size."""
    lab = read_label_map(path, num_classes)
    if lab.shape != tuple(shape):
        raise UserError(f"the label map is {lab.shape[0]}×{lab.shape[1]} but the slice is {shape[0]}×{shape[1]}")
    return lab


def save_label_png(labels: np.ndarray, folder: Path) -> str:
    """Write the label map as an integer PNG (pixel value = class) and return its path."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "labels.png"
    Image.fromarray(labels.astype(np.uint8), mode="L").save(path)
    return str(path)
