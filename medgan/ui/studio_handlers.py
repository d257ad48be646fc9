"""Event handlers of the Studio tab (load/view, annotate). Every handler takes and returns the Session."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import gradio as gr
import numpy as np

from medgan import tasks
from medgan.io import write_nifti
from medgan.ui import annotate as A
from medgan.ui import load_view as LV
from medgan.ui import painter as PT
from medgan.ui.common import DEFAULT_CLASSES, Session, UserError, friendly, legend_html
from medgan.ui.geometry import geometry_for
from medgan.ui.run_panel import out_dir

logger = logging.getLogger(__name__)


def need_scan(s: Session) -> None:
    if s is None or s.scan is None:
        raise UserError("load a scan first (upload a file or pick an example)")


def num_classes(s: Session) -> int:
    return len(s.label_names or DEFAULT_CLASSES)


def unit_slice(s: Session, level: float, width: float) -> np.ndarray:
    """The current slice at the current window: float32 (H, W) in [0, 1]."""
    return LV.window(LV.take(np.asarray(s.scan.volume), s.axis, s.index), level, width)


def label_slice(s: Session) -> np.ndarray | None:
    return None if s.labels is None else LV.take(s.labels, s.axis, s.index)


RECENT_VIEWS = 8  # painters kept to read late strokes against (a stroke may arrive after the next slice)


def commit_strokes(s: Session, strokes: str | None) -> np.ndarray:
    """Write what was painted into the label volume, at the slice it was painted on; return the region (of the
    slice on screen).

    ``strokes`` is what the browser's painter sent (:func:`medgan.ui.painter.parse_strokes`): its view key and,
    when something was painted, the codes of that view's slice. Strokes on a view the user has since scrolled
    away from land on their own slice; strokes on a view this session does not know (another scan) are refused:
    nothing is written and the user is asked to try again."""
    shape = LV.take(np.asarray(s.scan.volume), s.axis, s.index).shape
    orphan = PT.parse_orphan(strokes)
    if orphan is not None and orphan[0] in s.recent:  # painted just before its slice was replaced on screen
        _write_codes(s, s.recent[orphan[0]], orphan[1])
    key, codes = PT.parse_strokes(strokes)
    painted = s.recent.get(key)
    if codes is None or painted is None:
        if codes is not None:
            raise UserError("the painter was still showing another scan or slice; nothing was changed, try again")
        return s.region if s.region is not None and s.region.shape == shape else np.zeros(shape, bool)
    region = _write_codes(s, painted, codes)
    if (painted.axis, painted.index) == (s.axis, s.index):
        s.region = region
        return region
    return np.zeros(shape, bool)


def _write_codes(s: Session, painted: PT.Painted, codes: np.ndarray) -> np.ndarray:
    """Put the labels of ``codes`` (of view ``painted``) into the label volume; return their region."""
    labels, region = PT.read_codes(codes, painted, num_classes(s))
    if s.labels is not None or labels.any():
        if s.labels is None:
            s.labels = np.zeros(np.asarray(s.scan.volume).shape, np.uint8)
        LV.put(s.labels, painted.axis, painted.index, labels)
    return region


def view_for(s: Session, level: float, width: float, region: np.ndarray | None = None) -> str:
    """The painter's view of the current slice (remembered by its key, to read the strokes against)."""
    image = unit_slice(s, level, width)
    geometry = geometry_for(s.scan, s.axis, image.shape)
    s.draws += 1
    view, painted = PT.view_payload(image, label_slice(s), region, geometry, s.label_names, s.view_key(),
                                    s.opacity, s.outline, (s.axis, s.index))
    s.recent[painted.key] = painted
    while len(s.recent) > RECENT_VIEWS:
        s.recent.pop(next(iter(s.recent)))
    s.region = region
    return view


