"""``/models``: a public, read-only API endpoint listing the installed checkpoints (bundled and user-trained).

One JSON object per checkpoint: name, task, family, image size, degradation, domain (when the card declares one),
metrics, total training steps, the checkpoint it was fine-tuned from, whether it is bundled. Nothing here
changes state, so it stays open on a server whose Train tab is behind a password.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from medgan.checkpoints import json_safe
from medgan.inference import list_cards, output_size

logger = logging.getLogger(__name__)


def list_models(task: str = "") -> list[dict[str, Any]]:
    """Every installed checkpoint (optionally only those of ``task``) with its task, image size, domain and
    metrics."""
    rows = []
    for c in list_cards(task or None):
        stages = c.training_stages or []
        rows.append(json_safe({
            "name": c.name, "task": c.task, "family": c.family, "summary": c.summary,
            "image_size": int(c.image_size), "output_size": _output_size(c), "renderer": c.renderer,
            "truncation": c.truncation,
            "degradation": c.degradation,
            "domain": c.domain, "metrics": c.metrics, "steps": c.total_steps,
            "fine_tuned_from": stages[-1].get("init_from") if stages else None,
            "bundled": bool(c.bundled),
        }))
    return rows


def _output_size(card: Any) -> int | None:
    """What the model outputs (a generator with a renderer: the renderer's size); None when its renderer is not
    installed (loading it would say so)."""
    try:
        return output_size(card)
    except ValueError:
        return None


def build_models_api() -> None:
    """Register ``/models`` inside the current Blocks."""
    gr.api(list_models, api_name="models", concurrency_limit=8, concurrency_id="models_api")
