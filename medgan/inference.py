"""Loading checkpoints: model cards over ``checkpoints/`` (bundled, repository root) and
``MEDGAN_HOME/checkpoints`` (user-trained), and a thread-safe per-process cache of loaded generators.

A checkpoint is ``<name>.safetensors`` + ``<name>.json`` (card); a run folder ``<dir>/model.safetensors`` +
``model.json`` inside ``MEDGAN_HOME/checkpoints`` is listed too (under the card's name).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from medgan import paths
from medgan.checkpoints import ModelCard

logger = logging.getLogger(__name__)

BUNDLED_DIR = paths.BUNDLED_CHECKPOINTS
__all__ = ["BUNDLED_DIR", "LoadedModel", "ModelCard", "build_from_card", "find_card", "list_cards", "load_model",
           "output_size", "renderer_card", "user_checkpoint_dir"]


@dataclass
class LoadedModel:
    """A generator in eval mode on its device, and its card."""

    module: nn.Module
    card: ModelCard


def user_checkpoint_dir() -> Path:
    """``MEDGAN_HOME/checkpoints`` (user-trained and published checkpoints)."""
    return paths.user_checkpoint_dir()


def _scan(folder: Path, bundled: bool) -> list[ModelCard]:
    cards: list[ModelCard] = []
    if not folder.is_dir():
        return cards
    candidates = [(p, p.with_suffix(".safetensors")) for p in sorted(folder.glob("*.json"))]
    candidates += [(p, p.with_name("model.safetensors")) for p in sorted(folder.glob("*/model.json"))]
    for card_path, weights in candidates:
        if not weights.exists():
            continue
        try:
            cards.append(ModelCard.read(card_path, weights, bundled))
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            logger.warning("skipping unreadable model card %s: %s", card_path, exc)
    return cards


def list_cards(task: str | None = None) -> list[ModelCard]:
    """Every checkpoint's card (bundled first, then user-trained), optionally only those of ``task``."""
    seen: set[str] = set()
    out: list[ModelCard] = []
    for card in _scan(BUNDLED_DIR, True) + _scan(user_checkpoint_dir(), False):
        if card.name in seen:
            continue
        seen.add(card.name)
        if task is None or card.task == task:
            out.append(card)
    return out


def find_card(name: str) -> ModelCard:
    """The card called ``name``; ValueError listing the available names otherwise."""
    cards = list_cards()
    for card in cards:
        if card.name == name:
            return card
    valid = ", ".join(c.name for c in cards) or "(none)"
    raise ValueError(f"unknown checkpoint {name!r}; available: {valid}")


_CACHE: dict[tuple[str, str], LoadedModel] = {}
_LOCK = threading.Lock()


def build_from_card(card: ModelCard, device: str | torch.device = "cpu", render: bool = True,
                    truncation: float | None = None) -> nn.Module:
    """Instantiate the card's generator and load its weights (EMA weights when present), float32, eval mode.
    A generation card's ``truncation`` (or ``truncation`` given here, which replaces it) samples the generator
    with that latent truncation (:class:`medgan.models.truncated.TruncatedGenerator`); with a ``renderer`` (and
    ``render``) the generator is followed by that synthesis checkpoint
    (:class:`medgan.models.rendered.RenderedGenerator`)."""
    module = card.build(device)
    if card.task == "generation":
        from medgan.models.truncated import sampling_psi, truncated

        module = truncated(module, sampling_psi(card.truncation, truncation))
    if not card.renderer or not render:
        return module
    from medgan.models.rendered import RenderedGenerator

    renderer = renderer_card(card)
    return RenderedGenerator(module, renderer.build(device), int(renderer.image_size),
                             bool(renderer.zero_background)).to(device).eval()


def renderer_card(card: ModelCard) -> ModelCard:
    """The synthesis checkpoint that renders a generation card's label maps; ValueError when it is not installed,
    is not a synthesis model, or takes another number of classes than the generator draws."""
    try:
        renderer = find_card(str(card.renderer))
    except ValueError:
        names = ", ".join(c.name for c in list_cards("synthesis")) or "(none)"
        raise ValueError(f"checkpoint {card.name!r} draws its images with the synthesis checkpoint "
                         f"{card.renderer!r}, which is not installed; installed synthesis checkpoints: {names}") from None
    if renderer.task != "synthesis":
        raise ValueError(f"checkpoint {card.name!r}: its renderer {renderer.name!r} is a {renderer.task} model; "
                         "a renderer must be a synthesis (label map → image) checkpoint")
    k_gen, k_ren = len(card.label_classes), len(renderer.label_classes)
    if k_gen and k_ren and k_gen != k_ren:
        raise ValueError(f"checkpoint {card.name!r} draws {k_gen} label classes but its renderer {renderer.name!r} "
                         f"takes {k_ren}")
    return renderer


def output_size(card: ModelCard) -> int:
    """The side of what the card's model outputs: its renderer's size when it has one, else ``image_size``."""
    return int(renderer_card(card).image_size) if card.renderer else int(card.image_size)


def load_model(name: str, device: str = "cpu") -> LoadedModel:
    """Load checkpoint ``name`` once per process and device (thread-safe); ValueError for unknown names."""
    key = (name, str(device))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            return hit
        card = find_card(name)
        loaded = LoadedModel(build_from_card(card, device), card)
        _CACHE[key] = loaded
        return loaded

