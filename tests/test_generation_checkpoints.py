"""Every bundled generation checkpoint loads through medgan.inference and samples image + labels."""

from __future__ import annotations

import pytest
import torch

from medgan.data import CLASS_NAMES
from medgan.inference import BUNDLED_DIR, list_cards, load_model, output_size

NAMES = ("dcgan_generation", "lsgan_generation", "wgangp_generation", "hingegan_generation", "stylegan_generation")


def test_all_generation_checkpoints_are_bundled() -> None:
    bundled = {c.name for c in list_cards("generation") if c.bundled}
    assert set(NAMES) <= bundled
    for name in NAMES:
        w = BUNDLED_DIR / f"{name}.safetensors"
        assert w.stat().st_size <= 10 * 1024 * 1024
        assert (BUNDLED_DIR / "samples" / f"{name}.png").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_samples(name: str) -> None:
    loaded = load_model(name)
    card = loaded.card
    assert card.task == "generation" and card.z_dim and card.image_size in (64, 128)
    assert card.training_command.startswith(("python -m medgan train", "OMP_NUM_THREADS=1 python -m medgan train"))
    assert "--task generation" in card.training_command and card.steps > 0
    k = len(CLASS_NAMES)
    torch.manual_seed(0)
    with torch.no_grad():
        out = loaded.module(torch.randn(4, card.z_dim))
    s = output_size(card)  # the renderer's size when the card has one
    assert card.renderer is None or s >= 128
    assert out.shape == (4, 1 + k, s, s) and torch.isfinite(out).all()
    img, labels = out[:, 0], out[:, 1:].argmax(1)
    assert img.min() >= -1 and img.max() <= 1
    assert int(labels.min()) >= 0 and int(labels.max()) < k
    # a trained generator draws a brain: some foreground, a background border, and brighter tissue inside
    fg = labels > 0
    assert 0.02 < float(fg.float().mean()) < 0.9
    assert float(img[fg].mean()) > float(img[~fg].mean())
