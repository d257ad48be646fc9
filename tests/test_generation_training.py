"""Generation family training: one CPU step per GAN variant, loss swap by name, DiffAugment, the loop wiring."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from medgan.models.registry import build_discriminator, build_generator
from medgan.training.diffaugment import background_fill, diff_augment, parse_policy
from medgan.training.family_generation import generation_archs, make_generation_config, step_config
from medgan.training.unconditional import (
    GENERATION_PRESETS,
    augment_batch,
    generation_step,
    get_preset,
    make_optimizers,
    sample_grid,
    to_generation_tensor,
)

SIZE = 32
TINY_G = {"dcgan": {"ngf": 8}, "stylegan": {"w_dim": 16, "mapping_layers": 2, "channel_base": 256, "channel_max": 16}}
TINY_D = {"dcgan": {"ndf": 8}, "stylegan": {"channel_base": 256, "channel_max": 16}}


def _real_batch(n: int = 4, size: int = SIZE) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    img = torch.rand(n, size, size, generator=g)
    lab = torch.randint(0, 4, (n, size, size), generator=g)
    return to_generation_tensor(img, lab, size)


def _build(arch: str):
    p = get_preset(arch)
    p.step.z_dim = 16
    g = build_generator(p.generator, z_dim=16, image_size=SIZE, **{**p.generator_args, **TINY_G[p.generator]})
    d = build_discriminator(p.discriminator, image_size=SIZE, **{**p.discriminator_args, **TINY_D[p.discriminator]})
    return p, g, d


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16-mixed"])
@pytest.mark.parametrize("arch", sorted(GENERATION_PRESETS))
def test_one_cpu_step_per_variant(arch: str, bf16: bool) -> None:
    torch.manual_seed(0)
    p, g, d = _build(arch)
    p.step.r1_every = 1  # lazy R1 would skip the penalty on some steps
    p.step.feature_matching = 1.0 if bf16 else 0.0  # the feature-matching path under mixed precision too
    opt_g, opt_d = make_optimizers(p, g, d)
    g0, d0 = copy.deepcopy(g.state_dict()), copy.deepcopy(d.state_dict())
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else None
    logs = generation_step(g, d, opt_g, opt_d, _real_batch(), p.step, autocast=autocast)
    assert all(v.dtype == torch.float32 for v in g.state_dict().values() if v.is_floating_point())
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(logs)
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values()), logs
    if p.step.gp_weight > 0:
        assert "gp" in logs
    if p.step.r1_gamma > 0:
        assert "r1" in logs
    moved_g = any(not torch.equal(v, g.state_dict()[k]) for k, v in g0.items() if v.is_floating_point())
    moved_d = any(not torch.equal(v, d.state_dict()[k]) for k, v in d0.items() if v.is_floating_point())
    assert moved_g and moved_d


def test_loss_is_swapped_by_name() -> None:
    """The four DCGAN-family presets share the architecture and differ in the adversarial loss."""
    presets = {a: get_preset(a) for a in ("dcgan", "lsgan", "hingegan", "wgangp")}
    assert {p.generator for p in presets.values()} == {"dcgan"}
    assert {a: p.step.loss for a, p in presets.items()} == {"dcgan": "bce", "lsgan": "lsgan", "hingegan": "hinge",
                                                            "wgangp": "wgan"}
    assert presets["wgangp"].optimizer == "adam" and presets["wgangp"].betas == (0.0, 0.9)
    assert all(presets[a].step.r1_gamma > 0 for a in ("dcgan", "lsgan", "hingegan"))
    assert presets["wgangp"].step.gp_weight == 10.0
    # same weights, same batch, same seed: the step's losses differ only through the loss name
    torch.manual_seed(0)
    _, g, d = _build("dcgan")
    out = {}
    for loss in ("bce", "lsgan", "hinge", "wgan"):
        cfg = copy.deepcopy(presets["dcgan"].step)
        cfg.loss, cfg.z_dim, cfg.label_smoothing = loss, 16, 0.0
        gg, dd = copy.deepcopy(g), copy.deepcopy(d)
        torch.manual_seed(1)
        out[loss] = generation_step(gg, dd, torch.optim.SGD(gg.parameters(), 0.0),
                                    torch.optim.SGD(dd.parameters(), 0.0), _real_batch(), cfg)["d_loss"]
    assert len({round(v, 6) for v in out.values()}) == 4, out
    with pytest.raises(ValueError, match="hinge"):
        cfg.loss = "nope"
        generation_step(g, d, torch.optim.SGD(g.parameters(), 0.0), torch.optim.SGD(d.parameters(), 0.0),
                        _real_batch(), cfg)


def test_n_critic_updates_discriminator_more() -> None:
    torch.manual_seed(0)
    p, g, d = _build("wgangp")
    calls = {"n": 0}
    opt_g, opt_d = make_optimizers(p, g, d)
    orig = opt_d.step

    def counting_step(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        return orig(*args, **kwargs)

    opt_d.step = counting_step  # type: ignore[method-assign]
    p.step.n_critic = 5
    generation_step(g, d, opt_g, opt_d, _real_batch(), p.step)
    assert calls["n"] == 5


def test_feature_matching_and_label_smoothing_switches() -> None:
    torch.manual_seed(0)
    p, g, d = _build("dcgan")
    p.step.feature_matching, p.step.label_smoothing = 1.0, 0.2
    logs = generation_step(g, d, *make_optimizers(p, g, d), _real_batch(), p.step)
    assert "fm" in logs and logs["fm"] > 0


def test_diffaugment_is_differentiable_and_same_op_on_real_and_fake() -> None:
    x = _real_batch(3)
    fake = x.clone().requires_grad_(True)
    a = diff_augment(x, generator=torch.Generator().manual_seed(5))
    b = diff_augment(fake, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(a, b)  # same draw → the same transform on both inputs
    assert not torch.allclose(a, x)
    (b * torch.randn_like(b)).sum().backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    # labels stay one-hot after translation + cutout (fill = background)
    lab_only = diff_augment(x, "translation,cutout", generator=torch.Generator().manual_seed(1))
    assert torch.allclose(lab_only[:, 1:].sum(1), torch.ones(3, SIZE, SIZE))
    assert torch.equal(background_fill(5), torch.tensor([-1.0, 1.0, 0.0, 0.0, 0.0]))
    assert torch.equal(diff_augment(x, ""), x)
    with pytest.raises(ValueError, match="translation"):
        parse_policy("color,zoom")


def test_seed_augmentations_keep_labels_one_hot() -> None:
    x = _real_batch(4)
    y = augment_batch(x, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    assert torch.equal(y[:, 1:].sum(1), torch.ones(4, SIZE, SIZE))
    assert y[:, 0].min() >= -1.0 - 1e-5 and y[:, 0].max() <= 1.0 + 1e-5
    assert not torch.allclose(x, y)


def test_sample_grid_shape() -> None:
    grid = sample_grid(_real_batch(3), cols=2)
    assert grid.shape == (2 * SIZE, 2 * 2 * SIZE, 3) and grid.dtype == torch.uint8


def test_loop_configs_and_step_config() -> None:
    assert generation_archs() == sorted(GENERATION_PRESETS)
    cfg = make_generation_config("wgangp", 64, 4)
    assert cfg.task == "generation" and cfg.family == "generation" and cfg.z_dim == 128
    assert cfg.optim.optimizer == "adam" and cfg.optim.betas == (0.0, 0.9) and cfg.optim.adv_loss == "wgan" and cfg.optim.n_critic == 2
    cfg.optim.n_critic = 5
    s = step_config(cfg)
    assert s.n_critic == 5 and s.gp_weight == 10.0
    assert make_generation_config("hingegan", 64, 4).generator.args["image_size"] == 64


def test_cli_trains_two_steps(tmp_path) -> None:  # noqa: ANN001
    """The shared loop runs the generation family end to end and writes a loadable checkpoint + card."""
    from medgan.cli import main
    from medgan.inference import ModelCard, build_from_card

    out = tmp_path / "run"
    rc = main(["train", "--task", "generation", "--arch", "lsgan", "--data", "phantoms", "--image-size", "32", "--steps", "2",
               "--batch-size", "2", "--sample-every", "2", "--ckpt-every", "0", "--device", "cpu", "--out", str(out)])
    assert rc == 0
    card = json.loads((out / "model.json").read_text())
    assert card["task"] == "generation" and card["z_dim"] == 128 and card["steps"] == 2
    assert (out / "samples" / "latest.png").stat().st_size > 0
    c = ModelCard.from_json(out / "model.json", out / "model.safetensors", bundled=False)
    g = build_from_card(c)
    with torch.no_grad():
        y = g(torch.randn(2, 128))
    assert y.shape == (2, 5, 32, 32)


def test_ema_batchnorm_statistics_are_re_estimated_from_its_own_samples() -> None:
    from medgan.training.unconditional import recalibrate_batchnorm

    torch.manual_seed(0)
    _, g, _ = _build("dcgan")
    bn = next(m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d))
    bn.running_mean.fill_(5.0)  # statistics that belong to some other set of weights
    seen: list[torch.Tensor] = []
    hook = bn.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach()))
    g.eval()
    assert recalibrate_batchnorm(g, 16, batches=3, batch_size=8, seed=1)
    hook.remove()
    assert not g.training and bn.momentum == 0.1  # mode and momentum restored
    x = torch.cat(seen)  # the 3 × 8 calibration samples seen by this layer
    torch.testing.assert_close(bn.running_mean, x.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    recalibrate_batchnorm(g, 16, batches=3, batch_size=8, seed=1)  # fixed noise: the same statistics again
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())
    _, sg, _ = _build("stylegan")
    assert not recalibrate_batchnorm(sg, 16)  # no BatchNorm: nothing to do
