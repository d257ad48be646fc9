"""The Train form's checkpoint choices: the parents a job can fine-tune from, what picking one changes in the
form (image size, fine-tune learning rates), and the label classes a run uses (which uploaded data must fit)."""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from medgan.jobs.spec import seed_hyper, task_archs
from medgan.training.finetune import FINETUNE_LR_SCALE

log = logging.getLogger(__name__)

SCRATCH = "(from scratch)"
DEFAULT_CLASSES = 4  # the training presets' label classes (background, CSF, grey matter, white matter)


def _cards(task: str, arch: str | None = None) -> list[Any]:
    try:
        from medgan.inference import list_cards
        cards = list(list_cards(task))
    except Exception as exc:  # noqa: BLE001 - a missing or broken card must not break the form
        log.info("no checkpoints listed for %s: %s", task, exc)
        return []

    def get(c: Any, k: str) -> Any:
        return c.get(k) if isinstance(c, dict) else getattr(c, k, None)

    return [c for c in cards if arch is None or get(c, "family") in (None, arch)
            or (get(c, "generator") or {}).get("name") == arch]


def init_choices(task: str, arch: str) -> list[str]:
    """Checkpoints to fine-tune from (same task and architecture family), after "from scratch"."""
    names = []
    for c in _cards(task, arch):
        name = c.get("name") if isinstance(c, dict) else getattr(c, "name", None)
        if name:
            names.append(str(name))
    return [SCRATCH, *names]


def parent_name(init_from: str | None) -> str | None:
    """The checkpoint a form's "Start from" value names (None: from scratch)."""
    return None if not init_from or init_from == SCRATCH else init_from


def num_classes(task: str, init_from: str | None) -> int | None:
    """Label classes the run will use: the fine-tuned card's, else the training presets' 4 (none for enhancement)."""
    if task == "enhancement":
        return None
    init_from = parent_name(init_from)
    for c in _cards(task) if init_from else []:
        name = c.get("name") if isinstance(c, dict) else getattr(c, "name", None)
        if name == init_from:
            classes = c.get("label_classes") if isinstance(c, dict) else getattr(c, "label_classes", None)
            return len(classes) if classes else DEFAULT_CLASSES
    return DEFAULT_CLASSES


def on_init(task: str, arch: str, init_from: str | None, size: Any) -> tuple:
    """Picking a parent: the form takes its image size and the fine-tune learning rates (×0.25 the preset's);
    back to "from scratch": the preset's."""
    if arch not in task_archs().get(task, ()):
        return (gr.skip(),) * 3
    h = seed_hyper(task, arch)
    card = next((c for c in _cards(task) if getattr(c, "name", None) == init_from), None)
    if card is None:
        return gr.skip(), h.lr_g, h.lr_d
    return int(card.image_size), h.lr_g * FINETUNE_LR_SCALE, h.lr_d * FINETUNE_LR_SCALE
