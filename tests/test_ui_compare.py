"""The Studio's compare row after a run: every panel is titled for what it shows, generation shows its samples
and their label maps instead of an original and an input, the layout comes back for the other tasks, and a
whole-volume run reports its progress per batch and says which slices it left out."""

from __future__ import annotations

import dataclasses

import gradio as gr
import numpy as np
import pytest

from tests.strokes import BRAIN_REGION, painted
from tests.ui_checkpoints import ensure_checkpoints

BRAIN = "Brain MRI volume with labels (embedded)"
MODELS = {"synthesis": "spade_synthesis", "inpainting": "spade_inpainting", "segmentation": "unet_segmentation",
          "enhancement": "wgangp_denoise", "generation": "dcgan_generation"}
PANELS = ("original", "input", "output", "slider", "diff")  # their places in the run outputs, after the session


@pytest.fixture(scope="module")
def loaded():
    ensure_checkpoints()
    from medgan.ui import studio_handlers as H
    from medgan.ui.common import Session

    def load(region: bool = True):
        out = H.on_example(BRAIN, Session())
        s, view = out[0], out[7]
        return s, painted(view, BRAIN_REGION if region else None)  # the white brush over the tissue

    return load


def _run(s, strokes, task: str, n: int = 3) -> dict:
    from medgan.ui import run_handlers as R

    out = R.on_run_slice(s, strokes, task, MODELS[task], "", False, 0, n, 0.5, 1.0)
    return {"session": out[0], **dict(zip(PANELS, out[1:6])), "metrics": out[6], "chart": out[7],
            "gallery": out[8], "status": out[9]}


def _value(component):
    return component.constructor_args.get("value")


def test_generation_shows_samples_and_their_label_maps_not_an_original(loaded):
    s, strokes = loaded()
    out = _run(s, strokes, "generation", n=3)
    for name in ("original", "input", "diff", "slider"):  # nothing to compare a generated sample with
        assert out[name].visible is False and _value(out[name]) is None, name
    assert out["output"].visible is not False and "generated" in out["output"].label.lower()
    assert _value(out["output"]).shape[-1] == 3
    gallery = out["gallery"]
    assert gallery.visible is True and gallery.columns == 3
    captions = [c for _, c in _value(gallery)]
    for i in range(3):
        assert captions[3 * i : 3 * i + 3] == [f"sample {i}: generated image", f"sample {i}: generated label map",
                                               f"sample {i}: U-Net labels of the image"]
    assert "label map" in gallery.label and "U-Net" in gallery.label
    rows = out["metrics"].set_index("metric")["value"]
    assert rows["samples"] == "3.000" and any(k.startswith("label agreement with the U-Net") for k in rows.index)
    assert set(out["session"].result["metrics"]) == set(rows.index)


def test_the_layout_comes_back_after_generation(loaded):
    s, strokes = loaded()
    _run(s, strokes, "generation", n=2)
    out = _run(s, strokes, "synthesis")
    for name in PANELS:
        assert out[name].visible is True and _value(out[name]) is not None, name
    assert out["original"].label == "Original slice"
    assert "label map" in out["input"].label and "synthesised" in out["output"].label
    assert "original" in out["diff"].label and "original slice → synthesised" in out["slider"].label
    assert out["gallery"].visible is False and not _value(out["gallery"])
    assert _value(out["original"]).shape == _value(out["output"]).shape == _value(out["diff"]).shape


@pytest.mark.parametrize(("task", "words"), [("inpainting", ("region blanked", "region filled")),
                                             ("segmentation", ("the slice", "predicted labels")),
                                             ("enhancement", ("degraded", "restored"))])
def test_panel_titles_say_what_each_task_shows(loaded, task, words):
    s, strokes = loaded()
    out = _run(s, strokes, task)
    assert words[0] in out["input"].label and words[1] in out["output"].label
    assert all(out[name].visible is True for name in PANELS)
    if task == "segmentation":  # the embedded brain has reference labels: the diff compares foregrounds
        assert "reference labels" in out["diff"].label


def test_segmentation_without_reference_labels_hides_the_difference_map(loaded):
    s, strokes = loaded(region=False)
    from medgan.ui import studio_handlers as H

    s.labels = np.zeros_like(s.labels)
    strokes = painted(H.view_for(s, 0.5, 1.0))  # the painter shows the emptied labels
    out = _run(s, strokes, "segmentation")
    assert out["diff"].visible is False and out["output"].visible is True
    # nothing to score against: the chart shows what was predicted (a label map has no intensity histogram)
    fig = out["chart"]
    assert "Share of each predicted class" in fig.layout.title.text
    bars = fig.data[0]
    assert list(bars.x) == ["CSF", "grey matter", "white matter"]
    assert abs(sum(bars.y) - 1) < 1e-6 and min(bars.y) > 0.05  # a brain slice has all three


