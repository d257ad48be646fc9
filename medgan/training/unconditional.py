"""Unconditional generation (DCGAN, LSGAN, WGAN-GP, HingeGAN, StyleGAN): presets, data, and the step function.

One step = ``n_critic`` discriminator updates then one generator update. The discriminator always sees image +
one-hot labels ``(N, 1 + K, H, W)``; for fakes the one-hot is straight-through (forward = one-hot of the argmax,
gradient through the softmax). Tricks from the empirical study are switches of :class:`GenerationStepConfig`:
label smoothing, feature matching, DiffAugment (same policy on real and fake), gradient penalty (WGAN-GP),
R1 penalty, generator EMA.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgan.data.brain import NUM_CLASSES, load_brain
from medgan.losses import feature_matching, get_loss, gradient_penalty
from medgan.models.dcgan import to_discriminator_input
from medgan.training.diffaugment import diff_augment


@dataclass
class GenerationStepConfig:
    """Switches of one generation step."""

    loss: str = "bce"  # "bce" | "lsgan" | "hinge" | "wgan" (medgan.losses.LOSSES)
    n_critic: int = 1  # discriminator updates per generator update
    gp_weight: float = 0.0  # WGAN-GP gradient penalty λ (10 for WGAN-GP)
    r1_gamma: float = 0.0  # R1 penalty on real samples (StyleGAN)
    r1_every: int = 1  # lazy R1: applied with probability 1/r1_every, weighted ×r1_every (unbiased)
    label_smoothing: float = 0.0  # one-sided: real target 1 - s
    feature_matching: float = 0.0  # weight of the D-feature L1 term added to the generator loss
    diffaugment: str = "color,translation,cutout"  # "" to disable
    ema_decay: float = 0.0  # generator EMA (0 = off)
    z_dim: int = 128


@dataclass
class GenerationPreset:
    """Architecture + loss + optimiser defaults for one member of the family."""

    generator: str
    discriminator: str
    generator_args: dict[str, Any]
    discriminator_args: dict[str, Any]
    step: GenerationStepConfig
    optimizer: str = "adam"  # "adam" | "rmsprop"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    summary: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _dcgan(loss: str, summary: str, **step: Any) -> GenerationPreset:
    """The shared DCGAN pair. Lazy R1 (γ = 1 every 4 steps) keeps the spectrally normalised discriminator from
    settling on "blob vs brain" early: without it, runs on the 94 embedded slices stayed at smooth blobs for
    1000+ steps (recorded in the issue notes); with it, midline and hemispheres appear within 600 steps."""
    return GenerationPreset(
        generator="dcgan", discriminator="dcgan",
        generator_args={"ngf": 16, "norm": "batch", "spectral_norm": False, "upsample": "nearest"},
        discriminator_args={"ndf": 32, "norm": "none", "spectral_norm": True},
        step=GenerationStepConfig(loss=loss, r1_gamma=1.0, r1_every=4, **step), summary=summary)


GENERATION_PRESETS: dict[str, GenerationPreset] = {
    "dcgan": _dcgan("bce", "DCGAN (BCE loss)", label_smoothing=0.1),
    "lsgan": _dcgan("lsgan", "LSGAN (least-squares loss)"),
    "hingegan": _dcgan("hinge", "HingeGAN (hinge loss)"),
    "wgangp": GenerationPreset(
        generator="dcgan", discriminator="dcgan",
        generator_args={"ngf": 16, "norm": "batch", "spectral_norm": False, "upsample": "nearest"},
        discriminator_args={"ndf": 32, "norm": "none", "spectral_norm": False},
        step=GenerationStepConfig(loss="wgan", n_critic=2, gp_weight=10.0),
        lr_g=1e-4, lr_d=1e-4, betas=(0.0, 0.9),
        summary="WGAN-GP (Wasserstein loss, gradient penalty λ=10, Adam β=(0, 0.9) as in Gulrajani et al.)"),
    "stylegan": GenerationPreset(
        generator="stylegan", discriminator="stylegan",
        generator_args={"w_dim": 128, "mapping_layers": 4, "channel_base": 512, "channel_max": 64},
        discriminator_args={"channel_base": 512, "channel_max": 64},
        step=GenerationStepConfig(loss="bce", r1_gamma=1.0, r1_every=4),
        lr_g=2e-3, lr_d=2e-3, betas=(0.0, 0.99), summary="style-based generator (StyleGAN2-style, R1)"),
}


def get_preset(arch: str) -> GenerationPreset:
    """Deep copy of the preset ``arch``; ValueError listing valid names otherwise."""
    if arch not in GENERATION_PRESETS:
        raise ValueError(f"unknown generation arch {arch!r}; valid: {', '.join(sorted(GENERATION_PRESETS))}")
    return copy.deepcopy(GENERATION_PRESETS[arch])


def make_optimizers(preset: GenerationPreset, g: nn.Module, d: nn.Module) -> tuple[torch.optim.Optimizer,
                                                                                      torch.optim.Optimizer]:
    """Adam (β from the preset) or RMSProp for G and D."""
    if preset.optimizer == "rmsprop":
        return (torch.optim.RMSprop(g.parameters(), lr=preset.lr_g), torch.optim.RMSprop(d.parameters(), lr=preset.lr_d))
    if preset.optimizer == "adam":
        return (torch.optim.Adam(g.parameters(), lr=preset.lr_g, betas=preset.betas),
                torch.optim.Adam(d.parameters(), lr=preset.lr_d, betas=preset.betas))
    raise ValueError(f"unknown optimizer {preset.optimizer!r}; valid: adam, rmsprop")


# --- data ---------------------------------------------------------------------------------------------------
def to_generation_tensor(images: Tensor, labels: Tensor, size: int, num_classes: int = 4) -> Tensor:
    """images ``(N, H, W)`` in [0, 1], labels ``(N, H, W)`` int → ``(N, 1 + K, size, size)``: image in [-1, 1]
    (area downsampling) + one-hot labels (majority class per output pixel)."""
    img = images.float().unsqueeze(1)
    onehot = F.one_hot(labels.long(), num_classes).permute(0, 3, 1, 2).float()
    if img.shape[-1] != size:
        img = F.interpolate(img, size=(size, size), mode="area")
        onehot = F.interpolate(onehot, size=(size, size), mode="area")
        onehot = F.one_hot(onehot.argmax(1), num_classes).permute(0, 3, 1, 2).float()
    return torch.cat([img * 2 - 1, onehot], dim=1)


def load_generation_data(split: str = "train", size: int = 64) -> Tensor:
    """The embedded brain split as ``(N, 5, size, size)`` generation targets."""

    s = load_brain(split)
    return to_generation_tensor(torch.from_numpy(s.images), torch.from_numpy(s.labels), size, NUM_CLASSES)


def augment_batch(x: Tensor, flip: bool = True, rotate_deg: float = 15.0, translate_frac: float = 15 / 256,
                  generator: torch.Generator | None = None) -> Tensor:
    """Seed augmentations on ``(N, 1 + K, H, W)`` generation targets: random horizontal flip, rotation in
    ±rotate_deg, translation in ±translate_frac of the size; background fill; labels stay one-hot."""
    n = x.shape[0]
    r = torch.rand(n, 4, generator=generator).to(x)
    ang = (r[:, 0] * 2 - 1) * math.radians(rotate_deg)
    sx = torch.where(r[:, 3] < 0.5, -1.0, 1.0).to(x) if flip else torch.ones(n).to(x)
    t = (r[:, 1:3] * 2 - 1) * translate_frac * 2  # affine_grid units: the image spans [-1, 1]
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.stack([torch.stack([cos * sx, -sin, t[:, 0]], 1), torch.stack([sin * sx, cos, t[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    shifted = x.clone()
    shifted[:, 0] += 1.0  # zero padding ≙ image -1
    shifted[:, 1] -= 1.0  # zero padding ≙ background
    out = F.grid_sample(shifted, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out[:, 0] -= 1.0
    out[:, 1] += 1.0
    k = x.shape[1] - 1
    labels = F.one_hot(out[:, 1:].argmax(1), k).permute(0, 3, 1, 2).to(x)
    return torch.cat([out[:, :1], labels], dim=1)


# --- step -----------------------------------------------------------------------------------------------------
def _d_out(d: nn.Module, x: Tensor, want_feats: bool) -> tuple[Tensor, list[Tensor]]:
    if want_feats:
        logits, feats = d(x, return_features=True)
        return logits, feats
    return d(x), []


@torch.no_grad()
def update_ema(ema: nn.Module, g: nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 - decay)·g for parameters; buffers (BatchNorm stats, w_avg) copied (BatchNorm
    statistics are re-estimated for the EMA weights before it is sampled or saved: :func:`recalibrate_batchnorm`)."""
    for pe, pg in zip(ema.parameters(), g.parameters()):
        pe.lerp_(pg.detach(), 1.0 - decay)
    for be, bg in zip(ema.buffers(), g.buffers()):
        be.copy_(bg)


