"""Synthesis with ``zero_background`` (skull-stripped training data, whose background is exactly 0): the switch
reaches the config and the card, training sees the composited output, and inference paints background black."""

from __future__ import annotations

import argparse

import numpy as np
import torch

from medgan.models.registry import build_discriminator, build_generator
from medgan.tasks.encode import prepare_synthesis
from medgan.tasks.specs import get_spec
from medgan.training.cli import add_arguments, build_config
from medgan.training.config import DataConfig, TrainConfig
from medgan.training.context import StepContext
from medgan.training.data import BatchSampler, load_slices
from medgan.training.families import get_step
from medgan.training.loop import build_card


def _config(*extra: str) -> TrainConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return build_config(parser.parse_args(["--task", "synthesis", "--arch", "pix2pix", "--image-size", "32",
                                           "--data", "phantoms", "--out", "x", *extra]))


def test_the_switch_reaches_the_config_and_the_card() -> None:
    cfg = _config("--zero-background")
    assert cfg.data.zero_background and TrainConfig.from_dict(cfg.to_dict()).data == cfg.data
    assert build_card(cfg, 1, {}).zero_background is True
    assert not _config().data.zero_background and build_card(_config(), 1, {}).zero_background is None


def test_training_samples_carry_the_background_and_the_composite_is_black_there() -> None:
    rng = np.random.default_rng(0)
    lab = np.zeros((16, 16), np.uint8)
    lab[4:12, 4:12] = 2
    img = np.where(lab > 0, 0.6, 0.0).astype(np.float32)
    spec = get_spec("synthesis")
    s = spec.sample(img, lab, DataConfig(zero_background=True), 4, rng)
    assert "background" in s and s["background"][0, 0, 0] == 1.0 and s["background"][0, 8, 8] == 0.0
    assert "background" not in spec.sample(img, lab, DataConfig(), 4, rng)
    batch = {k: torch.from_numpy(v)[None] for k, v in s.items()}
    out = spec.composite(torch.full((1, 1, 16, 16), 0.3), batch)
    assert float(out[0, 0, 0, 0]) == -1.0 and abs(float(out[0, 0, 8, 8]) - 0.3) < 1e-6


def test_one_training_step_with_the_switch() -> None:
    torch.manual_seed(0)
    cfg = _config("--zero-background", "--batch-size", "2")
    cfg.data.num_phantoms = 4
    g = build_generator(cfg.generator.name, **cfg.generator.args)
    d = build_discriminator(cfg.discriminator.name, **cfg.discriminator.args)
    ctx = StepContext(g, d, torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3), cfg,
                      torch.device("cpu"))
    batch = BatchSampler(load_slices(cfg.data, "train"), "synthesis", cfg.data, 4, seed=0).batch(0)
    assert "background" in batch
    logs = get_step(cfg.family)(ctx, batch)
    assert np.isfinite(list(logs.values())).all()


def test_inference_paints_the_background_black_only_when_the_card_says_so() -> None:
    lab = np.zeros((40, 40), np.uint8)
    lab[10:30, 10:30] = 3
    card = {"task": "synthesis", "image_size": 32, "in_channels": 4, "label_classes": ["b", "c", "g", "w"]}
    y = np.full((1, 1, 32, 32), 0.2, np.float32)  # what a generator returns: mid-grey everywhere
    plain = prepare_synthesis(lab, card).finish(y).output
    black = prepare_synthesis(lab, {**card, "zero_background": True}).finish(y).output
    assert plain[0, 0] > 0.5 and black[0, 0] == 0.0
    np.testing.assert_allclose(black[lab > 0], plain[lab > 0])
