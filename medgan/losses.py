"""Losses as pure functions over tensors.

Adversarial pairs live in :data:`LOSSES` by name ("bce", "lsgan", "hinge", "wgan"); each pair has
``d_loss(real_logits, fake_logits, label_smoothing=0.0)`` and ``g_loss(fake_logits)``. Logits may be one Tensor
or a list of Tensors (multi-scale discriminators): the loss is the mean over scales. Discriminators return raw
logits; the loss owns the activation and targets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

Logits = Tensor | Sequence[Tensor]


def logits_per_scale(x: Logits) -> list[Tensor]:
    """A discriminator's output → its logits, one Tensor per scale (features before the logits dropped)."""
    if isinstance(x, Tensor):
        return [x]
    out: list[Tensor] = []
    for item in x:  # a scale may itself be (features..., logits) — take the last entry
        out.append(item[-1] if isinstance(item, (list, tuple)) else item)
    return out


def _mean_over_scales(fn: Callable[[Tensor], Tensor], x: Logits) -> Tensor:
    xs = logits_per_scale(x)
    return torch.stack([fn(t.float()) for t in xs]).mean()


# --- BCE (DCGAN, Pix2Pix) --------------------------------------------------------------------------------
def bce_d_loss(real_logits: Logits, fake_logits: Logits, label_smoothing: float = 0.0) -> Tensor:
    """Non-saturating GAN discriminator loss; real targets are ``1 - label_smoothing`` (one-sided)."""
    real_t = 1.0 - label_smoothing
    lr = _mean_over_scales(lambda t: F.binary_cross_entropy_with_logits(t, torch.full_like(t, real_t)), real_logits)
    lf = _mean_over_scales(lambda t: F.binary_cross_entropy_with_logits(t, torch.zeros_like(t)), fake_logits)
    return 0.5 * (lr + lf)


def bce_g_loss(fake_logits: Logits) -> Tensor:
    """Non-saturating generator loss: -log D(G(z))."""
    return _mean_over_scales(lambda t: F.binary_cross_entropy_with_logits(t, torch.ones_like(t)), fake_logits)


# --- least squares (LSGAN) --------------------------------------------------------------------------------
def lsgan_d_loss(real_logits: Logits, fake_logits: Logits, label_smoothing: float = 0.0) -> Tensor:
    """0.5·E[(D(x) - a)²] + 0.5·E[D(G(z))²] with a = 1 - label_smoothing."""
    a = 1.0 - label_smoothing
    lr = _mean_over_scales(lambda t: ((t - a) ** 2).mean(), real_logits)
    lf = _mean_over_scales(lambda t: (t**2).mean(), fake_logits)
    return 0.5 * (lr + lf)


def lsgan_g_loss(fake_logits: Logits) -> Tensor:
    """0.5·E[(D(G(z)) - 1)²]."""
    return 0.5 * _mean_over_scales(lambda t: ((t - 1.0) ** 2).mean(), fake_logits)


# --- hinge (HingeGAN, SPADE) ------------------------------------------------------------------------------
def hinge_d_loss(real_logits: Logits, fake_logits: Logits, label_smoothing: float = 0.0) -> Tensor:
    """E[relu(m - D(x))] + E[relu(1 + D(G(z)))] with margin m = 1 - label_smoothing."""
    m = 1.0 - label_smoothing
    lr = _mean_over_scales(lambda t: F.relu(m - t).mean(), real_logits)
    lf = _mean_over_scales(lambda t: F.relu(1.0 + t).mean(), fake_logits)
    return 0.5 * (lr + lf)


def hinge_g_loss(fake_logits: Logits) -> Tensor:
    """-E[D(G(z))]."""
    return _mean_over_scales(lambda t: -t.mean(), fake_logits)


# --- Wasserstein (WGAN, WGAN-GP critic) -------------------------------------------------------------------
def wgan_d_loss(real_logits: Logits, fake_logits: Logits, label_smoothing: float = 0.0) -> Tensor:
    """E[D(G(z))] - E[D(x)] (label smoothing has no meaning for a critic and is ignored)."""
    return _mean_over_scales(lambda t: t.mean(), fake_logits) - _mean_over_scales(lambda t: t.mean(), real_logits)


