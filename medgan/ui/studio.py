"""The Studio tab: load and view a scan, paint labels or a region, run a task, compare, export."""

from __future__ import annotations

import logging

import gradio as gr

from medgan.ui import export as E
from medgan.ui import load_view as LV
from medgan.ui import painter as PT
from medgan.ui import run_handlers as R
from medgan.ui import studio_handlers as H
from medgan.ui.common import DEFAULT_CLASSES, Session, legend_html
from medgan.ui.geometry import CANVAS
from medgan.ui.run_panel import DEGRADATION_LABELS, TASK_LABELS

logger = logging.getLogger(__name__)

PRIVATE = {"api_visibility": "private"}


def with_strokes(inputs: list, component: gr.components.Component) -> str:
    """The browser-side ``js`` of an event: put the painter's strokes (painter.js ``mgStrokes``) in place of
    ``component`` among the event's ``inputs`` before it leaves."""
    return f"(...a) => window.mgWithStrokes({inputs.index(component)}, {len(inputs)}, a)"


def build_studio_tab() -> None:
    """Lay out the Studio inside the current ``gr.Tab`` and wire its events (none is a public API endpoint)."""
    session = gr.State(Session())
    gr.Markdown("Load a scan, paint labels (or a region to fill), pick a task and a GAN, compare, export.",
                elem_classes=["mg-lead"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=280, elem_classes=["mg-panel"]):
            gr.Markdown("### 1 · Load")
            upload = gr.File(label="Scan: DICOM (files or zip), NIfTI, PNG/JPEG/TIFF", file_count="multiple",
                             file_types=LV.SCAN_SUFFIXES, height=175, elem_id="mg-upload")
            examples = list(LV.example_loaders())
            with gr.Row():
                example = gr.Dropdown(examples, value=examples[0], label="Example", scale=3, elem_id="mg-example")
                load_example = gr.Button("Load", scale=1, min_width=60, elem_id="mg-load-example")
            axis = gr.Radio(list(LV.AXES), value="axial", label="Axis")
            index = gr.Slider(0, 1, value=0, step=1, label="Slice", elem_id="mg-slice",
                              info="mouse wheel over the painter or arrow keys")
            preset = gr.Dropdown(LV.WINDOW_CHOICES, value=LV.AUTO, label="Window")
            with gr.Row():
                level = gr.Slider(0, 1, value=0.5, label="Level", step=0.001)
                width = gr.Slider(0.001, 2, value=1.0, label="Width", step=0.001)
            header = gr.Dataframe(headers=["field", "value"], label="Header (de-identified)", interactive=False,
                                  wrap=True, max_height=220)
        with gr.Column(scale=6, min_width=420, elem_classes=["mg-panel"]):
            gr.Markdown("### 2 · Annotate")
            gr.HTML(PT.html(CANVAS), elem_id="mg-editor", js_on_load=None)  # painter.js draws on it
            view = gr.Textbox(visible="hidden", elem_id="mg-view")  # the slice the painter shows (painter.py)
            strokes = gr.Textbox(visible="hidden", elem_id="mg-strokes")  # filled by the browser: what was painted
            legend = gr.HTML(legend_html(DEFAULT_CLASSES))
            with gr.Row():
                opacity = gr.Slider(PT.MIN_OPACITY, 1.0, value=0.4, step=0.05, label="Label opacity", scale=3,
                                    elem_id="mg-opacity")
                outline = gr.Checkbox(False, label="Outline only", scale=1, min_width=100, elem_id="mg-outline")
            with gr.Row():
                auto_btn = gr.Button("Auto-labels (U-Net)", size="sm", elem_id="mg-auto")
                data_btn = gr.Button("Dataset labels", size="sm")
                clear_btn = gr.Button("Clear labels", size="sm")
                clear_region_btn = gr.Button("Clear region", size="sm")
            with gr.Row():
                label_file = gr.File(label="Load a label map (PNG / NIfTI)", file_types=[".png", ".nii", ".gz",
                                                                                        ".dcm", ".tif"],
                                     height=140, scale=2, elem_id="mg-label-file")
                with gr.Column(scale=1, min_width=120):
                    save_labels_btn = gr.Button("Save label map", size="sm")
                    saved_labels = gr.File(label="labels: slice PNG (value = class) + volume NIfTI",
                                           file_count="multiple", height=140, elem_id="mg-saved-labels")
        with gr.Column(scale=3, min_width=280, elem_classes=["mg-panel"]):
            gr.Markdown("### 3 · Run")
            task = gr.Radio(list(TASK_LABELS.values()), value=TASK_LABELS["synthesis"], label="Task",
                            elem_id="mg-task")
            model = gr.Dropdown([], label="Checkpoint", elem_id="mg-model")
            card = gr.Markdown(elem_classes=["mg-card"])
            degradation = gr.Dropdown([("from the checkpoint", "")] + [(v, k) for k, v in DEGRADATION_LABELS.items()],
                                      value="", label="Degradation", visible=False)
            already = gr.Checkbox(False, label="input is already degraded (do not degrade it again)", visible=False)
            with gr.Row():
                seed = gr.Number(0, label="Seed", precision=0, minimum=0)
                n = gr.Number(8, label="Samples", precision=0, minimum=1, maximum=64, visible=False)
            run_btn = gr.Button("Run on slice", variant="primary", elem_id="mg-run")
            vol_btn = gr.Button("Run on whole volume", elem_id="mg-run-volume")
            status = gr.Markdown(elem_id="mg-status")
    gr.Markdown("### 4 · Compare")
    with gr.Row():
        original = gr.Image(label="Original", type="numpy", format="png", interactive=False, height=300,
                            elem_id="mg-original")
        inp = gr.Image(label="Input (what the model saw)", type="numpy", format="png", interactive=False, height=300)
        output = gr.Image(label="Output", type="numpy", format="png", interactive=False, height=300,
                          elem_id="mg-output")
        diff = gr.Image(label="|output − original|", type="numpy", format="png", interactive=False, height=300)
    gallery = gr.Gallery(label="Generated samples", columns=8, height=520, visible=False, format="png",
                         object_fit="contain", elem_id="mg-gallery")  # a whole sample row (image, labels, U-Net) in view
    with gr.Row(equal_height=False):
        slider = gr.ImageSlider(label="Before / after", type="numpy", format="png", max_height=360, scale=1)
        with gr.Column(scale=1):
            # long names wrap so the value column stays in view (it was pushed past the panel's edge)
            metrics = gr.Dataframe(headers=["metric", "value"], label="Metrics", interactive=False,
                                   elem_id="mg-metrics", max_height=300, wrap=True, column_widths=["72%", "28%"])
        plot = gr.Plot(label="Chart", scale=1)
    with gr.Row():
        pin_btn = gr.Button("Pin this run", size="sm", scale=0, min_width=140)
        unpin_btn = gr.Button("Clear pinned", size="sm", scale=0, min_width=140)
    pinned = gr.Dataframe(value=R.pinned_initial(), label="Pinned runs (compare GANs on the same input)",
                          interactive=False, wrap=True)
    gr.Markdown("### 5 · Export")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=200):
            png_btn = gr.Button("PNG", size="sm")
            nii_btn = gr.Button("NIfTI (source geometry)", size="sm")
            dcm_btn = gr.Button("DICOM (marked synthetic)", size="sm")
            csv_btn = gr.Button("Metrics CSV", size="sm")
        export_file = gr.File(label="Download", file_count="multiple", height=170, scale=3,
                              elem_id="mg-export")

    loaded = [session, index, axis, preset, level, width, header, view, legend, status]
    upload.upload(H.on_upload, [upload, session], [*loaded, upload], **PRIVATE)
    load_example.click(H.on_example, [example, session], loaded, **PRIVATE)
    view.change(None, [view], None, js="(v) => window.mgShow(v)", **PRIVATE)  # painter.js draws each new view
    # Slice, window, axis and overlay changes: the browser puts the painter's strokes among the inputs (nothing
    # is uploaded, nothing waits on the painter); scrolling sends only the latest position.
    view_in = [session, axis, index, level, width, strokes]
    view_out = [session, view]
    fast = {"trigger_mode": "always_last", "show_progress": "hidden", **PRIVATE}
    for trigger in (index.input, level.input, width.input):
        trigger(H.on_view, view_in, view_out, js=with_strokes(view_in, strokes), **fast)
    axis_in = [session, axis, level, width, strokes]
    axis.input(H.on_axis, axis_in, [session, index, view], js=with_strokes(axis_in, strokes), **PRIVATE)
    preset.input(H.on_preset, [session, preset], [level, width], **PRIVATE).then(
        H.on_view, view_in, view_out, js=with_strokes(view_in, strokes), **fast)
    style_js = "(s, o, l) => { window.mgStyle(o, l); return [s, o, l]; }"  # redrawn at once in the browser
    opacity.input(H.on_overlay, [session, opacity, outline], [session], js=style_js, **fast)
    outline.input(H.on_overlay, [session, opacity, outline], [session], js=style_js, **fast)
    lw = [session, level, width, strokes]  # the strokes so far are kept first (a painted region stays)
    lw_js = {"js": with_strokes(lw, strokes), **PRIVATE}
    auto_btn.click(H.on_auto_labels, lw, [*view_out, legend, status], **lw_js)
    data_btn.click(H.on_dataset_labels, lw, [*view_out, status], **lw_js)
    clear_btn.click(H.on_clear_labels, lw, view_out, **lw_js)
    clear_region_btn.click(H.on_clear_region, lw, view_out, **lw_js)
    file_in = [label_file, *lw]
    label_file.upload(H.on_label_file, file_in, [*view_out, label_file], js=with_strokes(file_in, strokes),
                      **PRIVATE)
    save_in = [session, strokes]
    save_labels_btn.click(H.on_save_labels, save_in, [session, saved_labels], js=with_strokes(save_in, strokes),
                          **PRIVATE)

    task_out = [model, card, degradation, already, n, vol_btn]
    task.change(R.on_task, [task], task_out, **PRIVATE)
    model.change(R.on_model, [model], [card], **PRIVATE)
    run_in = [session, strokes, task, model, degradation, already, seed, n, level, width]
    run_out = [session, original, inp, output, slider, diff, metrics, plot, gallery, status]
    run_js = with_strokes(run_in, strokes)
    run_btn.click(R.on_run_slice, run_in, run_out, js=run_js, concurrency_limit=2, concurrency_id="model",
                  **PRIVATE)
    vol_btn.click(R.on_run_volume, run_in, run_out, js=run_js, concurrency_limit=1, concurrency_id="volume",
                  **PRIVATE)
    pin_btn.click(R.on_pin, [session], [session, pinned], **PRIVATE)
    unpin_btn.click(R.on_unpin, [session], [session, pinned], **PRIVATE)
    png_btn.click(E.on_export_png, [session], [export_file], **PRIVATE)
    nii_btn.click(E.on_export_nifti, [session], [export_file], **PRIVATE)
    dcm_btn.click(E.on_export_dicom, [session], [export_file], **PRIVATE)
    csv_btn.click(E.on_export_csv, [session], [export_file], **PRIVATE)

    demo = gr.context.Context.root_block
    if demo is not None:
        demo.load(H.on_example, [example, session], loaded, **PRIVATE).then(
            R.on_task, [task], task_out, **PRIVATE)
