"""The checkpoint each task uses when none is named: the Studio's first choice, the Gradio API's and the CLI's
default (the best bundled model per task on the held-out test slices, see ``benchmarks/quality.py``)."""

from __future__ import annotations

DEFAULT_MODELS: dict[str, str] = {
    "synthesis": "spade_synthesis",
    "inpainting": "spade_inpainting",
    "segmentation": "unet_segmentation",
    "enhancement": "wgangp_denoise",
    "generation": "stylegan_generation",
}
