"""The five tasks on real slices of the embedded brain MRI, through real (bundled or stand-in) checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medgan import tasks
from tests.ui_checkpoints import ensure_checkpoints


@pytest.fixture(scope="module")
def brain():
    ensure_checkpoints()
    from medgan.data import load_brain

    b = load_brain("test")
    i = len(b) // 2
    return b.images[i], b.labels[i]


def _check_image(x: np.ndarray, shape: tuple[int, int]) -> None:
    assert x.shape == shape and x.dtype == np.float32
    assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1


def _finite(metrics: dict[str, float]) -> None:
    assert metrics and all(np.isfinite(v) for v in metrics.values()), metrics


@pytest.mark.parametrize("shape", [(256, 256), (97, 301)])
def test_synthesis_any_size(brain, shape):
    img, lab = brain
    from medgan.io import resize_image, resize_labels

    lab_s, img_s = resize_labels(lab, shape), np.clip(resize_image(img, shape), 0, 1)
    r = tasks.synthesize(lab_s, "spade_synthesis", seed=1, reference=img_s)
    _check_image(r.output, shape)
    assert r.labels.dtype == np.uint8 and np.array_equal(r.labels, lab_s)
    _finite(r.metrics)
    agree = "label agreement with the U-Net"  # the U-Net's reading of the output, not accuracy: not "dice"
    assert {"psnr", "ssim", f"{agree} mean", f"{agree} grey matter"} <= set(r.metrics)
    assert 0 <= r.metrics[f"{agree} mean"] <= 1 and not any(k.startswith("dice") for k in r.metrics)


def test_inpainting_keeps_outside_and_reports_region(brain):
    img, lab = brain
    from medgan.data.corruptions import square_hole

    region = square_hole(img.shape, center=(128, 128))
    r = tasks.inpaint(img, region, "spade_inpainting", labels=lab)
    _check_image(r.output, img.shape)
    assert np.array_equal(r.output[~region], img[~region])
    assert {"psnr", "ssim", "region psnr", "region ssim"} <= set(r.metrics)
    _finite(r.metrics)
    assert r.metrics["region psnr"] <= r.metrics["psnr"]  # the error lives inside the region
    assert (r.input_display[region] == 0).all()


def test_inpainting_region_metrics_stand_beside_the_biharmonic_fill(brain):
    img, _ = brain
    from skimage.restoration import inpaint_biharmonic

    from medgan.data.corruptions import stroke_hole

    region = stroke_hole(img.shape, rng=np.random.default_rng(3))
    r = tasks.inpaint(img, region, "pix2pix_inpainting")
    formula = np.where(region, np.clip(inpaint_biharmonic(img, region), 0, 1), img)  # at 256 px, the model's size
    err = float(((formula - img)[region] ** 2).mean())
    assert r.metrics["biharmonic region psnr"] == pytest.approx(10 * np.log10(1 / err), abs=0.05)
    assert r.metrics["region psnr gain over biharmonic"] == pytest.approx(
        r.metrics["region psnr"] - r.metrics["biharmonic region psnr"])
    assert r.metrics["region psnr gain over biharmonic"] > 0  # the bundled model beats the formula on the template


def test_inpainting_rejects_empty_region(brain):
    img, _ = brain
    with pytest.raises(ValueError, match="region is empty"):
        tasks.inpaint(img, np.zeros(img.shape, bool), "spade_inpainting")


def test_segmentation_labels_and_dice(brain):
    img, lab = brain
    r = tasks.segment(img[:, 20:-20], "unet_segmentation", reference_labels=lab[:, 20:-20])
    assert r.labels.shape == (256, 216) and r.labels.dtype == np.uint8 and r.labels.max() <= 3
    assert {"dice mean", "iou mean"} <= set(r.metrics) or any(k.startswith("iou ") for k in r.metrics)
    _finite(r.metrics)
    # IoU never exceeds Dice for the same class
    for k, v in r.metrics.items():
        if k.startswith("iou "):
            assert v <= r.metrics["dice " + k[4:]] + 1e-9


def test_segmentation_of_a_slice_without_tissue_is_background():
    # a slice above the vertex or outside the head: dark, maybe faintly noisy; no class may fill it
    rng = np.random.default_rng(0)
    for img in (np.zeros((256, 256), np.float32), np.clip(0.03 + 0.01 * rng.standard_normal((256, 256)), 0, 1)):
        r = tasks.segment(img.astype(np.float32), "unet_segmentation")
        assert (r.labels == 0).mean() > 0.99


@pytest.mark.parametrize("kind", ["denoise", "sr4", "deblur"])
def test_enhancement_reports_input_and_output(brain, kind):
    img, _ = brain
    r = tasks.enhance(img, "wgangp_denoise", degradation=kind)
    _check_image(r.output, img.shape)
    _check_image(r.input_display, img.shape)
    assert not np.array_equal(r.input_display, img)  # it was degraded
    assert {"psnr", "ssim", "input psnr", "input ssim", "psnr gain", "ssim gain"} <= set(r.metrics)
    assert r.metrics["psnr gain"] == pytest.approx(r.metrics["psnr"] - r.metrics["input psnr"])


def test_enhancement_of_already_degraded_input(brain):
    img, _ = brain
    r = tasks.enhance(img, "wgangp_denoise", degrade=False)
    assert np.array_equal(r.input_display, img) and r.metrics == {}


def test_generation_batch(brain):
    rs = tasks.generate("dcgan_generation", n=3, seed=5)
    assert len(rs) == 3
    for r in rs:
        assert r.output.ndim == 2 and r.output.dtype == np.float32 and 0 <= r.output.min() <= r.output.max() <= 1
        assert r.labels is not None and r.labels.shape == r.output.shape
    again = tasks.generate("dcgan_generation", n=3, seed=5)
    assert np.array_equal(rs[2].output, again[2].output)
    assert not np.array_equal(rs[0].output, rs[1].output)


def test_wrong_task_and_unknown_names(brain):
    img, lab = brain
    with pytest.raises(ValueError, match="serves segmentation"):
        tasks.synthesize(lab, "unet_segmentation")
    with pytest.raises(ValueError, match="unknown task"):
        tasks.get_task("colourise")
    with pytest.raises(ValueError, match="2-D"):
        tasks.segment(np.zeros((2, 8, 8)), "unet_segmentation")


def test_run_volume_progress(brain):
    from medgan.data import load_brain_volume

    bv = load_brain_volume()
    vol, lab = bv.volume[60:64], bv.labels[60:64]
    seen = []
    res = tasks.run_volume("synthesis", vol, "spade_synthesis", labels=lab, batch=3,
                           progress=lambda i, n: seen.append((i, n)))
    assert res.output.shape == vol.shape and res.labels.shape == vol.shape
    assert seen == [(3, 4), (4, 4)]
    assert len(res.per_slice) == 4 and np.isfinite(res.metrics["psnr"])
    # batching does not change the result: slice 3 equals the single-slice task (same seed)
    one = tasks.synthesize(lab[3], "spade_synthesis", seed=3, reference=vol[3])
    assert np.allclose(res.output[3], one.output, atol=2e-3)
    assert res.per_slice[3]["psnr"] == pytest.approx(one.metrics["psnr"], abs=0.05)
    again = tasks.synthesize(lab[3], "spade_synthesis", seed=3)
    assert np.array_equal(again.output, one.output)  # seeded: reproducible
    seg = tasks.run_volume("segmentation", vol, "unet_segmentation", labels=lab, batch=4)
    assert seg.labels.shape == vol.shape and "dice mean" in seg.metrics


def test_cli_writes_images_and_metrics(brain, tmp_path, capsys):
    import csv

    import nibabel as nib
    import pydicom

    from medgan.cli import main

    out = tmp_path / "res"
    assert main(["synthesize", "--task", "synthesis", "--slice", "90", "--format", "png,nifti,dicom",
                 "--out", str(out)]) == 0
    from medgan.defaults import DEFAULT_MODELS

    stem = f"synthesis_{DEFAULT_MODELS['synthesis']}"  # no model named: the task's default
    assert (out / f"{stem}.png").exists()
    assert nib.load(out / f"{stem}.nii.gz").shape[:2] == (256, 256)
    ds = pydicom.dcmread(out / f"{stem}.dcm")
    assert "SYNTHETIC" in (str(ds.get("ImageComments", "")) + str(ds.get("DerivationDescription", ""))).upper()
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert {"psnr", "label agreement with the U-Net mean", "in domain", "domain score"} <= {r["metric"] for r in rows}
    assert {r["value"] for r in rows if r["metric"] == "in domain"} == {"1.0"}  # the embedded brain is in domain
    ct = Path(__file__).resolve().parent.parent / "assets" / "examples" / "mr_emri_10slices.dcm"
    assert main(["synthesize", "--task", "segmentation", "--input", str(ct), "--volume", "--format", "nifti",
                 "--out", str(out)]) == 0
    assert nib.load(out / "segmentation_unet_segmentation.nii.gz").shape == (64, 64, 10)
    assert main(["synthesize", "--task", "synthesis", "--input", str(ct), "--out", str(out)]) == 2
    assert "needs a label map" in capsys.readouterr().out
