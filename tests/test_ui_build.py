"""The app is built without launching; Studio handlers run on the embedded data and real example scans."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tests.strokes import BRAIN_REGION, painted
from tests.ui_checkpoints import ensure_checkpoints

ROOT = Path(__file__).resolve().parent.parent
TASKS = {"synthesis": "spade_synthesis", "inpainting": "spade_inpainting", "segmentation": "unet_segmentation",
         "enhancement": "wgangp_denoise", "generation": "dcgan_generation"}
BRAIN = "Brain MRI volume with labels (embedded)"


@pytest.fixture(scope="module")
def demo():
    ensure_checkpoints()
    from medgan.ui import build_demo

    return build_demo()


def test_build_demo_exposes_only_the_task_api(demo):
    info = demo.get_api_info()
    named = set(info["named_endpoints"])
    assert {"/synthesize", "/inpaint", "/segment", "/enhance", "/generate"} <= named
    assert not any(k.startswith("/on_") for k in named), named  # internal UI handlers stay private
    assert not info["unnamed_endpoints"]
    params = [p["parameter_name"] for p in info["named_endpoints"]["/inpaint"]["parameters"]]
    assert params[:2] == ["image", "region"]
    assert "Studio" in {getattr(b, "label", None) for b in demo.blocks.values()}


def test_run_buttons_write_the_outputs_their_handlers_keep(demo):
    """The run handlers keep RUN_OUTPUTS outputs on a bad input: the Studio wires exactly that many."""
    from medgan.ui import run_handlers as R

    runs = [f for f in demo.fns.values() if getattr(f.fn, "__name__", "") in ("on_run_slice", "on_run_volume")]
    assert len(runs) == 2 and all(len(f.outputs) == R.RUN_OUTPUTS for f in runs)


def test_missing_tab_module_is_skipped(caplog):
    from medgan.ui.app_builder import build_demo

    caplog.set_level("INFO", logger="medgan.ui.app_builder")
    demo = build_demo([("Studio", "medgan.ui.studio", "build_studio_tab"),
                       ("Nope", "medgan.ui.no_such_tab", "build")])
    labels = {getattr(b, "label", None) for b in demo.blocks.values()}
    assert "Studio" in labels and "Nope" not in labels
    assert "no_such_tab" in caplog.text


def test_launch_settings_from_environment():
    from medgan.ui.app_builder import launch_settings, parse_auth

    s = launch_settings({})
    assert s["server_name"] == "127.0.0.1" and s["server_port"] == 7860 and s["auth"] is None
    assert s["max_file_size"] and "allowed_paths" not in s
    s = launch_settings({"MEDGAN_HOST": "0.0.0.0", "GRADIO_SERVER_PORT": "9000", "MEDGAN_AUTH": "a:b, c:d"})
    assert s["server_name"] == "0.0.0.0" and s["server_port"] == 9000 and s["auth"] == [("a", "b"), ("c", "d")]
    assert launch_settings({"MEDGAN_PORT": "8001", "GRADIO_SERVER_PORT": "9000"})["server_port"] == 8001
    assert launch_settings({"SPACE_ID": "someone/medgan"})["server_name"] == "0.0.0.0"
    with pytest.raises(ValueError, match="user:password"):
        parse_auth("nopassword")


def _load(name: str):
    from medgan.ui import studio_handlers as H
    from medgan.ui.common import Session

    out = H.on_example(name, Session())
    return out[0], out[7]


@pytest.mark.parametrize("task", list(TASKS))
def test_studio_runs_every_task_on_the_embedded_brain(demo, task):
    from medgan.ui import run_handlers as R

    s, view = _load(BRAIN)
    strokes = painted(view, BRAIN_REGION)  # the white brush: a region to inpaint
    out = R.on_run_slice(s, strokes, task, TASKS[task], "", False, 0, 3, 0.5, 1.0)
    s, original, inp, output, slider, diff, metrics, _fig, _gallery, status = out
    shown = [c.constructor_args["value"] for c in (original, output, diff) if c.visible]
    assert output.visible and all(x.shape == shown[0].shape for x in shown) and shown[0].shape[-1] == 3
    values = metrics.set_index("metric")["value"]
    assert len(values) and TASKS[task] in status
    assert s.result["task"] == task and np.isfinite(list(s.result["metrics"].values())).all()
    if task == "inpainting":
        assert {"region psnr", "region ssim"} <= set(values.index)


def test_studio_exports_readable_files(demo):
    import nibabel as nib
    import pydicom

    from medgan.ui import export as E
    from medgan.ui import run_handlers as R

    s, view = _load(BRAIN)
    s = R.on_run_slice(s, painted(view), "synthesis", "spade_synthesis", "", False, 0, 1, 0.5, 1.0)[0]
    (png,) = E.on_export_png(s)
    (nii,) = E.on_export_nifti(s)
    dcm = E.on_export_dicom(s)
    (csv,) = E.on_export_csv(s)
    img = nib.load(nii)
    assert img.shape[:2] == (256, 256) and np.isfinite(img.get_fdata()).all()
    ds = pydicom.dcmread(dcm[0])
    assert "SYNTHETIC" in str(ds.get("ImageComments", "")) + str(ds.get("DerivationDescription", "")).upper()
    assert "PatientName" not in ds or not str(ds.PatientName)
    assert "psnr" in Path(csv).read_text() and Path(png).stat().st_size > 0


def test_volume_run_and_nifti_keeps_geometry(demo):
    import nibabel as nib

    from medgan.data import brain_scan
    from medgan.ui import export as E
    from medgan.ui import run_handlers as R

    s, view = _load(BRAIN)
    # four slices keep the test short (a copy: the loaded example is shared between sessions)
    s.scan = dataclasses.replace(s.scan, volume=s.scan.volume[80:84], labels=s.scan.labels[80:84])
    s.labels = s.scan.labels.copy()
    s.index = 1
    out = R.on_run_volume(s, None, "segmentation", "unet_segmentation", "", False, 0, 1, 0.5, 1.0,
                          progress=lambda *a, **k: None)
    s = out[0]
    assert s.result["volume_labels"].shape == (4, 256, 256)
    (nii,) = E.on_export_nifti(s)
    img = nib.load(nii)
    assert img.shape == (256, 256, 4)
    assert np.allclose(img.affine, brain_scan().affine, atol=1e-4)


def test_ct_example_windows_and_bad_inputs_are_plain_errors(demo):
    import gradio as gr

    from medgan.ui import load_view as LV
    from medgan.ui import run_handlers as R
    from medgan.ui import studio_handlers as H
    from medgan.ui.common import Session

    s = H.on_upload([str(ROOT / "assets" / "examples" / "ct_small.dcm")], Session())
    assert s[3] == "CT soft tissue" and s[0].scan.modality == "CT"
    assert LV.level_width_for(s[0].scan, "CT lung") == (-600.0, 1500.0)
    # a bad upload is a warning that leaves every output (the scan already on screen) as it was, and empties the
    # upload box (it must not name a refused file beside the scan still shown)
    with pytest.warns(UserWarning) as warned:
        kept = H.on_upload([str(ROOT / "README.md")], Session())
    message = " ".join(str(w.message) for w in warned)
    assert "README.md" in message and "/" not in message.split("README.md")[0]
    assert len(kept) == H.LOADED_OUTPUTS + 1 and all(k == gr.skip() for k in kept[:-1]) and kept[-1] is None
    assert s[-1] is None  # the box is emptied after a load too: the next upload is read on its own
    # a run the input does not allow is a warning that says what is missing, and the last result stays on screen
    for session, task, model, what in [(s[0], "synthesis", "spade_synthesis", "paint a label map first"),
                                       (s[0], "inpainting", "spade_inpainting", "paint the region"),
                                       (Session(), "segmentation", "unet_segmentation", "load a scan first")]:
        with pytest.warns(UserWarning, match=what):
            kept = R.on_run_slice(session, None, task, model, "", False, 0, 1, 40, 400)
        assert len(kept) == R.RUN_OUTPUTS and all(k == gr.skip() for k in kept)


def test_label_map_save_and_load_round_trip(demo):
    import nibabel as nib

    from medgan.ui import painter as PT
    from medgan.ui import studio_handlers as H

    s, view = _load(BRAIN)
    before = H.label_slice(s).copy()
    s, (png, nii) = H.on_save_labels(s, painted(view))
    assert nib.load(nii).shape == (256, 256, s.labels.shape[0])
    s, view = H.on_clear_labels(s, 0.5, 1.0)
    assert not H.label_slice(s).any()
    s, view, box = H.on_label_file(png, s, 0.5, 1.0)
    assert box is None
    assert np.array_equal(H.label_slice(s), before)
    key, codes = PT.view_codes(view)  # the painter shows the loaded map
    assert key == s.view_key() and np.array_equal(codes, before)


def test_embedded_data_is_prepared_before_serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a fresh MEDGAN_HOME the dataset cache is built at app build time (main thread), not by the first page
    load in a worker thread; a failure is logged and the app still builds."""
    import medgan.data.brain as brain
    from medgan.ui.app_builder import prepare_embedded_data

    monkeypatch.setenv("MEDGAN_HOME", str(tmp_path / "home"))
    assert not brain._cache_path().exists()
    assert prepare_embedded_data() is True
    assert brain._cache_path().is_file()

    def broken() -> None:
        raise OSError("disk full")

    monkeypatch.setattr(brain, "load_brain_volume", broken)
    assert prepare_embedded_data() is False
