"""One CPU training step per (task, architecture) preset: finite losses, generator (and discriminator) weights
move; data sampling is deterministic; augmentations keep labels aligned."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medgan.models.registry import build_discriminator, build_generator
from medgan.training.config import DataConfig
from medgan.training.context import StepContext
from medgan.training.data import BatchSampler, augment_pair, load_slices
from medgan.training.families import get_step
from medgan.training.presets import PRESETS, make_config

torch.set_num_threads(1)  # the CI machine is shared; one thread avoids oversubscription stalls

SIZE = 32


def _all_pairs() -> list[tuple[str, str]]:
    from medgan.training.family_generation import generation_archs

    return sorted(PRESETS) + [("generation", a) for a in generation_archs()]


def _ctx_and_batch(task: str, arch: str):
    torch.manual_seed(0)
    cfg = make_config(task, arch, SIZE, degradation="denoise" if task == "enhancement" else None)
    cfg.data.source, cfg.data.num_phantoms, cfg.data.batch_size = "phantoms", 8, 2
    g = build_generator(cfg.generator.name, **cfg.generator.args)
    d = None if cfg.discriminator is None else build_discriminator(cfg.discriminator.name, **cfg.discriminator.args)
    opt = torch.optim.Adam if cfg.optim.optimizer == "adam" else torch.optim.RMSprop
    opt_g = opt(g.parameters(), lr=1e-3)
    opt_d = None if d is None else opt(d.parameters(), lr=1e-3)
    ema = None
    if cfg.family_args.get("ema_decay"):
        import copy

        ema = copy.deepcopy(g)
    ctx = StepContext(g, d, opt_g, opt_d, cfg, torch.device("cpu"), extra={"ema": ema} if ema else {})
    batch = BatchSampler(load_slices(cfg.data, "train"), task, cfg.data, 4, seed=0).batch(0)
    return ctx, batch


@pytest.mark.parametrize("task,arch", _all_pairs())
def test_one_step_moves_weights_with_finite_losses(task: str, arch: str) -> None:
    ctx, batch = _ctx_and_batch(task, arch)
    before_g = [p.detach().clone() for p in ctx.generator.parameters()]
    before_d = [] if ctx.discriminator is None else [p.detach().clone() for p in ctx.discriminator.parameters()]
    logs = get_step(ctx.cfg.family)(ctx, batch)
    assert logs and all(np.isfinite(v) for v in logs.values())
    assert any(not torch.equal(a, b) for a, b in zip(before_g, ctx.generator.parameters()))
    if ctx.discriminator is not None:
        assert any(not torch.equal(a, b) for a, b in zip(before_d, ctx.discriminator.parameters()))
        assert all(p.requires_grad for p in ctx.discriminator.parameters())


def test_unknown_family_and_preset() -> None:
    with pytest.raises(ValueError, match="supervised"):
        get_step("nope")
    with pytest.raises(ValueError, match="segmentation/unet"):
        make_config("segmentation", "nope")


def test_sampler_is_deterministic_and_ranks_split_the_global_batch() -> None:
    cfg = DataConfig(source="phantoms", image_size=SIZE, batch_size=2, num_phantoms=8, augment=True)
    data = load_slices(cfg, "train")
    one = BatchSampler(data, "inpainting", DataConfig(**{**cfg.__dict__, "batch_size": 4}), 4, seed=3).batch(5)
    r0 = BatchSampler(data, "inpainting", cfg, 4, seed=3, rank=0, world=2).batch(5)
    r1 = BatchSampler(data, "inpainting", cfg, 4, seed=3, rank=1, world=2).batch(5)
    for key in one:
        assert torch.equal(one[key], torch.cat([r0[key], r1[key]]))
    again = BatchSampler(data, "inpainting", cfg, 4, seed=3, rank=0, world=2).batch(5)
    assert all(torch.equal(again[k], r0[k]) for k in r0)
    # the hole is blanked in the input and marked in the mask
    m = r0["mask"]
    assert m.sum() > 0 and torch.all(r0["input"][:, :1][m > 0] == 0)


def test_augment_keeps_image_and_labels_aligned() -> None:
    cfg = DataConfig(source="phantoms", image_size=64, num_phantoms=2)
    data = load_slices(cfg, "train")
    img, lab = augment_pair(data.images[0], data.labels[0], np.random.default_rng(1))
    assert img.shape == lab.shape == (64, 64)
    assert img[lab == 0].mean() < img[lab == 3].mean()


def test_blank_fraction_adds_tissue_free_segmentation_samples_labelled_background() -> None:
    cfg = DataConfig(source="phantoms", image_size=64, batch_size=32, num_phantoms=8, blank_fraction=0.5)
    data = load_slices(cfg, "train")
    batch = BatchSampler(data, "segmentation", cfg, 4, seed=0).batch(0)
    labels, images = batch["labels"], (batch["input"][:, 0] + 1) / 2
    blank = (labels == 0).flatten(1).all(1)
    assert 4 <= int(blank.sum()) <= 28  # about half of 32
    assert float(images[blank].max()) <= 0.2  # dark: a level ≤ 0.06 plus faint noise
    assert torch.all(batch["target"][blank][:, 0] == 1)  # one-hot background
    assert all(float(images[i].max()) > 0.3 for i in torch.nonzero(~blank).flatten())  # the others keep their tissue
    plain = BatchSampler(data, "segmentation", DataConfig(**{**cfg.__dict__, "blank_fraction": 0.0}), 4,
                         seed=0).batch(0)
    assert not (plain["labels"] == 0).flatten(1).all(1).any()


def test_zoom_out_shrinks_the_content_and_uniform_crops_reach_empty_corners() -> None:
    cfg = DataConfig(source="phantoms", image_size=64, batch_size=24, num_phantoms=8, augment=True)
    data = load_slices(cfg, "train")
    plain = BatchSampler(data, "segmentation", cfg, 4, seed=0).batch(0)
    zoomed = BatchSampler(data, "segmentation", DataConfig(**{**cfg.__dict__, "zoom_out": 0.5}), 4, seed=0).batch(0)
    area = lambda b: (b["labels"] > 0).flatten(1).sum(1).float()  # noqa: E731
    assert float(area(zoomed).mean()) < 0.85 * float(area(plain).mean())
    # labels stay aligned with the image: tissue where the phantom is bright, background where it is dark
    img = (zoomed["input"][:, 0] + 1) / 2
    assert float(img[zoomed["labels"] == 0].mean()) < float(img[zoomed["labels"] == 3].mean())
    crops = {"crop_size": 24, "augment": False}
    on_tissue = BatchSampler(data, "segmentation", DataConfig(**{**cfg.__dict__, **crops}), 4, seed=0).batch(0)
    anywhere = BatchSampler(data, "segmentation", DataConfig(**{**cfg.__dict__, **crops, "uniform_crops": 1.0}), 4,
                            seed=0).batch(0)
    assert on_tissue["labels"].shape[-1] == anywhere["labels"].shape[-1] == 24
    assert (area(on_tissue) > 0).all()
    assert float(area(anywhere).mean()) < float(area(on_tissue).mean())


@pytest.mark.parametrize(("task", "arch"), [("inpainting", "pix2pix"), ("enhancement", "wgangp")])
def test_lambda_adv_zero_trains_the_generator_on_reconstruction_alone(task: str, arch: str) -> None:
    """``--lambda-adv 0`` (a pure reconstruction fine-tune): the generator moves, the discriminator (the WGAN-GP
    critic too) is untouched."""
    ctx, batch = _ctx_and_batch(task, arch)
    ctx.cfg.optim.lambda_adv = 0.0
    before_g = [p.detach().clone() for p in ctx.generator.parameters()]
    before_d = [p.detach().clone() for p in ctx.discriminator.parameters()]
    logs = get_step(ctx.cfg.family)(ctx, batch)
    assert set(logs) == {"l1", "g"} and all(np.isfinite(v) for v in logs.values())
    assert any(not torch.equal(a, b) for a, b in zip(before_g, ctx.generator.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(before_d, ctx.discriminator.parameters()))


def test_augmentations_keep_the_image_sharp() -> None:
    """Rotations and sub-pixel shifts resample with cubic splines: a linear resampling blurs every training target
    (mean |Laplacian| −16 %), and a generator trained on them learns the blur."""
    from scipy import ndimage

    from medgan.data import load_brain
    from medgan.data.randomise import deform

    def detail(a: np.ndarray) -> float:
        return float(np.abs(ndimage.laplace(a))[a > 0.05].mean())

    images = load_brain("test").images[:8]
    rng = np.random.default_rng(0)
    kept = [detail(augment_pair(im, None, rng)[0]) / detail(im) for im in images]
    deformed = [detail(deform(im, None, rng)[0]) / detail(im) for im in images]
    assert np.mean(kept) > 0.95 and np.mean(deformed) > 0.95


def test_an_l2_reconstruction_is_the_mean_squared_error() -> None:
    from medgan import losses

    pred, target = torch.tensor([[0.0, 1.0, -1.0]]), torch.tensor([[0.5, 1.0, 0.0]])
    assert float(losses.l2(pred, target)) == pytest.approx((0.25 + 1.0) / 3)
    assert float(losses.l2(pred, target, torch.tensor([[1.0, 1.0, 0.0]]))) == pytest.approx(0.25 / 2)
    ctx, batch = _ctx_and_batch("inpainting", "pix2pix")
    ctx.cfg.optim.lambda_adv, ctx.cfg.optim.recon_loss = 0.0, "l2"
    assert set(get_step(ctx.cfg.family)(ctx, batch)) == {"l2", "g"}
