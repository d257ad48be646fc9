"""Named API endpoints for ``gradio_client``: /synthesize, /inpaint, /segment, /enhance, /generate.

Each takes files (DICOM / NIfTI / PNG / JPEG / TIFF; volumes use their middle slice unless ``slice_index`` ≥ 0)
and returns a PNG (8-bit grey image, or for /segment the label map with pixel value = class) plus the metrics
as JSON, with ``in_domain`` / ``domain_score`` (≤ 1 passes) and, out of domain, ``domain_warning``
(medgan.domain): out-of-domain inputs still run. Images are normalised as in the Studio (medgan.domain.normalise)
and label maps read as in the Studio (medgan.ui.label_files); either under ``medgan.io.MIN_SIDE`` px on a side is
refused. A refused input is a ``gr.Error`` the client sees. The components live in a hidden column; only these
five events are public.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr
import numpy as np

from medgan import tasks
from medgan.data.corruptions import square_hole
from medgan.defaults import DEFAULT_MODELS
from medgan.domain import check, normalise
from medgan.inference import find_card
from medgan.io import check_min_side, read_scan
from medgan.tasks.encode import card_value
from medgan.ui.common import DEFAULT_CLASSES, UserError, friendly, to_uint8
from medgan.ui.label_files import read_label_map, read_region_map
from medgan.ui.run_panel import out_dir

logger = logging.getLogger(__name__)


def _path(f: Any) -> str | None:
    if f is None:
        return None
    if isinstance(f, dict):
        return f.get("path") or f.get("name")
    return str(getattr(f, "name", f))


def read_image(f: Any, slice_index: int = -1) -> np.ndarray:
    """A scan file → one slice float32 (H, W) in [0, 1], normalised as the models' inputs (medgan.domain)."""
    return read_image_scan(f, slice_index)[0]


def read_image_scan(f: Any, slice_index: int = -1) -> tuple[np.ndarray, Any]:
    """(slice, scan): the slice normalised by :func:`medgan.domain.normalise` (the one input normalisation:
    8-bit display pictures 0..255, CT the soft-tissue window, anything else the 0.5–99.5 percentiles of the
    non-zero voxels) and the Scan. Images under MIN_SIDE px on a side are refused."""
    path = _path(f)
    if not path:
        raise UserError("an image file is required")
    scan = read_scan(path)
    n, h, w = np.asarray(scan.volume).shape
    check_min_side(h, w, "image")
    i = n // 2 if slice_index is None or slice_index < 0 else int(slice_index)
    if i >= n:
        raise UserError(f"slice_index {i} is out of range: the scan has {n} slice(s)")
    return normalise(scan)[i], scan


def _domain(img: np.ndarray | None, scan: Any, model: str) -> dict[str, Any]:
    """in_domain / domain_score (/ domain_warning) for the metrics JSON (None when there is no input image)."""
    if img is None:
        return {"in_domain": None, "domain_score": None}
    return check(img, model, scan).api()


def _classes(model: str) -> int:
    """Label classes of a checkpoint (its card's; the bundled 4 when the card names none or is unknown)."""
    try:
        names = card_value(find_card(model), "label_classes")
    except ValueError:
        names = None
    return len(names) if names else len(DEFAULT_CLASSES)


def read_labels(f: Any, slice_index: int = -1, num_classes: int = len(DEFAULT_CLASSES)) -> np.ndarray:
    """A label-map file → uint8 (H, W) classes (:func:`medgan.ui.label_files.read_label_map`: indices, display
    values k·255/(K-1) or the app's class colours; anything else is refused)."""
    path = _path(f)
    if not path:
        raise UserError("a label map file is required")
    return read_label_map(path, num_classes, slice_index)


