"""Progressive resolution for the unconditional generators: fine-tune a checkpoint trained at S px at 2·S
(or 4·S, ...) px with ``python -m medgan train --task generation --init-from NAME --image-size 2S``.

The generator is *grown*: every tensor of the parent loads into the layer of the same name and shape, and one
new stage per doubling is added at the top.

- DCGAN family (``dcgan``: DCGAN, LSGAN, WGAN-GP, HingeGAN): the parent's channels per stage are kept
  (``stage_channels``) and the new top stage has the channels of the old top one, so the output head loads
  unchanged. The new stage (nearest ×2 + 3×3 conv + norm + ReLU) starts as the identity (Dirac kernel, norm
  scale 1, shift 0): in eval mode the grown generator starts out drawing its parent's picture at twice the size.
- StyleGAN (``stylegan``): channels follow the resolution (``channel_base // r``), so the parent's layers keep
  their names; the new resolution's layers are fresh and its to-output layer starts at zero, so the grown output
  starts as the parent's output bilinearly upsampled, exactly.

The discriminator is built fresh at the new size (bundled checkpoints keep the generator only). The card records
the growth under ``grown_from`` (parent name, its size, the new size, the tensors loaded and added).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

GROWABLE: tuple[str, ...] = ("dcgan", "stylegan")


def _doublings(old: int, new: int) -> int:
    k = int(round(math.log2(new / old))) if old > 0 and new > 0 else -1
    if k < 1 or old * 2**k != new:
        raise ValueError(f"a {old} px generator grows to {old * 2} px, {old * 4} px, ... (a power-of-two multiple "
                         f"of its size), not to {new} px")
    return k


def dcgan_stage_channels(args: dict[str, Any]) -> list[int]:
    """Channels at 4×4, 8×8, ..., image_size of a DCGAN generator built with ``args`` (its constructor's)."""
    if args.get("stage_channels") is not None:
        return [int(c) for c in args["stage_channels"]]
    size, ngf = int(args.get("image_size", 64)), int(args.get("ngf", 32))
    n = int(round(math.log2(size))) - 2
    return [min(ngf * 2 ** (n - i), ngf * 8) for i in range(n + 1)]


def grown_generator_args(name: str, args: dict[str, Any], new_size: int) -> dict[str, Any]:
    """Constructor arguments of generator ``name`` (built with ``args``) grown to ``new_size`` px; ValueError when
    the generator cannot grow or ``new_size`` is not a power-of-two multiple of its size."""
    if name not in GROWABLE:
        raise ValueError(f"generator {name!r} cannot grow to a larger size; growable: {', '.join(GROWABLE)}")
    old = int(args.get("image_size", 64))
    k = _doublings(old, new_size)
    out = dict(args)
    out["image_size"] = int(new_size)
    if name == "dcgan":
        chans = dcgan_stage_channels(args)
        out["stage_channels"] = chans + [chans[-1]] * k
    return out


@dataclass
class Growth:
    """What :func:`load_grown` did: tensors taken from the parent, and the new ones (the added stages)."""

    loaded: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


def load_grown(generator: nn.Module, state: dict[str, Tensor]) -> Growth:
    """Load a smaller parent's generator ``state`` into the grown ``generator``: every parent tensor must find a
    tensor of the same name and shape (ValueError otherwise); tensors the parent lacks are the new stages, which
    start as described in the module docstring."""
    target = generator.state_dict()
    bad = [k for k, v in state.items() if k not in target or tuple(target[k].shape) != tuple(v.shape)]
    if bad:
        raise ValueError(f"the parent's weights do not fit the grown generator ({len(bad)} tensors, e.g. {bad[0]!r}); "
                         "grow only a generator of the same architecture and width")
    cast = {k: v.to(target[k].dtype) for k, v in state.items()}
    missing, unexpected = generator.load_state_dict(cast, strict=False)
    assert not unexpected
    growth = Growth(loaded=sorted(state), added=sorted(missing))
    _init_new_stages(generator, set(missing))
    return growth


@torch.no_grad()
def _init_new_stages(generator: nn.Module, new: set[str]) -> None:
    from medgan.models.dcgan import DCGANGenerator
    from medgan.models.stylegan import StyleGenerator

    if isinstance(generator, DCGANGenerator):
        for i, block in enumerate(generator.blocks):
            if not any(k.startswith(f"blocks.{i}.") for k in new):
                continue
            for m in block:
                if isinstance(m, nn.Conv2d) and m.in_channels == m.out_channels:
                    nn.init.dirac_(m.weight)
                    if m.bias is not None:
                        m.bias.zero_()
                elif isinstance(m, nn.modules.batchnorm._BatchNorm | nn.GroupNorm | nn.InstanceNorm2d) and m.affine:
                    m.weight.fill_(1.0)
                    m.bias.zero_()
        if generator.skips is not None:
            for i, conv in enumerate(generator.skips):
                if any(k.startswith(f"skips.{i}.") for k in new):
                    for p in conv.parameters():
                        p.zero_()
    elif isinstance(generator, StyleGenerator):
        for i, conv in enumerate(generator.to_out):
            if any(k.startswith(f"to_out.{i}.") for k in new):
                conv.weight.zero_()


def grow_checkpoint_config(cfg: Any, card: Any, new_size: int) -> None:
    """Point ``cfg`` (a generation TrainConfig built from the preset at ``new_size``) at the grown generator of
    ``card`` and record the growth in ``cfg.run.grown_from``."""
    from medgan.training.config import ModelConfig

    args = grown_generator_args(card.generator["name"], dict(card.generator.get("args", {})), new_size)
    cfg.generator = ModelConfig(card.generator["name"], args)
    cfg.run.grown_from = {"name": card.name, "image_size": int(card.image_size), "image_size_new": int(new_size)}
    logger.info("growing %s from %d px to %d px", card.name, card.image_size, new_size)
