"""Bundled checkpoints: every card in checkpoints/ is complete, its weights are ≤ 10 MB and load through
``medgan.inference.load_model`` into a generator that runs on a slice of the card's size. (Quality is measured
by benchmarks/quality.py, not here.) Also: unknown names, missing files, user checkpoints in MEDGAN_HOME."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from medgan import inference

CARD_FIELDS = ("name", "summary", "task", "family", "generator", "discriminator", "image_size", "in_channels",
               "out_channels", "label_classes", "degradation", "z_dim", "dataset", "training_command", "steps",
               "metrics", "turing", "created")
BUNDLED = sorted(p.stem for p in inference.BUNDLED_DIR.glob("*.json"))
MAX_BYTES = 10 * 1024 * 1024


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_checkpoint_card_complete_small_and_loadable(name: str) -> None:
    card_json = json.loads((inference.BUNDLED_DIR / f"{name}.json").read_text())
    missing = [f for f in CARD_FIELDS if f not in card_json]
    assert not missing, f"{name}: card lacks {missing}"
    assert card_json["name"] == name
    assert "python -m medgan train" in card_json["training_command"]
    assert card_json["steps"] > 0
    weights = inference.BUNDLED_DIR / f"{name}.safetensors"
    assert weights.stat().st_size <= MAX_BYTES
    loaded = inference.load_model(name)
    assert loaded.card.name == name and loaded.card.bundled
    assert not loaded.module.training
    assert all(p.dtype == torch.float32 for p in loaded.module.parameters())
    assert inference.load_model(name) is loaded  # cached
    c = loaded.card
    if c.task == "generation":
        return
    s = c.image_size
    assert c.metrics.get("test"), f"{name}: no test metrics"
    with torch.no_grad():
        y = loaded.module(torch.zeros(1, c.in_channels, s, s))
    assert y.shape == (1, c.out_channels, s, s) and torch.isfinite(y).all()


def test_unknown_name_lists_available() -> None:
    with pytest.raises(ValueError, match="unknown checkpoint 'nope'; available"):
        inference.load_model("nope")


def test_user_checkpoints_are_listed_and_missing_weights_reported(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from medgan.checkpoints import save_checkpoint as save_model
    from medgan.models.registry import build_generator

    user = tmp_path / "checkpoints"
    monkeypatch.setattr(inference, "user_checkpoint_dir", lambda: user)
    g = build_generator("unet", base=8, depth=2)
    card = {"name": "my_unet", "task": "segmentation", "generator": {"name": "unet", "args": {"base": 8, "depth": 2}},
            "image_size": 32, "in_channels": 1, "out_channels": 4}
    save_model(user, g, None, card, stem="my_unet")
    names = [c.name for c in inference.list_cards("segmentation")]
    assert "my_unet" in names
    assert all(c.task == "synthesis" for c in inference.list_cards("synthesis"))
    loaded = inference.load_model("my_unet")
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded.module(x), g.eval()(x), atol=1e-6)
    # a card whose weights vanished after listing gives a clear error
    card2 = dict(card, name="gone")
    save_model(user / "run", g, None, card2)
    shutil.move(user / "run" / "model.safetensors", tmp_path / "moved.safetensors")
    assert "gone" not in [c.name for c in inference.list_cards()]
    c = inference.ModelCard.from_json(user / "run" / "model.json", user / "run" / "model.safetensors", False)
    with pytest.raises(ValueError, match="missing"):
        inference.build_from_card(c)
