"""The Train tab's data section: where the training data comes from, and for an uploaded zip a preview before
any job starts (counts, image sizes, label values, a few image/label pairs over the class colours) and the choice
to remove the upload once the job has finished.

``build_data_inputs()`` is called inside the Train tab's form column. Named API endpoint for ``gradio_client``:
``/train_data_preview(upload, task, init_from)`` → (summary markdown, gallery of pairs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np

from medgan.jobs.data import DataChoiceError, UploadPreview, preview_upload, server_folders, server_root
from medgan.ui.common import grey_rgb, overlay
from medgan.ui.train_choices import num_classes

log = logging.getLogger(__name__)

DATA_LABELS = {"embedded": "embedded brain MRI (MNI152)", "phantoms": "procedural phantoms (quick demo)",
               "upload": "upload a zip", "server": "server folder"}
PREVIEW_SIDE = 160  # px: each preview picture is scaled (nearest neighbour) to about this height


@dataclass
class DataInputs:
    """The form's data components, in the order ``start_job`` takes them (``remove_data`` last)."""

    source: gr.Radio
    upload: gr.File
    server_folder: gr.Dropdown
    remove_data: gr.Checkbox


def _scaled(rgb: np.ndarray) -> np.ndarray:
    """Nearest-neighbour enlargement of a small picture so its pixels stay visible in the gallery."""
    k = max(1, PREVIEW_SIDE // max(1, rgb.shape[0]))
    return np.repeat(np.repeat(rgb, k, axis=0), k, axis=1) if k > 1 else rgb


def pair_picture(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The image beside the same image with its labels in the class colours: uint8 RGB (H, 2W + 4, 3)."""
    gap = np.full((image.shape[0], 4, 3), 255, np.uint8)
    return _scaled(np.concatenate([grey_rgb(image), gap, overlay(image, labels)], axis=1))


def preview_markdown(p: UploadPreview, classes: int | None) -> str:
    """Counts, image sizes and label values of an uploaded dataset, in plain words."""
    sizes = ", ".join(f"{k} ({n} case{'s' if n != 1 else ''})" for k, n in
                      sorted(p.image_sizes.items(), key=lambda kv: -kv[1]))
    values = ", ".join(map(str, p.label_values))
    lines = [f"**Data preview** — {p.cases} case(s), {p.slices} labelled slice(s), layout `{p.layout}`",
             f"- image size{'s' if len(p.image_sizes) != 1 else ''}: {sizes}",
             f"- label values found: {values}" + (f" (this run uses {classes} classes, 0–{classes - 1})"
                                                  if classes else "")]
    lines += [f"- ⚠️ {w}" for w in p.warnings[:5]]
    lines.append(f"- below: {len(p.pairs)} pair(s), image and labels over it; nothing is queued until you "
                 "press Start training")
    return "\n".join(lines)


def preview_data(upload: str | None, task: str, init_from: str | None) -> tuple[str, list[Any]]:
    """Extract and check an uploaded zip and show what it holds; refusals say why (nothing is kept then)."""
    if not upload:
        return "", []
    classes = num_classes(task, init_from)
    try:
        p = preview_upload(upload, classes)
    except DataChoiceError as exc:
        gr.Warning(str(exc))
        return f"❌ **This zip cannot be used:** {exc}", []
    except Exception as exc:  # noqa: BLE001 - plain words on screen, the trace in the log
        log.exception("could not preview an uploaded zip")
        return f"❌ **This zip cannot be used:** unexpected error ({type(exc).__name__}: {exc})", []
    gallery = [(pair_picture(img, lab), f"{case} · {img.shape[0]}×{img.shape[1]} · labels "
                                        f"{', '.join(map(str, np.unique(lab).tolist()))}")
               for case, img, lab in p.pairs]
    return preview_markdown(p, classes), gallery


def build_data_inputs(task: gr.Dropdown, init_from: gr.Dropdown) -> DataInputs:
    """The data choice, the upload with its preview and removal option, and the server folder picker."""
    sources = ["embedded", "phantoms", "upload"] + (["server"] if server_root() else [])
    source = gr.Radio([(DATA_LABELS[s], s) for s in sources], value="embedded", label="Data", elem_id="train-data")
    with gr.Group(visible=False) as upload_box:
        upload = gr.File(label="Zip of PNG pairs (images/ + masks/) or NIfTI image + label pairs (ACDC)",
                         file_types=[".zip"], type="filepath", elem_id="train-upload")
        remove_data = gr.Checkbox(True, label="Remove the uploaded data when the job finishes",
                                  elem_id="train-upload-remove",
                                  info="Frees the server's disk; a cancelled or failed job keeps it so it can "
                                       "resume. Uploads no job uses are removed after a day.")
        summary = gr.Markdown(elem_id="train-data-preview")
        gallery = gr.Gallery(label="Image | labels in class colours", columns=2, height=260, object_fit="contain",
                             elem_id="train-data-gallery", interactive=False)
    server_folder = gr.Dropdown(server_folders(), label="Server folder", visible=bool(server_root()),
                                allow_custom_value=True)
    source.change(lambda s: (gr.update(visible=s == "upload"), gr.update(visible=s == "server" and bool(server_root()))),
                  source, [upload_box, server_folder], api_visibility="private")
    upload.change(preview_data, [upload, task, init_from], [summary, gallery], api_name="train_data_preview",
                  concurrency_limit=2)
    return DataInputs(source=source, upload=upload, server_folder=server_folder, remove_data=remove_data)
