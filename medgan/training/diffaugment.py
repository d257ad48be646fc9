"""DiffAugment (Zhao et al., 2020): differentiable augmentations applied to real AND fake samples before the
discriminator, so a GAN can train on a few dozen images without the discriminator memorising them.

Inputs are ``(N, 1 + K, H, W)`` tensors (image in [-1, 1] + one-hot labels). ``color`` changes brightness and
contrast of the image channel only; ``translation`` shifts every channel by the same integer offset (filling
with background: image -1, label one-hot of class 0); ``cutout`` blanks a square in every channel (same fill).
Each op draws independent parameters per sample; pass the same ``torch.Generator`` state to reproduce a draw.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

POLICIES: tuple[str, ...] = ("color", "translation", "cutout")


def background_fill(channels: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """Per-channel fill value ``(channels,)`` for image + one-hot labels: image -1, class 0 = 1, others 0."""
    fill = torch.zeros(channels, device=device, dtype=dtype)
    fill[0] = -1.0
    if channels > 1:
        fill[1] = 1.0
    return fill


def _rand(shape: tuple[int, ...], x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.rand(shape, generator=generator, device=x.device if generator is None else generator.device
                      ).to(device=x.device, dtype=x.dtype)


def augment_color(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Random brightness (±0.5 in [-1, 1] units ≙ ±0.25 of the range) and contrast (×[0.5, 1.5] about the mean)
    of channel 0; label channels untouched."""
    n = x.shape[0]
    img = x[:, :1]
    img = img + (_rand((n, 1, 1, 1), x, generator) - 0.5)
    mean = img.mean(dim=(1, 2, 3), keepdim=True)
    img = (img - mean) * (_rand((n, 1, 1, 1), x, generator) + 0.5) + mean
    return torch.cat([img, x[:, 1:]], dim=1)


def augment_translation(x: Tensor, ratio: float = 0.125, fill: Tensor | None = None,
                        generator: torch.Generator | None = None) -> Tensor:
    """Shift each sample by an integer offset in [-ratio·size, ratio·size] on both axes, filling with ``fill``."""
    n, c, h, w = x.shape
    fill = background_fill(c, x.device, x.dtype) if fill is None else fill.to(x)
    fill = fill.view(1, c, 1, 1)
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = (_rand((n, 1, 1), x, generator) * (2 * sh + 1)).floor().long() - sh
    tx = (_rand((n, 1, 1), x, generator) * (2 * sw + 1)).floor().long() - sw
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = torch.clamp(gy.unsqueeze(0) + ty + 1, 0, h + 1)
    gx = torch.clamp(gx.unsqueeze(0) + tx + 1, 0, w + 1)
    padded = F.pad(x - fill, [1, 1, 1, 1])  # zero border = fill after adding it back
    idx = (gy * (w + 2) + gx).view(n, 1, h * w).expand(n, c, h * w)
    out = padded.reshape(n, c, -1).gather(2, idx).view(n, c, h, w)
    return out + fill


def augment_cutout(x: Tensor, ratio: float = 0.5, fill: Tensor | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
    """Blank one square of side ``ratio``·size at a random position per sample (all channels, ``fill``)."""
    n, c, h, w = x.shape
    fill = background_fill(c, x.device, x.dtype) if fill is None else fill.to(x)
    fill = fill.view(1, c, 1, 1)
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = (_rand((n, 1, 1), x, generator) * (h + (1 - ch % 2))).floor().long()
    ox = (_rand((n, 1, 1), x, generator) * (w + (1 - cw % 2))).floor().long()
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    inside = ((gy.unsqueeze(0) - oy).abs() <= ch // 2) & ((gx.unsqueeze(0) - ox).abs() <= cw // 2)
    keep = (~inside).unsqueeze(1).to(x.dtype)
    return x * keep + fill * (1 - keep)


def parse_policy(policy: str) -> list[str]:
    """'color,translation,cutout' → list of op names; '' or 'none' → []. ValueError on unknown names."""
    if not policy or policy == "none":
        return []
    ops = [p.strip() for p in policy.split(",") if p.strip()]
    bad = [p for p in ops if p not in POLICIES]
    if bad:
        raise ValueError(f"unknown DiffAugment op(s) {bad}; valid: {', '.join(POLICIES)} (comma-separated)")
    return ops


def diff_augment(x: Tensor, policy: str = "color,translation,cutout", fill: Tensor | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
    """Apply the ops of ``policy`` in order to ``x`` ``(N, C, H, W)``; differentiable w.r.t. ``x``."""
    for op in parse_policy(policy):
        if op == "color":
            x = augment_color(x, generator)
        elif op == "translation":
            x = augment_translation(x, fill=fill, generator=generator)
        else:
            x = augment_cutout(x, fill=fill, generator=generator)
    return x
