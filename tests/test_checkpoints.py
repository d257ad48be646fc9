"""ModelCard: the bundled cards load unchanged, read → write keeps every key, validation, lineage, NaN."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medgan.checkpoints import ModelCard
from medgan.paths import BUNDLED_CHECKPOINTS

BUNDLED = sorted(BUNDLED_CHECKPOINTS.glob("*.json"))


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_cards_round_trip_byte_for_byte(path: Path, tmp_path: Path) -> None:
    card = ModelCard.read(path, bundled=True)
    assert card.name == path.stem and card.weights_path == path.with_suffix(".safetensors")
    out = card.write(tmp_path / path.name)
    assert json.loads(out.read_text()) == json.loads(path.read_text())
    assert list(json.loads(out.read_text())) == list(json.loads(path.read_text()))  # key order too
    assert out.read_text().rstrip() == path.read_text().rstrip()


def _minimal(**extra: object) -> dict:
    return {"name": "m", "task": "synthesis", "generator": {"name": "pix2pix", "args": {}}, **extra}


def test_unknown_keys_and_domain_survive(tmp_path: Path) -> None:
    data = _minimal(domain={"modality": "MR", "anatomy": "brain"}, job_id="j1", future={"a": [1, 2]})
    card = ModelCard.from_dict(data)
    assert card.domain == {"modality": "MR", "anatomy": "brain"} and card.extra == {"job_id": "j1",
                                                                                    "future": {"a": [1, 2]}}
    card.turing = {"accuracy": float("nan"), "readers": 2}
    back = json.loads(card.write(tmp_path / "m.json").read_text())
    assert back["future"] == {"a": [1, 2]} and back["job_id"] == "j1" and back["domain"]["anatomy"] == "brain"
    assert back["turing"] == {"accuracy": None, "readers": 2}
    assert "training_stages" not in back  # optional keys are written only when set


@pytest.mark.parametrize("data, match", [
    ({"name": "m", "task": "synthesis"}, "lacks generator"),
    ({"task": "synthesis", "generator": {"name": "x"}}, "lacks name"),
    (_minimal(generator={"args": {}}), "must be an object with a 'name'"),
    (_minimal(generator={"name": "x", "args": [1]}), "generator.args"),
    ([1, 2], "JSON object"),
])
def test_invalid_cards_raise(data: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ModelCard.from_dict(data)  # type: ignore[arg-type]


def test_lineage_chains_stages_and_replaces_a_re_export() -> None:
    parent = ModelCard.from_dict(_minimal(steps=100, training_command="train a", metrics={"test": {"psnr": 20.0}}))
    child = ModelCard.from_dict(_minimal(steps=50, training_command="train b", training_note="stopped early"))
    first = child.continued_from(parent, "runs/b")
    assert [s["steps"] for s in first.training_stages] == [100, 50]
    assert first.training_command == "train a && train b" and first.steps == first.total_steps == 150
    assert first.training_stages[0]["metrics"] == {"test": {"psnr": 20.0}}
    assert first.training_stages[1]["training_note"] == "stopped early" and "training_note" not in first.extra
    again = ModelCard.from_dict(_minimal(steps=70, training_command="train b2")).continued_from(first, "runs/b")
    assert [s["steps"] for s in again.training_stages] == [100, 70] and again.steps == 170
    assert child.continued_from(None, "r") is child
