"""The launched app (real server, free port) driven with gradio_client: every task endpoint on real DICOM,
NIfTI and PNG inputs returns an image of the input's size and finite metrics; images and label maps are read as
the Studio reads them; bad files give plain errors."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from tests.live_server import LiveApp
from tests.ui_checkpoints import ensure_checkpoints

ROOT = Path(__file__).resolve().parent.parent
CT = ROOT / "assets" / "examples" / "ct_small.dcm"            # 1 × 128 × 128 CT
MR10 = ROOT / "assets" / "examples" / "mr_emri_10slices.dcm"  # 10 × 64 × 64 enhanced MR


@pytest.fixture(scope="module")
def client():
    from gradio_client import Client

    ensure_checkpoints()
    with LiveApp(env={"MEDGAN_HOME": os.environ["MEDGAN_HOME"]}) as app:
        yield Client(app.url, verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A real brain slice as PNG and its label map as PNG (pixel = class) and as NIfTI volume."""
    from medgan.data import load_brain_volume
    from medgan.io import write_nifti, write_png

    d = tmp_path_factory.mktemp("api")
    bv = load_brain_volume()
    k = 90
    write_png(d / "brain.png", bv.volume[k, 16:-16])  # 224 × 256: not square on purpose
    write_png(d / "labels.png", bv.labels[k, 16:-16])
    write_nifti(d / "brain.nii.gz", bv.volume[k - 2 : k + 3], bv.affine)
    write_nifti(d / "labels.nii.gz", bv.labels[k - 2 : k + 3], bv.affine, is_labels=True)
    region = np.zeros((224, 256), np.uint8)
    region[90:130, 100:150] = 1
    write_png(d / "region.png", region)
    return d


def _size(path: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size[1], im.size[0]


DOMAIN_KEYS = ("in_domain", "domain_score", "domain_warning")


def _finite(metrics: dict) -> None:
    assert metrics, "no metrics returned"
    assert all(v is not None and math.isfinite(v) for k, v in metrics.items() if k not in DOMAIN_KEYS), metrics
    assert "in_domain" in metrics and "domain_score" in metrics


def test_synthesize_from_png_and_nifti_labels(client, files):
    from gradio_client import handle_file

    img, metrics = client.predict(handle_file(str(files / "labels.png")), "spade_synthesis", 0,
                                  handle_file(str(files / "brain.png")), -1, api_name="/synthesize")
    assert _size(img) == (224, 256)
    _finite(metrics)
    assert {"psnr", "ssim", "label agreement with the U-Net mean"} <= set(metrics)
    assert not any(k.startswith("dice") for k in metrics)  # vs the input labels via the U-Net: agreement
    assert metrics["in_domain"] is True and metrics["domain_score"] <= 1 and "domain_warning" not in metrics
    img, metrics = client.predict(handle_file(str(files / "labels.nii.gz")), "", 1, None, -1,
                                  api_name="/synthesize")
    assert _size(img) == (256, 256)
    _finite(metrics)


def test_inpaint_dicom_and_png(client, files):
    from gradio_client import handle_file

    img, metrics = client.predict(handle_file(str(CT)), None, "spade_inpainting", None, -1, api_name="/inpaint")
    assert _size(img) == (128, 128)
    _finite(metrics)
    assert {"region psnr", "region ssim"} <= set(metrics)
    img, metrics = client.predict(handle_file(str(files / "brain.png")), handle_file(str(files / "region.png")),
                                  "", handle_file(str(files / "labels.png")), -1, api_name="/inpaint")
    assert _size(img) == (224, 256)
    _finite(metrics)


def test_segment_multiframe_dicom_and_nifti(client, files):
    from gradio_client import handle_file

    img, metrics = client.predict(handle_file(str(MR10)), "unet_segmentation", None, 3, api_name="/segment")
    assert _size(img) == (64, 64)
    from PIL import Image

    assert np.asarray(Image.open(img)).max() <= 3  # a label map: pixel value = class
    img, metrics = client.predict(handle_file(str(files / "brain.nii.gz")), "",
                                  handle_file(str(files / "labels.nii.gz")), -1, api_name="/segment")
    assert _size(img) == (256, 256)
    _finite(metrics)
    assert any(k.startswith("iou ") for k in metrics)


def test_enhance_and_generate(client, files):
    from gradio_client import handle_file

    img, metrics = client.predict(handle_file(str(files / "brain.png")), "wgangp_denoise", "sr4", True, -1,
                                  api_name="/enhance")
    assert _size(img) == (224, 256)
    _finite(metrics)
    assert {"psnr", "input psnr", "psnr gain"} <= set(metrics)
    paths, metrics = client.predict("dcgan_generation", 3, 7, api_name="/generate")
    assert len(paths) == 6 and all(Path(p).stat().st_size > 0 for p in paths)  # image + label map each
    assert [Path(p).name for p in paths][:2] == ["sample_00.png", "sample_00_labels.png"]


def test_bad_inputs_give_readable_errors(client, files, tmp_path):
    from gradio_client import handle_file

    junk = tmp_path / "scan.dcm"
    junk.write_bytes(b"this is not a scan" * 10)
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(junk)), "", None, -1, api_name="/segment")
    msg = str(err.value)
    assert "Could not segment" in msg and "scan.dcm" in msg and "Traceback" not in msg
    with pytest.raises(Exception, match="unknown checkpoint"):
        client.predict(handle_file(str(files / "labels.png")), "no_such_model", 0, None, -1, api_name="/synthesize")
    with pytest.raises(Exception, match="serves"):
        client.predict(handle_file(str(files / "labels.png")), "unet_segmentation", 0, None, -1,
                       api_name="/synthesize")


