"""Enhancement (WGAN-GP): residual U-Net generator (output = input + learned residual, clamped to [-1, 1]) and a
convolutional critic without normalisation (the gradient penalty forbids batch norm)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgan.models.blocks import conv, init_weights, make_norm


class _ResBlock(nn.Module):
    def __init__(self, c: int, norm: str, spectral_norm: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(c, c, 3, spectral_norm=spectral_norm), make_norm(norm, c), nn.ReLU(inplace=True),
                                  conv(c, c, 3, spectral_norm=spectral_norm), make_norm(norm, c))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.body(x))


class ResUNetGenerator(nn.Module):
    """Degraded image (N, in_channels, H, W) in [-1, 1] → restored (N, out_channels, H, W) in [-1, 1].
    ``depth`` stride-2 levels with one residual block each; H, W multiples of 2**depth."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ngf: int = 32, depth: int = 3,
                 max_channels: int = 128, norm: str = "none", spectral_norm: bool = False, init: str = "kaiming",
                 init_gain: float = 1.0) -> None:
        super().__init__()
        chans = [min(max_channels, ngf * 2**i) for i in range(depth + 1)]
        self.stem = nn.Sequential(conv(in_channels, chans[0], 3, spectral_norm=spectral_norm), nn.ReLU(inplace=True))
        self.enc = nn.ModuleList()
        self.down = nn.ModuleList()
        for i in range(depth):
            self.enc.append(_ResBlock(chans[i], norm, spectral_norm))
            self.down.append(nn.Sequential(conv(chans[i], chans[i + 1], 3, 2, spectral_norm=spectral_norm),
                                           nn.ReLU(inplace=True)))
        self.mid = _ResBlock(chans[-1], norm, spectral_norm)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in reversed(range(depth)):
            self.up.append(nn.ConvTranspose2d(chans[i + 1], chans[i], 2, 2))
            self.dec.append(nn.Sequential(conv(2 * chans[i], chans[i], 3, spectral_norm=spectral_norm),
                                          nn.ReLU(inplace=True), _ResBlock(chans[i], norm, spectral_norm)))
        self.out = nn.Conv2d(chans[0], out_channels, 3, padding=1)
        init_weights(self, init, init_gain)
        nn.init.zeros_(self.out.weight)  # start as the identity map
        nn.init.zeros_(self.out.bias)
        self.in_channels, self.out_channels = in_channels, out_channels

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        skips = []
        for enc, down in zip(self.enc, self.down):
            h = enc(h)
            skips.append(h)
            h = down(h)
        h = self.mid(h)
        for up, dec in zip(self.up, self.dec):
            h = up(h)
            h = dec(torch.cat([h, skips.pop()], dim=1))
        base = x[:, : self.out_channels] if self.in_channels >= self.out_channels else x.mean(1, keepdim=True)
        return torch.clamp(base + self.out(h), -1.0, 1.0)


class Critic(nn.Module):
    """WGAN-GP critic: x (N, in_channels, H, W) → patch scores (N, 1, h, w) (raw, unbounded). For conditional
    use, ``in_channels`` counts the condition concatenated with the image."""

    def __init__(self, in_channels: int = 2, ndf: int = 32, n_layers: int = 4, max_channels: int = 256,
                 norm: str = "none", spectral_norm: bool = False, init: str = "kaiming", init_gain: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i in range(n_layers):
            c_next = min(max_channels, ndf * 2**i)
            layers += [conv(c, c_next, 4, 2, 1, spectral_norm=spectral_norm), make_norm(norm, c_next),
                       nn.LeakyReLU(0.2)]
            c = c_next
        layers.append(conv(c, 1, 3, 1, 1, spectral_norm=spectral_norm))
        self.body = nn.Sequential(*layers)
        init_weights(self, init, init_gain)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)
