"""Loss functions: ordering (a discriminator that calls real fake is penalised more), multi-scale inputs,
gradient penalty, feature matching, L1, soft Dice."""

from __future__ import annotations

import pytest
import torch

from medgan import losses


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_discriminator_is_penalised_more_for_calling_real_fake(name: str) -> None:
    pair = losses.get_loss(name)
    high, low = torch.full((2, 1, 4, 4), 3.0), torch.full((2, 1, 4, 4), -3.0)
    right = pair.d_loss(high, low)  # real called real, fake called fake
    wrong = pair.d_loss(low, high)  # real called fake, fake called real
    assert torch.isfinite(right) and torch.isfinite(wrong)
    assert wrong > right
    # the generator is happier when the discriminator believes its samples
    assert pair.g_loss(high) < pair.g_loss(low)


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_multiscale_lists_match_mean_of_scales(name: str) -> None:
    pair = losses.get_loss(name)
    torch.manual_seed(0)
    r1, r2, f1, f2 = (torch.randn(2, 1, s, s) for s in (8, 4, 8, 4))
    both = pair.d_loss([r1, r2], [f1, f2])
    expected = (pair.d_loss(r1, f1) + pair.d_loss(r2, f2)) / 2
    assert torch.allclose(both, expected, atol=1e-6)
    # per-scale feature lists: the last entry is the logits
    assert torch.allclose(pair.g_loss([[torch.zeros(1), f1], [f2]]), (pair.g_loss(f1) + pair.g_loss(f2)) / 2)


def test_label_smoothing_changes_bce_target() -> None:
    real = torch.full((1, 1, 2, 2), 10.0)
    fake = torch.full((1, 1, 2, 2), -10.0)
    assert losses.bce_d_loss(real, fake, label_smoothing=0.1) > losses.bce_d_loss(real, fake)


def test_unknown_loss_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="bce.*hinge.*lsgan.*wgan"):
        losses.get_loss("nope")


def test_gradient_penalty_zero_for_unit_slope_critic_and_positive_otherwise() -> None:
    real, fake = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    n = real[0].numel()

    def unit(x: torch.Tensor) -> torch.Tensor:  # gradient norm exactly 1 per sample
        return x.sum(dim=(1, 2, 3)) / n**0.5

    assert losses.gradient_penalty(unit, real, fake).item() == pytest.approx(0.0, abs=1e-8)
    steep = losses.gradient_penalty(lambda x: 3 * unit(x), real, fake)
    assert steep.item() == pytest.approx(4.0, rel=1e-5)
    # with a condition the critic sees the concatenation; the penalty only differentiates the image part
    cond = torch.randn(4, 2, 8, 8)
    gp = losses.gradient_penalty(lambda x: x[:, 2:].sum(dim=(1, 2, 3)) / n**0.5, real, fake, condition=cond)
    assert gp.item() == pytest.approx(0.0, abs=1e-8)


def test_gradient_penalty_backpropagates_to_critic_parameters() -> None:
    critic = torch.nn.Conv2d(1, 1, 3)
    gp = losses.gradient_penalty(critic, torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8))
    gp.backward()
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0


def test_feature_matching_and_l1() -> None:
    a = [[torch.ones(1, 2, 4, 4), torch.zeros(1, 1, 2, 2)]]
    b = [[torch.ones(1, 2, 4, 4) * 3, torch.zeros(1, 1, 2, 2)]]
    assert losses.feature_matching(a, b).item() == pytest.approx(1.0)  # mean of |1-3| and 0
    assert losses.feature_matching(a, a).item() == 0.0
    pred, tgt = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert losses.l1(pred, tgt).item() == pytest.approx(0.25)
    assert losses.l1(pred, tgt, mask=tgt).item() == pytest.approx(1.0)


def test_soft_dice_perfect_vs_wrong() -> None:
    labels = torch.randint(0, 4, (2, 16, 16))
    onehot = torch.nn.functional.one_hot(labels, 4).permute(0, 3, 1, 2).float()
    perfect = losses.soft_dice_loss(onehot * 50, labels)
    wrong = losses.soft_dice_loss(onehot.roll(1, dims=1) * 50, labels)
    assert perfect.item() < 0.01
    assert wrong.item() > 0.9
    assert torch.allclose(perfect, losses.soft_dice_loss(onehot * 50, onehot))
