"""Run the protocol and write ``report.md``, ``results.csv``, ``meta.json``, plotly HTML figures and PNG grids."""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from medgan.evaluation import figures
from medgan.evaluation.config import EvalConfig
from medgan.evaluation.downstream import load_data
from medgan.evaluation.models import installed_segmenter
from medgan.evaluation.protocol import Context, build_context, run_baselines, run_conditional, run_generation

logger = logging.getLogger(__name__)

GEN_COLUMNS = ["model", "n_synthetic", "{fd}", "{kid}", "two_sample_auc", "label_agreement_dice",
               "dice_synthetic_only", "dice_real_plus_synthetic", "dice_downstream", "seconds"]
COND_COLUMNS = ["task", "model", "n_test", "psnr", "ssim", "hole_psnr", "hole_ssim", "input_psnr", "input_ssim",
                "dice", "{fd}", "seconds"]


def versions() -> dict[str, str]:
    """Versions of the interpreter and the packages that shape the numbers."""
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("medgan", "torch", "numpy", "scipy", "scikit-image", "torchmetrics", "plotly"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed" if pkg != "medgan" else "source tree"
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        if math.isinf(v):
            return "inf"
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)


def md_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table of ``rows`` restricted to ``columns`` that at least one row has."""
    cols = [c for c in columns if any(r.get(c) is not None for r in rows)]
    if not rows or not cols:
        return "(none)\n"
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman rank correlation (NaN with fewer than 3 points)."""
    if len(x) < 3:
        return float("nan")
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def _columns(template: list[str], ctx: Context) -> list[str]:
    out = []
    for c in template:
        if c == "{fd}":
            out += [ex.fd_name for ex in ctx.extractors()]
        elif c == "{kid}":
            out += [ex.kid_name for ex in ctx.extractors()]
        else:
            out.append(c)
    return out


