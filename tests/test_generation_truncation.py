"""Latent truncation of a generation checkpoint (medgan.models.truncated, a card's ``truncation``): samples are
drawn with ``psi · z`` (StyleGAN: ``w`` pulled toward ``w_avg``), the card's value is what the app, the API and
the benchmark sample with, it survives a card round trip, and a value outside (0, 1] is refused."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from medgan import tasks
from medgan.checkpoints import ModelCard
from medgan.inference import _CACHE, BUNDLED_DIR, build_from_card, find_card
from medgan.models.truncated import TruncatedGenerator, check_psi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from generation_quality import card_candidate  # noqa: E402


class Echo(nn.Module):
    """z → z itself, shaped as a 1-pixel output (records what the generator was given)."""

    z_dim = 3

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z[:, :, None, None]


class StyleEcho(Echo):
    """Takes ``truncation_psi`` like a StyleGAN, and returns it in every channel."""

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:  # type: ignore[override]
        return torch.full_like(z, truncation_psi)[:, :, None, None]


def test_z_is_scaled_and_a_style_generator_gets_its_own_psi() -> None:
    z = torch.tensor([[1.0, -2.0, 4.0]])
    t = TruncatedGenerator(Echo(), 0.5)
    assert t.z_dim == 3 and torch.equal(t(z).flatten(), torch.tensor([0.5, -1.0, 2.0]))
    assert torch.equal(TruncatedGenerator(StyleEcho(), 0.7)(z).flatten(), torch.full((3,), 0.7))


@pytest.mark.parametrize("bad", [0, -0.5, 1.5, float("nan")])
def test_psi_outside_zero_to_one_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=r"latent truncation must be in \(0, 1\]"):
        check_psi(bad)


def _user_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base: str, truncation: float | None) -> ModelCard:
    """A user checkpoint with the weights of the bundled ``base`` and ``truncation``."""
    monkeypatch.setenv("MEDGAN_HOME", str(tmp_path))
    folder = tmp_path / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{base}_t{truncation}".replace(".", "")
    card = ModelCard.read(BUNDLED_DIR / f"{base}.json", bundled=True)
    card.name, card.truncation = name, truncation
    shutil.copy(BUNDLED_DIR / f"{base}.safetensors", folder / f"{name}.safetensors")
    card.write(folder / f"{name}.json")
    return find_card(name)


def test_the_cards_truncation_is_what_the_app_samples_with(tmp_path, monkeypatch) -> None:
    card = _user_card(tmp_path, monkeypatch, "dcgan_generation", 0.5)
    try:
        assert json.loads(card.card_path.read_text())["truncation"] == 0.5 and card.truncation == 0.5
        rs = tasks.generate(card.name, n=2, seed=5)
        raw = card.build()
        z = torch.randn(2, int(card.z_dim or 128), generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            half, full = raw(z * 0.5)[:, 1:].argmax(1).numpy(), raw(z)[:, 1:].argmax(1).numpy()
        enlarge = np.ones((4, 4), dtype=half.dtype)  # 64 px label maps, rendered at 256
        agree_half = [(np.kron(half[i], enlarge) == r.labels).mean() for i, r in enumerate(rs)]
        agree_full = [(np.kron(full[i], enlarge) == r.labels).mean() for i, r in enumerate(rs)]
        assert min(agree_half) > 0.9 and min(agree_half) > max(agree_full)
        # the benchmark measures what the app samples: the card's truncation, unless told another
        assert card_candidate(card).module.generator.psi == 0.5
        assert not isinstance(card_candidate(card, truncation=1.0).module.generator, TruncatedGenerator)
        assert card_candidate(card, raw=True, truncation=0.8).module.psi == 0.8
    finally:
        _CACHE.clear()


def test_a_truncated_stylegan_draws_closer_to_its_mean_latent() -> None:
    card = find_card("stylegan_generation")
    z = torch.randn(16, int(card.z_dim or 128), generator=torch.Generator().manual_seed(0))
    spread = {}
    for psi in (1.0, 0.5):
        torch.manual_seed(0)  # the same noise inputs
        with torch.no_grad():
            out = build_from_card(card, render=False, truncation=psi)(z)[:, :1]
        spread[psi] = float((out - out.mean(0)).abs().mean())
    assert spread[0.5] < 0.8 * spread[1.0]


def test_a_card_without_truncation_does_not_write_the_key() -> None:
    text = (BUNDLED_DIR / "wgangp_generation.json").read_text()
    card = ModelCard.read(BUNDLED_DIR / "wgangp_generation.json", bundled=True)
    if card.truncation is None:
        assert '"truncation"' not in text
    assert json.loads(text).get("truncation") == card.truncation


def test_the_studio_and_the_api_say_the_truncation(tmp_path, monkeypatch) -> None:
    from medgan.ui.models_api import list_models
    from medgan.ui.run_panel import card_line

    card = _user_card(tmp_path, monkeypatch, "hingegan_generation", 0.7)
    assert "latent truncation ψ = 0.7" in card_line(card.name)
    row = next(r for r in list_models("generation") if r["name"] == card.name)
    assert row["truncation"] == 0.7
