"""Enhancement runs a slice that fits in the model's grid at its own pixel scale (mirrored out, not resized): a
degradation is defined per pixel, and a 64 px MR resized to 256 px made the ×4 model restore a ×16 blur."""

from __future__ import annotations

import numpy as np
import pytest

from medgan import tasks
from medgan.data.corruptions import degrade, downsample, upsample_bicubic
from medgan.metrics.image import psnr
from medgan.tasks.encode import pad_slice


def test_pad_slice_keeps_the_pixels_and_says_where_they_are() -> None:
    x = np.random.default_rng(0).random((64, 48)).astype(np.float32)
    padded, window = pad_slice(x, 256)
    assert padded.shape == (256, 256)
    assert np.array_equal(padded[window], x)
    assert np.array_equal(padded[window[0].start - 1, window[1]], x[1])  # mirrored outwards
    with pytest.raises(ValueError, match="does not fit"):
        pad_slice(np.zeros((300, 10), np.float32), 256)


def test_a_small_slice_is_not_resampled() -> None:
    """What the model sees of a 40×48 slice is the slice itself, pixel for pixel; a 300 px one is resized."""
    from medgan.tasks.encode import prepare_enhancement

    card = {"image_size": 256, "degradation": "denoise"}
    img = np.random.default_rng(1).random((40, 48)).astype(np.float32)
    job = prepare_enhancement(img, card, degrade=False)
    _, window = pad_slice(img, 256)
    assert np.allclose(job.x[0, 0].numpy()[window], img * 2 - 1)
    r = tasks.enhance(img, "wgangp_denoise", degrade=False)
    assert r.output.shape == (40, 48) and np.array_equal(r.input_display, img)
    big = np.random.default_rng(2).random((300, 300)).astype(np.float32)
    assert prepare_enhancement(big, card, degrade=False).x.shape == (1, 1, 256, 256)


@pytest.mark.parametrize("name", ["MR 64 (MR_small)", "MR head 64 (emri_small)", "CT chest 128 (CT_small)"])
def test_super_resolution_of_small_real_scans_beats_bicubic(name: str) -> None:
    from medgan.evaluation.quality import real_slices

    clean = real_slices([name])[name]
    assert max(clean.shape) < 256
    deg = degrade(clean, "sr4", rng=np.random.default_rng(0))
    out = tasks.enhance(deg, "wgangp_sr4", "sr4", degrade=False).output
    bicubic = upsample_bicubic(downsample(clean), clean.shape)
    assert float(psnr(out, clean)) > float(psnr(bicubic, clean)) + 0.5


def test_denoising_a_small_real_scan_improves_it() -> None:
    from medgan.evaluation.quality import real_slices

    clean = real_slices(["MR 64 (MR_small)"])["MR 64 (MR_small)"]
    r = tasks.enhance(clean, "wgangp_denoise", "denoise", seed=3)  # degraded at its own pixel scale
    assert r.output.shape == clean.shape
    assert r.metrics["psnr"] > r.metrics["input psnr"] + 2.0
