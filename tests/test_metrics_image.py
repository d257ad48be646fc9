"""PSNR / SSIM / MS-SSIM against scikit-image on random and real images.

Tolerances: PSNR within 1e-5 dB (float32 squared errors summed in float64); SSIM within 1e-5 of
``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``
(our maps are float32)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from medgan.data import load_brain
from medgan.metrics import finite_psnr, ms_ssim, psnr, ssim, ssim_map

SK = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}


@pytest.fixture(scope="module")
def real_pair() -> tuple[np.ndarray, np.ndarray]:
    x = load_brain("test").images[:6]
    y = np.clip(x + np.random.default_rng(0).normal(0, 0.04, x.shape), 0, 1).astype(np.float32)
    return x, y


def _random_pair(n: int = 3, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.random((n, size, size)).astype(np.float32)
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
    return x, y


@pytest.mark.parametrize("which", ["random", "real"])
def test_psnr_ssim_match_skimage(which: str, real_pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = _random_pair() if which == "random" else real_pair
    p, s = psnr(y, x).numpy(), ssim(y, x).numpy()
    assert p.shape == s.shape == (len(x),)
    ref_p = np.array([sk_psnr(a, b, data_range=1.0) for a, b in zip(x, y)])
    ref_s = np.array([sk_ssim(a, b, data_range=1.0, **SK) for a, b in zip(x, y)])
    np.testing.assert_allclose(p, ref_p, atol=1e-5)
    np.testing.assert_allclose(s, ref_s, atol=1e-5)


def test_data_range_and_input_layouts() -> None:
    x, y = _random_pair(2)
    ref = sk_ssim(x[0] * 255, y[0] * 255, data_range=255.0, **SK)
    assert float(ssim(torch.from_numpy(y[0] * 255), torch.from_numpy(x[0] * 255), data_range=255.0)) == \
        pytest.approx(ref, abs=1e-5)
    single = psnr(x[0], y[0])
    assert single.ndim == 0
    four_d = psnr(torch.from_numpy(x)[:, None], torch.from_numpy(y)[:, None])
    assert four_d.shape == (2,) and float(four_d[0]) == pytest.approx(float(single))


def test_masked_metrics_match_skimage_maps(real_pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = real_pair
    for sl in (np.s_[100:150, 90:140], np.s_[0:20, 0:20]):  # interior hole and a border-touching one
        m = np.zeros(x.shape[1:], bool)
        m[sl] = True
        ref_s = [sk_ssim(a, b, data_range=1.0, full=True, **SK)[1][m].mean() for a, b in zip(x, y)]
        np.testing.assert_allclose(ssim(y, x, mask=m).numpy(), ref_s, atol=1e-5)
        ref_p = [10 * math.log10(1 / np.mean((a[m].astype(np.float64) - b[m]) ** 2)) for a, b in zip(x, y)]
        np.testing.assert_allclose(psnr(y, x, mask=m).numpy(), ref_p, atol=1e-5)
    assert ssim_map(y[0], x[0]).shape == x.shape[1:]


def test_identical_inputs() -> None:
    x, _ = _random_pair(2)
    p = psnr(x, x)
    assert torch.isinf(p).all() and (p > 0).all()
    assert finite_psnr(p).tolist() == [100.0, 100.0]
    assert finite_psnr(torch.tensor(31.5)).item() == 31.5
    np.testing.assert_allclose(ssim(x, x).numpy(), 1.0, atol=1e-6)
    big = np.random.default_rng(2).random((2, 192, 192)).astype(np.float32)
    np.testing.assert_allclose(ms_ssim(big, big).numpy(), 1.0, atol=1e-5)


def test_ms_ssim_orders_noise_levels(real_pair: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = real_pair
    rng = np.random.default_rng(3)
    low = np.clip(x + rng.normal(0, 0.02, x.shape), 0, 1).astype(np.float32)
    high = np.clip(x + rng.normal(0, 0.2, x.shape), 0, 1).astype(np.float32)
    assert (ms_ssim(low, x) > ms_ssim(high, x)).all()
    assert ms_ssim(x[0, :64, :64], low[0, :64, :64]).ndim == 0  # small images use fewer scales


def test_bad_inputs_raise_clear_errors() -> None:
    x, y = _random_pair(2)
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(x, y[:1])
    with pytest.raises(ValueError, match="at least 11"):
        ssim(x[:, :8, :8], y[:, :8, :8])
    with pytest.raises(ValueError, match="expected shape"):
        psnr(np.zeros((2, 3, 8, 8)), np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match="mask shape"):
        ssim(x, y, mask=np.ones((5, 5), bool))
    with pytest.raises(ValueError, match="mask"):
        ms_ssim(x, y, mask=np.ones(x.shape[1:], bool))
