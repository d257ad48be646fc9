"""What a family's step function may touch (:class:`StepContext`), shared by every family."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from medgan.training.config import TrainConfig


@dataclass
class StepContext:
    """What a step function may touch. Under data parallelism ``generator`` and ``discriminator`` are
    DistributedDataParallel wrappers (gradients are averaged over the ranks inside ``backward``); a module whose
    loss term must not reach its parameters is frozen with :func:`set_requires_grad` rather than left to collect
    unused gradients. ``shared_rng`` draws random decisions every rank must share (seeded per step without the
    rank; None in one process, where the global generator is used)."""

    generator: nn.Module
    discriminator: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    cfg: TrainConfig
    device: torch.device
    shared_rng: torch.Generator | None = None
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    extra: dict = field(default_factory=dict)


StepFn = Callable[[StepContext, dict[str, Tensor]], dict[str, float]]


def set_requires_grad(module: nn.Module | None, flag: bool) -> None:
    if module is not None:
        for p in module.parameters():
            p.requires_grad_(flag)
