"""bf16 generation training on the CPU runs in channels-last memory format (measured faster by
benchmarks/generation_step_bench.py); the checkpoints it writes load into ordinary modules, and a resume works."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from medgan.checkpoints import load_into, load_weights, split_prefix
from medgan.models.registry import build_generator
from medgan.training.loop import train
from medgan.training.presets import make_config


def _cfg(out: Path, steps: int, amp_cpu: bool):
    cfg = make_config("generation", "hingegan", 16)
    cfg.generator.args["ngf"] = 4
    cfg.discriminator.args["ndf"] = 4
    cfg.data.batch_size = 2
    cfg.run.steps, cfg.run.device, cfg.run.out, cfg.run.amp_cpu = steps, "cpu", str(out), amp_cpu
    cfg.run.sample_every = cfg.run.val_every = cfg.run.ckpt_every = 0
    return cfg


def _start_events(out: Path) -> list[dict]:
    return [e for e in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if e["type"] == "start"]


def test_bf16_cpu_generation_runs_channels_last_and_its_checkpoint_loads_anywhere(tmp_path: Path) -> None:
    out = tmp_path / "cl"
    assert train(_cfg(out, 1, amp_cpu=True)) == "finished"
    assert _start_events(out)[-1]["memory_format"] == "channels_last"
    cfg = _cfg(out, 2, amp_cpu=True)
    assert train(cfg, resume=True) == "finished"  # resume into channels-last modules
    state = split_prefix(load_weights(out / "model.safetensors"), "generator")
    g = build_generator(cfg.generator.name, **cfg.generator.args).eval()
    load_into(g, state)
    with torch.no_grad():
        assert torch.isfinite(g(torch.randn(2, cfg.z_dim))).all()
    plain = tmp_path / "fp32"
    assert train(_cfg(plain, 1, amp_cpu=False)) == "finished"
    assert "memory_format" not in _start_events(plain)[-1]