def write_report(out_dir: Path, cfg: EvalConfig, ctx: Context, gen_rows: list[dict[str, Any]],
                 cond_rows: list[dict[str, Any]], command: str, seconds: float) -> Path:
    """Write every output file; returns the path of ``report.md``."""
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = gen_rows + cond_rows
    pd.DataFrame(rows).to_csv(out_dir / "results.csv", index=False)
    fd = ctx.extractor.fd_name
    figs: list[Path] = []
    grids: list[Path] = []
    for name, (imgs, labs) in ctx.samples.items():
        grids.append(figures.samples_grid(imgs, labs, out_dir / f"samples_{name}.png"))
    for row in cond_rows:
        ex = ctx.cond_examples.get(row["model"])
        if ex:
            grids.append(figures.conditional_grid(ex, row["task"], out_dir / f"{row['task']}_{row['model']}.png"))
    for p in (figures.generation_bars(gen_rows, out_dir / "generation_dice.html"),
              figures.fd_vs_dice(gen_rows, fd, out_dir / "fd_vs_dice.html"),
              figures.conditional_bars(cond_rows, out_dir / "conditional.html")):
        if p is not None:
            figs.append(p)
    gans = [r for r in gen_rows if r.get("kind") == "gan"]
    rho = spearman([r[fd] for r in gans], [r["dice_synthetic_only"] for r in gans])
    meta = {"command": command, "preset": cfg.preset, "config": cfg.to_dict(), "versions": versions(),
            "checkpoints": ctx.checkpoints, "data": ctx.data.source, "feature_extractor": {
                "fd_name": fd, "source": ctx.extractor.source}, "segmenter": ctx.segmenter.name,
            "seconds": round(seconds, 1), "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "spearman_fd_vs_dice": rho}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    md = [f"# medgan evaluation report: preset `{cfg.preset}`", "",
          f"Command: `{command}`  ", f"Created: {meta['created']} · runtime {seconds:.0f} s · seed {cfg.seed} · "
          f"device {cfg.device}  ", f"Data: {ctx.data.source} ({len(ctx.data.train_images)} train / "
          f"{len(ctx.data.test_images)} test slices)  ",
          f"Features: **{fd}** = {ctx.extractor.source} (in-domain; not comparable with ImageNet FID)"
          + "".join(f"; **{ex.fd_name}** = {ex.source}" for ex in ctx.extra_extractors) + "  ",
          f"Segmenter for Dice of generated/restored images: {ctx.segmenter.name}", ""]
    if cfg.models == "random-init":
        md += ["> Tiny preset: random-initialised tiny models on phantoms. The numbers only check that the "
               "pipeline runs; they say nothing about any trained model.", ""]
    if cfg.generation:
        md += ["## Generation (empirical study, Table 2)", "",
               f"Downstream U-Net (registry `unet`, base {cfg.downstream.base}, depth {cfg.downstream.depth}, "
               f"{cfg.downstream.steps} steps, batch {cfg.downstream.batch_size}) at {cfg.image_size} px; Dice = "
               "mean over CSF / grey matter / white matter on the real test slices. `dice_downstream` is the "
               "synthetic-only Dice for a GAN, and the real-data Dice for a baseline.", "",
               md_table(gen_rows, _columns(GEN_COLUMNS, ctx)),
               f"FD/KID between {cfg.n_samples} samples per GAN and the real training slices; the reference row "
               "compares the real test slices with the training slices (few samples: FD is biased upwards by "
               "small sample sizes, so compare rows of equal N only). Two-sample AUC: 0.5 = a small CNN cannot "
               "tell generated from real. Label agreement: Dice between each sample's generated label map and "
               "the segmenter's labels of its image.", "",
               f"Spearman rank correlation between {fd} and synthetic-only downstream Dice across GANs: "
               f"{_fmt(rho)} (n = {len(gans)}; negative = lower FD goes with higher Dice).", ""]
    if cfg.conditional:
        md += ["## Conditional tasks (comparative study)", "",
               "Held-out test slices; inpainting: one 50×50 hole (at 256 px) per slice inside the brain, "
               f"{'with' if cfg.inpaint_with_labels else 'without'} the label map as guidance, composited "
               "output (PSNR/SSIM over the whole image and inside the hole). Dice: synthesis seg(output) vs the "
               "input labels; inpainting and enhancement seg(output) vs seg(original); segmentation vs the "
               "reference labels. PSNR in dB with identical images capped at 100 dB.", "",
               md_table(cond_rows, _columns(COND_COLUMNS, ctx))]
    md += ["## Files", "", "- `results.csv`: every row and column above (per-class Dice included)",
           "- `meta.json`: configuration, versions, checkpoints (file, sha256, training command), seeds"]
    md += [f"- [{p.name}]({p.name})" for p in figs + grids]
    md += ["", "## Checkpoints", "", md_table(ctx.checkpoints, ["name", "task", "family", "steps", "file", "mb",
                                                                 "sha256"]),
           "## Versions", "", md_table([versions()], list(versions()))]
    path = out_dir / "report.md"
    path.write_text("\n".join(md))
    return path


def evaluate(cfg: EvalConfig, out_dir: Path, command: str) -> Path:
    """Run the protocol of ``cfg`` and write the report into ``out_dir``; returns the report's path."""
    import torch

    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)  # tiny models: one thread avoids contention on busy machines
    try:
        return _evaluate(cfg, out_dir, command)
    finally:
        torch.set_num_threads(threads)


def _evaluate(cfg: EvalConfig, out_dir: Path, command: str) -> Path:
    import torch

    t0 = time.time()
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    data = load_data(cfg)
    logger.info("evaluation preset %s on %s", cfg.preset, data.source)
    need_baseline = cfg.generation or cfg.features == "baseline" or installed_segmenter(cfg.device) is None
    base_rows, baseline = run_baselines(cfg, data) if need_baseline else ([], None)
    ctx = build_context(cfg, data, baseline)
    gen_rows = (base_rows + run_generation(ctx)) if cfg.generation else []
    cond_rows = run_conditional(ctx) if cfg.conditional else []
    return write_report(out_dir, cfg, ctx, gen_rows, cond_rows, command, time.time() - t0)
