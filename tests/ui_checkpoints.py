"""Checkpoints for end-to-end tests of the tasks, the API and the Studio.

The bundled checkpoints (``checkpoints/``) are used when present. A missing one is replaced by a small
randomly initialised generator of the same architecture family, saved with the real checkpoint writer
(safetensors + card) into ``MEDGAN_HOME/checkpoints`` under the bundled name, so the whole path (card
listing, loading, the task's pre/post-processing, metrics, API, UI) runs for real; only the weights are
untrained, so tests assert shapes, ranges and finiteness, not quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CLASSES = ["background", "CSF", "grey matter", "white matter"]
SIZE = 64

STAND_INS: dict[str, dict[str, Any]] = {
    "spade_synthesis": {"task": "synthesis", "family": "spade", "in_channels": 4,
                        "generator": {"name": "spade", "args": {"label_nc": 4, "ngf": 8, "max_channels": 32,
                                                                "image_size": SIZE, "spade_hidden": 16}}},
    "spade_inpainting": {"task": "inpainting", "family": "spade", "in_channels": 6,
                         "generator": {"name": "spade", "args": {"label_nc": 6, "ngf": 8, "max_channels": 32,
                                                                 "image_size": SIZE, "spade_hidden": 16}}},
    "unet_segmentation": {"task": "segmentation", "family": "unet", "in_channels": 1,
                          "generator": {"name": "unet", "args": {"in_channels": 1, "num_classes": 4, "base": 8,
                                                                 "depth": 3}}},
    "wgangp_denoise": {"task": "enhancement", "family": "wgangp", "in_channels": 1, "degradation": "denoise",
                       "generator": {"name": "resunet", "args": {"ngf": 8, "depth": 2}}},
    "dcgan_generation": {"task": "generation", "family": "dcgan", "z_dim": 32,
                         "generator": {"name": "dcgan", "args": {"z_dim": 32, "image_size": SIZE,
                                                                 "num_classes": 4, "ngf": 8}}},
}


def ensure_checkpoints(home: Path | None = None) -> dict[str, str]:
    """Make sure every checkpoint in STAND_INS can be loaded; returns name → "bundled" | "stand-in"."""
    import torch

    from medgan.checkpoints import save_checkpoint as save_model
    from medgan.inference import list_cards
    from medgan.models.registry import build_generator

    if home is None:
        from medgan.db import medgan_home

        home = medgan_home()
    have = {c.name for c in list_cards()}
    out = {}
    for name, spec in STAND_INS.items():
        if name in have:
            out[name] = "bundled"
            continue
        torch.manual_seed(0)
        gen = build_generator(spec["generator"]["name"], **spec["generator"]["args"])
        card = {"name": name, "summary": f"untrained stand-in for {name} (tests)", "image_size": SIZE,
                "out_channels": 1, "label_classes": CLASSES, "degradation": None, "z_dim": None,
                "dataset": "none", "training_command": "", "steps": 0, "metrics": {}, "turing": None, **spec}
        save_model(Path(home) / "checkpoints", gen, None, card, stem=name)
        out[name] = "stand-in"
    return out
