"""Annotate: the label painter (one ImageEditor layer: class colours = labels, white = region) and label-map files."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medgan.ui.common import (
    PALETTE,
    REGION,
    REGION_COLOUR,
    UserError,
    grey_rgb,
    label_rgba,
    merge_layers,
    snap_labels,
)
from medgan.ui.geometry import DisplayGeometry
from medgan.ui.label_files import read_label_map

logger = logging.getLogger(__name__)

MIN_OPACITY = 0.2  # below it a label would be read back as unpainted (snap_labels' alpha threshold)

def brush_colours(num_classes: int) -> list[str]:
    """Brush palette: classes 1..K-1 in their fixed colours, then white for the inpainting region."""
    cols = [f"rgb({r}, {g}, {b})" for (r, g, b) in PALETTE[1 : max(2, min(num_classes, len(PALETTE)))]]
    return [*cols, "rgb({}, {}, {})".format(*REGION_COLOUR)]


@dataclass(frozen=True)
class Painted:
    """What the painter was last sent: its view key, geometry and the canvas label map it showed (class values,
    ``REGION`` for the region, 0 where nothing is drawn), so edits are read back as differences from it."""

    key: str
    geometry: DisplayGeometry
    shown: np.ndarray
    axis: int = 0
    index: int = 0
    base: np.ndarray | None = None  # the slice's labels when sent: edits are applied to them, so re-reading
    #                                 the same painter (every stroke sends it whole) gives the same labels


def label_layer(labels: np.ndarray | None, region: np.ndarray | None, shape: tuple[int, int],
                opacity: float = 0.4, outline: bool = False) -> np.ndarray:
    """RGBA (H, W, 4) of the label layer: class colours at ``opacity`` (outline: only each class's border
    pixels), the region in opaque-ish white on top."""
    if labels is None:
        layer = np.zeros((*shape, 4), np.uint8)
    else:
        alpha = int(round(255 * float(np.clip(opacity, MIN_OPACITY, 1.0))))
        layer = label_rgba(labels, alpha)
        if outline:
            layer[~_borders(labels)] = 0
    if region is not None and region.any():
        layer[region] = (*REGION_COLOUR, 200)
    return layer


def _borders(labels: np.ndarray) -> np.ndarray:
    """Foreground pixels with a 4-neighbour of another class."""
    lab = np.asarray(labels)
    pad = np.pad(lab, 1, mode="edge")
    edge = np.zeros(lab.shape, bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        edge |= pad[dy:dy + lab.shape[0], dx:dx + lab.shape[1]] != lab
    return edge & (lab > 0)


def editor_value(image: np.ndarray, labels: np.ndarray | None, region: np.ndarray | None,
                 geometry: DisplayGeometry, num_classes: int, key: str = "", opacity: float = 0.4,
                 outline: bool = False, where: tuple[int, int] = (0, 0)) -> tuple[dict, Painted]:
    """The painter's value (background = the windowed slice, one layer with the labels and the region), both
    at exactly the canvas size of ``geometry``, and the :class:`Painted` record to read the edits against."""
    layer = geometry.to_canvas(label_layer(labels, region, image.shape, opacity, outline), fill=0)
    bg = geometry.to_canvas(np.concatenate([grey_rgb(image), np.full((*image.shape, 1), 255, np.uint8)], -1),
                            fill=(0, 0, 0, 255), smooth=True)
    shown = snap_labels(layer, layer.shape[:2], num_classes)
    base = None if labels is None else np.asarray(labels, np.uint8).copy()
    return {"background": bg, "layers": [layer], "composite": None}, Painted(key, geometry, shown, *where, base)


def read_editor(value: dict | None, painted: Painted, num_classes: int,
                previous: np.ndarray | None = None) -> tuple[np.ndarray | None, np.ndarray]:
    """Editor value → (labels uint8 (H, W), or None when the editor is empty; region bool (H, W)).

    Only what differs from what the painter was sent changes: a voxel takes the painted class where the canvas
    pixel at its centre was painted over (0 where erased); everything else keeps ``previous``, so labels finer
    than the canvas survive a round trip. Pixels painted white are the region; under them labels are kept."""
    geometry = painted.geometry
    if not value or not value.get("layers"):
        return None, np.zeros(geometry.shape, bool)
    merged = merge_layers(list(value["layers"]), (geometry.canvas, geometry.canvas), num_classes)
    changed = geometry.from_canvas(merged != painted.shown)
    merged_v = geometry.from_canvas(merged)
    region = merged_v == REGION
    was_region = geometry.from_canvas(painted.shown == REGION)
    labels = np.zeros(geometry.shape, np.uint8) if previous is None else np.asarray(previous, np.uint8).copy()
    paint = changed & ~region & ~(was_region & (merged_v == 0))
    labels[paint] = merged_v[paint]
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
