"""The training families, one registry for all of them (:data:`FAMILIES`): each is a step function and,
where the family has them, its own sample writer and EMA refit. The loop runs every family the same way.

Families: "adversarial" (Pix2Pix), "spade" (Pix2Pix + feature matching), "wgangp" (conditional WGAN-GP),
"supervised" (U-Net) — :mod:`medgan.training.family_conditional`; "generation" (DCGAN, LSGAN, WGAN-GP,
HingeGAN, StyleGAN from noise) — :mod:`medgan.training.family_generation`. Presets per (task, arch):
:mod:`medgan.training.presets`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medgan.training.context import StepContext, StepFn
from medgan.training.family_conditional import adversarial_step, supervised_step, wgangp_step
from medgan.training.family_generation import fit_ema, generation_step, write_sample_grid


@dataclass(frozen=True)
class Family:
    """``step``: one optimisation step; ``write_samples(ctx, path)``: the family's own sample grid (None: the
    task's input | output | target grid from validation batches); ``fit_ema(ema, ctx)``: re-estimate an EMA
    generator's statistics before it is sampled or saved (None: nothing to do)."""

    step: StepFn
    write_samples: Callable[[StepContext, Path], None] | None = None
    fit_ema: Callable[[StepContext], None] | None = None
    validates: bool = True  # the family has paired validation batches (PSNR / SSIM / Dice)


FAMILIES: dict[str, Family] = {
    "adversarial": Family(adversarial_step),
    "spade": Family(adversarial_step),
    "wgangp": Family(wgangp_step),
    "supervised": Family(supervised_step),
    "generation": Family(generation_step, write_samples=write_sample_grid, fit_ema=fit_ema, validates=False),
}
STEPS: dict[str, StepFn] = {name: f.step for name, f in FAMILIES.items()}


def get_family(name: str) -> Family:
    """The family ``name``; ValueError listing the valid families otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown training family {name!r}; valid: {', '.join(sorted(FAMILIES))}") from None


def get_step(family: str) -> StepFn:
    """The step function of ``family``; ValueError listing the valid families otherwise."""
    return get_family(family).step
