"""Progressive resolution: a generator trained at S px grown to 2·S px (medgan.training.progressive)."""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from medgan.models.registry import build_discriminator, build_generator
from medgan.training.progressive import grown_generator_args, load_grown
from medgan.training.unconditional import generation_step, get_preset, make_optimizers, to_generation_tensor

TINY_DCGAN = {"z_dim": 16, "num_classes": 4, "ngf": 8, "norm": "batch", "spectral_norm": False, "upsample": "nearest"}
TINY_STYLE = {"z_dim": 16, "num_classes": 4, "w_dim": 16, "mapping_layers": 2, "channel_base": 256, "channel_max": 16}


def _trained_like(g: torch.nn.Module) -> torch.nn.Module:
    """Perturb every parameter and BatchNorm statistic so that loading is visible (not fresh-init values)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for name, b in g.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn_like(b))
            elif name.endswith("running_var"):
                b.copy_(1.0 + 0.2 * torch.rand_like(b))
    return g


def _real_batch(n: int, size: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return to_generation_tensor(torch.rand(n, size, size, generator=gen),
                                torch.randint(0, 4, (n, size, size), generator=gen), size)


def test_a_64px_dcgan_grown_to_128_keeps_its_weights_draws_128px_and_trains() -> None:
    torch.manual_seed(0)
    parent = _trained_like(build_generator("dcgan", image_size=64, **TINY_DCGAN)).eval()
    args = grown_generator_args("dcgan", {"image_size": 64, **TINY_DCGAN}, 128)
    assert args["image_size"] == 128 and args["stage_channels"] == [64, 64, 32, 16, 8, 8]
    grown = build_generator("dcgan", **args)
    growth = load_grown(grown, parent.state_dict())
    assert growth.loaded == sorted(parent.state_dict())
    assert growth.added and all(k.startswith("blocks.4.") for k in growth.added)
    grown_sd = grown.state_dict()
    assert all(torch.equal(grown_sd[k], v) for k, v in parent.state_dict().items())

    z = torch.randn(8, 16)
    grown.eval()
    with torch.no_grad():
        small, big = parent(z), grown(z)
    assert big.shape == (8, 5, 128, 128)
    # the new top stage starts as the identity: the grown picture is the parent's at twice the size
    down = F.interpolate(big[:, :1], size=64, mode="area")
    corr = torch.corrcoef(torch.stack([down.flatten(), small[:, :1].flatten()]))[0, 1]
    assert corr > 0.9, corr
    fresh = build_generator("dcgan", **args).eval()
    with torch.no_grad():
        fresh_down = F.interpolate(fresh(z)[:, :1], size=64, mode="area")
    assert torch.corrcoef(torch.stack([fresh_down.flatten(), small[:, :1].flatten()]))[0, 1] < corr - 0.3

    # one CPU training step at 128 px with a fresh 128 px discriminator: finite, and the weights move
    p = get_preset("hingegan")
    p.step.z_dim, p.step.r1_every = 16, 1
    d = build_discriminator("dcgan", image_size=128, in_channels=5, ndf=8, norm="none", spectral_norm=True)
    opt_g, opt_d = make_optimizers(p, grown, d)
    before = copy.deepcopy(grown.state_dict())
    logs = generation_step(grown, d, opt_g, opt_d, _real_batch(4, 128), p.step)
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values()), logs
    after = grown.state_dict()
    assert not torch.equal(before["fc.weight"], after["fc.weight"])  # a parent layer
    assert not torch.equal(before["blocks.4.1.weight"], after["blocks.4.1.weight"])  # the new stage


def test_a_grown_stylegan_starts_as_its_parent_upsampled_exactly() -> None:
    torch.manual_seed(0)
    parent = _trained_like(build_generator("stylegan", image_size=32, **TINY_STYLE)).eval()
    args = grown_generator_args("stylegan", {"image_size": 32, **TINY_STYLE}, 64)
    grown = build_generator("stylegan", **args).eval()
    growth = load_grown(grown, parent.state_dict())
    assert {k.split(".")[1] for k in growth.added} == {"4"}  # layers.4 / to_out.4: the 64 px resolution (4, 8, 16, 32 are 0..3)
    z = torch.randn(4, 16)
    with torch.no_grad():
        torch.manual_seed(5)
        small = parent(z)
        torch.manual_seed(5)  # the per-pixel noise of the shared layers is drawn in the same order
        big = grown(z)
    assert big.shape == (4, 5, 64, 64)
    pre = torch.cat([torch.atanh(small[:, :1].clamp(-0.999999, 0.999999)), small[:, 1:]], 1)
    up = F.interpolate(pre - parent.out_bias, scale_factor=2, mode="bilinear", align_corners=False) + parent.out_bias
    expected = torch.cat([torch.tanh(up[:, :1]), up[:, 1:]], 1)
    assert torch.allclose(big, expected, atol=1e-4)


def test_growing_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="power-of-two multiple"):
        grown_generator_args("dcgan", {"image_size": 64, **TINY_DCGAN}, 96)
    with pytest.raises(ValueError, match="cannot grow"):
        grown_generator_args("pix2pix", {"image_size": 64}, 128)
    other = build_generator("dcgan", image_size=64, **{**TINY_DCGAN, "ngf": 16})
    grown = build_generator("dcgan", **grown_generator_args("dcgan", {"image_size": 64, **TINY_DCGAN}, 128))
    with pytest.raises(ValueError, match="do not fit"):
        load_grown(grown, other.state_dict())


def test_init_from_with_a_larger_image_size_grows_and_the_card_says_so(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from medgan.inference import build_from_card, find_card
    from medgan.training.cli import add_arguments, main
    from medgan.training.export import export_run

    monkeypatch.setenv("MEDGAN_HOME", str(tmp_path / "home"))
    dest = tmp_path / "home" / "checkpoints"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["--task", "generation", "--arch", "dcgan", "--batch-size", "2", "--device", "cpu", "--sample-every", "0",
            "--ckpt-every", "0", "--name", "tiny_grow", "--g-arg", "ngf=8"]
    assert main(parser.parse_args([*base, "--image-size", "32", "--steps", "1", "--out", str(tmp_path / "s1")])) == 0
    export_run(tmp_path / "s1", dest)
    tune = ["--task", "generation", "--arch", "dcgan", "--batch-size", "2", "--device", "cpu", "--sample-every", "0",
            "--ckpt-every", "0", "--name", "tiny_grow", "--init-from", "tiny_grow", "--steps", "1"]
    # smaller than the checkpoint: refused with a clear message
    assert main(parser.parse_args([*tune, "--image-size", "16", "--out", str(tmp_path / "bad")])) == 2
    # no --image-size: the checkpoint's size
    assert main(parser.parse_args([*tune, "--out", str(tmp_path / "same")])) == 0
    assert json.loads((tmp_path / "same" / "model.json").read_text())["image_size"] == 32
    # larger: grown
    assert main(parser.parse_args([*tune, "--image-size", "64", "--out", str(tmp_path / "s2")])) == 0
    run_card = json.loads((tmp_path / "s2" / "model.json").read_text())
    assert run_card["image_size"] == 64 and run_card["generator"]["args"]["image_size"] == 64
    g = run_card["grown_from"]
    assert (g["name"], g["image_size"], g["image_size_new"]) == ("tiny_grow", 32, 64)
    assert g["loaded_tensors"] > 0 and g["added_tensors"] > 0
    export_run(tmp_path / "s2", dest)
    card = find_card("tiny_grow")
    assert card.image_size == 64
    assert json.loads(card.card_path.read_text())["training_stages"][-1]["grown_from"]["image_size"] == 32
    with torch.no_grad():
        assert build_from_card(card)(torch.randn(2, 128)).shape == (2, 5, 64, 64)


@pytest.mark.parametrize("size", [128, 256])
@pytest.mark.parametrize("arch", ["dcgan", "lsgan", "wgangp", "hingegan", "stylegan"])
def test_every_generation_preset_builds_at_128_and_256_under_10_mb(arch: str, size: int) -> None:
    from medgan.training.presets import make_config

    cfg = make_config("generation", arch, size)
    g = build_generator(cfg.generator.name, **cfg.generator.args).eval()
    assert sum(p.numel() for p in g.parameters()) * 4 <= 10 * 1024 * 1024  # float32, the bundled limit
    d = build_discriminator(cfg.discriminator.name, **cfg.discriminator.args)
    with torch.no_grad():
        out = g(torch.randn(2, cfg.z_dim))
        assert out.shape == (2, 5, size, size)
        assert d(out).shape == (2, 1)
    if arch != "stylegan":  # the four loss variants share one generator / discriminator architecture
        ref = make_config("generation", "dcgan", size)
        assert (cfg.generator, cfg.discriminator.name) == (ref.generator, ref.discriminator.name)
