"""Compare: side-by-side images, before/after slider, difference map, metrics table, plotly chart, pinned runs.

:func:`compare_view` decides what each panel of the compare row shows for a task, under a title that says what
it is; generation has no original or input, so its row shows the samples and their label maps instead."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from medgan.data.brain import CLASS_NAMES
from medgan.ui.common import diff_heatmap, grey_rgb, labels_rgb, overlay

METRIC_COLUMNS = ["metric", "value"]
PANELS = ("original", "input", "output", "diff", "slider")
TITLES: dict[str, dict[str, str]] = {
    "synthesis": {"original": "Original slice", "input": "Input: label map (what the model saw)",
                  "output": "Output: synthesised image", "diff": "|output − original slice|",
                  "slider": "Before / after: original slice → synthesised image"},
    "inpainting": {"original": "Original slice", "input": "Input: the region blanked (what the model saw)",
                   "output": "Output: the region filled", "diff": "|output − original slice|",
                   "slider": "Before / after: original slice → region filled"},
    "segmentation": {"original": "Original slice", "input": "Input: the slice (what the model saw)",
                     "output": "Output: predicted labels over the slice",
                     "diff": "Foreground disagreement: predicted vs reference labels",
                     "slider": "Before / after: slice → predicted labels"},
    "enhancement": {"original": "Original slice", "input": "Input: degraded slice (what the model saw)",
                    "output": "Output: restored image", "diff": "|output − original slice|",
                    "slider": "Before / after: original slice → restored image"},
    "generation": {"output": "Sample 0: generated image"},
}
GALLERY_TITLES = ("Generated samples", "Generated samples: image · its generated label map",
                  "Generated samples: image · its generated label map · the U-Net's labels of the image")


@dataclass
class CompareView:
    """The compare row for one run: a picture (uint8 RGB) per shown panel of :data:`PANELS` (``slider``: the
    before/after pair) under ``titles``, the panels in ``hidden`` left out; the gallery items (picture, caption)
    with ``columns`` pictures per sample; the metrics of the table and the chart."""

    pictures: dict[str, Any]
    titles: dict[str, str]
    hidden: set[str] = field(default_factory=set)
    gallery: list[tuple[np.ndarray, str]] = field(default_factory=list)
    columns: int = 1
    metrics: dict[str, float] = field(default_factory=dict)


def sample_metrics(samples: list[Any]) -> dict[str, float]:
    """The generation metrics of a run: each per-sample metric averaged over the samples, and their number."""
    keys = list(dict.fromkeys(k for x in samples for k in x.metrics))
    out = {k: float(np.mean([x.metrics[k] for x in samples if k in x.metrics])) for k in keys}
    out["samples"] = float(len(samples))
    return out


def compare_view(task: str, image: np.ndarray | None, labels: np.ndarray | None, result: Any,
                 samples: list[Any] | None = None) -> CompareView:
    """What the compare row shows after a run of ``task``: ``image`` / ``labels`` are the slice and its labels
    (None for generation), ``result`` a ``TaskResult``, ``samples`` the generated results (generation)."""
    if task == "generation":
        return _generation_view(samples or [result])
    pics = images_for(task, image, result.input_display, result.output, labels, result.labels)
    pics["slider"] = (pics["original"], pics["output"])
    hidden = {"diff"} if task == "segmentation" and (labels is None or not labels.any()) else set()
    return CompareView(pics, dict(TITLES[task]), hidden, metrics=dict(result.metrics))


def _generation_view(samples: list[Any]) -> CompareView:
    gallery: list[tuple[np.ndarray, str]] = []
    for i, x in enumerate(samples):
        gallery.append((enlarge(grey_rgb(x.output), 128), f"sample {i}: generated image"))
        if x.labels is not None:
            gallery.append((enlarge(labels_rgb(x.labels), 128), f"sample {i}: generated label map"))
        if getattr(x, "unet_labels", None) is not None:
            gallery.append((enlarge(labels_rgb(x.unet_labels), 128), f"sample {i}: U-Net labels of the image"))
    columns = max(1, min(3, len(gallery) // max(1, len(samples))))
    titles = {**TITLES["generation"], "gallery": GALLERY_TITLES[columns - 1]}
    return CompareView({"output": enlarge(grey_rgb(samples[0].output))}, titles,
                       {"original", "input", "diff", "slider"}, gallery, columns, sample_metrics(samples))


def metrics_frame(metrics: dict[str, float]) -> pd.DataFrame:
    """Metrics as a two-column table with readable numbers."""
    rows = [[k, _fmt(v)] for k, v in metrics.items()]
    return pd.DataFrame(rows or [["(no metrics for this input)", ""]], columns=METRIC_COLUMNS)


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.2f}" if abs(v) >= 10 else f"{v:.3f}"


def chart(task: str, metrics: dict[str, float], original: np.ndarray | None, output: np.ndarray | None,
          labels: np.ndarray | None = None) -> Any:
    """Per-class Dice bars when there are Dice values; a blind inpainting: the region's PSNR beside the
    biharmonic fill's (the formula the model is held to); for a segmentation with nothing to compare with, each
    class's share of the labelled pixels (a label map has no intensities; also when the only reference is the U-Net's
    own labels, against which its agreement is 1 by construction); else an intensity histogram of original vs
    output."""
    import plotly.graph_objects as go

    from medgan.domain import AGREEMENT

    dice = {k[5:]: v for k, v in metrics.items() if k.startswith("dice ") and not k.endswith("mean")}
    blind_fill = task == "inpainting" and not dice and "biharmonic region psnr" in metrics
    title = "Dice per class (vs reference labels)"
    own = False  # the only labels to compare with are the U-Net's own (Auto-labels)
    if not dice:  # Dice against the U-Net's own labels: agreement, not accuracy
        dice = {k[len(AGREEMENT) + 1:]: v for k, v in metrics.items()
                if k.startswith(AGREEMENT + " ") and not k.endswith("mean")}
        title = "Label agreement with the U-Net per class (not accuracy)"
        if task == "segmentation":  # the U-Net against its own Auto-labels: 1.00 by construction, so the chart
            own = bool(dice)  # shows what was predicted instead (the agreement stays in the table)
            dice = {}
    fig = go.Figure()
    if blind_fill:
        psnrs = [metrics["region psnr"], metrics["biharmonic region psnr"]]
        fig.add_bar(x=["this model", "biharmonic fill"], y=psnrs, marker_color=["#6366f1", "#94a3b8"],
                    text=[f"{v:.1f} dB" for v in psnrs], textposition="outside")
        fig.update_layout(title="Inside the region: PSNR vs the original slice", yaxis_title="dB",
                          yaxis_range=[0, max(psnrs) * 1.15 + 1])
    elif dice and task in ("synthesis", "segmentation", "inpainting", "generation"):
        fig.add_bar(x=list(dice), y=list(dice.values()), marker_color="#6366f1",
                    text=[f"{v:.2f}" for v in dice.values()], textposition="outside")
        fig.update_layout(title=title, yaxis_range=[0, 1.1])
    elif task == "segmentation" and labels is not None:
        counts = np.bincount(np.asarray(labels, dtype=np.int64).ravel(), minlength=len(CLASS_NAMES))[1:]
        share = counts / max(int(counts.sum()), 1)
        fig.add_bar(x=list(CLASS_NAMES[1:]), y=share, marker_color="#6366f1",
                    text=[f"{v:.0%}" for v in share], textposition="outside")
        reference = "<br>(the only labels are the U-Net's own)" if own else " (no reference labels)"
        fig.update_layout(title=f"Share of each predicted class{reference}",
                          yaxis_range=[0, 1.1])
    else:
        bins = np.linspace(0, 1, 51)
        for name, img, col in (("original", original, "#64748b"), ("output", output, "#f97316")):
            if img is not None:
                h, _ = np.histogram(img[img > 0.01] if (img > 0.01).any() else img, bins=bins, density=True)
                fig.add_scatter(x=(bins[:-1] + bins[1:]) / 2, y=h, name=name, mode="lines", line_color=col)
        fig.update_layout(title="Intensity histogram (non-zero pixels)", xaxis_title="intensity")
    fig.update_layout(height=300, margin=dict(l=40, r=10, t=40, b=40), template="plotly_white")
    return fig


def images_for(task: str, original: np.ndarray, input_display: np.ndarray | None, output: np.ndarray,
               in_labels: np.ndarray | None, out_labels: np.ndarray | None) -> dict[str, np.ndarray]:
    """RGB pictures for the compare row: original, input (labels / masked / degraded), output, difference."""
    if task == "synthesis":
        inp = labels_rgb(in_labels) if in_labels is not None else grey_rgb(input_display)
        out = grey_rgb(output)
        diff = diff_heatmap(output, original)
    elif task == "segmentation":
        inp = grey_rgb(original)
        out = overlay(original, out_labels)
        diff = diff_heatmap((out_labels > 0).astype(np.float32), (in_labels > 0).astype(np.float32)) \
            if in_labels is not None and out_labels is not None else diff_heatmap(original, original)
    else:
        inp = grey_rgb(input_display if input_display is not None else original)
        out = grey_rgb(output)
        diff = diff_heatmap(output, original)
    pics = {"original": grey_rgb(original), "input": inp, "output": out, "diff": diff}
    return {k: enlarge(v) for k, v in pics.items()}


def enlarge(rgb: np.ndarray, min_side: int = 256) -> np.ndarray:
    """Small pictures are enlarged by an integer factor (nearest) for display only."""
    f = int(np.ceil(min_side / max(1, min(rgb.shape[:2]))))
    if f <= 1:
        return rgb
    f = min(f, 8)
    return np.repeat(np.repeat(rgb, f, axis=0), f, axis=1)


def pin_row(run: dict[str, Any]) -> dict[str, Any]:
    """A pinned-comparison row: task, model, seed, slice, then each metric."""
    row = {"task": run.get("task"), "model": run.get("model"), "seed": run.get("seed"),
           "slice": run.get("slice")}
    row.update({k: round(float(v), 4) for k, v in (run.get("metrics") or {}).items()})
    return row


def pinned_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=["task", "model", "seed", "slice"])
    return pd.DataFrame(rows)
