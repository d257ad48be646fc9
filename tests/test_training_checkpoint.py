"""Checkpoints: save/load round trip, exact resume (2 + 2 steps == 4 steps), a crash during a save leaves the
previous checkpoint loadable, fine-tuning from a named checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from medgan import checkpoints as ckpt
from medgan.training import loop
from medgan.training.config import TrainConfig
from medgan.training.loop import train
from medgan.training.presets import make_config

torch.set_num_threads(1)  # the CI machine is shared; one thread avoids oversubscription stalls


def _cfg(out: Path, steps: int, task: str = "synthesis", arch: str = "pix2pix") -> TrainConfig:
    cfg = make_config(task, arch, 32)
    cfg.generator.args["ngf"] = 8
    cfg.discriminator.args["ndf"] = 8
    cfg.data.source, cfg.data.num_phantoms, cfg.data.batch_size, cfg.data.augment = "phantoms", 8, 2, True
    cfg.run.steps, cfg.run.out, cfg.run.device, cfg.run.name = steps, str(out), "cpu", out.name
    cfg.run.sample_every = cfg.run.val_every = 0
    cfg.run.ckpt_every = 0
    cfg.optim.lr_decay_start = 0.5
    return cfg


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return ckpt.load_weights(out / "model.safetensors")


def test_resume_continues_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    straight = tmp_path / "straight"
    assert train(_cfg(straight, 4)) == "finished"
    split = tmp_path / "split"
    cfg = _cfg(split, 4)
    calls = {"n": 0}

    def stop_after_two(self) -> bool:  # noqa: ANN001
        calls["n"] += 1
        return calls["n"] >= 2

    with monkeypatch.context() as m:
        m.setattr(loop.CancelFlag, "requested", stop_after_two)
        assert train(cfg) == "cancelled"
    state = json.loads((split / "train_state.json").read_text())
    assert state["step"] == 2 and "opt_g" in state["optimizers"] and "sch_d" in state["schedulers"]
    saved = TrainConfig.from_dict(json.loads((split / "config.json").read_text()))
    assert saved == cfg
    assert train(cfg, resume=True) == "finished"
    a, b = _weights(straight), _weights(split)
    assert a.keys() == b.keys() and any(k.startswith("discriminator.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    card = json.loads((split / "model.json").read_text())
    assert card["steps"] == 4 and card["task"] == "synthesis" and card["generator"]["name"] == "pix2pix"


def test_crash_during_save_keeps_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    g = torch.nn.Conv2d(1, 1, 3)
    ckpt.save_checkpoint(out, g, None, {"name": "x", "task": "synthesis", "generator": {"name": "pix2pix"}})
    before = _weights(out)

    def broken_save(tensors, metadata=None):  # noqa: ANN001
        raise OSError("disk full")  # fails while the temporary file is open

    monkeypatch.setattr(ckpt, "save", broken_save)
    with torch.no_grad():
        g.weight.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_checkpoint(out, g, None, {"name": "x", "task": "synthesis", "generator": {"name": "pix2pix"}})
    after = _weights(out)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not list(out.glob(".*tmp"))  # the partial temporary file is cleaned up
    assert json.loads((out / "model.json").read_text())["name"] == "x"


def test_float16_storage_loads_back_as_float32() -> None:
    g = torch.nn.Conv2d(2, 3, 3)
    tensors = ckpt.model_tensors(g, dtype=torch.float16)
    assert tensors["generator.weight"].dtype == torch.float16
    h = torch.nn.Conv2d(2, 3, 3)
    ckpt.load_into(h, ckpt.split_prefix(tensors, "generator"))
    assert h.weight.dtype == torch.float32
    assert torch.allclose(h.weight, g.weight, atol=1e-3)


def test_fine_tune_from_named_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medgan import inference

    home_ckpts = tmp_path / "home" / "checkpoints"
    monkeypatch.setattr(inference, "user_checkpoint_dir", lambda: home_ckpts)
    base = home_ckpts / "base_run"
    assert train(_cfg(base, 1)) == "finished"
    assert "base_run" in [c.name for c in inference.list_cards("synthesis")]
    cfg = _cfg(tmp_path / "tuned", 0)
    cfg.run.init_from = "base_run"
    assert train(cfg) == "finished"
    a, b = _weights(base), _weights(tmp_path / "tuned")
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("generator."))
    cfg.run.init_from = "missing_model"
    with pytest.raises(ValueError, match="base_run"):
        train(cfg)


def test_ema_follows_the_generator_and_is_what_gets_saved(tmp_path: Path) -> None:
    out = tmp_path / "ema"
    cfg = _cfg(out, 3)
    cfg.family_args["ema_decay"] = 0.5
    torch.manual_seed(0)
    assert train(cfg) == "finished"
    w = _weights(out)
    ema = ckpt.split_prefix(w, "ema")
    gen = ckpt.split_prefix(w, "generator")
    assert ema and ema.keys() == gen.keys()
    # a moving average of three steps: different from the final generator, not the untrained copy either
    fresh = make_config("synthesis", "pix2pix", 32)
    fresh.generator.args["ngf"] = 8
    from medgan.models.registry import build_generator

    torch.manual_seed(0)
    start = build_generator(fresh.generator.name, **fresh.generator.args).state_dict()
    floats = [k for k in gen if gen[k].is_floating_point() and k in start and "running" not in k]
    assert any(not torch.equal(ema[k], gen[k]) for k in floats)
    assert any(not torch.equal(ema[k], start[k]) for k in floats)


def test_ema_switched_on_at_a_resume_starts_from_the_resumed_generator(tmp_path: Path) -> None:
    out = tmp_path / "late_ema"
    first = _cfg(out, 2)
    first.optim.lr_decay_start = 1.0  # constant learning rate, so the step after the resume moves the weights
    assert train(first) == "finished"
    before = ckpt.split_prefix(_weights(out), "generator")
    assert not ckpt.split_prefix(_weights(out), "ema")
    cfg = _cfg(out, 3)
    cfg.optim.lr_decay_start = 1.0
    cfg.family_args["ema_decay"] = 0.9
    assert train(cfg, resume=True) == "finished"
    w = _weights(out)
    ema, gen = ckpt.split_prefix(w, "ema"), ckpt.split_prefix(w, "generator")
    floats = [k for k in gen if gen[k].is_floating_point() and "running" not in k and "num_batches" not in k]
    # one step after the resume: ema = 0.9·(resumed generator) + 0.1·(generator after the step)
    k = next(k for k in floats if not torch.equal(gen[k], before[k]))
    torch.testing.assert_close(ema[k], 0.9 * before[k] + 0.1 * gen[k])
