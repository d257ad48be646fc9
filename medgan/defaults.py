"""The checkpoint each task uses when none is named: the Studio's first choice, the Gradio API's and the CLI's
default (the best bundled model per task on the held-out test slices, see ``benchmarks/quality.py``)."""

from __future__ import annotations

DEFAULT_MODELS: dict[str, str] = {
    "synthesis": "pix2pix_synthesis",
    "inpainting": "pix2pix_inpainting",
    "segmentation": "unet_segmentation",
    "enhancement": "wgangp_denoise",
    "generation": "wgangp_generation",
}
# generation: every bundled GAN draws its label map through the pix2pix_synthesis renderer; WGAN-GP is the only one
# that passes all five bars of benchmarks/generation_quality.py at 128 px (two-sample AUC 0.85 ± 0.05, the others
# 0.98–1.00; docs/architecture.md), so it is the first choice.
# inpainting: pix2pix_inpainting fills holes without labels (the API default) from a biharmonic pre-fill and beats
# the biharmonic formula inside the hole on the test slices; SPADE stays the label-guided model (docs/quality.md).
# synthesis: pix2pix_synthesis (trained on reconstruction, then adversarially, background black) beats mean-intensity
# painting on PSNR, SSIM and FD-medgan (under half the painting's) with a mean |Laplacian| 0.87 of the real slices';
# SPADE is kept for the comparison of GAN families (docs/quality.md).