def test_inpainting_without_a_region_names_the_white_brush(loaded):
    from medgan.ui import run_handlers as R

    s, strokes = loaded(region=False)
    with pytest.warns(UserWarning, match="paint the region to fill with the white brush"):
        kept = R.on_run_slice(s, strokes, "inpainting", MODELS["inpainting"], "", False, 0, 1, 0.5, 1.0)
    assert all(k == gr.skip() for k in kept)  # the result already on screen stays


def test_volume_run_reports_progress_per_batch_and_names_empty_slices(loaded):
    from gradio.helpers import special_args

    from medgan.tasks.volume import BATCH
    from medgan.ui import run_handlers as R

    assert special_args(R.on_run_volume)[1] == 10  # Gradio finds the progress tracker behind the wrapper
    s, strokes = loaded()
    z = 2 * BATCH + 1
    vol, lab = s.scan.volume[80 : 80 + z].copy(), s.scan.labels[80 : 80 + z].copy()
    vol[-1], lab[-1] = 0, 0  # an empty slice: no tissue, no labels
    s.scan = dataclasses.replace(s.scan, volume=vol, labels=lab)  # a copy: the loaded example is shared
    s.labels, s.index = lab.copy(), 1
    seen = []
    out = R.on_run_volume(s, None, "segmentation", MODELS["segmentation"], "", False, 0, 1, 0.5, 1.0,
                          progress=lambda p, **k: seen.append(p))
    # once before the run, then after every batch (3 batches of ≤ BATCH slices); with more than one worker thread
    # (OMP_NUM_THREADS > 1) the batches may finish in any order, so the counts in between depend on which came first
    assert seen[0] == (0, z) and seen[-1] == (z, z) and len(seen) == 1 + -(-z // BATCH)
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:])) and {t for _, t in seen} == {z}
    assert "1 empty slice (no tissue, no labels) was left as background" in out[9]
    assert f"means over the {z - 1} slices that have them" in out[9]
    per = out[0].result["per_slice"]
    assert per[-1] == {} and all(per[:-1])


def test_a_blind_inpainting_charts_its_fill_beside_the_biharmonic_one(loaded):
    s, _ = loaded()
    from medgan.ui import studio_handlers as H

    s.labels = np.zeros_like(s.labels)  # no labels: a blind fill, held to the formula
    strokes = painted(H.view_for(s, 0.5, 1.0), BRAIN_REGION)
    out = _run(s, strokes, "inpainting")
    fig = out["chart"]
    assert "PSNR" in fig.layout.title.text and list(fig.data[0].x) == ["this model", "biharmonic fill"]
    m = out["session"].result["metrics"]
    assert list(fig.data[0].y) == pytest.approx([m["region psnr"], m["biharmonic region psnr"]])


def test_an_out_of_domain_run_marks_its_chart_as_it_marks_its_table(loaded):
    """A CT slice run through the brain segmenter: the numbers stay, but the chart's title says out of domain and
    its bars are greyed like the table's rows; an in-domain run's chart is left as it is."""
    from pathlib import Path

    from medgan.ui import run_handlers as R
    from medgan.ui import studio_handlers as H
    from medgan.ui.common import Session
    from medgan.ui.domain_view import OOD_MARK

    ct = H.on_upload([str(Path(__file__).parents[1] / "assets" / "examples" / "ct_small.dcm")], Session())[0]
    out = R.on_run_slice(ct, None, "segmentation", MODELS["segmentation"], "", False, 0, 1, 40, 400)
    table, fig, status = out[6], out[7], out[9]
    assert "out of domain" in status.lower()
    assert all(m.endswith(OOD_MARK) for m in table.data["metric"] if m not in ("in domain", "domain score"))
    title = fig.layout.title.text
    assert title.endswith("<br>" + OOD_MARK.strip()) and all(t.opacity == 0.45 for t in fig.data)
    # the CT has no reference labels: the chart shows the predicted classes' shares, not an agreement of 1.00
    assert title.startswith("Share of each predicted class")
    s, strokes = loaded()
    fig_in = _run(s, strokes, "segmentation")["chart"]
    assert OOD_MARK.strip() not in fig_in.layout.title.text and all(t.opacity is None for t in fig_in.data)


def test_a_segmentation_against_its_own_auto_labels_charts_the_class_shares(loaded):
    """Auto-labels are the U-Net's: its agreement with them is 1.00 for every class by construction, which a
    chart of bars would present as a result. The agreement stays in the table; the chart shows the shares."""
    s, _ = loaded(region=False)
    from medgan.ui import studio_handlers as H

    s = H.on_auto_labels(s, 0.5, 1.0)[0]
    out = _run(s, painted(H.view_for(s, 0.5, 1.0)), "segmentation")
    agreement = [v for m, v in zip(out["metrics"]["metric"], out["metrics"]["value"])
                 if m.startswith("label agreement") and "mean" not in m]
    assert agreement and all(float(v) > 0.99 for v in agreement)
    fig = out["chart"]
    assert fig.layout.title.text.startswith("Share of each predicted class")
    assert "the only labels are the U-Net's own" in fig.layout.title.text
    assert list(fig.data[0].x) == ["CSF", "grey matter", "white matter"]
