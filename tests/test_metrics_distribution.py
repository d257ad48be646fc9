"""Fréchet distance against a NumPy/SciPy reference and a known answer; KID unbiasedness; feature extractors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from scipy import linalg

from medgan.metrics import (
    EncoderFeatures,
    distribution_metrics,
    frechet_distance,
    inception_features,
    kid,
    medgan_features,
)
from medgan.models.registry import build_generator


def _scipy_fd(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(c1 @ c2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * covmean))


def test_frechet_matches_scipy_and_known_answer() -> None:
    rng = np.random.default_rng(0)
    d, n = 4, 20000
    mu_a, mu_b = np.zeros(d), np.array([1.0, -0.5, 0.0, 2.0])
    sd_a, sd_b = np.array([1.0, 2.0, 0.5, 1.0]), np.array([1.5, 1.0, 0.5, 3.0])
    a = rng.normal(mu_a, sd_a, (n, d))
    b = rng.normal(mu_b, sd_b, (n, d))
    got = float(frechet_distance(a, b))
    assert got == pytest.approx(_scipy_fd(a, b), rel=1e-8)
    known = ((mu_a - mu_b) ** 2).sum() + ((sd_a - sd_b) ** 2).sum()  # Gaussians with diagonal covariances
    assert got == pytest.approx(known, rel=0.03)
    # correlated, higher-dimensional features
    m = rng.normal(size=(16, 16))
    x, y = rng.normal(size=(500, 16)) @ m, rng.normal(size=(400, 16)) @ m.T + 0.3
    assert float(frechet_distance(torch.from_numpy(x), torch.from_numpy(y))) == pytest.approx(_scipy_fd(x, y),
                                                                                              rel=1e-6)


def test_identical_features_give_zero() -> None:
    a = np.random.default_rng(1).normal(size=(300, 32))
    assert float(frechet_distance(a, a)) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(a, a[:, :5])


def test_kid_unbiased_on_equal_distributions() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    mean, std = kid(a, b, subsets=60, subset_size=200, seed=0)
    assert abs(float(mean)) < 0.5 * float(std)  # zero within the estimator's noise
    # the biased estimator (diagonal kept) would sit clearly above zero
    x, y = torch.from_numpy(a[:200]), torch.from_numpy(b[:200])
    k = lambda p, q: (p @ q.T / 16 + 1) ** 3  # noqa: E731
    biased = float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())
    assert biased > 5 * float(std)
    shifted, _ = kid(a, b + 0.5, subsets=20, subset_size=200, seed=0)
    assert float(shifted) > 10 * float(std)


@pytest.fixture(scope="module")
def tiny_unet() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_generator("unet", in_channels=1, num_classes=4, base=4, depth=2).eval()


def test_encoder_features_named_and_shaped(tiny_unet: torch.nn.Module) -> None:
    ex = EncoderFeatures(tiny_unet, image_size=32)
    imgs = np.random.default_rng(3).random((5, 48, 48)).astype(np.float32)
    f = ex(imgs)
    assert f.shape == (5, tiny_unet.feature_dim) and f.dtype == torch.float32
    out = distribution_metrics(f, f, ex, kid_subsets=3, kid_subset_size=5)
    assert set(out) == {"FD-medgan", "KID-medgan", "KID-medgan_std"}
    assert out["FD-medgan"] == pytest.approx(0.0, abs=1e-6)
    assert "FID" not in out
    with pytest.raises(ValueError, match="encode"):
        EncoderFeatures(torch.nn.Conv2d(1, 1, 3), image_size=32)


def test_fid_needs_the_weights_file(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MEDGAN_FID_WEIGHTS", raising=False)
    with pytest.raises(FileNotFoundError, match="MEDGAN_FID_WEIGHTS"):
        inception_features()
    with pytest.raises(FileNotFoundError, match="pt_inception-2015-12-05"):
        inception_features(tmp_path / "missing.pth")
    if importlib.util.find_spec("torch_fidelity") is None:
        fake = tmp_path / "weights.pth"
        fake.write_bytes(b"not weights")
        with pytest.raises(ImportError, match="torch-fidelity"):
            inception_features(fake)


def test_fd_medgan_uses_the_bundled_segmenter() -> None:
    from medgan.inference import list_cards

    if "unet_segmentation" not in {c.name for c in list_cards("segmentation")}:
        pytest.skip("the unet_segmentation checkpoint is not installed")
    from medgan.data import load_brain

    ex = medgan_features("unet_segmentation")
    assert ex.fd_name == "FD-medgan" and ex.source == "unet_segmentation"
    imgs = load_brain("test").images[:4]
    f = ex(imgs)
    assert f.shape[0] == 4 and torch.isfinite(f).all()
    noise = np.random.default_rng(0).random(imgs.shape).astype(np.float32)
    assert float(frechet_distance(f, ex(imgs[::-1].copy()))) < float(frechet_distance(f, ex(noise)))
