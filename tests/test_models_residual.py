"""The residual Pix2Pix U-Net: starts as its input, learns a correction, stays in [-1, 1]."""

from __future__ import annotations

import pytest
import torch

from medgan.models.registry import build_generator


def test_residual_unet_starts_as_its_input_and_learns_a_correction() -> None:
    torch.manual_seed(0)
    g = build_generator("pix2pix", in_channels=6, out_channels=1, image_size=64, out_activation="residual")
    x = torch.rand(2, 6, 64, 64) * 2 - 1
    assert torch.equal(g(x), x[:, :1])
    target = torch.zeros(2, 1, 64, 64)
    opt = torch.optim.Adam(g.parameters(), lr=1e-3)
    before = float((g(x) - target).abs().mean().detach())
    for _ in range(5):
        opt.zero_grad()
        loss = (g(x) - target).abs().mean()
        loss.backward()
        opt.step()
    out = g(x)
    assert float((out - target).abs().mean().detach()) < before
    assert out.min() >= -1 and out.max() <= 1


def test_residual_needs_the_channels_it_adds_to() -> None:
    with pytest.raises(ValueError, match="residual"):
        build_generator("pix2pix", in_channels=1, out_channels=4, image_size=64, out_activation="residual")
    with pytest.raises(ValueError, match="valid: tanh, none, residual"):
        build_generator("pix2pix", in_channels=1, out_channels=1, image_size=64, out_activation="sigmoid")
