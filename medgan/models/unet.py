"""Plain segmentation U-Net: image (N, 1, H, W) in [-1, 1] → logits (N, K, H, W). ``encode`` gives pooled
encoder features (N, D) for the in-domain Fréchet distance."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgan.models.blocks import conv, init_weights, make_norm


class _DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, norm: str) -> None:
        super().__init__(conv(cin, cout, 3, bias=norm == "none"), make_norm(norm, cout), nn.ReLU(inplace=True),
                         conv(cout, cout, 3, bias=norm == "none"), make_norm(norm, cout), nn.ReLU(inplace=True))


class SegUNet(nn.Module):
    """U-Net with ``depth`` max-pool levels, widths base·2**i capped at ``max_channels``; H, W multiples of
    2**depth. Output raw logits (label = argmax)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 4, base: int = 16, depth: int = 4,
                 max_channels: int = 128, norm: str = "instance", init: str = "kaiming", init_gain: float = 1.0) -> None:
        super().__init__()
        chans = [min(max_channels, base * 2**i) for i in range(depth + 1)]
        self.enc = nn.ModuleList()
        cin = in_channels
        for c in chans:
            self.enc.append(_DoubleConv(cin, c, norm))
            cin = c
        self.dec = nn.ModuleList()
        for i in reversed(range(depth)):
            self.dec.append(_DoubleConv(chans[i + 1] + chans[i], chans[i], norm))
        self.head = nn.Conv2d(chans[0], num_classes, 1)
        self.feature_dim = chans[-1] + chans[-2]
        init_weights(self, init, init_gain)

    def _encoder(self, x: Tensor) -> list[Tensor]:
        skips = []
        h = x
        for i, block in enumerate(self.enc):
            if i > 0:
                h = F.max_pool2d(h, 2)
            h = block(h)
            skips.append(h)
        return skips

    def encode(self, x: Tensor) -> Tensor:
        """Global-average-pooled features of the two deepest levels: (N, feature_dim)."""
        skips = self._encoder(x)
        return torch.cat([skips[-1].mean(dim=(2, 3)), skips[-2].mean(dim=(2, 3))], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        skips = self._encoder(x)
        h = skips.pop()
        for block in self.dec:
            s = skips.pop()
            h = F.interpolate(h, size=s.shape[-2:], mode="bilinear", align_corners=False)
            h = block(torch.cat([h, s], dim=1))
        return self.head(h)
