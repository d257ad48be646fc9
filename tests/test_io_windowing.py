"""Windowing, slicing and resize/pad helpers."""

from __future__ import annotations

import numpy as np
import pytest

from medgan.io import (
    CT_PRESETS,
    Scan,
    auto_window,
    fit_to_square,
    resize_image,
    resize_labels,
    take_slice,
    unfit,
    window,
    window_percentile,
)


def test_presets_values() -> None:
    assert CT_PRESETS == {"brain": (40, 80), "soft tissue": (40, 400), "lung": (-600, 1500), "bone": (400, 1800)}


@pytest.mark.parametrize("name", list(CT_PRESETS))
def test_window_maps_edges(name: str) -> None:
    level, width = CT_PRESETS[name]
    hu = np.array([level - width / 2 - 100, level - width / 2, level, level + width / 2, level + width], np.float32)
    out = window(hu, level, width)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0, 0, 0.5, 1, 1], atol=1e-6)


def test_window_percentile_range() -> None:
    vol = np.random.default_rng(0).normal(100, 20, (4, 50, 50)).astype(np.float32)
    out = window_percentile(vol)
    assert out.min() == 0 and out.max() == 1 and out.dtype == np.float32
    frac_clipped = np.mean(out == 0) + np.mean(out == 1)
    assert 0.005 < frac_clipped < 0.03


def test_auto_window() -> None:
    vol = np.random.default_rng(1).random((2, 8, 8)).astype(np.float32) * 1000
    assert auto_window(Scan(volume=vol, modality="CT")) == CT_PRESETS["soft tissue"]
    level, width = auto_window(Scan(volume=vol, modality="MR"))
    lo, hi = np.percentile(vol, [0.5, 99.5])
    assert level == pytest.approx((lo + hi) / 2) and width == pytest.approx(hi - lo)


def test_take_slice_axes() -> None:
    vol = np.arange(3 * 4 * 5).reshape(3, 4, 5)
    np.testing.assert_array_equal(take_slice(vol, "axial", 1), vol[1])
    np.testing.assert_array_equal(take_slice(vol, 1, 2), vol[::-1, 2, :])
    np.testing.assert_array_equal(take_slice(vol, "sagittal", 3), vol[::-1, :, 3])
    assert take_slice(vol, "coronal", 0).shape == (3, 5)
    with pytest.raises(ValueError, match="axial"):
        take_slice(vol, "oblique", 0)
    with pytest.raises(IndexError):
        take_slice(vol, 0, 3)


def test_resize_image_and_labels() -> None:
    img = np.random.default_rng(2).random((60, 80)).astype(np.float32)
    up = resize_image(img, (120, 160))
    down = resize_image(img, (30, 40))
    assert up.shape == (120, 160) and down.shape == (30, 40) and down.dtype == np.float32
    np.testing.assert_allclose(down, img.reshape(30, 2, 40, 2).mean(axis=(1, 3)), atol=1e-5)  # area average
    lab = np.random.default_rng(3).integers(0, 4, (60, 80)).astype(np.uint8)
    lab_up = resize_labels(lab, (120, 160))
    assert lab_up.dtype == np.uint8 and set(np.unique(lab_up)) <= set(np.unique(lab))
    np.testing.assert_array_equal(lab_up[::2, ::2], lab)
    np.testing.assert_array_equal(resize_labels(lab_up, (60, 80)), lab)


@pytest.mark.parametrize("shape", [(100, 60), (60, 100), (64, 64), (37, 251)])
def test_fit_and_unfit(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(4)
    img = rng.random(shape).astype(np.float32)
    sq, info = fit_to_square(img, 256)
    assert sq.shape == (256, 256) and info.shape == shape
    back = unfit(sq, info)
    assert back.shape == shape
    smooth = resize_image(resize_image(img, (16, 16)), shape)  # low-frequency content survives the round trip
    sq2, info2 = fit_to_square(smooth, 256)
    assert np.abs(unfit(sq2, info2) - smooth).mean() < 0.02
    lab = rng.integers(0, 4, shape).astype(np.uint8)
    lsq, linfo = fit_to_square(lab, 512, labels=True)
    assert lsq.dtype == np.uint8
    if max(shape) <= 512:
        np.testing.assert_array_equal(unfit(lsq, linfo, labels=True), lab)