def test_login_from_environment(tmp_path):
    from gradio_client import Client

    with LiveApp(env={"MEDGAN_HOME": str(tmp_path), "MEDGAN_AUTH": "alice:s3cret"}) as app:
        with pytest.raises(Exception):  # noqa: B017 - the client fails in several ways without a login
            Client(app.url, verbose=False).predict("dcgan_generation", 1, 0, api_name="/generate")
        names = Client(app.url, auth=("alice", "s3cret"), verbose=False).view_api(
            print_info=False, return_format="dict")["named_endpoints"]
        assert "/segment" in names


# out-of-domain scans that ship in pydicom-data: CT, shoulder MR, ultrasound, RGB; and a noise image
OOD = ["CT_small.dcm", "693_J2KR.dcm", "MR2_J2KR.dcm", "US1_J2KR.dcm", "SC_rgb.dcm"]


def test_segment_flags_out_of_domain_inputs_and_still_runs(client, files, tmp_path):
    from gradio_client import handle_file
    from pydicom.data import get_testdata_file

    from medgan.io import write_png

    noise = tmp_path / "noise.png"
    write_png(noise, np.random.default_rng(0).random((200, 200)).astype(np.float32))
    for path in [get_testdata_file(n) for n in OOD] + [str(noise)]:
        img, metrics = client.predict(handle_file(path), "unet_segmentation", None, -1, api_name="/segment")
        assert Path(img).stat().st_size > 0  # it still runs
        assert metrics["in_domain"] is False, (path, metrics)
        assert metrics["domain_score"] is None or metrics["domain_score"] > 0
        assert "Out of domain" in metrics["domain_warning"] and "Train tab" in metrics["domain_warning"]
    # the template slice (PNG, no metadata) passes; Dice against real reference labels keeps its name
    img, metrics = client.predict(handle_file(str(files / "brain.png")), "unet_segmentation",
                                  handle_file(str(files / "labels.png")), -1, api_name="/segment")
    assert metrics["in_domain"] is True and metrics["domain_score"] <= 1
    assert {"dice mean", "iou mean"} <= set(metrics) or "dice mean" in metrics
    # a CT through /segment names the modality
    _, metrics = client.predict(handle_file(str(CT)), "", None, -1, api_name="/segment")
    assert "modality is CT" in metrics["domain_warning"]


