"""Domain randomisation and the classical baselines: behaviour on the embedded brain's slices."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.restoration import inpaint_biharmonic

from medgan.data import load_brain
from medgan.data.corruptions import box_hole, fill_hole
from medgan.data.randomise import FAMILIES, TEST_SHIFTS, contrast, randomise, t2_like
from medgan.evaluation import baselines as B
from medgan.training.config import DataConfig
from medgan.training.data import make_sample


@pytest.fixture(scope="module")
def brain() -> tuple[np.ndarray, np.ndarray]:
    b = load_brain("test")
    return b.images[10], b.labels[10]


def _class_means(img: np.ndarray, lab: np.ndarray) -> np.ndarray:
    return np.array([img[lab == c].mean() for c in (1, 2, 3)])


def test_every_family_changes_the_image_and_keeps_range_and_alignment(brain) -> None:
    img, lab = brain
    for fam in FAMILIES:
        out, out_lab = randomise(img, lab, np.random.default_rng(3), p=1.0, families=(fam,))
        assert out.shape == img.shape and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0
        assert np.abs(out - img).mean() > 1e-3, fam
        if fam == "deform":  # labels move with the image: the tissue stays where the labels say
            assert out[out_lab > 0].mean() > 5 * max(out[out_lab == 0].mean(), 1e-3)
        else:
            assert np.array_equal(out_lab, lab)


def test_randomise_is_a_pure_function_of_the_rng(brain) -> None:
    img, lab = brain
    a = randomise(img, lab, np.random.default_rng(7), p=0.5)
    b = randomise(img, lab, np.random.default_rng(7), p=0.5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="valid: deform"):
        randomise(img, lab, np.random.default_rng(0), families=("t2_like",))


def test_contrast_never_draws_the_held_out_t2_order_and_t2_like_has_it(brain) -> None:
    img, lab = brain
    t1 = _class_means(img, lab)
    assert t1[0] < t1[1] < t1[2]  # T1: CSF < GM < WM
    for seed in range(40):
        m = _class_means(contrast(img, lab, np.random.default_rng(seed)), lab)
        assert not (m[0] > m[1] > m[2]), seed
    t2 = _class_means(t2_like(img, lab), lab)
    assert t2[0] > t2[1] > t2[2]


def test_test_shifts_are_fixed_and_in_range(brain) -> None:
    img, lab = brain
    for name, f in TEST_SHIFTS.items():
        a, b = f(img, lab), f(img, lab)
        assert np.array_equal(a, b) and a.min() >= 0 and a.max() <= 1, name


def test_inpainting_samples_use_the_prefill_and_random_boxes(brain) -> None:
    img, lab = brain
    cfg = DataConfig(hole_max=96, input_fill="biharmonic", stroke_holes=0.0, label_dropout=1.0)
    s = make_sample(img, lab, "inpainting", cfg, 4, np.random.default_rng(0), augment=False)
    m = s["mask"][0] > 0
    rows, cols = np.nonzero(m.any(1))[0], np.nonzero(m.any(0))[0]
    assert 24 <= len(rows) <= 96 and 24 <= len(cols) <= 96
    expect = inpaint_biharmonic(img, m) * 2 - 1
    assert np.allclose(s["input"][0], np.clip(expect, -1, 1), atol=1e-4)
    assert not s["input"][2:].any()  # blind: no labels
    zero = make_sample(img, lab, "inpainting", DataConfig(stroke_holes=0.0), 4, np.random.default_rng(0), False)
    assert np.all(zero["input"][0][zero["mask"][0] > 0] == 0)  # the default fill is 0 in model units


def test_box_hole_and_fill_hole_contracts(brain) -> None:
    img, lab = brain
    m = box_hole(img.shape, np.random.default_rng(1), 80, lab > 0, min_side=80)
    assert m.sum() == 80 * 80 and (m & (lab > 0)).any()
    assert np.array_equal(fill_hole(img, m, "zero")[m], np.full(m.sum(), 0.5, np.float32))
    assert np.array_equal(fill_hole(img, m, "biharmonic")[~m], img[~m])
    with pytest.raises(ValueError, match="valid: zero, biharmonic"):
        fill_hole(img, m, "mean")


def test_classical_baselines_do_what_they_say(brain) -> None:
    img, lab = brain
    m = box_hole(img.shape, np.random.default_rng(2), 50, lab > 0, min_side=50)
    for name, f in B.INPAINT_BASELINES.items():
        out = f(img, m)
        assert np.array_equal(out[~m], img[~m]) or np.abs(out[~m] - img[~m]).max() < 1e-4, name
        assert np.abs(out[m] - img[m]).mean() < np.abs(0.5 - img[m]).mean(), name  # better than a grey square
    noisy = np.clip(img + 0.06 * np.random.default_rng(0).standard_normal(img.shape), 0, 1).astype(np.float32)
    for name, f in B.DENOISE_BASELINES.items():
        assert np.abs(f(noisy) - img).mean() < np.abs(noisy - img).mean(), name
    means = B.class_means(img[None], lab[None], 4)
    painted = B.paint_mean_intensity(lab, means)
    assert np.allclose(painted[lab == 3], means[3])
    assert B.nearest_training_slice(lab, np.stack([img * 0, img]), np.stack([lab * 0, lab])).max() == img.max()
    low = img[::4, ::4]
    for name, f in B.SR_BASELINES.items():
        assert f(low, img.shape).shape == img.shape, name


def test_randomisation_and_hole_switches_reach_the_config_and_round_trip() -> None:
    import argparse

    from medgan.training.cli import add_arguments, build_config
    from medgan.training.config import TrainConfig

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["--task", "inpainting", "--arch", "pix2pix", "--out", "x", "--augment"]
    cfg = build_config(parser.parse_args([*base, "--randomise", "0.3", "--randomise-families", "gamma,bias",
                                          "--hole-max", "96", "--input-fill", "biharmonic", "--label-dropout", "0.6"]))
    d = cfg.data
    assert (d.randomise, d.randomise_families, d.hole_max, d.input_fill, d.label_dropout) == (
        0.3, ("gamma", "bias"), 96, "biharmonic", 0.6)
    assert TrainConfig.from_dict(cfg.to_dict()).data == d
    with pytest.raises(ValueError, match="valid: deform"):
        build_config(parser.parse_args([*base, "--randomise-families", "t2_like"]))
    with pytest.raises(ValueError, match="--randomise must be"):
        build_config(parser.parse_args([*base, "--randomise", "2"]))


def test_an_inpainting_card_with_a_prefill_gets_it_at_inference(brain) -> None:
    """A card saying input_fill=biharmonic: the generator's first channel is the biharmonic pre-fill."""
    import torch

    from medgan.tasks.encode import prepare_inpainting

    img, lab = brain
    m = box_hole(img.shape, np.random.default_rng(4), 50, lab > 0, min_side=50)
    card = {"task": "inpainting", "image_size": 256, "in_channels": 6, "label_classes": ["b", "c", "g", "w"],
            "input_fill": "biharmonic"}
    x = prepare_inpainting(img, m, card).x
    assert torch.allclose(x[0, 0], torch.from_numpy(fill_hole(img, m) * 2 - 1), atol=1e-4)
    x0 = prepare_inpainting(img, m, {**card, "input_fill": None}).x
    assert float(x0[0, 0][torch.from_numpy(m)].abs().max()) == 0.0


def test_brain_plus_real_slices_keeps_the_brain_labels_and_refuses_label_tasks() -> None:
    """``--data embedded+pydicom``: the brain slices keep their labels (label-guided inpainting still learns), the
    real slices have none; tasks that need labels on every slice are refused with the reason."""
    import argparse

    from medgan.training.cli import add_arguments, build_config
    from medgan.training.data import load_slices

    s = load_slices(DataConfig(source="embedded+pydicom"), "train")
    assert s.labelled is not None and s.labelled.any() and not s.labelled.all()
    first_real = int(np.argmin(s.labelled))
    assert s.label(0) is not None and s.label(0).max() == 3 and s.label(first_real) is None
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for task, arch in (("synthesis", "spade"), ("segmentation", "unet")):
        with pytest.raises(ValueError, match="have no labels"):
            build_config(parser.parse_args(["--task", task, "--arch", arch, "--out", "x", "--data", "embedded+pydicom"]))
    with pytest.raises(ValueError, match="synthesis only"):
        build_config(parser.parse_args(["--task", "inpainting", "--arch", "pix2pix", "--out", "x", "--zero-background"]))