def _level_width_sliders(s: Session, preset: str) -> tuple[Any, Any, float, float]:
    vol = np.asarray(s.scan.volume)
    lo, hi = float(vol.min()), float(vol.max())
    level, width = LV.level_width_for(s.scan, preset)
    if s.scan.modality == "CT":
        lo, hi = min(lo, -1200.0), max(hi, 2000.0)
    lo, hi = min(lo, level - width / 2), max(hi, level + width / 2)  # the window itself fits the sliders
    span = max(hi - lo, 1e-3)
    step = span / 1000
    level, width = float(np.clip(level, lo, hi)), float(np.clip(width, step, 2 * span))
    return (gr.Slider(minimum=lo, maximum=hi, value=level, step=step),
            gr.Slider(minimum=step, maximum=2 * span, value=width, step=step), level, width)


def slice_slider(n: int, value: int) -> Any:
    """Slice slider for ``n`` slices (a single slice leaves it fixed at 0)."""
    return gr.Slider(minimum=0, maximum=max(n - 1, 1), value=value, step=1, interactive=n > 1,
                     label=f"Slice ({n} in this direction)" if n > 1 else "Slice (single-slice image)")


LOADED_OUTPUTS = 10  # what _after_load returns: session, slice, axis, window, level, width, header, view,
#                     legend, status


def _after_load(s: Session, scan: Any) -> tuple:
    s.scan = scan
    s.labels = None if scan.labels is None else np.asarray(scan.labels).astype(np.uint8)
    names = tuple(scan.label_names) if scan.label_names else DEFAULT_CLASSES
    s.label_names = names if len(names) >= 2 else DEFAULT_CLASSES
    s.axis = 0
    s.index = LV.n_slices(scan, 0) // 2
    s.result = {}
    s.auto_labelled = set()
    s.scan_id = uuid.uuid4().hex[:12]
    s.recent, s.region = {}, None
    preset = LV.default_window(scan)
    level_u, width_u, level, width = _level_width_sliders(s, preset)
    z = LV.n_slices(scan, 0)
    status = f"Loaded {scan.modality} {scan.source_format}: {z} slice(s) of {scan.shape[1]}×{scan.shape[2]}."
    if scan.labels is not None:
        status += " Dataset labels attached."
    return (s, slice_slider(z, s.index),
            "axial", preset, level_u, width_u, LV.header_rows(scan), view_for(s, level, width),
            legend_html(s.label_names), status)


@friendly("read the uploaded file", keep=LOADED_OUTPUTS + 1, clear=1)
def on_upload(files: Any, s: Session) -> tuple:
    """The loaded outputs, then the upload box, emptied either way: the next upload is read on its own and
    replaces this scan (the status line names what is loaded)."""
    if not files:
        raise UserError("no file was uploaded")
    return (*_after_load(s, LV.read_upload(files)), None)


@friendly("load the example", keep=LOADED_OUTPUTS)
def on_example(name: str, s: Session) -> tuple:
    loaders = LV.example_loaders()
    if name not in loaders:
        raise UserError(f"unknown example {name!r}")
    return _after_load(s, loaders[name]())


@friendly("change the slice")
def on_view(s: Session, axis: str, index: float, level: float, width: float, strokes: str | None = None) -> tuple:
    """Slice or window changed: keep the painted labels of the slice the painter showed, show the new one."""
    need_scan(s)
    region = commit_strokes(s, strokes)
    new_axis = LV.AXES.get(axis, 0)
    same = new_axis == s.axis and int(index) == s.index
    s.axis, s.index = new_axis, int(np.clip(int(index), 0, LV.n_slices(s.scan, new_axis) - 1))
    return s, view_for(s, level, width, region if same else None)


@friendly("change the axis")
def on_axis(s: Session, axis: str, level: float, width: float, strokes: str | None = None) -> tuple:
    """Another axis: its middle slice. The painter's strokes are kept first, on the slice they were painted on."""
    need_scan(s)
    commit_strokes(s, strokes)
    s.axis = LV.AXES.get(axis, 0)
    n = LV.n_slices(s.scan, s.axis)
    s.index = n // 2
    return s, slice_slider(n, s.index), view_for(s, level, width)


@friendly("apply the window")
def on_preset(s: Session, preset: str) -> tuple:
    need_scan(s)
    if preset == LV.MANUAL:
        return gr.Slider(), gr.Slider()
    return _level_width_sliders(s, preset)[:2]


