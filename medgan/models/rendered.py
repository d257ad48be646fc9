"""Label-map generation rendered by a synthesis model: an unconditional generator and a label → image renderer.

The generator draws an image and a label map at its own size (64 px for the bundled GANs). Its label logits are
up-sampled (bilinear) to the renderer's size, their argmax is the label map, and the renderer (a label → image
synthesis model, e.g. ``pix2pix_synthesis`` at 256 px) draws the image from that map. The generator's own image
channel is dropped: the anatomy comes from its label map, the texture and the resolution from the renderer.

The output keeps the generation convention, so every consumer (the task functions, the Turing study, the
benchmarks) uses it unchanged: (N, 1 + K, S, S), the image in [-1, 1] and the label map one-hot in {-1, 1}.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RenderedGenerator(nn.Module):
    """``generator`` (z → image + K label channels) followed by ``renderer`` (one-hot K-channel map in {0, 1},
    (N, K, size, size) → image in [-1, 1]); ``zero_background``: pixels labelled background are black (-1)."""

    def __init__(self, generator: nn.Module, renderer: nn.Module, size: int, zero_background: bool = True) -> None:
        super().__init__()
        self.generator = generator
        self.renderer = renderer
        self.size = int(size)
        self.zero_background = bool(zero_background)

    def label_map(self, y: Tensor) -> Tensor:
        """The generator's label logits (channels 1..K of ``y``) up-sampled to the renderer's size → (N, S, S)."""
        if y.shape[1] < 3:
            raise ValueError("a rendered generator needs a generator that draws label maps (image + ≥ 2 classes)")
        logits = y[:, 1:].float()
        if logits.shape[-1] != self.size:
            logits = F.interpolate(logits, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return logits.argmax(1)

    def forward(self, z: Tensor) -> Tensor:
        y = self.generator(z)
        lab = self.label_map(y)
        k = y.shape[1] - 1
        one_hot = F.one_hot(lab, k).permute(0, 3, 1, 2).to(y.dtype)
        img = self.renderer(one_hot)[:, :1].clamp(-1, 1)
        if self.zero_background:
            img = torch.where(lab[:, None] == 0, torch.full_like(img, -1.0), img)
        return torch.cat([img, one_hot * 2 - 1], 1)
