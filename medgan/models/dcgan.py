"""DCGAN-style generator and discriminator for unconditional generation of image + label map.

The same convolutional pair serves DCGAN, LSGAN, WGAN-GP and HingeGAN; only the adversarial loss changes
(see ``medgan.losses``). Options from the empirical study: spectral norm (G and/or D), batch / instance / no
normalisation, weight init (normal / xavier / kaiming with a gain).

Generator: noise ``(N, z_dim)`` → ``(N, 1 + K, H, W)``; channel 0 is the image in ``[-1, 1]`` (tanh), channels
1..K are label logits (label map = argmax). Discriminator: ``(N, 1 + K, H, W)`` (image + one-hot labels) →
raw logits ``(N, 1)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgan.models.blocks import init_weights, make_norm, maybe_sn


def _check_size(image_size: int) -> int:
    """Number of ×2 stages between 4×4 and ``image_size`` (a power of two ≥ 8)."""
    n = int(round(math.log2(image_size))) if image_size > 0 else 0
    if image_size < 8 or 2**n != image_size:
        raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
    return n - 2


def split_output(out: Tensor) -> tuple[Tensor, Tensor]:
    """``(N, 1 + K, H, W)`` generator output → image ``(N, 1, H, W)`` in [-1, 1], label map ``(N, H, W)`` int64."""
    return out[:, :1], out[:, 1:].argmax(dim=1)


def to_discriminator_input(out: Tensor, hard: bool = True) -> Tensor:
    """Generator output → what the discriminator sees: image + one-hot labels ``(N, 1 + K, H, W)``.

    With ``hard`` the one-hot is straight-through: the forward value is the exact one-hot of the argmax (as for
    real data), the gradient flows through the softmax of the logits."""
    img, logits = out[:, :1], out[:, 1:]
    soft = logits.softmax(dim=1)
    if not hard:
        return torch.cat([img, soft], dim=1)
    one_hot = torch.zeros_like(soft).scatter_(1, soft.argmax(dim=1, keepdim=True), 1.0)
    return torch.cat([img, one_hot - soft.detach() + soft], dim=1)


class DCGANGenerator(nn.Module):
    """DCGAN generator: ``(N, z_dim)`` → ``(N, 1 + num_classes, image_size, image_size)``.

    A linear layer maps the noise to a 4×4 feature map; each stage doubles the resolution (transposed conv, or
    nearest upsampling + 3×3 conv with ``upsample="nearest"``) and halves the channels (capped at ``ngf * 8``).
    With ``skip`` every stage from 8×8 up also has its own 1×1 output layer and the output is the sum of all of
    them, each bilinearly upsampled to full size (the "skip" generator of StyleGAN2): the coarse stages get a
    direct gradient, so the layout of the slice is learned before its texture.

    ``stage_channels`` (optional) fixes the channels at 4×4, 8×8, ..., ``image_size`` explicitly (one entry per
    resolution) instead of ``ngf``'s schedule; a generator grown from a smaller one
    (:mod:`medgan.training.progressive`) keeps its parent's stages and adds one at the top."""

    def __init__(
        self,
        z_dim: int = 128,
        image_size: int = 64,
        num_classes: int = 4,
        ngf: int = 32,
        norm: str = "batch",
        spectral_norm: bool = False,
        upsample: str = "nearest",
        init: str = "normal",
        init_gain: float = 0.02,
        skip: bool = False,
        stage_channels: list[int] | None = None,
    ) -> None:
        super().__init__()
        if upsample not in ("transpose", "nearest"):
            raise ValueError(f"unknown upsample {upsample!r}; valid: transpose, nearest")
        n = _check_size(image_size)
        self.z_dim, self.image_size, self.num_classes = z_dim, image_size, num_classes
        chans = [min(ngf * 2 ** (n - i), ngf * 8) for i in range(n + 1)]
        if stage_channels is not None:
            if len(stage_channels) != n + 1 or min(stage_channels) < 1:
                raise ValueError(f"stage_channels needs {n + 1} positive entries (4×4 … {image_size}×{image_size}), "
                                 f"got {list(stage_channels)}")
            chans = [int(c) for c in stage_channels]
        self.fc = maybe_sn(nn.Linear(z_dim, chans[0] * 16), spectral_norm)
        self.fc_norm = nn.Sequential(make_norm(norm, chans[0]), nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            if upsample == "transpose":
                conv = [maybe_sn(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=norm == "none"), spectral_norm)]
            else:
                conv = [nn.Upsample(scale_factor=2, mode="nearest"),
                        maybe_sn(nn.Conv2d(cin, cout, 3, 1, 1, bias=norm == "none"), spectral_norm)]
            blocks.append(nn.Sequential(*conv, make_norm(norm, cout), nn.ReLU(inplace=True)))
        self.blocks = nn.Sequential(*blocks)
        self.head = maybe_sn(nn.Conv2d(chans[-1], 1 + num_classes, 3, 1, 1), spectral_norm)
        self.skips = nn.ModuleList(
            maybe_sn(nn.Conv2d(c, 1 + num_classes, 1), spectral_norm) for c in chans[1:-1]) if skip else None
        init_weights(self, init, init_gain)

    def forward(self, z: Tensor) -> Tensor:
        """z ``(N, z_dim)`` → ``(N, 1 + K, H, W)``: tanh image, then K label logits."""
        h = self.fc_norm(self.fc(z).view(z.shape[0], -1, 4, 4))
        if self.skips is None:
            out = self.head(self.blocks(h))
        else:
            out = None
            for i, block in enumerate(self.blocks):
                h = block(h)
                y = self.skips[i](h) if i < len(self.skips) else self.head(h)
                out = y if out is None else y + F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=False)
        return torch.cat([torch.tanh(out[:, :1]), out[:, 1:]], dim=1)


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator / critic: ``(N, in_channels, S, S)`` → logits ``(N, 1)``.

    Strided 4×4 convs halve the resolution down to 4×4 (channels doubling, capped at ``ndf * 8``), then a linear
    layer. ``forward(x, return_features=True)`` also returns the intermediate feature maps (feature matching).
    Use ``norm="none"`` or ``"instance"`` for WGAN-GP (the gradient penalty is per sample)."""

    def __init__(
        self,
        image_size: int = 64,
        in_channels: int = 5,
        ndf: int = 32,
        norm: str = "none",
        spectral_norm: bool = True,
        init: str = "normal",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        n = _check_size(image_size)
        self.image_size = image_size
        chans = [min(ndf * 2**i, ndf * 8) for i in range(n + 1)]
        layers: list[nn.Module] = [nn.Sequential(
            maybe_sn(nn.Conv2d(in_channels, chans[0], 3, 1, 1), spectral_norm), nn.LeakyReLU(0.2, inplace=True))]
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers.append(nn.Sequential(
                maybe_sn(nn.Conv2d(cin, cout, 4, 2, 1, bias=norm == "none"), spectral_norm),
                make_norm(norm, cout), nn.LeakyReLU(0.2, inplace=True)))
        self.layers = nn.ModuleList(layers)
        self.fc = maybe_sn(nn.Linear(chans[-1] * 16, 1), spectral_norm)
        init_weights(self, init, init_gain)

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        """x ``(N, C, S, S)`` (image in [-1, 1] + one-hot labels) → logits ``(N, 1)`` [, feature maps]."""
        feats = []
        h = x
        for layer in self.layers:
            h = layer(h)
            feats.append(h)
        logits = self.fc(h.flatten(1))
        return (logits, feats) if return_features else logits
