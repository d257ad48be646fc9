"""Figures of the report: sample grids as PNG (Pillow) and interactive plotly HTML charts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

# label colours for the grids (background, CSF, grey matter, white matter, further classes)
_COLOURS = np.array([[0, 0, 0], [40, 120, 255], [230, 160, 40], [240, 240, 240], [200, 60, 60], [60, 200, 90]],
                    dtype=np.float32)


def to_u8(img: np.ndarray) -> np.ndarray:
    """float image [0, 1] (H, W) → uint8 RGB (H, W, 3)."""
    g = (np.clip(np.asarray(img, dtype=np.float32), 0, 1) * 255).round().astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def label_rgb(labels: np.ndarray, image: np.ndarray | None = None, alpha: float = 0.55) -> np.ndarray:
    """Integer label map (H, W) → uint8 RGB; blended over ``image`` when given."""
    lab = np.asarray(labels).astype(np.int64) % len(_COLOURS)
    col = _COLOURS[lab]
    if image is not None:
        base = np.clip(np.asarray(image, dtype=np.float32), 0, 1)[..., None] * 255
        col = np.where(lab[..., None] > 0, (1 - alpha) * base + alpha * col, base)
    return col.round().astype(np.uint8)


def grid_png(rows: list[list[np.ndarray]], path: Path, pad: int = 2) -> Path:
    """Tile uint8 RGB tiles (equal sizes within the grid after padding to the largest) into one PNG."""
    h = max(t.shape[0] for r in rows for t in r)
    w = max(t.shape[1] for r in rows for t in r)
    ncol = max(len(r) for r in rows)
    canvas = np.full((len(rows) * (h + pad) + pad, ncol * (w + pad) + pad, 3), 32, dtype=np.uint8)
    for i, r in enumerate(rows):
        for j, t in enumerate(r):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            canvas[y : y + t.shape[0], x : x + t.shape[1]] = t
    Image.fromarray(canvas).save(path)
    return path


def samples_grid(images: np.ndarray, labels: np.ndarray, path: Path) -> Path:
    """Generation samples: images on the first row, their generated label maps over them on the second."""
    return grid_png([[to_u8(im) for im in images], [label_rgb(lb, im) for im, lb in zip(images, labels)]], path)


def conditional_grid(examples: list[tuple[np.ndarray, np.ndarray, np.ndarray]], task: str, path: Path) -> Path:
    """One row per test slice: model input, output, reference (for segmentation the output is a label map)."""
    rows = []
    for inp, out, ref in examples:
        if task == "synthesis":
            inp_t = label_rgb((np.asarray(inp) * 3).round())
        else:
            inp_t = to_u8(inp)
        out_t = label_rgb((np.asarray(out) * 3).round(), ref) if task == "segmentation" else to_u8(out)
        rows.append([inp_t, out_t, to_u8(ref)])
    return grid_png(rows, path)


def _write(fig: Any, path: Path) -> Path:
    fig.write_html(path, include_plotlyjs="directory", full_html=True)
    return path


def generation_bars(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Downstream Dice per GAN (synthetic only, real + synthetic) with the baselines as horizontal lines."""
    import plotly.graph_objects as go

    gans = [r for r in rows if r.get("kind") == "gan"]
    if not gans:
        return None
    names = [r["model"] for r in gans]
    fig = go.Figure()
    fig.add_bar(name="synthetic only", x=names, y=[r.get("dice_synthetic_only") for r in gans])
    fig.add_bar(name="real + synthetic", x=names, y=[r.get("dice_real_plus_synthetic") for r in gans])
    for r in rows:
        if r.get("kind") == "baseline":
            fig.add_hline(y=r["dice_downstream"], line_dash="dash", annotation_text=r["model"])
    fig.update_layout(barmode="group", title="Downstream U-Net Dice on the real test slices (CSF/GM/WM mean)",
                      yaxis_title="Dice", yaxis_range=[0, 1])
    return _write(fig, path)


def fd_vs_dice(rows: list[dict[str, Any]], fd_name: str, path: Path) -> Path | None:
    """Scatter of the Fréchet distance against downstream Dice, one point per GAN."""
    import plotly.graph_objects as go

    gans = [r for r in rows if r.get("kind") == "gan" and r.get(fd_name) is not None]
    if not gans:
        return None
    fig = go.Figure(go.Scatter(x=[r[fd_name] for r in gans], y=[r.get("dice_synthetic_only") for r in gans],
                               mode="markers+text", text=[r["model"] for r in gans], textposition="top center"))
    fig.update_layout(title=f"{fd_name} vs downstream Dice (synthetic only): do they agree?",
                      xaxis_title=f"{fd_name} (lower = closer to real)", yaxis_title="downstream Dice")
    return _write(fig, path)


def conditional_bars(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """PSNR, SSIM and Dice per conditional model, one panel per metric."""
    from plotly.subplots import make_subplots

    if not rows:
        return None
    metrics = ["psnr", "ssim", "dice"]
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[m.upper() if m != "dice" else "Dice"
                                                                   for m in metrics])
    for j, m in enumerate(metrics, start=1):
        sel = [r for r in rows if r.get(m) is not None and not (isinstance(r[m], float) and math.isnan(r[m]))]
        fig.add_bar(x=[f"{r['task']}: {r['model']}" for r in sel], y=[r[m] for r in sel], showlegend=False,
                    row=1, col=j)
    fig.update_layout(title="Conditional tasks on the held-out test slices")
    return _write(fig, path)
