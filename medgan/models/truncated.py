"""Latent truncation of an unconditional generator: samples drawn nearer the centre of the latent distribution.

The "truncation trick" (BigGAN, StyleGAN) trades a little diversity for samples that look more typical. With
``psi`` < 1 a StyleGAN pulls its intermediate latent ``w`` toward the running mean ``w_avg`` tracked in training
(its own ``truncation_psi``); every other generator takes ``psi · z`` (the prior's mean is 0, so this is the same
pull in ``z``). ``psi`` = 1 is the untruncated generator. The value a checkpoint uses is its card's
``truncation``, set after measuring the generation bars at it (``benchmarks/generation_quality.py --truncation``).
"""

from __future__ import annotations

import inspect

from torch import Tensor, nn


def check_psi(psi: float) -> float:
    """``psi`` as a float in (0, 1]; ValueError otherwise."""
    value = float(psi)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"latent truncation must be in (0, 1] (1 = none), got {psi!r}")
    return value


def sampling_psi(card_value: float | None, override: float | None = None) -> float:
    """The truncation a generator samples with: ``override`` when given, else the card's value, else 1 (none)."""
    return float(override if override is not None else (card_value or 1.0))


def truncated(generator: nn.Module, psi: float) -> nn.Module:
    """``generator`` sampled with latent truncation ``psi`` (itself when ``psi`` is 1)."""
    return generator if check_psi(psi) == 1.0 else TruncatedGenerator(generator, psi).eval()


class TruncatedGenerator(nn.Module):
    """``generator`` (z → output) sampled with latent truncation ``psi``."""

    def __init__(self, generator: nn.Module, psi: float) -> None:
        super().__init__()
        self.generator = generator
        self.psi = check_psi(psi)
        self.in_w = "truncation_psi" in inspect.signature(generator.forward).parameters
        if hasattr(generator, "z_dim"):
            self.z_dim = generator.z_dim

    def forward(self, z: Tensor) -> Tensor:
        if self.in_w:
            return self.generator(z, truncation_psi=self.psi)
        return self.generator(z * self.psi)