def read_mask(f: Any, shape: tuple[int, int]) -> np.ndarray:
    """A region file (any non-zero pixel = to fill) or, when absent, a centred square hole (50 px at 256)."""

    path = _path(f)
    if path is None:
        return square_hole(shape, center=(shape[0] // 2, shape[1] // 2))
    m = read_region_map(path)
    if m.shape != shape:
        raise UserError(f"the region mask is {m.shape[0]}×{m.shape[1]} but the image is {shape[0]}×{shape[1]}")
    return m


def _png(img: np.ndarray, name: str) -> str:
    from PIL import Image

    path = out_dir() / name
    Image.fromarray(img, mode="L").save(path)
    return str(path)


def _json(metrics: dict[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if np.isfinite(v) else None) for k, v in metrics.items()}


@friendly("synthesize")
def api_synthesize(label_map: Any, model: str, seed: float, reference: Any, slice_index: float) -> tuple:
    """Label map file (PNG with class values, NIfTI, DICOM SEG) → synthetic image PNG + metrics."""
    model = model or DEFAULT_MODELS["synthesis"]
    labels = read_labels(label_map, int(slice_index), _classes(model))
    ref, scan = read_image_scan(reference, int(slice_index)) if _path(reference) else (None, None)
    r = tasks.synthesize(labels, model, seed=int(seed or 0), reference=ref)
    return _png(to_uint8(r.output), "synthesis.png"), {**_json(r.metrics), **_domain(ref, scan, model)}


@friendly("inpaint")
def api_inpaint(image: Any, region: Any, model: str, labels: Any, slice_index: float) -> tuple:
    """Image file + region mask file (non-zero = fill; none = centred square) → inpainted PNG + metrics."""
    img, scan = read_image_scan(image, int(slice_index))
    mask = read_mask(region, img.shape)
    model = model or DEFAULT_MODELS["inpainting"]
    lab = read_labels(labels, int(slice_index), _classes(model)) if _path(labels) else None
    r = tasks.inpaint(img, mask, model, labels=lab)
    return _png(to_uint8(r.output), "inpainting.png"), {**_json(r.metrics), **_domain(img, scan, model)}


@friendly("segment")
def api_segment(image: Any, model: str, reference_labels: Any, slice_index: float) -> tuple:
    """Image file → label map PNG (pixel value = class) + Dice / IoU vs the reference labels when given."""
    img, scan = read_image_scan(image, int(slice_index))
    model = model or DEFAULT_MODELS["segmentation"]
    ref = read_labels(reference_labels, int(slice_index), _classes(model)) if _path(reference_labels) else None
    r = tasks.segment(img, model, reference_labels=ref)
    return _png(r.labels.astype(np.uint8), "segmentation.png"), {**_json(r.metrics), **_domain(img, scan, model)}


@friendly("enhance")
def api_enhance(image: Any, model: str, degradation: str, degrade: bool, slice_index: float) -> tuple:
    """Image file → enhanced PNG + metrics. degrade=True degrades the (clean) image first and reports PSNR/SSIM
    of input and output; degrade=False treats the file as already degraded."""
    img, scan = read_image_scan(image, int(slice_index))
    model = model or DEFAULT_MODELS["enhancement"]
    r = tasks.enhance(img, model, degradation=degradation or None, degrade=bool(degrade))
    return _png(to_uint8(r.output), "enhancement.png"), {**_json(r.metrics), **_domain(img, scan, model)}


@friendly("generate")
def api_generate(model: str, n: float, seed: float) -> tuple:
    """N samples from noise → PNGs: each image followed by its label map (pixel value = class) + metrics."""
    results = tasks.generate(model or DEFAULT_MODELS["generation"], n=int(n or 1), seed=int(seed or 0))
    files = []
    for i, r in enumerate(results):
        files.append(_png(to_uint8(r.output), f"sample_{i:02d}.png"))
        if r.labels is not None:
            files.append(_png(r.labels.astype(np.uint8), f"sample_{i:02d}_labels.png"))
    keys = sorted({k for r in results for k in r.metrics})
    metrics = {k: float(np.mean([r.metrics[k] for r in results if k in r.metrics])) for k in keys}
    return files, _json(metrics)


def build_api() -> None:
    """Hidden components and the five public endpoints (call inside the app's Blocks)."""
    with gr.Column(visible=False):
        f_img = gr.File(label="image", file_types=None)
        f_lab = gr.File(label="label_map")
        f_ref = gr.File(label="reference")
        f_reg = gr.File(label="region")
        model = gr.Textbox(label="model")
        seed = gr.Number(0, label="seed", precision=0)
        n = gr.Number(4, label="n", precision=0)
        slice_index = gr.Number(-1, label="slice_index", precision=0)
        degradation = gr.Textbox("", label="degradation")
        degrade = gr.Checkbox(True, label="degrade")
        out_img = gr.Image(label="image", type="filepath", format="png")
        out_files = gr.File(label="images", file_count="multiple")
        out_json = gr.JSON(label="metrics")
        buttons = [gr.Button(visible=False) for _ in range(5)]
    kw: dict[str, Any] = {"api_visibility": "public", "concurrency_limit": 2, "concurrency_id": "model"}
    buttons[0].click(api_synthesize, [f_lab, model, seed, f_ref, slice_index], [out_img, out_json],
                     api_name="synthesize", api_description=api_synthesize.__doc__, **kw)
    buttons[1].click(api_inpaint, [f_img, f_reg, model, f_lab, slice_index], [out_img, out_json],
                     api_name="inpaint", api_description=api_inpaint.__doc__, **kw)
    buttons[2].click(api_segment, [f_img, model, f_ref, slice_index], [out_img, out_json],
                     api_name="segment", api_description=api_segment.__doc__, **kw)
    buttons[3].click(api_enhance, [f_img, model, degradation, degrade, slice_index], [out_img, out_json],
                     api_name="enhance", api_description=api_enhance.__doc__, **kw)
    buttons[4].click(api_generate, [model, n, seed], [out_files, out_json], api_name="generate",
                     api_description=api_generate.__doc__, **kw)
