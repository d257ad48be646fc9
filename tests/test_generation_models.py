"""Unconditional generation family: shapes over the registry keys at two sizes, options, errors."""

from __future__ import annotations

import pytest
import torch

from medgan.models.dcgan import DCGANDiscriminator, DCGANGenerator, split_output, to_discriminator_input
from medgan.models.registry import DISCRIMINATORS, GENERATORS, build_discriminator, build_generator
from medgan.models.stylegan import StyleGenerator

K = 4
SMALL = {
    "dcgan": {"ngf": 8},
    "stylegan": {"w_dim": 16, "mapping_layers": 2, "channel_base": 256, "channel_max": 16},
}
SMALL_D = {"dcgan": {"ndf": 8}, "stylegan": {"channel_base": 256, "channel_max": 16}}


@pytest.mark.parametrize("name", ["dcgan", "stylegan"])
@pytest.mark.parametrize("size", [32, 64])
def test_generator_and_discriminator_shapes(name: str, size: int) -> None:
    assert name in GENERATORS and name in DISCRIMINATORS
    torch.manual_seed(0)
    g = build_generator(name, z_dim=16, image_size=size, num_classes=K, **SMALL[name]).eval()
    d = build_discriminator(name, image_size=size, in_channels=1 + K, **SMALL_D[name]).eval()
    with torch.no_grad():
        out = g(torch.randn(3, 16))
    assert out.shape == (3, 1 + K, size, size) and out.dtype == torch.float32
    assert out[:, 0].abs().max() <= 1.0  # tanh image
    assert torch.isfinite(out).all()
    img, lab = split_output(out)
    assert img.shape == (3, 1, size, size) and lab.shape == (3, size, size)
    assert int(lab.min()) >= 0 and int(lab.max()) < K
    logits = d(to_discriminator_input(out))
    assert logits.shape == (3, 1)
    logits2, feats = d(to_discriminator_input(out), return_features=True)
    assert torch.allclose(logits, logits2) and len(feats) >= 2


def test_different_noise_gives_different_samples() -> None:
    torch.manual_seed(0)
    for name in ("dcgan", "stylegan"):
        g = build_generator(name, z_dim=16, image_size=32, **SMALL[name]).train()
        with torch.no_grad():
            out = g(torch.randn(2, 16))
        assert (out[0] - out[1]).abs().mean() > 1e-3 * out.abs().mean(), name


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("sn", [False, True])
def test_dcgan_options(norm: str, sn: bool) -> None:
    g = DCGANGenerator(z_dim=8, image_size=32, ngf=8, norm=norm, spectral_norm=sn, upsample="transpose",
                       init="xavier", init_gain=1.0)
    d = DCGANDiscriminator(image_size=32, ndf=8, norm=norm, spectral_norm=sn, init="kaiming", init_gain=1.0)
    out = g(torch.randn(2, 8))
    assert d(to_discriminator_input(out)).shape == (2, 1)
    if sn:
        assert any("parametrizations" in n for n, _ in d.named_parameters())


def test_normal_init_gain_sets_std() -> None:
    torch.manual_seed(0)
    d = DCGANDiscriminator(image_size=32, ndf=32, spectral_norm=False, init="normal", init_gain=0.02)
    w = d.layers[1][0].weight
    assert 0.015 < float(w.detach().std()) < 0.025


def test_straight_through_labels_are_one_hot_with_gradient() -> None:
    logits = torch.randn(2, 1 + K, 8, 8, requires_grad=True)
    x = to_discriminator_input(logits)
    assert torch.equal(x[:, 1:].sum(1), torch.ones(2, 8, 8))
    assert set(x[:, 1:].detach().unique().tolist()) <= {0.0, 1.0}
    (x[:, 1:] * torch.randn_like(x[:, 1:])).sum().backward()
    assert logits.grad is not None and logits.grad[:, 1:].abs().sum() > 0


def test_stylegan_truncation_pulls_towards_mean() -> None:
    torch.manual_seed(0)
    g = StyleGenerator(z_dim=16, w_dim=16, image_size=16, mapping_layers=2, channel_base=128, channel_max=16)
    g.train()
    g.map(torch.randn(64, 16))  # updates w_avg
    g.eval()
    z = torch.randn(4, 16)
    w1, w0 = g.map(z), g.map(z, truncation_psi=0.0)
    assert torch.allclose(w0, g.w_avg.expand_as(w0))
    assert not torch.allclose(w1, w0)


@pytest.mark.parametrize("bad", [0, 48, 100])
def test_bad_image_size_raises(bad: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        DCGANGenerator(image_size=bad)
    with pytest.raises(ValueError, match="power of two"):
        StyleGenerator(image_size=bad)


def test_unknown_names_raise_listing_valid() -> None:
    with pytest.raises(ValueError, match="stylegan"):
        build_generator("nope")
    with pytest.raises(ValueError, match="dcgan"):
        build_discriminator("nope")
    with pytest.raises(ValueError, match="instance"):
        DCGANGenerator(norm="group")