@torch.no_grad()
def recalibrate_batchnorm(g: nn.Module, z_dim: int, device: torch.device | str = "cpu", batches: int = 16,
                          batch_size: int = 64, seed: int = 0) -> bool:
    """Re-estimate the BatchNorm running statistics of an (EMA) generator from its own samples: ``batches`` ×
    ``batch_size`` fixed-seed noise vectors, cumulative average. An EMA's weights are an average of past
    generators, so the running statistics copied from the live generator do not fit them (samples come out
    washed out). Returns False (and does nothing) when ``g`` has no BatchNorm layer."""
    bns = [m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return False
    saved = [(m.momentum, m.training) for m in bns]
    was_training = g.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the calibration batches
    g.train()
    rng = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        g(torch.randn(batch_size, z_dim, generator=rng).to(device))
    g.train(was_training)
    for m, (momentum, training) in zip(bns, saved):
        m.momentum = momentum
        m.train(training)
    return True


def _set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def r1_due(cfg: GenerationStepConfig, rng: torch.Generator | None = None) -> bool:
    """Whether a discriminator update adds the R1 penalty: always when ``r1_every`` ≤ 1, otherwise with
    probability 1/``r1_every`` drawn from ``rng`` (the global generator when None)."""
    return cfg.r1_gamma > 0 and (cfg.r1_every <= 1 or float(torch.rand((), generator=rng)) < 1.0 / cfg.r1_every)


def generation_step(g: nn.Module, d: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                    real: Tensor, cfg: GenerationStepConfig, ema: nn.Module | None = None,
                    aug_generator: torch.Generator | None = None,
                    shared_rng: torch.Generator | None = None,
                    autocast: Callable[[], contextlib.AbstractContextManager] | None = None) -> dict[str, float]:
    """One training step on a real batch ``(N, 1 + K, H, W)``. Returns scalar logs: ``d_loss``, ``g_loss``,
    ``d_real``, ``d_fake`` (mean logits) and ``gp`` / ``r1`` / ``fm`` when enabled.

    ``autocast`` (mixed precision): the forward passes of G and D run inside it; losses and penalties are taken
    in float32.

    ``g`` and ``d`` may be DistributedDataParallel wrappers: D is frozen while the generator's loss goes through
    it (its gradients there were never used), and the lazy-R1 decision is drawn from ``shared_rng`` when given
    (seeded identically on every rank, so all ranks build the same graph; the global generator otherwise)."""
    adv = get_loss(cfg.loss)
    n = real.shape[0]
    dev = real.device
    logs: dict[str, float] = {}
    ac = autocast or contextlib.nullcontext

    def aug(x: Tensor) -> Tensor:
        return diff_augment(x, cfg.diffaugment, generator=aug_generator) if cfg.diffaugment else x

    g.train()
    d.train()
    for _ in range(max(1, cfg.n_critic)):
        with torch.no_grad(), ac():
            fake = to_discriminator_input(g(torch.randn(n, cfg.z_dim, device=dev))).float()
        real_in = aug(real)
        do_r1 = r1_due(cfg, shared_rng)
        if do_r1:
            real_in = real_in.detach().requires_grad_(True)
        with ac():
            real_logits, fake_logits = d(real_in), d(aug(fake))
        real_logits, fake_logits = real_logits.float(), fake_logits.float()
        loss_d = adv.d_loss(real_logits, fake_logits, label_smoothing=cfg.label_smoothing)
        if cfg.gp_weight > 0:
            with ac():
                gp = gradient_penalty(d, real_in.detach(), aug(fake)).float()
            loss_d = loss_d + cfg.gp_weight * gp
            logs["gp"] = float(gp.detach())
        if do_r1:
            (grad,) = torch.autograd.grad(real_logits.sum(), real_in, create_graph=True)
            r1 = grad.pow(2).reshape(n, -1).sum(1).mean()
            loss_d = loss_d + 0.5 * cfg.r1_gamma * max(1, cfg.r1_every) * r1
            logs["r1"] = float(r1.detach())
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
    logs["d_loss"] = float(loss_d.detach())
    logs["d_real"] = float(real_logits.detach().float().mean())
    logs["d_fake"] = float(fake_logits.detach().float().mean())

    want_fm = cfg.feature_matching > 0
    _set_requires_grad(d, False)
    with ac():
        fake = to_discriminator_input(g(torch.randn(n, cfg.z_dim, device=dev)))
        fake_logits, fake_feats = _d_out(d, aug(fake), want_fm)
    loss_g = adv.g_loss(fake_logits.float())
    if want_fm:
        with torch.no_grad(), ac():
            _, real_feats = _d_out(d, aug(real), True)
        fm = feature_matching([f.float() for f in real_feats], [f.float() for f in fake_feats])
        loss_g = loss_g + cfg.feature_matching * fm
        logs["fm"] = float(fm.detach())
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    _set_requires_grad(d, True)
    opt_g.step()
    logs["g_loss"] = float(loss_g.detach())
    if ema is not None and cfg.ema_decay > 0:
        update_ema(ema, g, cfg.ema_decay)
    return logs


# --- sample grid ----------------------------------------------------------------------------------------------
LABEL_COLOURS: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (60, 120, 255), (255, 170, 40), (240, 240, 240))


def sample_grid(out: Tensor, cols: int = 8) -> Tensor:
    """Generator output ``(N, 1 + K, H, W)`` → uint8 RGB grid ``(rows·H, cols·2W, 3)``: per sample the image
    (grey) beside its label map (background black, CSF blue, grey matter orange, white matter white)."""
    out = out.detach().float().cpu()
    n, _, h, w = out.shape
    img = ((out[:, 0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    lab = out[:, 1:].argmax(1)
    pal = torch.tensor(LABEL_COLOURS[: out.shape[1] - 1] + ((255, 0, 255),) * max(0, out.shape[1] - 5),
                       dtype=torch.uint8)
    tiles = torch.cat([img.unsqueeze(-1).expand(n, h, w, 3), pal[lab]], dim=2)  # (N, H, 2W, 3)
    rows = math.ceil(n / cols)
    grid = torch.zeros(rows * h, cols * 2 * w, 3, dtype=torch.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * h:(r + 1) * h, c * 2 * w:(c + 1) * 2 * w] = tiles[i]
    return grid
