"""Image fidelity metrics: PSNR, SSIM, MS-SSIM, batched over slices, optionally restricted to a region.

Inputs: ``pred`` and ``target`` as float tensors or NumPy arrays shaped (H, W), (N, H, W) or (N, 1, H, W), in the
units given by ``data_range`` (1.0 for the package's [0, 1] images). Outputs: one value per image, shape (N,),
or a 0-d tensor for a single (H, W) input.

Conventions
- PSNR = 10 log10(data_range² / MSE). Identical images give ``inf`` (not an error); :func:`finite_psnr` caps
  it for display and averaging (default cap 100 dB).
- SSIM follows Wang et al. 2004 and scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=...)``: 11×11 Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03, population
  covariance, and the mean of the SSIM map over the image without its 5-pixel border. With ``mask``, the map is
  computed over the whole image (symmetric padding, as scipy's ``mode="reflect"``) and averaged over the region.
- MS-SSIM: torchmetrics' implementation (5 scales, standard weights; fewer scales for small images).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["psnr", "finite_psnr", "ssim", "ssim_map", "ms_ssim", "as_image_batch"]

_WIN = 11
_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03
_MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_CHUNK = 2  # slices per chunk: keeps the statistic maps in cache on CPU


def as_image_batch(x: Tensor | np.ndarray, name: str = "image") -> tuple[Tensor, bool]:
    """Convert (H, W) | (N, H, W) | (N, 1, H, W) tensors/arrays to float32 (N, 1, H, W).

    Returns the batch and whether the input was a single (H, W) image."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    single = x.ndim == 2
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[:, None]
    elif x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"{name}: expected shape (H, W), (N, H, W) or (N, 1, H, W), got {tuple(x.shape)}")
    return x.float(), single


def _pair(pred: Tensor | np.ndarray, target: Tensor | np.ndarray) -> tuple[Tensor, Tensor, bool]:
    p, single = as_image_batch(pred, "pred")
    t, _ = as_image_batch(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(p.shape)} vs {tuple(t.shape)}")
    return p, t.to(p.device), single


def _mask_batch(mask: Tensor | np.ndarray | None, like: Tensor) -> Tensor | None:
    if mask is None:
        return None
    m = torch.from_numpy(np.ascontiguousarray(mask)) if isinstance(mask, np.ndarray) else mask
    m = m.to(like.device).bool()
    if m.ndim == 2:
        m = m[None, None]
    elif m.ndim == 3:
        m = m[:, None]
    if m.ndim != 4 or m.shape[-2:] != like.shape[-2:]:
        raise ValueError(f"mask shape {tuple(m.shape)} does not match the images' spatial shape {tuple(like.shape[-2:])}")
    return m.expand(like.shape)


def _out(v: Tensor, single: bool) -> Tensor:
    return v[0] if single else v


def psnr(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, data_range: float = 1.0,
         mask: Tensor | np.ndarray | None = None) -> Tensor:
    """Peak signal-to-noise ratio in dB per image, float64 (N,) or 0-d; ``inf`` where the images are identical
    (inside ``mask`` when given; NaN for an image whose mask is empty)."""
    p, t, single = _pair(pred, target)
    d = p - t
    err = d.mul_(d)  # float32 squared errors; rows summed in float32, images in float64
    m = _mask_batch(mask, p)
    if m is None:
        mse = err.sum(-1).double().flatten(1).sum(1) / (err.shape[-1] * err.shape[-2])
    else:
        mf = m.float()
        mse = (err * mf).sum(-1).double().flatten(1).sum(1) / mf.sum(-1).double().flatten(1).sum(1)
    val = 10.0 * torch.log10(torch.as_tensor(float(data_range) ** 2, dtype=torch.float64) / mse)
    return _out(val, single)


def finite_psnr(value: Tensor | float, cap: float = 100.0) -> Tensor:
    """PSNR with ``inf`` (identical images) replaced by ``cap`` dB, for display and averaging."""
    v = torch.as_tensor(value, dtype=torch.float64)
    return torch.where(torch.isinf(v) & (v > 0), torch.full_like(v, cap), v)


def _gauss_weights(size: int = _WIN, sigma: float = _SIGMA) -> list[float]:
    c = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(c**2) / (2 * sigma**2))
    return [float(v) for v in g / g.sum()]


def _filter_valid(x: Tensor, g: list[float]) -> Tensor:
    """Separable Gaussian filter without padding: (..., H, W) → (..., H - k + 1, W - k + 1)."""
    k = len(g)
    h, w = x.shape[-2:]
    rows = x[..., 0 : h - k + 1, :] * g[0]
    for i in range(1, k):
        rows.add_(x[..., i : i + h - k + 1, :], alpha=g[i])
    out = rows[..., 0 : w - k + 1] * g[0]
    for i in range(1, k):
        out.add_(rows[..., i : i + w - k + 1], alpha=g[i])
    return out


