"""Validation metrics per task (PSNR / SSIM / Dice) on fixed batches, and sample grids."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from medgan.atomic import atomic_write_bytes
from medgan.metrics.image import finite_psnr, psnr, ssim
from medgan.tasks.specs import get_spec


def _dice(pred: np.ndarray, ref: np.ndarray, k: int) -> list[float]:
    out = []
    for c in range(1, k):
        p, r = pred == c, ref == c
        denom = p.sum() + r.sum()
        out.append(1.0 if denom == 0 else float(2 * (p & r).sum() / denom))
    return out


def to_unit(x: Tensor) -> np.ndarray:
    """[-1, 1] tensor (N, 1, H, W) → float32 (N, H, W) in [0, 1]."""
    return ((x[:, 0].float().clamp(-1, 1) + 1) / 2).cpu().numpy()


def task_output(task: str, generator: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """Generator output post-processed as the task defines (inpainting composited; segmentation logits)."""
    return get_spec(task).composite(generator(batch["input"]), batch)


def _quality(out: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """PSNR (capped at 100 dB) and SSIM (Gaussian σ = 1.5 window, :mod:`medgan.metrics.image`) per image of
    float32 (N, H, W) batches in [0, 1] — the same numbers the Studio shows."""
    return finite_psnr(psnr(out, ref, mask=mask)).numpy(), ssim(out, ref).numpy()


@torch.no_grad()
def evaluate(task: str, generator: nn.Module, batches: list[dict[str, Tensor]], device: torch.device
             ) -> dict[str, float]:
    """Mean metrics over ``batches``: PSNR/SSIM (image tasks; inpainting adds psnr_hole; enhancement adds the
    degraded input's psnr_input/ssim_input), dice_mean + per-class dice (segmentation)."""
    was_training = generator.training
    generator.eval()
    rows: dict[str, list[float]] = {}

    def add(key: str, v: float) -> None:
        rows.setdefault(key, []).append(v)

    try:
        for b in batches:
            b = {k: v.to(device) for k, v in b.items()}
            out = task_output(task, generator, b)
            if task == "segmentation":
                k = out.shape[1]
                pred = out.argmax(1).cpu().numpy()
                ref = b["labels"].cpu().numpy()
                for p, r in zip(pred, ref):
                    d = _dice(p, r, k)
                    add("dice_mean", float(np.mean(d)))
                    for c, v in enumerate(d, start=1):
                        add(f"dice_{c}", v)
                continue
            o, t = to_unit(out), to_unit(b["target"])
            metrics = get_spec(task).val_metrics
            p, q = _quality(o, t)
            rows.setdefault("psnr", []).extend(p.tolist())
            rows.setdefault("ssim", []).extend(q.tolist())
            if "psnr_hole" in metrics:
                hole = b["mask"][:, 0].cpu().numpy() > 0.5
                rows.setdefault("psnr_hole", []).extend(finite_psnr(psnr(o, t, mask=hole)).tolist())
            if "psnr_input" in metrics:
                p, q = _quality(to_unit(b["input"]), t)
                rows.setdefault("psnr_input", []).extend(p.tolist())
                rows.setdefault("ssim_input", []).extend(q.tolist())
    finally:
        generator.train(was_training)
    return {k: float(np.mean(v)) for k, v in rows.items()}


def _label_rgb(labels: np.ndarray) -> np.ndarray:
    palette = np.array([[0, 0, 0], [60, 120, 255], [230, 80, 80], [250, 230, 120], [80, 200, 120],
                        [200, 120, 240]], dtype=np.uint8)
    return palette[np.clip(labels, 0, len(palette) - 1)]


def _grey(x: np.ndarray) -> np.ndarray:
    g = (np.clip(x, 0, 1) * 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def _vis(t: Tensor, kind: str) -> np.ndarray:
    """One (C, H, W) tensor → RGB uint8 (H, W, 3): images in [-1, 1] or one-hot/logit label maps."""
    if kind == "labels":
        return _label_rgb(t.argmax(0).cpu().numpy())
    return _grey(((t[0].float().clamp(-1, 1) + 1) / 2).cpu().numpy())


@torch.no_grad()
def sample_grid(task: str, generator: nn.Module, batch: dict[str, Tensor], device: torch.device,
                path: Path, n: int = 4) -> None:
    """PNG grid: one row per sample: input | output | target."""
    was_training = generator.training
    generator.eval()
    try:
        b = {k: v[:n].to(device) for k, v in batch.items()}
        out = task_output(task, generator, b).cpu()
    finally:
        generator.train(was_training)
    rows = []
    for i in range(out.shape[0]):
        inp = b["input"][i].cpu()
        in_kind = "labels" if task == "synthesis" else "image"
        out_kind = tgt_kind = "labels" if task == "segmentation" else "image"
        cells = [_vis(inp, in_kind), _vis(out[i], out_kind), _vis(b["target"][i].cpu(), tgt_kind)]
        rows.append(np.concatenate(cells, axis=1))
    buf = io.BytesIO()
    Image.fromarray(np.concatenate(rows, axis=0)).save(buf, format="PNG")
    atomic_write_bytes(Path(path), buf.getvalue())

