"""One input path for the Studio and the API: how an uploaded image becomes [0, 1] (8-bit pictures as stored,
anything else auto-windowed), how a label-map file becomes classes (indices, display values or class colours;
anything else refused with what was found), and the smallest size either may have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.ui_checkpoints import CLASSES


@pytest.fixture(scope="module")
def brain():
    """A real brain slice in [0, 1] and its 4-class label map (the embedded template)."""
    from medgan.data import load_brain_volume

    bv = load_brain_volume()
    return np.asarray(bv.volume[90], np.float32), np.asarray(bv.labels[90], np.uint8)


def _save(path: Path, arr: np.ndarray) -> str:
    Image.fromarray(np.ascontiguousarray(arr)).save(path)
    return str(path)


# ------------------------------------------------------------------------------------------------ images
def test_twelve_bit_png_is_windowed_and_eight_bit_shown_as_stored(tmp_path, brain):
    from medgan.ui import load_view as LV
    from medgan.ui import studio_handlers as H
    from medgan.ui.api import read_image
    from medgan.ui.common import Session

    img, _ = brain
    p12 = _save(tmp_path / "twelve.png", np.rint(img * 595).astype(np.uint16))      # 12-bit data, 16-bit file
    p16_low = _save(tmp_path / "low16.png", np.rint(img * 200).astype(np.uint16))   # ≤ 255, still 16-bit
    arr8 = np.rint(img * 120).astype(np.uint8)                                      # a dim 8-bit picture
    p8 = _save(tmp_path / "dim8.png", arr8)
    u12, u16_low, u8 = read_image(p12), read_image(p16_low), read_image(p8)
    assert u12.max() > 0.99 and u12[img > 0.2].mean() > 0.3  # auto-windowed, not divided by 65535
    assert u16_low.max() > 0.99                              # a 16-bit file is windowed whatever its values
    np.testing.assert_allclose(u8, arr8 / 255.0, atol=1e-6)  # an 8-bit picture as stored: 0..255 → 0..1
    for path, api in ((p12, u12), (p16_low, u16_low), (p8, u8)):  # the Studio shows what the API feeds the model
        out = H.on_upload([path], Session())
        s, level_slider, width_slider = out[0], out[4], out[5]
        level, width = LV.level_width_for(s.scan, LV.AUTO)
        assert (level_slider.value, width_slider.value) == pytest.approx((level, width))
        np.testing.assert_allclose(H.unit_slice(s, level, width), api, atol=1e-6)


def test_training_folders_and_turing_uploads_follow_the_same_rule(tmp_path, brain):
    from medgan.data.folders import _intensity
    from medgan.io import read_scan
    from medgan.turing.study import _read_image_file

    img, _ = brain
    low16 = _save(tmp_path / "low16.png", np.rint(img * 200).astype(np.uint16))
    assert _intensity(read_scan(low16)).max() > 0.99  # not /255
    twelve = _save(tmp_path / "twelve.png", np.rint(img * 595).astype(np.uint16))
    (real,) = _read_image_file(Path(twelve))
    assert real.max() > 0.99 and real[img > 0.2].mean() > 0.3  # not /65535 (near-black)
    arr8 = np.rint(img * 120).astype(np.uint8)
    (real8,) = _read_image_file(Path(_save(tmp_path / "dim8.png", arr8)))
    np.testing.assert_allclose(real8, arr8 / 255.0, atol=1e-6)


# ------------------------------------------------------------------------------------------------ label maps
def _forms(tmp_path: Path, lab: np.ndarray) -> dict[str, str]:
    from medgan.ui.common import label_rgba, labels_rgb

    rgb = labels_rgb(lab)
    aa = np.asarray(Image.fromarray(rgb).resize((512, 512), Image.Resampling.BILINEAR))  # anti-aliased edges
    grey = (lab * 85).astype(np.uint8)
    return {
        "indices": _save(tmp_path / "indices.png", lab),
        "display": _save(tmp_path / "display.png", grey),
        "display_as_rgb": _save(tmp_path / "display_rgb.png", np.stack([grey] * 3, -1)),
        "subset": _save(tmp_path / "subset.png", np.where(lab == 2, 170, 0).astype(np.uint8)),
        "colours": _save(tmp_path / "colours.png", rgb),
        "colours_rgba": _save(tmp_path / "colours_rgba.png", label_rgba(lab)),
        "antialiased": _save(tmp_path / "antialiased.png", aa),
    }


def test_every_accepted_label_form_reads_alike_in_the_studio_and_the_api(tmp_path, brain):
    from medgan.ui.annotate import read_label_file
    from medgan.ui.api import read_labels
    from medgan.ui.label_files import display_values

    _, lab = brain
    assert display_values(len(CLASSES)) == [0, 85, 170, 255]
    for form, path in _forms(tmp_path, lab).items():
        api = read_labels(path, -1, len(CLASSES))
        if form == "antialiased":
            from medgan.io import resize_labels

            assert (api == resize_labels(lab, (512, 512))).mean() > 0.97, form
            assert set(np.unique(api)) == set(np.unique(lab)), form  # edges never make new classes
            continue
        expected = np.where(lab == 2, 2, 0) if form == "subset" else lab
        np.testing.assert_array_equal(api, expected, err_msg=form)
        np.testing.assert_array_equal(read_label_file(path, lab.shape, len(CLASSES)), api, err_msg=form)


def test_label_maps_of_no_accepted_form_are_refused_with_what_was_found(tmp_path, brain):
    from medgan.ui.annotate import read_label_file
    from medgan.ui.common import labels_rgb
    from medgan.ui.label_files import read_label_map

    _, lab = brain
    rng = np.random.default_rng(0)
    seventeen = _save(tmp_path / "seventeen.png", (rng.integers(0, 17, lab.shape) * 15).astype(np.uint8))
    for read in (lambda p: read_label_map(p, 4), lambda p: read_label_file(p, lab.shape, 4)):
        with pytest.raises(ValueError, match=r"found 17 distinct values 0\.\.240.*accepted: class indices 0\.\.3, "
                                             r"display values 0/85/170/255"):
            read(seventeen)
    noise = _save(tmp_path / "noise.png", rng.integers(0, 256, (*lab.shape, 3)).astype(np.uint8))
    with pytest.raises(ValueError, match="colour image with .* distinct colours"):
        read_label_map(noise, 4)
    five = lab.copy()
    five[lab == 3] = 5
    with pytest.raises(ValueError, match="colour of class 5 but the model has 4 classes"):
        read_label_map(_save(tmp_path / "five.png", labels_rgb(five)), 4)
    with pytest.raises(ValueError, match="found the values 0, 1, 2, 5"):
        read_label_map(_save(tmp_path / "five_grey.png", five), 4)
    try:
        read_label_map(seventeen, 4)
    except ValueError as exc:
        assert str(tmp_path) not in str(exc)


# ------------------------------------------------------------------------------------------------ sizes
def test_images_and_label_maps_under_the_minimum_size_are_refused(tmp_path, brain):
    from medgan.io import MIN_SIDE, check_min_side
    from medgan.ui import studio_handlers as H
    from medgan.ui.annotate import read_label_file
    from medgan.ui.api import read_image, read_labels
    from medgan.ui.common import Session

    assert MIN_SIDE == 32
    check_min_side(32, 500)
    with pytest.raises(ValueError, match="31×500 px.*at least 32×32 px"):
        check_min_side(31, 500)
    tiny_label = _save(tmp_path / "tiny_label.png", np.ones((1, 1), np.uint8))
    tiny_image = _save(tmp_path / "tiny.png", np.full((16, 40), 100, np.uint8))
    with pytest.raises(ValueError, match="1×1 px.*32×32"):
        read_labels(tiny_label)
    with pytest.raises(ValueError, match="16×40 px.*32×32"):
        read_image(tiny_image)
    with pytest.warns(UserWarning) as warned:  # the Studio's upload: a warning, the scan on screen is kept
        H.on_upload([tiny_image], Session())
    message = " ".join(str(w.message) for w in warned)
    assert "16×40 px" in message and "32×32" in message and str(tmp_path) not in message
    with pytest.raises(ValueError, match="1×1 px"):
        read_label_file(tiny_label, (1, 1), 4)
