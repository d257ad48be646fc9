"""Annotate: label-map files loaded onto and saved from the painter (the painter itself: ``painter.py``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from medgan.ui.common import UserError
from medgan.ui.label_files import read_label_map

logger = logging.getLogger(__name__)

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
