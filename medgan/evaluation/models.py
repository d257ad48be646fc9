"""Which models the protocol evaluates: the installed checkpoints (bundled + user) or, for the tiny preset, tiny
random-initialised models from the registry (same tensor conventions, dict model cards)."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medgan.data import CLASS_NAMES
from medgan.models.registry import build_generator
from medgan.paths import medgan_home
from medgan.tasks import card_value

logger = logging.getLogger(__name__)

CONDITIONAL_TASKS: tuple[str, ...] = ("synthesis", "inpainting", "segmentation", "enhancement")
SEGMENTER_NAME = "unet_segmentation"


@dataclass
class ModelEntry:
    """A model to evaluate: ``loaded`` has ``.module`` (eval mode) and ``.card`` (ModelCard or dict)."""

    name: str
    task: str
    loaded: Any
    info: dict[str, Any]

    @property
    def module(self) -> nn.Module:
        return self.loaded.module

    @property
    def card(self) -> Any:
        return self.loaded.card


@dataclass
class _Loaded:
    module: nn.Module
    card: dict[str, Any]


def checkpoint_file(name: str) -> Path | None:
    """The safetensors file of checkpoint ``name`` (user folder first, then the bundled folder), if any."""

    bundled = Path(__file__).resolve().parents[2] / "checkpoints"
    for folder in (medgan_home() / "checkpoints", bundled):
        p = folder / f"{name}.safetensors"
        if p.is_file():
            return p
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_info(name: str, card: Any) -> dict[str, Any]:
    """What the report records about a checkpoint: file, size, sha256 and the card's provenance fields."""
    path = checkpoint_file(name)
    info: dict[str, Any] = {"name": name, "family": card_value(card, "family"), "task": card_value(card, "task"),
                            "steps": card_value(card, "steps"), "created": card_value(card, "created"),
                            "training_command": card_value(card, "training_command")}
    if path is not None:
        info.update(file=os.path.relpath(path), mb=round(path.stat().st_size / 1e6, 2), sha256=_sha256(path))
    return info


def _inference() -> Any | None:
    try:
        import medgan.inference as inference
    except ImportError as exc:
        logger.warning("medgan.inference is unavailable (%s); no checkpoints can be evaluated", exc)
        return None
    return inference


def installed_models(task: str, device: str = "cpu", only: tuple[str, ...] = ()) -> list[ModelEntry]:
    """Checkpoints serving ``task`` (``medgan.inference.list_cards``), loaded; ``only`` filters by name."""
    inference = _inference()
    if inference is None:
        return []
    out = []
    for card in inference.list_cards(task):
        name = str(card_value(card, "name"))
        if only and name not in only:
            continue
        try:
            loaded = inference.load_model(name, device=device)
        except Exception as exc:  # a broken user checkpoint must not stop the whole report
            logger.warning("skipping checkpoint %s: %s", name, exc)
            continue
        out.append(ModelEntry(name, task, loaded, checkpoint_info(name, loaded.card)))
    return out


def installed_segmenter(device: str = "cpu") -> Any | None:
    """The bundled segmentation U-Net (``unet_segmentation``) or None when it is not installed."""
    inference = _inference()
    if inference is None:
        return None
    names = {str(card_value(c, "name")) for c in inference.list_cards("segmentation")}
    if SEGMENTER_NAME not in names:
        return None
    return inference.load_model(SEGMENTER_NAME, device=device)


def _card(name: str, task: str, gen: str, args: dict[str, Any], size: int, **extra: Any) -> dict[str, Any]:
    card = {"name": name, "task": task, "family": gen, "generator": {"name": gen, "args": args},
            "image_size": size, "label_classes": list(CLASS_NAMES), "degradation": None, "z_dim": None,
            "summary": f"{gen} (random init, tiny preset)", "steps": 0}
    card.update(extra)
    return card


def random_init_models(task: str, size: int, seed: int = 0, only: tuple[str, ...] = ()) -> list[ModelEntry]:
    """Tiny random-initialised models for ``task`` at ``size`` px (tiny preset): exercise the code paths only."""

    k = 4
    specs: dict[str, list[tuple[str, str, dict[str, Any], dict[str, Any]]]] = {
        "generation": [
            ("dcgan_random", "dcgan", {"z_dim": 16, "image_size": size, "num_classes": k, "ngf": 4}, {"z_dim": 16}),
            ("stylegan_random", "stylegan", {"z_dim": 16, "w_dim": 16, "image_size": size, "num_classes": k,
                                             "mapping_layers": 2, "channel_base": 128, "channel_max": 16},
             {"z_dim": 16}),
        ],
        "synthesis": [("pix2pix_synthesis_random", "pix2pix",
                       {"in_channels": k, "out_channels": 1, "ngf": 4, "max_channels": 16, "image_size": size},
                       {"in_channels": k})],
        "inpainting": [("pix2pix_inpainting_random", "pix2pix",
                        {"in_channels": 2 + k, "out_channels": 1, "ngf": 4, "max_channels": 16, "image_size": size},
                        {"in_channels": 2 + k})],
        "segmentation": [("unet_segmentation_random", "unet", {"in_channels": 1, "num_classes": k, "base": 4,
                                                               "depth": 2}, {"in_channels": 1})],
        "enhancement": [("resunet_denoise_random", "resunet", {"in_channels": 1, "out_channels": 1, "ngf": 4,
                                                                "depth": 2}, {"degradation": "denoise"})],
    }
    if task not in specs:
        raise ValueError(f"unknown task {task!r}; valid: {', '.join(specs)}")
    out = []
    for i, (name, gen, args, extra) in enumerate(specs[task]):
        if only and name not in only:
            continue
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + i)
            module = build_generator(gen, **args).eval()
        card = _card(name, task, gen, args, size, **extra)
        out.append(ModelEntry(name, task, _Loaded(module, card), {"name": name, "family": gen, "task": task,
                                                                   "steps": 0, "file": "(random init)"}))
    return out


def models_for(task: str, mode: str, size: int, device: str, seed: int, only: tuple[str, ...] = ()) -> list[ModelEntry]:
    """Models of ``task`` for ``mode`` "checkpoints" or "random-init"."""
    if mode == "checkpoints":
        return installed_models(task, device, only)
    if mode == "random-init":
        return random_init_models(task, size, seed, only)
    raise ValueError(f"unknown model source {mode!r}; valid: checkpoints, random-init")
