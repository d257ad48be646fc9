"""The empirical-study protocol and its report: ``python -m medgan evaluate --preset tiny|quick|full``.

- :mod:`medgan.evaluation.config`: presets (:func:`preset`);
- :mod:`medgan.evaluation.protocol`: generation (downstream U-Net Dice, FD/KID, two-sample AUC) and conditional
  tasks (PSNR, SSIM, FD, Dice);
- :mod:`medgan.evaluation.report`: :func:`evaluate` runs a preset and writes report.md, results.csv, meta.json,
  plotly HTML figures and PNG sample grids.
"""

from __future__ import annotations

from pathlib import Path

from medgan.evaluation.config import PRESET_NAMES, DownstreamConfig, EvalConfig, preset

__all__ = ["PRESET_NAMES", "DownstreamConfig", "EvalConfig", "evaluate", "preset"]


def evaluate(cfg: EvalConfig, out_dir: Path, command: str = "python -m medgan evaluate") -> Path:
    """Run ``cfg`` and write the report into ``out_dir``; returns the path of report.md (lazy import)."""
    from medgan.evaluation.report import evaluate as _evaluate

    return _evaluate(cfg, out_dir, command)
