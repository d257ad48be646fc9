"""Run: task picker, checkpoints that serve the task (with a one-line card summary), slice and volume runs."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from medgan.defaults import DEFAULT_MODELS

logger = logging.getLogger(__name__)

TASK_LABELS: dict[str, str] = {
    "synthesis": "Synthesis (labels → image)",
    "inpainting": "Inpainting (image + region → image)",
    "segmentation": "Segmentation (image → labels)",
    "enhancement": "Enhancement (denoise / ×4 SR / deblur)",
    "generation": "Generation (noise → image + labels)",
}
DEGRADATION_LABELS: dict[str, str] = {"denoise": "denoise (noise σ=15/255)", "sr4": "×4 super-resolution",
                                      "deblur": "deblur (blur σ=1.5)"}
OUT_MAX_AGE_S = 3600


def list_cards(task: str | None = None) -> list[Any]:
    """Model cards serving ``task`` (bundled + user-trained); empty when the inference module is missing."""
    try:
        from medgan.inference import list_cards as _list
    except ImportError as exc:
        logger.warning("model listing unavailable: %s", exc)
        return []
    try:
        return list(_list(task))
    except Exception as exc:  # a broken card must not take the UI down
        logger.warning("could not list checkpoints for %s: %s", task, exc)
        return []


def _get(card: Any, key: str, default: Any = None) -> Any:
    return card.get(key, default) if isinstance(card, dict) else getattr(card, key, default)


# The default checkpoint per task: the bundled one with the best held-out figures (see benchmarks/quality.py).
PREFERRED: dict[str, str] = DEFAULT_MODELS  # listed first in the model dropdown


def model_choices(task: str) -> list[tuple[str, str]]:
    """(label, name) pairs for the model dropdown; the preferred checkpoint for the task comes first."""
    out = []
    cards = sorted(list_cards(task), key=lambda c: _get(c, "name") != PREFERRED.get(task))
    for c in cards:
        name = str(_get(c, "name", "?"))
        fam = _get(c, "family") or _get(_get(c, "generator", {}) or {}, "name", "")
        out.append((f"{name} ({fam})" if fam else name, name))
    return out


def card_line(name: str | None) -> str:
    """One-line card summary: what it is, data, steps, held-out metrics."""
    if not name:
        return "_No checkpoint for this task is installed._"
    for c in list_cards(None):
        if _get(c, "name") == name:
            bits = [f"**{name}**: {_get(c, 'summary', '')}"]
            if _get(c, "dataset"):
                bits.append(f"data: {_get(c, 'dataset')}")
            if _get(c, "steps"):
                bits.append(f"{_get(c, 'steps')} steps")
            if _get(c, "renderer"):
                bits.append(f"label maps drawn at {_get(c, 'image_size')} px, images by {_get(c, 'renderer')}")
            if _get(c, "truncation"):
                bits.append(f"sampled with latent truncation ψ = {_get(c, 'truncation')}")
            test = (_get(c, "metrics") or {}).get("test") or {}
            if test:
                bits.append("test " + ", ".join(f"{k} {v:.3g}" for k, v in list(test.items())[:3]
                                                if isinstance(v, (int, float))))
            from medgan.domain import domain_text

            return " · ".join(bits) + "\n\n" + domain_text(c)
    return f"**{name}**"


def out_dir() -> Path:
    """A fresh folder for result files, inside Gradio's private temp dir; folders older than an hour go."""
    base = Path(os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir()) / "medgan-out"
    base.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in base.iterdir():
        try:
            if now - old.stat().st_mtime > OUT_MAX_AGE_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    d = base / uuid.uuid4().hex
    d.mkdir()
    return d
