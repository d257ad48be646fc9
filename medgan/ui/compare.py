"""Compare: side-by-side images, before/after slider, difference map, metrics table, plotly chart, pinned runs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from medgan.ui.common import diff_heatmap, grey_rgb, labels_rgb, overlay

METRIC_COLUMNS = ["metric", "value"]


def metrics_frame(metrics: dict[str, float]) -> pd.DataFrame:
    """Metrics as a two-column table with readable numbers."""
    rows = [[k, _fmt(v)] for k, v in metrics.items()]
    return pd.DataFrame(rows or [["(no metrics for this input)", ""]], columns=METRIC_COLUMNS)


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.2f}" if abs(v) >= 10 else f"{v:.3f}"


def chart(task: str, metrics: dict[str, float], original: np.ndarray | None, output: np.ndarray | None) -> Any:
    """Per-class Dice bars when there are Dice values, else an intensity histogram of original vs output."""
    import plotly.graph_objects as go

    from medgan.domain import AGREEMENT

    dice = {k[5:]: v for k, v in metrics.items() if k.startswith("dice ") and not k.endswith("mean")}
    title = "Dice per class (vs reference labels)"
    if not dice:  # Dice against the U-Net's own labels: agreement, not accuracy
        dice = {k[len(AGREEMENT) + 1:]: v for k, v in metrics.items()
                if k.startswith(AGREEMENT + " ") and not k.endswith("mean")}
        title = "Label agreement with the U-Net per class (not accuracy)"
    fig = go.Figure()
    if dice and task in ("synthesis", "segmentation", "inpainting"):
        fig.add_bar(x=list(dice), y=list(dice.values()), marker_color="#6366f1",
                    text=[f"{v:.2f}" for v in dice.values()], textposition="outside")
        fig.update_layout(title=title, yaxis_range=[0, 1.1])
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
