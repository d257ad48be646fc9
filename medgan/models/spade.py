"""SPADE (Park et al. 2019): a generator of SPADE ResBlocks, each normalisation modulated by the conditioning
map (one-hot labels for synthesis; image-with-hole + mask + labels for inpainting) resized to its scale. The
generator starts from the conditioning map downsampled to ``image_size / 2**num_upsamplings`` (no VAE encoder).
The discriminator is a multi-scale PatchGAN that returns every scale's intermediate features for the
feature-matching loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgan.models.blocks import conv, init_weights, make_norm, num_downsamplings
from medgan.models.pix2pix import PatchGAN


class SPADE(nn.Module):
    """Parameter-free norm of x, then ×(1 + γ(seg)) + β(seg) with γ, β from a small conv net on the map."""

    def __init__(self, channels: int, label_nc: int, hidden: int, norm: str = "instance") -> None:
        super().__init__()
        if norm == "instance":
            self.norm: nn.Module = nn.InstanceNorm2d(channels, affine=False)
        elif norm == "batch":
            self.norm = nn.BatchNorm2d(channels, affine=False)
        else:
            self.norm = make_norm(norm, channels)
        self.shared = nn.Sequential(nn.Conv2d(label_nc, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        if seg.shape[-2:] != x.shape[-2:]:
            seg = F.interpolate(seg, size=x.shape[-2:], mode="nearest")
        a = self.shared(seg)
        return self.norm(x) * (1.0 + self.gamma(a)) + self.beta(a)


class SPADEResBlock(nn.Module):
    """SPADE → LReLU → conv, twice, with a learned (SPADE + 1×1 conv) shortcut when channels change."""

    def __init__(self, cin: int, cout: int, label_nc: int, hidden: int, norm: str, spectral_norm: bool) -> None:
        super().__init__()
        cmid = min(cin, cout)
        self.learned_shortcut = cin != cout
        self.norm0 = SPADE(cin, label_nc, hidden, norm)
        self.conv0 = conv(cin, cmid, 3, spectral_norm=spectral_norm)
        self.norm1 = SPADE(cmid, label_nc, hidden, norm)
        self.conv1 = conv(cmid, cout, 3, spectral_norm=spectral_norm)
        if self.learned_shortcut:
            self.norm_s = SPADE(cin, label_nc, hidden, norm)
            self.conv_s = conv(cin, cout, 1, bias=False, spectral_norm=spectral_norm)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        h = self.conv0(self.act(self.norm0(x, seg)))
        h = self.conv1(self.act(self.norm1(h, seg)))
        return s + h


class SPADEGenerator(nn.Module):
    """x: conditioning map (N, label_nc, S, S) → image (N, out_channels, S, S), tanh in [-1, 1].

    Starts at S / 2**num_upsamplings from the downsampled map; SPADE ResBlocks run at every scale up to
    S / 2**plain_top_levels, the remaining top levels are plain (upsample + conv) to keep CPU inference fast.
    Channel width ngf·2**k capped at ``max_channels`` (k counts scales from the output); ``spade_hidden`` caps
    the hidden width of every SPADE modulation net."""

    def __init__(self, label_nc: int = 4, out_channels: int = 1, ngf: int = 16, max_channels: int = 128,
                 image_size: int = 256, num_upsamplings: int = 5, plain_top_levels: int = 1, spade_hidden: int = 64,
                 norm: str = "instance", spectral_norm: bool = True, init: str = "xavier",
                 init_gain: float = 0.02) -> None:
        super().__init__()
        self.num_up = min(num_upsamplings, num_downsamplings(image_size, 4))
        self.plain = max(0, min(plain_top_levels, self.num_up))
        chans = [min(max_channels, ngf * 2**k) for k in range(self.num_up + 1)][::-1]  # coarse → fine
        self.head = nn.Conv2d(label_nc, chans[0], 3, padding=1)
        self.blocks = nn.ModuleList()
        n_spade = self.num_up + 1 - self.plain
        for i in range(n_spade):
            cin = chans[max(0, i - 1)]
            cout = chans[i]
            hidden = min(spade_hidden, max(16, 2 * cout))
            self.blocks.append(SPADEResBlock(cin, cout, label_nc, hidden, norm, spectral_norm))
        self.top = nn.ModuleList()
        for i in range(n_spade, self.num_up + 1):
            self.top.append(nn.Sequential(conv(chans[i - 1] + label_nc, chans[i], 3, spectral_norm=spectral_norm),
                                          nn.LeakyReLU(0.2), conv(chans[i], chans[i], 3, spectral_norm=spectral_norm),
                                          nn.LeakyReLU(0.2)))
        self.out = nn.Conv2d(chans[-1], out_channels, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)
        init_weights(self, init, init_gain)

    def forward(self, x: Tensor) -> Tensor:
        h0, w0 = x.shape[-2] // 2**self.num_up, x.shape[-1] // 2**self.num_up
        h = self.head(F.interpolate(x, size=(h0, w0), mode="area"))
        for i, block in enumerate(self.blocks):
            if i > 0:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = block(h, x)
        if len(self.top):
            h = self.act(h)
        for layer in self.top:
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            seg = F.interpolate(x, size=h.shape[-2:], mode="area") if x.shape[-2:] != h.shape[-2:] else x
            h = layer(torch.cat([h, seg], dim=1))
        return torch.tanh(self.out(self.act(h) if not len(self.top) else h))


class MultiScalePatchGAN(nn.Module):
    """``num_d`` PatchGANs on the input at full, ½, ¼ ... resolution. forward → list (per scale) of lists
    [intermediate features..., logits]; the adversarial losses take the last entry of each scale."""

    def __init__(self, in_channels: int = 5, ndf: int = 32, n_layers: int = 3, num_d: int = 2,
                 max_channels: int = 256, norm: str = "instance", spectral_norm: bool = True, init: str = "xavier",
                 init_gain: float = 0.02) -> None:
        super().__init__()
        self.ds = nn.ModuleList(PatchGAN(in_channels, ndf, n_layers, max_channels, norm, spectral_norm, init,
                                         init_gain) for _ in range(num_d))

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        out = []
        for i, d in enumerate(self.ds):
            if i > 0:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            out.append(d.features(x))
        return out
