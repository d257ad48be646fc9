"""Shared building blocks: normalisation by name, optional spectral norm, weight initialisation."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import _SpectralNorm

NORMS: tuple[str, ...] = ("instance", "batch", "none")
INITS: tuple[str, ...] = ("normal", "xavier", "kaiming", "default")


def make_norm(kind: str, channels: int) -> nn.Module:
    """Normalisation layer by name: "instance" (affine), "batch", or "none" (identity)."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; valid: {', '.join(NORMS)}")


def maybe_sn(module: nn.Module, spectral_norm: bool) -> nn.Module:
    """Wrap a conv/linear layer with spectral normalisation when ``spectral_norm`` is true."""
    return nn.utils.parametrizations.spectral_norm(module) if spectral_norm else module


def unit_spectral_scale(module: nn.Module, band: tuple[float, float] = (0.5, 2.0)) -> int:
    """Rescale the raw weight of each spectral-normalised layer in ``module`` whose spectral norm lies outside
    ``band`` to spectral norm 1; returns how many it rescaled (layers inside the band are left bit for bit).

    Spectral normalisation divides a weight by its largest singular value, so what the layer computes does not
    change. What changes is the scale Adam's steps are taken at: Adam moves each raw entry by about the learning
    rate whatever its size, so raw weights of 4e-4 (Xavier with gain 0.02) turn a learning rate of 2e-4 into
    steps of half the weights' size, and the network's direction is redrawn at every step. At unit spectral norm
    the raw entries are ~1/sqrt(fan-in) and the learning rate means what it says."""
    n = 0
    for m in module.modules():
        plist = getattr(getattr(m, "parametrizations", None), "weight", None)
        sn = next((p for p in plist if isinstance(p, _SpectralNorm)), None) if plist is not None else None
        if sn is None:
            continue
        w = plist.original
        with torch.no_grad():
            mat = w.movedim(sn.dim, 0).reshape(w.shape[sn.dim], -1).float()
            sigma = float(torch.linalg.matrix_norm(mat, ord=2))
            if sigma > 0 and not band[0] <= sigma <= band[1]:
                w.div_(sigma)
                n += 1
    return n


def conv(in_ch: int, out_ch: int, k: int = 3, stride: int = 1, padding: int | None = None, bias: bool = True,
         spectral_norm: bool = False, padding_mode: str = "zeros") -> nn.Module:
    """Conv2d (optionally spectral-normalised); padding defaults to ``k // 2``."""
    pad = k // 2 if padding is None else padding
    return maybe_sn(nn.Conv2d(in_ch, out_ch, k, stride, pad, bias=bias, padding_mode=padding_mode), spectral_norm)


def init_weights(module: nn.Module, kind: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise conv/linear weights in place: "normal" (N(0, gain)), "xavier" (gain), "kaiming" (fan_in, gain
    scales the std), or "default" (PyTorch's). Norm layers get weight N(1, gain) (batch) and zero bias."""
    if kind not in INITS:
        raise ValueError(f"unknown init {kind!r}; valid: {', '.join(INITS)}")
    if kind == "default":
        return module
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            with torch.no_grad():
                if kind == "normal":
                    nn.init.normal_(w, 0.0, gain)
                elif kind == "xavier":
                    nn.init.xavier_normal_(w, gain=gain)
                else:
                    nn.init.kaiming_normal_(w, a=0.0, mode="fan_in")
                    w.mul_(gain if gain > 0.1 else 1.0)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    unit_spectral_scale(module)
    return module


def num_downsamplings(size: int, min_size: int = 1, cap: int = 8) -> int:
    """How many ×2 downsamplings take ``size`` down to ``min_size`` (at most ``cap``): 8 at 256 → 1×1."""
    return max(1, min(cap, int(math.log2(max(2, size // max(1, min_size))))))
