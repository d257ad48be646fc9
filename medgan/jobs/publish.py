"""Publish a finished job's model into ``MEDGAN_HOME/checkpoints/`` so the Studio's pickers offer it.

The run's ``model.safetensors`` is copied atomically (temporary file, fsync, rename) to
``<home>/checkpoints/<name>.safetensors`` and its model card is completed (name, dataset description, metrics,
the exact training command, the job id) and written the same way to ``<name>.json``; the card is written last
so a reader never sees a card without its weights.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from medgan import paths
from medgan.atomic import atomic_copy
from medgan.checkpoints import ModelCard
from medgan.inference import list_cards


def checkpoints_dir() -> Path:
    """``MEDGAN_HOME/checkpoints`` (created)."""
    return paths.user_checkpoint_dir(create=True)


def existing_names() -> set[str]:
    """Names of every installed checkpoint (bundled and user-trained)."""
    return {c.name for c in list_cards()}


def unique_name(base: str, folder: Path) -> str:
    """``base``, or ``base-2``, ``base-3``, ... whichever no checkpoint (in ``folder`` or bundled) uses yet."""
    taken = existing_names()
    name, i = base, 1
    while name in taken or (folder / f"{name}.safetensors").exists() or (folder / f"{name}.json").exists():
        i += 1
        name = f"{base}-{i}"
    return name


def publish(out_dir: str | Path, name: str, *, data_desc: str, command: str, job_id: str,
            val_metrics: dict[str, Any] | None = None) -> str:
    """Publish ``out_dir/model.safetensors`` + card as ``name`` (made unique); returns the published name.

    Raises FileNotFoundError when the run left no model.
    """
    out = Path(out_dir)
    weights, card_path = out / "model.safetensors", out / "model.json"
    if not weights.exists():
        raise FileNotFoundError(f"the run left no model file in {out}")
    if not card_path.exists():
        raise FileNotFoundError(f"the run left no model card in {out}")
    card = ModelCard.read(card_path, weights)
    folder = checkpoints_dir()
    name = unique_name(name, folder)
    card.name = name
    if data_desc:
        card.dataset = data_desc
    card.training_command = command
    card.extra["job_id"] = job_id
    metrics = dict(card.metrics or {})
    if val_metrics and "val" not in metrics:
        metrics["val"] = {k: v for k, v in val_metrics.items() if k != "step"}
    card.metrics = metrics
    card.created = card.created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    card.summary = card.summary or f"{card.family} {card.task}, fine-tuned ({data_desc})"
    atomic_copy(weights, folder / f"{name}.safetensors")
    card.write(folder / f"{name}.json")
    return name