@friendly("compute automatic labels")
def on_auto_labels(s: Session, level: float, width: float, strokes: str | None = None) -> tuple:
    """Segment the current slice with the bundled U-Net and put the result on the label layer (the painted region
    stays)."""
    need_scan(s)
    region = commit_strokes(s, strokes)
    seg = tasks.segmenter()
    if seg is None:
        raise UserError(f"the segmentation checkpoint {tasks.SEGMENTER!r} is not installed")
    lab = tasks.segment_labels(unit_slice(s, level, width), seg)
    names = tasks.card_value(seg.card, "label_classes")
    if names:
        s.label_names = tuple(names)
    if s.labels is None:
        s.labels = np.zeros(np.asarray(s.scan.volume).shape, np.uint8)
    LV.put(s.labels, s.axis, s.index, lab)
    s.auto_labelled.add((s.axis, s.index))  # metrics against them are agreement with the U-Net, not accuracy
    return (s, view_for(s, level, width, region), legend_html(s.label_names),
            "Auto-labels from the U-Net: edit them.")


@friendly("restore the dataset labels")
def on_dataset_labels(s: Session, level: float, width: float, strokes: str | None = None) -> tuple:
    need_scan(s)
    if s.scan.labels is None:
        raise UserError("this scan has no labels of its own; use Auto-labels or load a label map")
    region = commit_strokes(s, strokes)
    if s.labels is None:
        s.labels = np.zeros(np.asarray(s.scan.volume).shape, np.uint8)
    LV.put(s.labels, s.axis, s.index, LV.take(np.asarray(s.scan.labels), s.axis, s.index).astype(np.uint8))
    s.auto_labelled.discard((s.axis, s.index))
    return s, view_for(s, level, width, region), "Dataset labels restored on this slice."


@friendly("clear the labels")
def on_clear_labels(s: Session, level: float, width: float, strokes: str | None = None) -> tuple:
    need_scan(s)
    region = commit_strokes(s, strokes)
    if s.labels is not None:
        LV.put(s.labels, s.axis, s.index, np.zeros_like(LV.take(s.labels, s.axis, s.index)))
    return s, view_for(s, level, width, region)


@friendly("clear the region")
def on_clear_region(s: Session, level: float, width: float, strokes: str | None = None) -> tuple:
    need_scan(s)
    commit_strokes(s, strokes)  # the labels painted so far stay
    return s, view_for(s, level, width, None)


@friendly("read the label map", keep=4, clear=1)
def on_label_file(path: str | None, s: Session, level: float, width: float, strokes: str | None = None) -> tuple:
    need_scan(s)
    if not path:
        raise UserError("no label file was given")
    region = commit_strokes(s, strokes)
    shape = LV.take(np.asarray(s.scan.volume), s.axis, s.index).shape
    lab = A.read_label_file(str(path), shape, num_classes(s))
    s.auto_labelled.discard((s.axis, s.index))
    if s.labels is None:
        s.labels = np.zeros(np.asarray(s.scan.volume).shape, np.uint8)
    LV.put(s.labels, s.axis, s.index, lab)
    return s, view_for(s, level, width, region), None  # the box is emptied: the map is on the painter


@friendly("save the label map")
def on_save_labels(s: Session, strokes: str | None) -> tuple:
    """The current slice's labels as PNG (pixel value = class) and the whole label volume as NIfTI."""

    need_scan(s)
    commit_strokes(s, strokes)
    lab = label_slice(s)
    if lab is None or s.labels is None:
        raise UserError("there is no label map on this slice yet")
    folder = out_dir()
    png = A.save_label_png(lab, folder)
    nii = write_nifti(folder / "labels.nii.gz", s.labels, np.asarray(s.scan.affine, float), True,
                      orientation=getattr(s.scan, "orientation", "RAS"))
    return s, [png, str(nii)]


@friendly("change the label overlay")
def on_overlay(s: Session, opacity: float, outline: bool) -> Session:
    """Label overlay opacity / outline changed (the browser has already redrawn): remember it for later views."""
    s.opacity, s.outline = float(np.clip(opacity, PT.MIN_OPACITY, 1.0)), bool(outline)
    return s
