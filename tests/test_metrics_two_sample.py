"""Classifier two-sample test: ≈ 0.5 for two random halves of the real set, ≈ 1 for real vs noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from medgan.data import load_brain
from medgan.metrics import roc_auc, two_sample_auc


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_roc_auc_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    s = rng.normal(size=60).round(1)  # ties included
    y = rng.random(60) < 0.4
    assert roc_auc(torch.from_numpy(s), torch.from_numpy(y)) == pytest.approx(roc_auc_score(y, s))


def test_two_halves_of_the_real_set_are_indistinguishable() -> None:
    images = load_brain("train").images
    aucs = []
    for seed in range(3):
        p = np.random.default_rng(seed).permutation(len(images))
        half = len(images) // 2
        aucs.append(two_sample_auc(images[p[:half]], images[p[half:]], seed=seed, epochs=20))
    assert abs(float(np.mean(aucs)) - 0.5) < 0.15, aucs


def test_real_vs_noise_is_separable() -> None:
    images = load_brain("train").images[:60]
    noise = np.random.default_rng(0).random(images.shape).astype(np.float32)
    assert two_sample_auc(images, noise, seed=0, epochs=20) > 0.95


def test_deterministic_and_validated() -> None:
    images = load_brain("test").images
    blurred = images * 0.8
    assert two_sample_auc(images, blurred, seed=1, epochs=3) == two_sample_auc(images, blurred, seed=1, epochs=3)
    with pytest.raises(ValueError, match="at least 4"):
        two_sample_auc(images[:2], images[:2])
