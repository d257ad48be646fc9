"""Data for the protocol and the downstream segmentation U-Net (the empirical study's usefulness test).

Images are float32 (N, H, W) in [0, 1]; label maps uint8 (N, H, W). The U-Net is the registry's "unet"
(``SegUNet``), trained with cross-entropy + soft Dice on (image, label) pairs, optionally with the seed's classic
augmentation (horizontal flips, ±15° rotation, ±15 px translation at 256 px, scaled with the size).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgan.data import CLASS_NAMES
from medgan.evaluation.config import DownstreamConfig, EvalConfig
from medgan.losses import soft_dice_loss
from medgan.metrics import dice_per_class
from medgan.models.registry import build_generator

logger = logging.getLogger(__name__)


@dataclass
class EvalData:
    """train/test images float32 (N, S, S) in [0, 1] and labels uint8 (N, S, S) at the data's native size."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_data(cfg: EvalConfig) -> EvalData:
    """The embedded brain train/test splits, or phantoms (``cfg.data == "phantom"``)."""

    if cfg.data == "brain":
        from medgan.data import load_brain

        tr, te = load_brain("train"), load_brain("test")
        return EvalData(tr.images, tr.labels, te.images, te.labels, tuple(CLASS_NAMES),
                        "embedded MNI152 2009c T1 (train / test splits)")
    if cfg.data == "phantom":
        from medgan.data.phantoms import phantom_set

        n_tr, n_te = cfg.n_phantoms
        xi, xl = phantom_set(n_tr, cfg.phantom_size, seed=cfg.seed + 1)
        ti, tl = phantom_set(n_te, cfg.phantom_size, seed=cfg.seed + 2)
        return EvalData(xi, xl, ti, tl, tuple(CLASS_NAMES), f"procedural phantoms {cfg.phantom_size} px")
    raise ValueError(f"unknown data source {cfg.data!r}; valid: brain, phantom")


def resize_images(x: np.ndarray | Tensor, size: int) -> Tensor:
    """(N, H, W) or (N, 1, H, W) images → float32 (N, 1, size, size) (area when shrinking, bilinear otherwise)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x).float()
    if t.ndim == 3:
        t = t[:, None]
    if t.shape[-1] == size and t.shape[-2] == size:
        return t.contiguous()
    mode = "area" if t.shape[-1] > size else "bilinear"
    kw = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(t, size=(size, size), mode=mode, **kw).clamp(0, 1)


def resize_labels(y: np.ndarray | Tensor, size: int) -> Tensor:
    """(N, H, W) integer label maps → int64 (N, size, size), nearest neighbour."""
    t = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y).long()
    if t.shape[-1] == size and t.shape[-2] == size:
        return t.contiguous()
    return F.interpolate(t[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()


def augment(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Classic augmentation of a batch: x (B, 1, S, S) in [0, 1], y (B, S, S) int64 → same shapes."""
    b, s = x.shape[0], x.shape[-1]
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    y = torch.where(flip.view(-1, 1, 1), y.flip(-1), y)
    ang = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(15)
    shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * (15 / 256) * 2  # ±15 px at 256 in [-1, 1] units
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, [b, 1, s, s], align_corners=False)
    xa = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    ya = F.grid_sample(y[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return xa, ya[:, 0].long()


def build_unet(cfg: DownstreamConfig, num_classes: int) -> nn.Module:
    return build_generator("unet", in_channels=1, num_classes=num_classes, base=cfg.base, depth=cfg.depth)


def train_unet(images: Tensor, labels: Tensor, cfg: DownstreamConfig, num_classes: int, seed: int,
               augment_data: bool = False, device: str = "cpu") -> nn.Module:
    """Train a fresh U-Net on (images (N, 1, S, S) in [0, 1], labels (N, S, S) int64) for ``cfg.steps`` steps
    (Adam, cosine schedule, cross-entropy + soft Dice over the foreground classes); returns it in eval mode."""

    if len(images) == 0:
        raise ValueError("the downstream U-Net needs at least one training pair")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_unet(cfg, num_classes).to(device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.steps, 1))
    net.train()
    n = len(images)
    for _ in range(cfg.steps):
        idx = torch.randint(0, n, (cfg.batch_size,), generator=gen)
        x, y = images[idx], labels[idx]
        if augment_data:
            x, y = augment(x, y, gen)
        logits = net((x * 2 - 1).to(device))
        target = y.to(device)
        loss = F.cross_entropy(logits, target) + soft_dice_loss(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


@torch.no_grad()
def predict_labels(net: nn.Module, images: Tensor, device: str = "cpu", batch_size: int = 16) -> Tensor:
    """Images (N, 1, S, S) in [0, 1] → label maps int64 (N, S, S) (argmax of the logits)."""
    out = [net((images[i : i + batch_size] * 2 - 1).to(device)).argmax(1).cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out)


def downstream_dice(net: nn.Module, test_images: Tensor, test_labels: Tensor, num_classes: int,
                    device: str = "cpu") -> tuple[float, list[float]]:
    """Mean Dice over the foreground classes and the per-class values on the real test slices."""
    pred = predict_labels(net, test_images, device)
    per = dice_per_class(pred, test_labels, num_classes)
    return float(per.mean()), [float(v) for v in per]
