"""Style-based generator (StyleGAN2-style, small) and its residual discriminator, for unconditional generation
of image + label map.

Generator: noise ``(N, z_dim)`` → mapping MLP → style ``w`` → synthesis network from a learned 4×4 constant,
two modulated (weight-demodulated) 3×3 convolutions per resolution with per-pixel noise injection, and skip
"to-output" 1×1 modulated convs summed across resolutions. Output ``(N, 1 + K, H, W)``: channel 0 the image
(tanh, [-1, 1]), channels 1..K label logits. Equalised learning rate throughout.
Discriminator: ``(N, 1 + K, H, W)`` → logits ``(N, 1)``: residual downsampling blocks, minibatch standard
deviation, a linear head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_SQRT2 = math.sqrt(2.0)


def _stages(image_size: int) -> list[int]:
    """Resolutions 4, 8, ..., image_size (a power of two ≥ 8)."""
    n = int(round(math.log2(image_size))) if image_size > 0 else 0
    if image_size < 8 or 2**n != image_size:
        raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
    return [2**i for i in range(2, n + 1)]


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (weights N(0, 1) / lr_mul, scaled at run time)."""

    def __init__(self, in_f: int, out_f: int, bias_init: float = 0.0, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_f, in_f) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_f,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_f)
        self.lr_mul = lr_mul

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate, 'same' padding."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale = 1.0 / math.sqrt(cin * k * k)
        self.pad = k // 2

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)


class ModulatedConv2d(nn.Module):
    """Style-modulated conv: weights scaled per sample by an affine map of ``w``, optionally demodulated;
    optional ×2 bilinear upsampling of the input first. x ``(N, cin, H, W)``, w ``(N, w_dim)``."""

    def __init__(self, cin: int, cout: int, k: int, w_dim: int, demodulate: bool = True,
                 upsample: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, cout, cin, k, k))
        self.scale = 1.0 / math.sqrt(cin * k * k)
        self.affine = EqualLinear(w_dim, cin, bias_init=1.0)
        self.demodulate, self.upsample, self.pad = demodulate, upsample, k // 2
        self.cin, self.cout, self.k = cin, cout, k

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        # modulating the input activations and demodulating the output is the same as modulating the weights
        # per sample (StyleGAN2's non-fused form) and runs as one ordinary batched convolution
        style = self.affine(w)  # (N, cin)
        weight = self.weight[0] * self.scale  # (cout, cin, k, k)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(x * style[:, :, None, None], weight, padding=self.pad)
        if self.demodulate:
            dcoef = torch.rsqrt(style.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)  # (N, cout)
            out = out * dcoef[:, :, None, None]
        return out


class StyledLayer(nn.Module):
    """Modulated conv + noise injection (learned per-layer strength) + bias + leaky ReLU (gain √2)."""

    def __init__(self, cin: int, cout: int, w_dim: int, upsample: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, 3, w_dim, upsample=upsample)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x: Tensor, w: Tensor, noise: Tensor | None = None) -> Tensor:
        x = self.conv(x, w)
        if noise is None:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        x = x + self.noise_strength * noise + self.bias
        return F.leaky_relu(x, 0.2) * _SQRT2


