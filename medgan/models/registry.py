"""One registry per kind: name → ``nn.Module`` class. Constructors take explicit typed keyword arguments.

Generators (``forward(x) -> Tensor``, conventions per task in docs/architecture.md):
  "pix2pix"  U-Net with skips (depth from image size; 8 downsamplings at 256) — synthesis/inpainting/segmentation
  "spade"    SPADE ResBlock generator conditioned on a map at every scale — synthesis/inpainting
  "unet"     plain segmentation U-Net (``encode(x)`` gives features for in-domain Fréchet distance)
  "resunet"  residual U-Net for enhancement (output = input + residual)
Discriminators (raw logits; multi-scale ones return a list per scale of [features..., logits]):
  "patchgan" 70×70 PatchGAN, "multiscale_patchgan", "critic" (WGAN-GP critic, no normalisation by default)
"""

from __future__ import annotations

from typing import Any

from torch import nn

from medgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from medgan.models.enhancement import Critic, ResUNetGenerator
from medgan.models.pix2pix import PatchGAN, UNetGenerator
from medgan.models.spade import MultiScalePatchGAN, SPADEGenerator
from medgan.models.stylegan import StyleDiscriminator, StyleGenerator
from medgan.models.unet import SegUNet

GENERATORS: dict[str, type[nn.Module]] = {
    "pix2pix": UNetGenerator,
    "spade": SPADEGenerator,
    "unet": SegUNet,
    "resunet": ResUNetGenerator,
    "dcgan": DCGANGenerator,
    "stylegan": StyleGenerator,
}

DISCRIMINATORS: dict[str, type[nn.Module]] = {
    "patchgan": PatchGAN,
    "multiscale_patchgan": MultiScalePatchGAN,
    "critic": Critic,
    "dcgan": DCGANDiscriminator,
    "stylegan": StyleDiscriminator,
}

# The unconditional generation family (medgan/models/dcgan.py, stylegan.py) adds its entries to the two dicts
# above, imported at the top of this file like the others.


def _lookup(table: dict[str, type[nn.Module]], kind: str, name: str) -> type[nn.Module]:
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(table))}") from None


def generator_class(name: str) -> type[nn.Module]:
    """The generator class registered as ``name``."""
    return _lookup(GENERATORS, "generator", name)


def discriminator_class(name: str) -> type[nn.Module]:
    """The discriminator class registered as ``name``."""
    return _lookup(DISCRIMINATORS, "discriminator", name)


def build_generator(name: str, **args: Any) -> nn.Module:
    """Instantiate generator ``name`` with keyword ``args``; ValueError listing valid names when unknown."""
    return generator_class(name)(**args)


def build_discriminator(name: str, **args: Any) -> nn.Module:
    """Instantiate discriminator ``name`` with keyword ``args``; ValueError listing valid names when unknown."""
    return discriminator_class(name)(**args)
