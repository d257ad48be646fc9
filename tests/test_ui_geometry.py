"""One display geometry per slice: the painter's background and label layer always have the canvas size and the
same position, whatever the slice's size, aspect ratio and spacing; edits come back to the voxels they cover."""

from __future__ import annotations

import numpy as np
import pytest

from medgan.ui.annotate import editor_value, read_editor
from medgan.ui.geometry import CANVAS, DisplayGeometry, geometry_for, slice_spacing


def _labels(shape: tuple[int, int]) -> np.ndarray:
    lab = np.zeros(shape, np.uint8)
    h, w = shape
    lab[h // 4:h // 2, w // 4:w // 2] = 1
    lab[h // 2:3 * h // 4, w // 2:3 * w // 4] = 2
    lab[h // 8:h // 4, 5 * w // 8:7 * w // 8] = 3
    return lab


@pytest.mark.parametrize("shape", [(64, 64), (128, 128), (512, 512), (189, 256), (256, 189), (1024, 1024),
                                   (40, 300)])
def test_background_and_labels_share_the_canvas_and_round_trip(shape):
    geom = DisplayGeometry(shape)
    img = np.linspace(0, 1, shape[0] * shape[1], dtype=np.float32).reshape(shape)
    lab = _labels(shape)
    value, painted = editor_value(img, lab, None, geom, 4)
    bg, layer = value["background"], value["layers"][0]
    assert bg.shape == layer.shape == (CANVAS, CANVAS, 4)
    top, left, dh, dw = geom.box
    assert max(dh, dw) == CANVAS and (top == 0 or left == 0)
    # the labels lie inside the picture's box and nowhere else
    painted_px = layer[..., 3] > 0
    assert not painted_px[:top].any() and not painted_px[top + dh:].any()
    assert not painted_px[:, :left].any() and not painted_px[:, left + dw:].any()
    # the picture: the darkest corner of the slice at the box's top-left, brightest at its bottom-right
    assert bg[top, left, 0] < 10 and bg[top + dh - 1, left + dw - 1, 0] > 245
    # an untouched painter reads back the same labels, also when the canvas is coarser than the slice
    labels, region = read_editor(value, painted, 4, previous=lab)
    assert np.array_equal(labels, lab) and not region.any()


def test_a_stroke_lands_on_the_voxels_under_it():
    geom = DisplayGeometry((64, 64))  # 8 display pixels per voxel
    lab = np.zeros((64, 64), np.uint8)
    value, painted = editor_value(np.zeros((64, 64), np.float32), lab, None, geom, 4)
    value["layers"][0][80:160, 240:320] = (255, 64, 64, 255)  # grey matter's colour over voxels 10..19, 30..39
    labels, _ = read_editor(value, painted, 4, previous=lab)
    want = np.zeros_like(lab)
    want[10:20, 30:40] = 2
    assert np.array_equal(labels, want)


def test_fine_labels_survive_a_coarse_canvas_edit():
    """A 1024² label map shown on the 512 canvas: a stroke changes only the voxels under it; the untouched
    labels keep their full resolution (no 2×2 blocks)."""
    shape = (1024, 1024)
    lab = np.zeros(shape, np.uint8)
    lab[::2, ::2] = 1  # a pattern finer than the canvas
    geom = DisplayGeometry(shape)
    value, painted = editor_value(np.zeros(shape, np.float32), lab, None, geom, 4)
    value["layers"][0][0:10, 0:10] = (255, 214, 0, 255)  # white matter over voxels 0..19
    labels, _ = read_editor(value, painted, 4, previous=lab)
    assert (labels[:20, :20] == 3).all()
    assert np.array_equal(labels[20:], lab[20:]) and np.array_equal(labels[:, 20:], lab[:, 20:])


def test_spacing_sets_the_aspect_ratio():
    assert slice_spacing((3.0, 0.5, 0.7), 0) == (0.5, 0.7)
    assert slice_spacing((3.0, 0.5, 0.7), 1) == (3.0, 0.7)
    assert slice_spacing((3.0, 0.5, 0.7), 2) == (3.0, 0.5)

    class Scan:
        spacing = (3.0, 1.0, 1.0)

    geom = geometry_for(Scan(), 1, (40, 200))  # 40 slices of 3 mm by 200 px of 1 mm: 120 mm × 200 mm
    top, left, dh, dw = geom.box
    assert dw == CANVAS and dh == round(CANVAS * 120 / 200) and top == (CANVAS - dh) // 2


def test_outline_and_opacity_keep_labels_readable_and_unchanged():
    lab = _labels((128, 128))
    geom = DisplayGeometry((128, 128))
    img = np.full((128, 128), 0.5, np.float32)
    full, _ = editor_value(img, lab, None, geom, 4, opacity=0.4)
    assert set(np.unique(full["layers"][0][..., 3])) == {0, 102}
    value, painted = editor_value(img, lab, None, geom, 4, outline=True)
    shown = value["layers"][0][..., 3] > 0
    assert 0 < shown.sum() < 0.5 * (full["layers"][0][..., 3] > 0).sum()  # borders only
    labels, _ = read_editor(value, painted, 4, previous=lab)
    assert np.array_equal(labels, lab)  # the interior is not erased by showing only outlines
