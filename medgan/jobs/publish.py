"""Publish a finished job's model into ``MEDGAN_HOME/checkpoints/`` so the Studio's pickers offer it.

The run's ``model.safetensors`` is copied atomically (temporary file, fsync, rename) to
``<home>/checkpoints/<name>.safetensors`` and its model card is completed (name, dataset description, metrics,
the exact training command, the job id) and written the same way to ``<name>.json``; the card is written last
so a reader never sees a card without its weights.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from medgan.atomic import atomic_copy, atomic_write_json
from medgan.db import medgan_home


def checkpoints_dir() -> Path:
    """``MEDGAN_HOME/checkpoints`` (created)."""
    path = medgan_home() / "checkpoints"
    path.mkdir(parents=True, exist_ok=True)
    return path


def existing_names() -> set[str]:
    """Names of every installed checkpoint (bundled and user-trained)."""
    try:
        from medgan.inference import list_cards

        return {c.name for c in list_cards()}
    except Exception:  # noqa: BLE001 - no inference module: only the user folder counts
        return set()


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
    card: dict[str, Any] = json.loads(card_path.read_text()) if card_path.exists() else {}
    folder = checkpoints_dir()
    name = unique_name(name, folder)
    card["name"] = name
    if data_desc:
        card["dataset"] = data_desc
    card["training_command"] = command
    card["job_id"] = job_id
    metrics = dict(card.get("metrics") or {})
    if val_metrics and "val" not in metrics:
        metrics["val"] = {k: v for k, v in val_metrics.items() if k != "step"}
    card["metrics"] = metrics
    card.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    card.setdefault("summary", f"{card.get('family', '')} {card.get('task', '')}, fine-tuned ({data_desc})")
    atomic_copy(weights, folder / f"{name}.safetensors")
    atomic_write_json(folder / f"{name}.json", card)
    return name
