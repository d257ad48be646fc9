"""Pix2Pix: U-Net generator with skip connections (depth from the image size: 8 downsamplings at 256, down to
1×1) and the 70×70 PatchGAN discriminator (raw logits)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from medgan.models.blocks import conv, init_weights, make_norm, maybe_sn, num_downsamplings
from medgan.models.fill import FillRefiner


class _Down(nn.Module):
    def __init__(self, cin: int, cout: int, norm: str, first: bool, use_norm: bool, spectral_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [] if first else [nn.LeakyReLU(0.2)]
        layers.append(conv(cin, cout, 4, 2, 1, bias=norm == "none" or not use_norm, spectral_norm=spectral_norm))
        if use_norm:
            layers.append(make_norm(norm, cout))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int, norm: str, outermost: bool, dropout: float, spectral_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReLU(),
                                   maybe_sn(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=norm == "none" or outermost),
                                            spectral_norm)]
        if not outermost:
            layers.append(make_norm(norm, cout))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class UNetGenerator(nn.Module):
    """Pix2Pix U-Net. x (N, in_channels, S, S) → (N, out_channels, S, S); tanh output in [-1, 1], raw logits
    (``out_activation="none"``, segmentation), or ``"residual"``: the first ``out_channels`` input channels plus a
    learned correction, clamped to [-1, 1], the correction's last layer starting at zero (so an untrained model
    returns its input, e.g. a classical pre-fill of a hole). ``S`` must be a multiple of 2**depth; depth =
    log2(image_size) capped at ``max_depth`` (8 at 256).

    ``refine`` > 0 (residual output only) adds a hole-filling head of that width
    (:class:`medgan.models.fill.FillRefiner`) that corrects the U-Net's fill; it starts at zero, so it can be added
    to a trained generator (``--init-from`` with ``--g-arg refine=N``) without changing what it draws."""

    ADDABLE: tuple[str, ...] = ("refine",)  # arguments that add parts a trained generator can grow

    def __init__(self, in_channels: int = 4, out_channels: int = 1, ngf: int = 32, max_channels: int = 128,
                 image_size: int = 256, max_depth: int = 8, norm: str = "instance", dropout: float = 0.0,
                 spectral_norm: bool = False, out_activation: str = "tanh", init: str = "normal",
                 init_gain: float = 0.02, refine: int = 0) -> None:
        super().__init__()
        if refine and out_activation != "residual":
            raise ValueError("refine needs out_activation='residual' (the head corrects a fill)")
        if out_activation not in ("tanh", "none", "residual"):
            raise ValueError(f"unknown out_activation {out_activation!r}; valid: tanh, none, residual")
        if out_activation == "residual" and out_channels > in_channels:
            raise ValueError("out_activation='residual' needs at least out_channels input channels")
        self.depth = num_downsamplings(image_size, 1, max_depth)
        self.out_activation = out_activation
        chans = [min(max_channels, ngf * 2**i) for i in range(self.depth)]
        self.downs = nn.ModuleList()
        cin = in_channels
        for i, c in enumerate(chans):
            # the innermost block has no norm (1×1 maps make instance norm degenerate)
            self.downs.append(_Down(cin, c, norm, first=i == 0, use_norm=0 < i < self.depth - 1,
                                    spectral_norm=spectral_norm))
            cin = c
        self.ups = nn.ModuleList()
        for i in reversed(range(self.depth)):
            up_in = chans[i] if i == self.depth - 1 else chans[i] * 2
            up_out = out_channels if i == 0 else chans[i - 1]
            drop = dropout if i >= self.depth - 3 and i != 0 else 0.0
            self.ups.append(_Up(up_in, up_out, norm, outermost=i == 0, dropout=drop, spectral_norm=spectral_norm))
        init_weights(self, init, init_gain)
        if out_activation == "residual":
            last = self.ups[-1].body[1]
            nn.init.zeros_(getattr(last, "weight_orig", last.weight))
            nn.init.zeros_(last.bias)
        self.refine = FillRefiner(in_channels + out_channels, out_channels, refine) if refine else None

    def forward(self, x: Tensor) -> Tensor:
        skips: list[Tensor] = []
        h = x
        for down in self.downs:
            h = down(h)
            skips.append(h)
        h = skips.pop()
        for j, up in enumerate(self.ups):
            if j > 0:
                h = torch.cat([h, skips.pop()], dim=1)
            h = up(h)
        if self.out_activation == "residual":
            out = (x[:, : h.shape[1]] + h).clamp(-1.0, 1.0)
            if self.refine is not None:
                out = (out + self.refine(torch.cat([out, x], dim=1))).clamp(-1.0, 1.0)
            return out
        return torch.tanh(h) if self.out_activation == "tanh" else h


class PatchGAN(nn.Module):
    """70×70 PatchGAN (n_layers=3). x (N, in_channels, H, W) → raw logits (N, 1, H/8 - 2, W/8 - 2)."""

    def __init__(self, in_channels: int = 5, ndf: int = 32, n_layers: int = 3, max_channels: int = 256,
                 norm: str = "instance", spectral_norm: bool = False, init: str = "normal",
                 init_gain: float = 0.02) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        self.blocks.append(nn.Sequential(conv(in_channels, ndf, 4, 2, 1, spectral_norm=spectral_norm),
                                         nn.LeakyReLU(0.2)))
        c = ndf
        for i in range(1, n_layers + 1):
            c_next = min(max_channels, ndf * 2**i)
            stride = 2 if i < n_layers else 1
            self.blocks.append(nn.Sequential(
                conv(c, c_next, 4, stride, 1, bias=norm == "none", spectral_norm=spectral_norm),
                make_norm(norm, c_next), nn.LeakyReLU(0.2)))
            c = c_next
        self.head = conv(c, 1, 4, 1, 1, spectral_norm=spectral_norm)
        init_weights(self, init, init_gain)

    def features(self, x: Tensor) -> list[Tensor]:
        """Intermediate activations followed by the logits (last entry)."""
        feats = []
        h = x
        for b in self.blocks:
            h = b(h)
            feats.append(h)
        feats.append(self.head(h))
        return feats

    def forward(self, x: Tensor) -> Tensor:
        return self.features(x)[-1]