def _grey(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L")).astype(np.int16)


def test_api_reads_images_as_the_studio_does(client, tmp_path):
    """A 16-bit PNG holding 12-bit values is auto-windowed (not divided by 65535: no near-black image with flattering
    metrics); an 8-bit picture is used as stored. Outside the inpainting region the output is the input as the
    model saw it."""
    from gradio_client import handle_file
    from PIL import Image

    from medgan.data import load_brain_volume
    from medgan.ui.api import read_image
    from medgan.ui.common import to_uint8

    img = np.asarray(load_brain_volume().volume[90], np.float32)
    p12, p8 = tmp_path / "twelve.png", tmp_path / "dim8.png"
    Image.fromarray(np.rint(img * 595).astype(np.uint16)).save(p12)
    arr8 = np.rint(img * 120).astype(np.uint8)
    Image.fromarray(arr8).save(p8)
    region = np.zeros(img.shape, np.uint8)
    region[100:140, 100:140] = 1
    Image.fromarray(region).save(tmp_path / "region.png")
    outside = region == 0
    for path, expected in ((p8, arr8), (p12, to_uint8(read_image(str(p12))))):
        out, _ = client.predict(handle_file(str(path)), handle_file(str(tmp_path / "region.png")), "", None, -1,
                                api_name="/inpaint")
        assert np.abs(_grey(out)[outside] - expected[outside]).max() <= 1, path.name
    assert _grey(out)[img > 0.2].mean() > 80  # the 12-bit scan is not shown near-black
    _, metrics = client.predict(handle_file(str(p12)), "wgangp_denoise", "denoise", True, -1, api_name="/enhance")
    assert metrics["input psnr"] < 40  # noise at its true scale, not hidden in a near-black image


def test_api_accepts_label_maps_in_every_studio_form(client, tmp_path):
    """Class indices, display values k·255/(K-1) and the app's class colours give the same label map."""
    from gradio_client import handle_file
    from PIL import Image

    from medgan.data import load_brain_volume
    from medgan.ui.common import labels_rgb

    bv = load_brain_volume()
    lab = np.asarray(bv.labels[90], np.uint8)
    forms = {"indices": lab, "display": (lab * 85).astype(np.uint8), "colours": labels_rgb(lab)}
    outs = {}
    for name, arr in forms.items():
        Image.fromarray(arr).save(tmp_path / f"{name}.png")
        out, _ = client.predict(handle_file(str(tmp_path / f"{name}.png")), "spade_synthesis", 3, None, -1,
                                api_name="/synthesize")
        outs[name] = _grey(out)
    assert np.array_equal(outs["indices"], outs["display"]) and np.array_equal(outs["indices"], outs["colours"])
    Image.fromarray(np.rint(np.asarray(bv.volume[90]) * 255).astype(np.uint8)).save(tmp_path / "brain.png")
    dice = [client.predict(handle_file(str(tmp_path / "brain.png")), "unet_segmentation",
                           handle_file(str(tmp_path / f"{name}.png")), -1, api_name="/segment")[1]["dice mean"]
            for name in forms]
    assert dice[0] == dice[1] == dice[2]


def test_api_refuses_bad_label_maps_and_tiny_inputs_with_plain_errors(client, tmp_path):
    from gradio_client import handle_file
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray((rng.integers(0, 17, (64, 64)) * 15).astype(np.uint8)).save(tmp_path / "seventeen.png")
    Image.fromarray(np.ones((1, 1), np.uint8)).save(tmp_path / "one.png")
    Image.fromarray(np.full((16, 64), 90, np.uint8)).save(tmp_path / "small.png")
    calls = [
        ((handle_file(str(tmp_path / "seventeen.png")), "", 0, None, -1), "/synthesize",
         ["Could not synthesize", "found 17 distinct values 0..240", "accepted: class indices 0..3"]),
        ((handle_file(str(tmp_path / "one.png")), "", 0, None, -1), "/synthesize", ["1×1 px", "32×32 px"]),
        ((handle_file(str(tmp_path / "small.png")), None, "", None, -1), "/inpaint", ["16×64 px", "32×32 px"]),
        ((handle_file(str(tmp_path / "small.png")), "", None, -1), "/segment", ["16×64 px", "32×32 px"]),
    ]
    for args, api_name, words in calls:
        with pytest.raises(Exception) as err:
            client.predict(*args, api_name=api_name)
        msg = str(err.value)
        assert all(w in msg for w in words), (api_name, msg)
        assert str(tmp_path) not in msg and "Traceback" not in msg
