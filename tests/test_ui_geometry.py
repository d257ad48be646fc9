"""One display geometry per slice, and the painter's protocol: the view carries the slice and its labels at the
slice's own size with the box it is drawn in (physical aspect ratio, centred on the square canvas); strokes come
back as codes of the same voxels, the region kept apart from the labels beneath it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medgan.ui import painter as PT
from medgan.ui.common import DEFAULT_CLASSES, UserError, to_uint8
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
def test_the_view_carries_the_slice_and_its_labels_at_their_own_size(shape):
    geom = DisplayGeometry(shape)
    img = np.linspace(0, 1, shape[0] * shape[1], dtype=np.float32).reshape(shape)
    lab = _labels(shape)
    view, painted = PT.view_payload(img, lab, None, geom, DEFAULT_CLASSES, "k:0:1:1")
    msg = json.loads(view)
    top, left, dh, dw = msg["box"]
    assert msg["shape"] == list(shape) and msg["canvas"] == CANVAS and (top, left, dh, dw) == geom.box
    assert max(dh, dw) == CANVAS and (top == 0 or left == 0)
    assert np.array_equal(PT.read_png_data_url(msg["image"]), to_uint8(img))
    key, codes = PT.view_codes(view)
    assert key == painted.key == "k:0:1:1" and np.array_equal(codes, lab)
    # an untouched painter reads back the same labels, whatever the slice's size
    labels, region = PT.read_codes(codes, painted, 4)
    assert np.array_equal(labels, lab) and not region.any()


def test_the_region_is_kept_apart_from_the_labels_beneath():
    lab = np.zeros((32, 48), np.uint8)
    lab[:, 24:] = 2
    geom = DisplayGeometry((32, 48))
    view, painted = PT.view_payload(np.zeros((32, 48), np.float32), lab, None, geom, DEFAULT_CLASSES, "k")
    region = np.zeros((32, 48), bool)
    region[10:20, 20:30] = True
    key, codes = PT.parse_strokes(PT.strokes_message("k", lab, region))
    labels, got = PT.read_codes(codes, painted, 4)
    assert key == "k" and np.array_equal(got, region) and np.array_equal(labels, lab)
    # a region sent back to the painter is shown on top of the same labels
    view, painted = PT.view_payload(np.zeros((32, 48), np.float32), lab, region, geom, DEFAULT_CLASSES, "k2")
    assert np.array_equal(PT.view_codes(view)[1], lab | (region * PT.REGION_BIT).astype(np.uint8))


def test_strokes_of_classes_the_scan_has_not_are_background_and_bad_strokes_are_refused():
    geom = DisplayGeometry((16, 16))
    _, painted = PT.view_payload(np.zeros((16, 16), np.float32), None, None, geom, DEFAULT_CLASSES, "k")
    lab = np.full((16, 16), 7, np.uint8)
    labels, _ = PT.read_codes(PT.parse_strokes(PT.strokes_message("k", lab))[1], painted, 4)
    assert not labels.any()
    assert PT.parse_strokes("") == ("", None) and PT.parse_strokes(json.dumps({"key": "k"})) == ("k", None)
    with pytest.raises(UserError, match="damaged"):
        PT.parse_strokes("{not json")
    with pytest.raises(UserError, match="damaged"):
        PT.parse_strokes(json.dumps({"key": "k", "codes": "data:image/png;base64,AAAA"}))
    with pytest.raises(UserError, match="does not read"):
        PT.parse_strokes(json.dumps({"key": "k", "codes": "data:text/html;base64,AAAA"}))
    with pytest.raises(UserError, match="16×16"):
        PT.read_codes(np.zeros((8, 8), np.uint8), painted, 4)


def test_the_overlay_style_travels_with_the_view():
    geom = DisplayGeometry((8, 8))
    view, _ = PT.view_payload(np.zeros((8, 8), np.float32), None, None, geom, DEFAULT_CLASSES, "k",
                              opacity=0.01, outline=True)
    msg = json.loads(view)
    assert msg["opacity"] == PT.MIN_OPACITY and msg["outline"] is True
    assert msg["names"] == list(DEFAULT_CLASSES) and len(msg["colours"]) == len(DEFAULT_CLASSES)


def test_spacing_sets_the_aspect_ratio():
    assert slice_spacing((3.0, 0.5, 0.7), 0) == (0.5, 0.7)
    assert slice_spacing((3.0, 0.5, 0.7), 1) == (3.0, 0.7)
    assert slice_spacing((3.0, 0.5, 0.7), 2) == (3.0, 0.5)

    class Scan:
        spacing = (3.0, 1.0, 1.0)

    geom = geometry_for(Scan(), 1, (40, 200))  # 40 slices of 3 mm by 200 px of 1 mm: 120 mm × 200 mm
    top, left, dh, dw = geom.box
    assert dw == CANVAS and dh == round(CANVAS * 120 / 200) and top == (CANVAS - dh) // 2


def test_strokes_land_on_their_own_slice_and_strokes_of_another_scan_are_refused():
    import gradio as gr

    from medgan.ui import load_view as LV
    from medgan.ui import studio_handlers as H
    from medgan.ui.common import Session

    out = H.on_example("Brain MRI volume with labels (embedded)", Session())
    s, first = out[0], out[7]
    key, codes = PT.view_codes(first)
    lab = codes.copy()
    lab[100:110, 100:110] = 1  # a CSF square painted on the first slice …
    strokes = PT.strokes_message(key, lab)
    index = s.index
    s, _ = H.on_view(s, "axial", index + 3, 0.5, 1.0, None)  # … arrives after the user scrolled on
    s, _ = H.on_view(s, "axial", index + 4, 0.5, 1.0, strokes)
    assert (LV.take(s.labels, 0, index)[100:110, 100:110] == 1).all() and s.index == index + 4
    with pytest.raises(gr.Error, match="another scan or slice"):
        H.on_view(s, "axial", index, 0.5, 1.0, PT.strokes_message("otherscan:0:1:1", lab))
    # strokes left on a slice that was replaced before they were sent ("orphan") land on their own slice too
    lab[30:40, 30:40] = 2
    current = json.loads(PT.strokes_message(s.view_key()))
    current["orphan"] = json.loads(PT.strokes_message(key, lab))
    s, _ = H.on_view(s, "axial", index + 5, 0.5, 1.0, json.dumps(current))
    assert (LV.take(s.labels, 0, index)[30:40, 30:40] == 2).all() and s.index == index + 5


def test_label_buttons_keep_what_was_painted_before_them():
    """Auto-labels keeps a region painted just before it; Clear region keeps labels painted just before it."""
    from medgan.ui import load_view as LV
    from medgan.ui import studio_handlers as H
    from medgan.ui.common import Session
    from tests.strokes import BRAIN_REGION, painted

    s, view = H.on_example("Brain MRI volume with labels (embedded)", Session())[0:8:7]
    s, view, _legend, _status = H.on_auto_labels(s, 0.5, 1.0, painted(view, BRAIN_REGION))
    codes = PT.view_codes(view)[1]
    assert ((codes & PT.REGION_BIT) > 0)[BRAIN_REGION].all()  # the region survives the new labels
    key, codes = PT.view_codes(view)
    lab = codes & (PT.REGION_BIT - 1)
    lab[10:20, 10:20] = 3
    s, view = H.on_clear_region(s, 0.5, 1.0, PT.strokes_message(key, lab))
    codes = PT.view_codes(view)[1]
    assert not (codes & PT.REGION_BIT).any() and (LV.take(s.labels, s.axis, s.index)[10:20, 10:20] == 3).all()
