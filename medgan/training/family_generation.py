"""The generation family inside the shared training loop: ``make_generation_config`` (the presets of
``--task generation``), ``generation_step``, ``write_sample_grid`` and ``fit_ema`` (the family's entry in
:data:`medgan.training.families.FAMILIES`).

Architectures: "dcgan", "lsgan", "hingegan", "wgangp" (the same DCGAN conv pair, loss swapped by name) and
"stylegan". Loss, n_critic, λ_gp, λ_fm and label smoothing come from ``cfg.optim`` (command-line overridable);
DiffAugment policy and R1 come from :data:`medgan.training.unconditional.GENERATION_PRESETS`. The seed
augmentations (horizontal flip, ±15° rotation, ±15 px at 256 translation; no vertical flip: an upside-down brain
is not a sample of the distribution) are applied inside the step, so run without ``--augment``.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from medgan.atomic import atomic_write_bytes
from medgan.training.config import ModelConfig, OptimConfig, TrainConfig
from medgan.training.context import StepContext
from medgan.training.distributed import unwrap
from medgan.training.unconditional import (
    GENERATION_PRESETS,
    GenerationStepConfig,
    augment_batch,
    get_preset,
    recalibrate_batchnorm,
    sample_grid,
)
from medgan.training.unconditional import generation_step as core_step

SAMPLE_SEED = 1234
SAMPLE_COUNT = 16


def generation_archs() -> list[str]:
    """Valid ``--arch`` values for ``--task generation``."""
    return sorted(GENERATION_PRESETS)


def make_generation_config(arch: str, size: int = 64, k: int = 4, spectral_norm: bool = False) -> TrainConfig:
    """TrainConfig for the generation preset ``arch`` at ``size`` px (``spectral_norm`` adds SN to G)."""
    p = get_preset(arch)
    g_args = {"z_dim": p.step.z_dim, "image_size": size, "num_classes": k, **p.generator_args}
    if spectral_norm and p.generator == "dcgan":
        g_args["spectral_norm"] = True
    d_args = {"image_size": size, "in_channels": 1 + k, **p.discriminator_args}
    s = p.step
    opt = OptimConfig(optimizer=p.optimizer, lr_g=p.lr_g, lr_d=p.lr_d, betas=p.betas, adv_loss=s.loss,
                      lambda_gp=s.gp_weight, lambda_fm=s.feature_matching, n_critic=s.n_critic,
                      label_smoothing=s.label_smoothing, lambda_l1=0.0, lambda_dice=0.0)
    cfg = TrainConfig("generation", arch, "generation", ModelConfig(p.generator, g_args),
                      ModelConfig(p.discriminator, d_args), opt, z_dim=p.step.z_dim)
    cfg.data.batch_size = 16
    cfg.run.val_every = 0
    return cfg


def step_config(cfg: TrainConfig) -> GenerationStepConfig:
    """The step switches of a run: the arch preset, with the loss-related fields taken from ``cfg.optim``."""
    s = get_preset(cfg.arch).step
    o = cfg.optim
    s.loss, s.n_critic, s.label_smoothing = o.adv_loss, o.n_critic, o.label_smoothing
    s.gp_weight = o.lambda_gp if o.adv_loss == "wgan" else 0.0
    s.feature_matching = o.lambda_fm
    s.z_dim = cfg.z_dim or s.z_dim
    for name in ("r1_gamma", "r1_every", "diffaugment", "ema_decay"):  # per-run switches (``family_args``)
        if name in cfg.family_args:
            setattr(s, name, type(getattr(s, name))(cfg.family_args[name]))
    return s


def generation_step(ctx: StepContext, batch: dict[str, Tensor]) -> dict[str, float]:
    """Loop step: seed augmentations on ``batch["target"]`` (N, 1 + K, H, W), then :func:`medgan.training.unconditional.generation_step`."""
    assert ctx.discriminator is not None and ctx.opt_d is not None
    cfg = ctx.extra.get("generation_step")
    if cfg is None:
        cfg = ctx.extra["generation_step"] = step_config(ctx.cfg)
    real = augment_batch(batch["target"].float())
    return core_step(ctx.generator, ctx.discriminator, ctx.opt_g, ctx.opt_d, real, cfg, shared_rng=ctx.shared_rng,
                     autocast=ctx.autocast)


@torch.no_grad()
def write_sample_grid(ctx: StepContext, path: Path) -> None:
    """Write a PNG grid of ``SAMPLE_COUNT`` samples from fixed noise (image beside its label map), from the EMA
    generator when the run keeps one (that is what export bundles)."""
    ema = ctx.extra.get("ema")
    g = ema if ema is not None else unwrap(ctx.generator)  # rank 0 only: never through the data-parallel wrapper
    z = torch.randn(SAMPLE_COUNT, ctx.cfg.z_dim or 128, generator=torch.Generator().manual_seed(SAMPLE_SEED))
    was_training = g.training
    g.eval()
    out = g(z.to(ctx.device))
    g.train(was_training)
    buf = io.BytesIO()
    Image.fromarray(sample_grid(out).numpy()).save(buf, format="PNG")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(path), buf.getvalue())


def fit_ema(ctx: StepContext) -> None:
    """Re-estimate the EMA generator's BatchNorm statistics from its own fixed-seed samples (copied statistics
    belong to the live weights and wash the samples out)."""
    ema = ctx.extra.get("ema")
    if ema is not None:
        recalibrate_batchnorm(ema, ctx.cfg.z_dim or 128, ctx.device)
