"""The bars of benchmarks/generation_quality.py (PASS/MISS per GAN), its mode-collapse flag, and the
cross-validated classifier two-sample test behind the "machine Turing test" bar."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from medgan.data import load_brain
from medgan.metrics.two_sample import two_sample_auc_cv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from generation_quality import (  # noqa: E402
    BARS,
    _replayable,
    format_bars,
    judge,
    mode_collapse,
    pairwise_l1,
    train_coverage,
)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _figures(**over: float) -> dict:
    res = {"label_dice_seg_vs_generated": 0.72, "label_dice_real_reference": 0.70, "pairwise_l1": 0.09,
           "pairwise_l1_real": 0.10, "fd_medgan_vs_train": 0.1, "fd_medgan_real_test_vs_train": 0.18,
           "two_sample_auc": 0.8, "two_sample_auc_real_reference": 0.85, "mode_collapse": False,
           "train_coverage": 0.9}
    res.update(over)
    return res


def test_each_bar_passes_and_misses_on_its_own_figure() -> None:
    assert all(judge(_figures()).values())
    misses = {"label_agreement": {"label_dice_seg_vs_generated": 0.69},
              "diversity": {"pairwise_l1": 0.079},
              "fd_medgan": {"fd_medgan_vs_train": 0.19},
              "two_sample_auc": {"two_sample_auc": 0.91},
              "no_collapse": {"mode_collapse": True}}
    assert set(misses) == {k for k, _ in BARS}
    for bar, change in misses.items():
        b = judge(_figures(**change))
        assert [k for k, ok in b.items() if not ok] == [bar]
    res = _figures(two_sample_auc=0.95)
    res["bars"] = judge(res)
    text = format_bars(res)
    assert text.count("PASS") == 4 and "MISS  two-sample AUC" in text and "(real 0.850)" in text


def test_mode_collapse_is_flagged_for_a_few_levels_not_for_the_real_slices() -> None:
    train = torch.from_numpy(load_brain("train").images).unsqueeze(1)
    real, train_set = train[::2], train[1::2]
    real_pairs = pairwise_l1(real, m=len(real))
    real_div, real_min = float(real_pairs.mean()), float(real_pairs.min())
    # real slices from every level: not flagged
    cov = train_coverage(real, train_set)
    assert cov > 0.6
    p = pairwise_l1(real)
    assert not mode_collapse(float(p.mean()), p, real_div, real_min, cov)
    # a generator that draws three levels with a little noise: flagged, through its coverage
    few = real[[10, 20, 25]].repeat(16, 1, 1, 1)
    collapsed = (few + 0.002 * torch.randn_like(few)).clamp(0, 1)
    cov = train_coverage(collapsed, train_set)
    assert cov < 0.2
    p = pairwise_l1(collapsed)
    assert mode_collapse(float(p.mean()), p, real_div, real_min, cov)
    assert mode_collapse(real_div, torch.full((10,), real_div), real_div, real_min, 0.1)


def test_cross_validated_two_sample_auc_tells_noise_apart_and_not_two_real_halves() -> None:
    images = load_brain("train").images
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(images))
    a, b = images[perm[:47]], images[perm[47:]]
    same = two_sample_auc_cv(a, b, folds=4, seed=0, epochs=10)
    assert abs(same - 0.5) < 0.2, same
    noise = np.clip(b + rng.normal(0, 0.15, b.shape).astype(np.float32), 0, 1)
    assert two_sample_auc_cv(a, noise, folds=4, seed=0, epochs=10) > 0.9
    with pytest.raises(ValueError, match="at least"):
        two_sample_auc_cv(a[:5], b[:5], folds=4)


def test_the_recorded_command_reproduces_the_figures_without_writing() -> None:
    argv = ["--size", "128", "--json", "/tmp/x.json", "--write", "--installed-json=/tmp/y.json", "--seeds", "3"]
    assert _replayable(argv) == ["--size", "128", "--seeds", "3"]


def test_best_of_k_keeps_the_candidate_its_discriminator_scores_highest() -> None:
    from best_of_k_sampling import BestOfK

    class Flat(torch.nn.Module):  # z (N, 4) → a 1×2×2 "image" holding z
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return z.view(len(z), 1, 2, 2)

    class Sum(torch.nn.Module):  # the "discriminator" prefers large pixel sums
        def forward(self, y: torch.Tensor) -> torch.Tensor:
            return y.sum(dim=(1, 2, 3))[:, None]

    z = torch.tensor([[5.0, -1.0, -1.0, -1.0], [0.0, 0.0, 0.0, 3.0]])
    out = BestOfK(Flat(), Sum(), k=3)(z)
    assert out.shape == (2, 1, 2, 2)
    # every cyclic shift has the same sum for row 0 → the first candidate (z itself) wins the tie
    assert torch.equal(out[0].flatten(), z[0])
    torch.manual_seed(0)
    z = torch.randn(6, 4)
    k = 4
    cands = torch.stack([torch.roll(z, j, dims=1) for j in range(k)])  # (k, N, 4)
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0])

    class Weighted(torch.nn.Module):
        def forward(self, y: torch.Tensor) -> torch.Tensor:
            return (y.flatten(1) * weights).sum(1, keepdim=True)

    out = BestOfK(Flat(), Weighted(), k=k)(z).flatten(1)
    best = (cands * weights).sum(-1).argmax(0)
    assert torch.equal(out, cands[best, torch.arange(6)])
