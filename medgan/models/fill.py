"""A hole-filling refinement head: gated, dilated convolutions (as in DeepFill v2) that correct a first fill.

The head sees the first fill and the generator's input (the pre-filled image, the hole mask, the labels) and
adds a correction. Gated convolutions learn, per pixel and channel, how much of a feature to pass, so known and
missing pixels are treated differently without a hand-made rule; the dilated middle reaches ~60 px at 256, which
covers a stroke and the edges around it. Its last layer starts at zero, so a head added to a trained generator
starts out returning that generator's fill exactly (:class:`medgan.models.pix2pix.UNetGenerator`, ``refine``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class GatedConv(nn.Module):
    """features · sigmoid(gate), both from one convolution; ELU on the features."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, 2 * cout, k, stride, dilation * (k // 2), dilation=dilation)

    def forward(self, x: Tensor) -> Tensor:
        feat, gate = self.conv(x).chunk(2, dim=1)
        return F.elu(feat) * torch.sigmoid(gate)


class FillRefiner(nn.Module):
    """x (N, in_channels, S, S) → a correction (N, out_channels, S, S), zero at initialisation. One full-resolution
    gated layer, then ``width``·2 channels at half resolution through gated layers dilated 2, 4 and 8 (residual),
    back to full resolution beside the first layer's features."""

    DILATIONS: tuple[int, ...] = (2, 4, 8)

    def __init__(self, in_channels: int, out_channels: int = 1, width: int = 24) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"refine width must be ≥ 1, got {width}")
        self.head = GatedConv(in_channels, width)
        self.down = GatedConv(width, 2 * width, stride=2)
        self.body = nn.ModuleList(GatedConv(2 * width, 2 * width, dilation=d) for d in self.DILATIONS)
        self.fuse = GatedConv(3 * width, width, k=1)
        self.out = nn.Conv2d(width, out_channels, 3, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        f0 = self.head(x)
        h = self.down(f0)
        for block in self.body:
            h = h + block(h)
        h = F.interpolate(h, size=f0.shape[-2:], mode="bilinear", align_corners=False)
        return self.out(self.fuse(torch.cat([h, f0], dim=1)))
