"""Loading checkpoints: model cards over ``checkpoints/`` (bundled, repository root) and
``MEDGAN_HOME/checkpoints`` (user-trained), and a thread-safe per-process cache of loaded generators.

A checkpoint is ``<name>.safetensors`` + ``<name>.json`` (card); a run folder ``<dir>/model.safetensors`` +
``model.json`` inside ``MEDGAN_HOME/checkpoints`` is listed too (under the card's name).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"


@dataclass
class ModelCard:
    """The fields of a model card JSON (docs/architecture.md), plus where its weights are."""

    name: str
    task: str
    generator: dict[str, Any]
    summary: str = ""
    family: str = ""
    discriminator: dict[str, Any] | None = None
    image_size: int = 256
    in_channels: int | None = None
    out_channels: int | None = None
    label_classes: list[str] = field(default_factory=list)
    degradation: str | None = None
    z_dim: int | None = None
    input_fill: str | None = None  # inpainting: what the generator sees in the hole ("zero" when None)
    dataset: str = ""
    training_command: str = ""
    steps: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    turing: dict[str, Any] | None = None
    domain: dict[str, Any] | None = None  # what it was trained on and the input normalisation (medgan.domain)
    created: str = ""
    weights_path: Path = field(default=Path(), compare=False)
    card_path: Path = field(default=Path(), compare=False)
    bundled: bool = False

    @classmethod
    def from_json(cls, card_path: Path, weights_path: Path, bundled: bool) -> ModelCard:
        data = json.loads(Path(card_path).read_text())
        known = {f.name for f in dataclasses.fields(cls)} - {"weights_path", "card_path", "bundled"}
        missing = [k for k in ("name", "task", "generator") if k not in data]
        if missing:
            raise ValueError(f"model card {card_path} lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in known}, weights_path=Path(weights_path),
                   card_path=Path(card_path), bundled=bundled)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("weights_path", "card_path", "bundled"):
            d.pop(k)
        return d


@dataclass
class LoadedModel:
    """A generator in eval mode on its device, and its card."""

    module: nn.Module
    card: ModelCard


def user_checkpoint_dir() -> Path:
    from medgan.db import medgan_home

    return medgan_home() / "checkpoints"


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
            cards.append(ModelCard.from_json(card_path, weights, bundled))
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


def build_from_card(card: ModelCard, device: str | torch.device = "cpu") -> nn.Module:
    """Instantiate the card's generator and load its weights (EMA weights when present), float32, eval mode."""
    from safetensors.torch import load_file

    from medgan.models.registry import build_generator
    from medgan.training.checkpoint import load_into, split_prefix

    if not card.weights_path.exists():
        raise ValueError(f"checkpoint {card.name!r}: weights file {card.weights_path} is missing")
    module = build_generator(card.generator["name"], **card.generator.get("args", {}))
    tensors = load_file(str(card.weights_path))
    state = split_prefix(tensors, "ema") or split_prefix(tensors, "generator")
    if not state:
        raise ValueError(f"checkpoint {card.name!r} has no generator weights in {card.weights_path}")
    load_into(module, state)
    return module.float().to(device).eval()


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


def clear_cache() -> None:
    """Forget loaded models (after a new checkpoint replaced one)."""
    with _LOCK:
        _CACHE.clear()