def _pad_symmetric(x: Tensor, r: int) -> Tensor:
    """Symmetric padding (edge sample repeated, scipy ``mode="reflect"``) of the last two dims by ``r``."""
    x = torch.cat([x[..., :r, :].flip(-2), x, x[..., -r:, :].flip(-2)], dim=-2)
    return torch.cat([x[..., :r].flip(-1), x, x[..., -r:].flip(-1)], dim=-1)


def _ssim_chunk(p: Tensor, t: Tensor, data_range: float, full: bool) -> Tensor:
    g = _gauss_weights()
    r = _WIN // 2
    if full:
        p, t = _pad_symmetric(p, r), _pad_symmetric(t, r)
    n = p.shape[0]
    # four filtered maps: E[x], E[y], E[x² + y²], E[xy] (σx² + σy² only appears as a sum)
    buf = torch.empty((4 * n, *p.shape[1:]), dtype=p.dtype, device=p.device)
    buf[:n], buf[n : 2 * n] = p, t
    torch.mul(p, p, out=buf[2 * n : 3 * n]).addcmul_(t, t)
    torch.mul(p, t, out=buf[3 * n :])
    stats = _filter_valid(buf, g)
    mx, my, s2, xy = stats.split(n)
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    mxy = mx * my
    msq = mx.square_().add_(my.square_())  # μx² + μy² (in place: the chunk's buffers are private)
    num = (mxy * 2 + c1).mul_(xy.sub_(mxy).mul_(2).add_(c2))
    den = (msq + c1).mul_(s2.sub_(msq).add_(c2))
    return num.div_(den)


def ssim_map(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, data_range: float = 1.0) -> Tensor:
    """Full-size SSIM map, float32 (N, 1, H, W) (or (H, W) for a single image), symmetric padding at borders."""
    p, t, single = _pair(pred, target)
    _check_size(p)
    maps = torch.cat([_ssim_chunk(p[i : i + _CHUNK], t[i : i + _CHUNK], data_range, True)
                      for i in range(0, p.shape[0], _CHUNK)])
    return maps[0, 0] if single else maps


def _check_size(p: Tensor) -> None:
    if min(p.shape[-2:]) < _WIN:
        raise ValueError(f"SSIM needs images of at least {_WIN}×{_WIN} pixels, got {tuple(p.shape[-2:])}")


def ssim(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, data_range: float = 1.0,
         mask: Tensor | np.ndarray | None = None) -> Tensor:
    """Structural similarity per image, float32 (N,) or 0-d, in [-1, 1] (1 = identical). See the module notes."""
    p, t, single = _pair(pred, target)
    _check_size(p)
    m = _mask_batch(mask, p)
    vals = []
    for i in range(0, p.shape[0], _CHUNK):
        pc, tc = p[i : i + _CHUNK], t[i : i + _CHUNK]
        if m is None:
            vals.append(_ssim_chunk(pc, tc, data_range, False).flatten(1).mean(1))
        else:
            mc = m[i : i + _CHUNK].float()
            smap = _ssim_chunk(pc, tc, data_range, True)
            vals.append((smap * mc).flatten(1).sum(1) / mc.flatten(1).sum(1))
    return _out(torch.cat(vals), single)


def ms_ssim(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, data_range: float = 1.0,
            mask: Tensor | np.ndarray | None = None) -> Tensor:
    """Multi-scale SSIM per image (torchmetrics), float32 (N,) or 0-d. Uses as many of the 5 standard scales as
    the image size allows (each scale halves it; the coarsest must still exceed the 11-pixel window)."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm_ms_ssim

    if mask is not None:
        raise ValueError("ms_ssim does not support a region mask; use ssim(..., mask=...) for a region")
    p, t, single = _pair(pred, target)
    size = min(p.shape[-2:])
    scales = max(1, min(5, int(math.floor(math.log2(size / (_WIN - 1)))) + 1))
    while scales > 1 and size / 2 ** (scales - 1) <= (_WIN - 1):
        scales -= 1
    _check_size(p)
    w = _MS_WEIGHTS[:scales]
    betas = tuple(float(b) / sum(w) for b in w)
    val = tm_ms_ssim(p, t, data_range=data_range, kernel_size=_WIN, sigma=_SIGMA, reduction="none",
                     betas=betas, normalize="relu")
    return _out(val.float(), single)
