"""Generation rendered by a synthesis checkpoint (medgan.models.rendered, a card's ``renderer``): the label map
is the generator's, up-sampled; the image is the renderer's, at the renderer's size; a card whose renderer is
missing or wrong is refused with a message that names what is installed."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch import nn

from medgan import tasks
from medgan.checkpoints import ModelCard
from medgan.inference import _CACHE, BUNDLED_DIR, build_from_card, find_card, output_size
from medgan.models.rendered import RenderedGenerator


class FixedLabels(nn.Module):
    """z → an image channel of zeros and label logits that put class 1 on the left half, class 3 on the right
    half and background on the top rows, at 8 px."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = torch.zeros(len(z), 5, 8, 8)
        y[:, 2, :, :4] = 1.0
        y[:, 4, :, 4:] = 1.0
        y[:, 1, :2] = 5.0
        return y


class Recorder(nn.Module):
    """A renderer that records its input and draws class index / 3 as the image ([-1, 1] scale)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: torch.Tensor | None = None

    def forward(self, one_hot: torch.Tensor) -> torch.Tensor:
        self.seen = one_hot
        return one_hot.argmax(1, keepdim=True).float() / 3 * 2 - 1


def test_the_label_map_is_the_generators_and_the_image_the_renderers() -> None:
    rec = Recorder()
    out = RenderedGenerator(FixedLabels(), rec, size=32, zero_background=True)(torch.zeros(2, 4))
    assert out.shape == (2, 5, 32, 32)
    lab = out[:, 1:].argmax(1)
    assert set(out[:, 1:].unique().tolist()) == {-1.0, 1.0}  # one-hot in {-1, 1}
    assert (lab[:, :6] == 0).all() and (lab[:, 10:, :14] == 1).all() and (lab[:, 10:, 18:] == 3).all()
    # the renderer saw that map one-hot in {0, 1} at its own size
    assert rec.seen is not None and rec.seen.shape == (2, 4, 32, 32)
    assert torch.equal(rec.seen.argmax(1), lab) and set(rec.seen.unique().tolist()) == {0.0, 1.0}
    # background black; elsewhere the renderer's image
    img = out[:, 0]
    assert (img[lab == 0] == -1).all()
    assert torch.allclose(img[lab == 3], torch.tensor(1.0)) and torch.allclose(img[lab == 1], torch.tensor(-1 / 3))


def test_a_generator_without_label_maps_is_refused() -> None:
    with pytest.raises(ValueError, match="draws label maps"):
        RenderedGenerator(lambda z: torch.zeros(1, 1, 8, 8), Recorder(), size=16)(torch.zeros(1, 4))  # type: ignore[arg-type]


def _user_card(tmp_path, monkeypatch, renderer: str | None, name: str = "rendered_dcgan") -> ModelCard:  # noqa: ANN001
    """A user checkpoint: the bundled DCGAN's weights under ``name`` with ``renderer``."""
    monkeypatch.setenv("MEDGAN_HOME", str(tmp_path))
    folder = tmp_path / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    card = ModelCard.read(BUNDLED_DIR / "dcgan_generation.json", bundled=True)
    card.name, card.renderer = name, renderer
    shutil.copy(BUNDLED_DIR / "dcgan_generation.safetensors", folder / f"{name}.safetensors")
    card.write(folder / f"{name}.json")
    return find_card(name)


def test_generation_through_a_renderer_is_at_the_renderers_size(tmp_path, monkeypatch) -> None:
    card = _user_card(tmp_path, monkeypatch, "pix2pix_synthesis")
    try:
        assert card.image_size == 64 and output_size(card) == 256
        rs = tasks.generate(card.name, n=2, seed=3)
        for r in rs:
            assert r.output.shape == (256, 256) and r.labels is not None and r.labels.shape == (256, 256)
            assert np.all(r.output[r.labels == 0] == 0)  # the renderer's black background
            assert 0 < (r.labels > 0).mean() < 0.9
            assert r.metrics["label agreement with the U-Net mean"] > 0.5  # the U-Net finds the drawn tissues in the image
        again = tasks.generate(card.name, n=2, seed=3)
        assert np.array_equal(rs[1].output, again[1].output)
        # the label map is the generator's own, up-sampled: the raw generator's 64 px map, enlarged, agrees
        raw = card.build()
        z = torch.randn(2, int(card.z_dim or 128), generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            small = raw(z)[:, 1:].argmax(1).numpy()
        enlarged = np.kron(small[1], np.ones((4, 4), dtype=small.dtype))
        assert (enlarged == rs[1].labels).mean() > 0.9
    finally:
        _CACHE.clear()


def test_a_missing_or_wrong_renderer_is_refused(tmp_path, monkeypatch) -> None:
    card = _user_card(tmp_path, monkeypatch, "no_such_model", name="rendered_missing")
    with pytest.raises(ValueError, match="not installed; installed synthesis checkpoints: .*pix2pix_synthesis"):
        build_from_card(card)
    card = _user_card(tmp_path, monkeypatch, "unet_segmentation", name="rendered_wrong")
    with pytest.raises(ValueError, match="is a segmentation model"):
        build_from_card(card)


def test_the_bundled_generators_render_with_the_synthesis_default() -> None:
    from medgan.defaults import DEFAULT_MODELS

    for name in ("dcgan_generation", "lsgan_generation", "wgangp_generation", "hingegan_generation",
                 "stylegan_generation"):
        card = find_card(name)
        assert card.renderer == DEFAULT_MODELS["synthesis"]
        assert isinstance(build_from_card(card), RenderedGenerator)


def test_a_fine_tuned_generator_keeps_its_parents_renderer() -> None:
    parent = ModelCard.read(BUNDLED_DIR / "stylegan_generation.json", bundled=True)
    child = ModelCard(name="mine", task="generation", generator=dict(parent.generator), steps=10,
                      training_command="python -m medgan train --task generation")
    assert child.continued_from(parent, "runs/mine").renderer == parent.renderer
    seg = ModelCard(name="seg", task="segmentation", generator={"name": "unet"})
    assert seg.continued_from(parent, "runs/seg").renderer is None


def test_the_studio_says_who_draws_the_images() -> None:
    from medgan.ui.run_panel import card_line

    line = card_line("wgangp_generation")
    assert "label maps drawn at 64 px, images by pix2pix_synthesis" in line
    assert "images by" not in card_line("pix2pix_synthesis")
