"""Every registry key builds and produces the task's shapes and dtypes at two sizes; unknown names raise
ValueError listing the valid ones; the switches (norm, spectral norm, init) take effect."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from medgan.models import registry
from medgan.models.blocks import init_weights, unit_spectral_scale
from tests.spectral import spectral_norms

torch.set_num_threads(1)  # the CI machine is shared; one thread avoids oversubscription stalls

K = 4
SIZES = (32, 64)

# (constructor args for size s, generator input shape for size s, expected output channels)
GEN_CASES = {
    "pix2pix": (lambda s: {"in_channels": K, "out_channels": 1, "ngf": 8, "image_size": s}, (K,), 1),
    "spade": (lambda s: {"label_nc": 2 + K, "out_channels": 1, "ngf": 8, "image_size": s, "spade_hidden": 16},
              (2 + K,), 1),
    "unet": (lambda s: {"in_channels": 1, "num_classes": K, "base": 8, "depth": 3}, (1,), K),
    "resunet": (lambda s: {"in_channels": 1, "out_channels": 1, "ngf": 8, "depth": 3}, (1,), 1),
}
DISC_CASES = {
    "patchgan": lambda s: {"in_channels": 1 + K, "ndf": 8},
    "multiscale_patchgan": lambda s: {"in_channels": 1 + K, "ndf": 8, "num_d": 2, "n_layers": 2},
    "critic": lambda s: {"in_channels": 2, "ndf": 8, "n_layers": 3},
}


def _generic_args(cls: type, size: int) -> dict:
    params = inspect.signature(cls).parameters
    return {"image_size": size} if "image_size" in params else {}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", sorted(registry.GENERATORS))
def test_generator_shapes(name: str, size: int) -> None:
    torch.manual_seed(0)
    if name in GEN_CASES:
        args_fn, in_shape, out_ch = GEN_CASES[name]
        g = registry.build_generator(name, **args_fn(size)).eval()
        x = torch.randn(2, *in_shape, size, size)
        with torch.no_grad():
            y = g(x)
        assert y.shape == (2, out_ch, size, size)
    else:  # families registered by other modules: noise in, (1 + K)-channel image + labels out
        g = registry.build_generator(name, **_generic_args(registry.GENERATORS[name], size)).eval()
        z_dim = int(g.z_dim)
        with torch.no_grad():
            y = g(torch.randn(2, z_dim))
        assert y.shape[0] == 2 and y.shape[-1] == y.shape[-2] == size
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()
    if name in ("pix2pix", "spade", "resunet"):
        assert y.min() >= -1 and y.max() <= 1


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", sorted(registry.DISCRIMINATORS))
def test_discriminator_returns_raw_logits(name: str, size: int) -> None:
    if name in DISC_CASES:
        d = registry.build_discriminator(name, **DISC_CASES[name](size))
        cin = DISC_CASES[name](size)["in_channels"]
    else:
        d = registry.build_discriminator(name, **_generic_args(registry.DISCRIMINATORS[name], size))
        cin = 1 + K
    out = d(torch.randn(2, cin, size, size))
    scales = out if isinstance(out, list) else [out]
    for s in scales:
        logits = s[-1] if isinstance(s, list) else s
        assert logits.shape[0] == 2 and logits.dtype == torch.float32
        assert torch.isfinite(logits).all()
    if name == "multiscale_patchgan":
        assert len(scales) == 2 and all(len(s) > 1 for s in scales)  # features + logits per scale


def test_pix2pix_depth_scales_with_size() -> None:
    assert registry.build_generator("pix2pix", image_size=256).depth == 8
    assert registry.build_generator("pix2pix", image_size=64).depth == 6


def test_patchgan_receptive_field_is_70() -> None:
    d = registry.build_discriminator("patchgan", in_channels=1, ndf=4, norm="none", init="default")
    x = torch.zeros(1, 1, 140, 140, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1) > 0)
    assert int(rows.max() - rows.min() + 1) == 70


def test_unet_encode_features() -> None:
    g = registry.build_generator("unet", base=8, depth=3)
    f = g.encode(torch.randn(3, 1, 32, 32))
    assert f.shape == (3, g.feature_dim)


@pytest.mark.parametrize("build", [registry.build_generator, registry.build_discriminator])
def test_unknown_names_list_valid_ones(build) -> None:
    table = registry.GENERATORS if build is registry.build_generator else registry.DISCRIMINATORS
    with pytest.raises(ValueError) as err:
        build("no-such-model")
    for name in table:
        assert name in str(err.value)


def test_switches_take_effect() -> None:
    sn = registry.build_discriminator("patchgan", in_channels=2, spectral_norm=True)
    assert any("parametrizations" in n for n, _ in sn.named_modules())
    bn = registry.build_generator("unet", base=8, depth=2, norm="batch")
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in bn.modules())
    with pytest.raises(ValueError, match="instance"):
        registry.build_generator("unet", norm="group")
    conv = torch.nn.Conv2d(8, 8, 3)
    init_weights(conv, "normal", 0.02)
    assert 0.01 < float(conv.weight.detach().std()) < 0.03
    init_weights(conv, "xavier", 1.0)
    assert float(conv.weight.detach().std()) > 0.05
    with pytest.raises(ValueError, match="kaiming"):
        init_weights(conv, "orthogonal")


def test_a_fill_head_starts_as_the_unet_it_corrects_and_then_learns() -> None:
    args = {"in_channels": 6, "out_channels": 1, "ngf": 8, "max_channels": 16, "image_size": 32,
            "out_activation": "residual"}
    torch.manual_seed(0)
    base = registry.build_generator("pix2pix", **args)
    for p in base.parameters():  # a "trained" U-Net: its residual head is no longer zero
        p.data.normal_(0, 0.05)
    headed = registry.build_generator("pix2pix", **args, refine=4)
    missing, _ = headed.load_state_dict(base.state_dict(), strict=False)
    assert missing and {k.split(".")[0] for k in missing} == {"refine"}
    x = torch.rand(2, 6, 32, 32) * 2 - 1
    base.eval(), headed.eval()
    with torch.no_grad():
        assert torch.equal(headed(x), base(x))  # the head's last layer starts at zero
    opt = torch.optim.Adam(headed.refine.parameters(), lr=1e-2)
    target = torch.zeros(2, 1, 32, 32)
    losses = []
    for _ in range(2):
        loss = (headed(x) - target).pow(2).mean()
        losses.append(loss.item())
        opt.zero_grad(), loss.backward(), opt.step()
    assert losses[1] < losses[0]  # the correction moves the fill
    with pytest.raises(ValueError, match="residual"):
        registry.build_generator("pix2pix", in_channels=6, out_channels=1, ngf=8, image_size=32, refine=4)


@pytest.mark.parametrize("size", [32, 64])
def test_dcgan_skip_generator_sums_an_output_per_stage(size: int) -> None:
    g = registry.build_generator("dcgan", z_dim=16, image_size=size, ngf=8, skip=True).eval()
    z = torch.randn(3, 16)
    out = g(z)
    assert out.shape == (3, 5, size, size) and out[:, 0].abs().max() <= 1
    assert len(g.skips) == len(g.blocks) - 1
    with torch.no_grad():  # the coarsest (8×8) output layer reaches the result
        g.skips[0].weight.zero_()
        g.skips[0].bias.zero_()
    assert not torch.allclose(g(z), out)
    assert not hasattr(registry.build_generator("dcgan", z_dim=16, image_size=size, ngf=8), "skips") or \
        registry.build_generator("dcgan", z_dim=16, image_size=size, ngf=8).skips is None


def test_spectral_norm_layers_start_at_unit_scale_and_keep_their_function() -> None:
    torch.manual_seed(0)
    d = registry.build_discriminator("multiscale_patchgan", in_channels=3, ndf=8, num_d=2, spectral_norm=True)
    norms = spectral_norms(d)
    assert len(norms) == 10 and all(abs(s - 1) < 1e-3 for s in norms), norms  # Xavier gain 0.02, then unit scale
    pix = registry.build_discriminator("patchgan", in_channels=3, ndf=8, spectral_norm=True)
    assert unit_spectral_scale(pix) == 0  # N(0, 0.02) already lands inside the band: left as it is
    d.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = d(x)[0][-1]
        for m in d.modules():
            if hasattr(m, "parametrizations"):
                m.parametrizations.weight.original.mul_(0.01)
        shrunk = d(x)[0][-1]
        assert unit_spectral_scale(d) == 10
        after = d(x)[0][-1]
    assert torch.allclose(before, shrunk, atol=1e-4) and torch.allclose(before, after, atol=1e-4)
    assert all(abs(s - 1) < 1e-3 for s in spectral_norms(d))


def test_one_adam_step_moves_a_spectral_norm_layer_a_little() -> None:
    """Adam moves raw entries by ~lr whatever their size: at the unit scale a step of 2e-4 turns the normalised
    weight by ~4 %, at Xavier-0.02 scale (entries ~4e-4) by ~60 %."""
    def turn(xavier_raw: bool) -> float:
        torch.manual_seed(1)
        layer = init_weights(torch.nn.utils.parametrizations.spectral_norm(torch.nn.Conv2d(64, 64, 4)), "xavier", 0.02)
        if xavier_raw:  # the raw scale before unit_spectral_scale
            with torch.no_grad():
                torch.nn.init.xavier_normal_(layer.parametrizations.weight.original, gain=0.02)
        opt = torch.optim.Adam(layer.parameters(), lr=2e-4, betas=(0.5, 0.999))
        layer(torch.randn(4, 64, 8, 8)).square().mean().backward()
        layer.eval()  # the normalised weight without a further power iteration, so only the step moves it
        w0 = layer.weight.detach().clone()
        opt.step()
        return float((layer.weight.detach() - w0).norm() / w0.norm())

    unit, raw = turn(False), turn(True)
    assert unit < 0.05 and raw > 0.3, (unit, raw)


def test_discriminator_probe_learns_to_spot_noise() -> None:
    """benchmarks/discriminator_probe.py, as its docs run it: a working discriminator tells the real slices from
    noisy copies within a few dozen steps (its logits for real and fake move apart)."""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "discriminator_probe.py"), "--fake", "noise",
                          "--steps", "50", "--batch-size", "2"], capture_output=True, text=True, timeout=300,
                         cwd=root, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    rows = re.findall(r"loss ([\d.]+)\s+logit real ([-+\d.]+)\s+fake ([-+\d.]+)", out.stdout)
    assert len(rows) == 2, out.stdout
    loss, real, fake = map(float, rows[-1])
    assert loss < 0.97 and real - fake > 0.1, out.stdout