def wgan_g_loss(fake_logits: Logits) -> Tensor:
    """-E[D(G(z))]."""
    return _mean_over_scales(lambda t: -t.mean(), fake_logits)


@dataclass(frozen=True)
class AdversarialLoss:
    """A discriminator/generator loss pair."""

    name: str
    d_loss: Callable[..., Tensor]
    g_loss: Callable[[Logits], Tensor]


LOSSES: dict[str, AdversarialLoss] = {
    "bce": AdversarialLoss("bce", bce_d_loss, bce_g_loss),
    "lsgan": AdversarialLoss("lsgan", lsgan_d_loss, lsgan_g_loss),
    "hinge": AdversarialLoss("hinge", hinge_d_loss, hinge_g_loss),
    "wgan": AdversarialLoss("wgan", wgan_d_loss, wgan_g_loss),
}


def get_loss(name: str) -> AdversarialLoss:
    """The adversarial pair called ``name``; ValueError listing valid names otherwise."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown adversarial loss {name!r}; valid: {', '.join(sorted(LOSSES))}") from None


def gradient_penalty(critic: Callable[[Tensor], Logits], real: Tensor, fake: Tensor,
                     condition: Tensor | None = None) -> Tensor:
    """WGAN-GP penalty E[(‖∇D(x̂)‖₂ - 1)²] on random interpolates x̂ between ``real`` and ``fake`` (N, C, H, W).

    ``condition`` (N, C', H, W), when given, is concatenated to x̂ on the channel axis before the critic.
    """
    n = real.shape[0]
    alpha = torch.rand((n,) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    inp = x_hat if condition is None else torch.cat([condition, x_hat], dim=1)
    out = critic(inp)
    total = sum(o.float().sum() for o in logits_per_scale(out))
    (grad,) = torch.autograd.grad(total, x_hat, create_graph=True)
    norm = grad.reshape(n, -1).float().norm(2, dim=1)
    return ((norm - 1.0) ** 2).mean()


def feature_matching(real_feats: Sequence[Sequence[Tensor]] | Sequence[Tensor],
                     fake_feats: Sequence[Sequence[Tensor]] | Sequence[Tensor]) -> Tensor:
    """Mean L1 distance between discriminator intermediate features (real detached), averaged over layers and
    scales. Accepts per-scale lists of feature lists, or one flat list."""
    pairs: list[tuple[Tensor, Tensor]] = []
    for r, f in zip(real_feats, fake_feats):
        if isinstance(r, (list, tuple)):
            pairs.extend(zip(r, f))
        else:
            pairs.append((r, f))
    if not pairs:
        raise ValueError("feature_matching needs at least one feature pair")
    return torch.stack([F.l1_loss(f.float(), r.detach().float()) for r, f in pairs]).mean()


def l1(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean absolute error; with ``mask`` (broadcastable, 1 = counted) the mean over masked pixels only."""
    return _masked_mean((pred.float() - target.float()).abs(), mask)


def _masked_mean(err: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return err.mean()
    m = mask.float().expand_as(err)
    return (err * m).sum() / m.sum().clamp_min(1.0)


def l2(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error (what PSNR measures); ``mask`` as in :func:`l1`."""
    return _masked_mean((pred.float() - target.float()).square(), mask)


RECONSTRUCTION: dict[str, Callable[..., Tensor]] = {"l1": l1, "l2": l2}


def soft_dice_loss(logits: Tensor, target: Tensor, eps: float = 1.0, include_background: bool = False) -> Tensor:
    """1 - mean soft Dice over classes. logits (N, K, H, W); target one-hot (N, K, H, W) or integer (N, H, W)."""
    probs = torch.softmax(logits.float(), dim=1)
    k = probs.shape[1]
    if target.dim() == probs.dim() - 1:
        target = F.one_hot(target.long(), k).permute(0, 3, 1, 2)
    target = target.float()
    if not include_background and k > 1:
        probs, target = probs[:, 1:], target[:, 1:]
    dims = (0, 2, 3)
    inter = (probs * target).sum(dims)
    denom = probs.sum(dims) + target.sum(dims)
    dice = (2.0 * inter + eps) / (denom + eps)
    return 1.0 - dice.mean()