class StyleGenerator(nn.Module):
    """Style-based generator: ``(N, z_dim)`` → ``(N, 1 + num_classes, image_size, image_size)``.

    Channels at resolution r: ``min(channel_base // r, channel_max)``. ``truncation_psi`` < 1 pulls ``w``
    toward the running mean ``w_avg`` (tracked during training) at sampling time."""

    def __init__(
        self,
        z_dim: int = 128,
        w_dim: int = 128,
        image_size: int = 64,
        num_classes: int = 4,
        mapping_layers: int = 4,
        channel_base: int = 2048,
        channel_max: int = 128,
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.image_size, self.num_classes = z_dim, w_dim, image_size, num_classes
        self.w_avg_beta = w_avg_beta
        mapping: list[nn.Module] = []
        for i in range(mapping_layers):
            mapping += [EqualLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul=0.01), nn.LeakyReLU(0.2)]
        self.mapping = nn.Sequential(*mapping)
        self.register_buffer("w_avg", torch.zeros(w_dim))
        res = _stages(image_size)
        ch = {r: min(channel_base // r, channel_max) for r in res}
        out_ch = 1 + num_classes
        self.const = nn.Parameter(torch.randn(1, ch[4], 4, 4))
        self.layers = nn.ModuleList()
        self.to_out = nn.ModuleList()
        for r in res:
            block = nn.ModuleList()
            if r > 4:
                block.append(StyledLayer(ch[r // 2], ch[r], w_dim, upsample=True))
            block.append(StyledLayer(ch[r], ch[r], w_dim))
            self.layers.append(block)
            self.to_out.append(ModulatedConv2d(ch[r], out_ch, 1, w_dim, demodulate=False))
        self.out_bias = nn.Parameter(torch.zeros(1, out_ch, 1, 1))

    def map(self, z: Tensor, truncation_psi: float = 1.0) -> Tensor:
        """z ``(N, z_dim)`` → w ``(N, w_dim)`` (pixel-normalised input; updates ``w_avg`` in training)."""
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        w = self.mapping(z)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1.0:  # (under mixed precision w may be bf16 while w_avg stays float32)
            w = self.w_avg.to(w.dtype).lerp(w, truncation_psi)
        return w

    def synthesis(self, w: Tensor) -> Tensor:
        """w ``(N, w_dim)`` → ``(N, 1 + K, H, W)``: tanh image + label logits."""
        x = self.const.expand(w.shape[0], -1, -1, -1)
        out: Tensor | None = None
        for block, to_out in zip(self.layers, self.to_out):
            for layer in block:
                x = layer(x, w)
            y = to_out(x, w)
            out = y if out is None else F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=False) + y
        assert out is not None
        out = out + self.out_bias
        return torch.cat([torch.tanh(out[:, :1]), out[:, 1:]], dim=1)

    def forward(self, z: Tensor, truncation_psi: float = 1.0) -> Tensor:
        """z ``(N, z_dim)`` → ``(N, 1 + K, H, W)``."""
        return self.synthesis(self.map(z, truncation_psi))


class _DBlock(nn.Module):
    """Residual block: two 3×3 convs and a 1×1 skip, ×2 average-pool downsampling, output scaled by 1/√2."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(cin, cin, 3)
        self.conv2 = EqualConv2d(cin, cout, 3)
        self.skip = EqualConv2d(cin, cout, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = F.leaky_relu(self.conv1(x), 0.2) * _SQRT2
        y = F.avg_pool2d(F.leaky_relu(self.conv2(y), 0.2) * _SQRT2, 2)
        return (y + F.avg_pool2d(self.skip(x), 2)) / _SQRT2


class StyleDiscriminator(nn.Module):
    """Residual discriminator: ``(N, in_channels, S, S)`` → logits ``(N, 1)``.

    ``forward(x, return_features=True)`` also returns the block outputs (feature matching)."""

    def __init__(self, image_size: int = 64, in_channels: int = 5, channel_base: int = 2048,
                 channel_max: int = 128, mbstd_group: int = 4) -> None:
        super().__init__()
        res = _stages(image_size)[::-1]  # S, S/2, ..., 4
        ch = {r: min(channel_base // r, channel_max) for r in res}
        self.from_in = EqualConv2d(in_channels, ch[res[0]], 1)
        self.blocks = nn.ModuleList(_DBlock(ch[r], ch[r // 2]) for r in res[:-1])
        self.mbstd_group = mbstd_group
        self.conv = EqualConv2d(ch[4] + 1, ch[4], 3)
        self.fc = EqualLinear(ch[4] * 16, ch[4])
        self.out = EqualLinear(ch[4], 1)

    def _mbstd(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = min(self.mbstd_group, n)
        while n % g:
            g -= 1
        y = x.view(g, -1, c, h, w)
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (N/g,)
        y = y.view(-1, 1, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        """x ``(N, C, S, S)`` (image in [-1, 1] + one-hot labels) → logits ``(N, 1)`` [, feature maps]."""
        feats: list[Tensor] = []
        h = F.leaky_relu(self.from_in(x), 0.2) * _SQRT2
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        h = F.leaky_relu(self.conv(self._mbstd(h)), 0.2) * _SQRT2
        h = F.leaky_relu(self.fc(h.flatten(1)), 0.2) * _SQRT2
        logits = self.out(h)
        return (logits, feats) if return_features else logits
