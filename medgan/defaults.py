"""The checkpoint each task uses when none is named: the Studio's first choice, the Gradio API's and the CLI's
default (the best bundled model per task on the held-out test slices, see ``benchmarks/quality.py``)."""

from __future__ import annotations

DEFAULT_MODELS: dict[str, str] = {
    "synthesis": "pix2pix_synthesis",
    "inpainting": "pix2pix_inpainting",
    "segmentation": "unet_segmentation",
    "enhancement": "wgangp_denoise",
    "generation": "hingegan_generation",
}
# generation: HingeGAN and StyleGAN both sit below the real-vs-real reference on both Fréchet distances of
# benchmarks/generation_quality.py (StyleGAN lower still); HingeGAN's label maps agree best with its images and its
# samples are the cleaner brain slices by eye (StyleGAN's show vertical line artefacts), so it is the first choice.
# inpainting: pix2pix_inpainting fills holes without labels (the API default) from a biharmonic pre-fill and beats
# the biharmonic formula inside the hole on the test slices; SPADE stays the label-guided model (docs/quality.md).
# synthesis: pix2pix_synthesis (trained on reconstruction, then adversarially, background black) beats mean-intensity
# painting on PSNR, SSIM and FD-medgan (under half the painting's) with a mean |Laplacian| 0.87 of the real slices';
# SPADE is kept for the comparison of GAN families (docs/quality.md).
