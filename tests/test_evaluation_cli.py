"""``python -m medgan evaluate --preset tiny`` end to end on phantoms, plus the protocol's building blocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

from medgan.evaluation.config import preset
from medgan.evaluation.downstream import augment, resize_labels

ROOT = Path(__file__).resolve().parent.parent


def test_evaluate_tiny_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    env = {**os.environ, "MEDGAN_HOME": os.environ["MEDGAN_HOME"]}
    proc = subprocess.run([sys.executable, "-m", "medgan", "evaluate", "--preset", "tiny", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "report written" in proc.stdout
    report = (out / "report.md").read_text()
    assert "## Generation" in report and "## Conditional tasks" in report
    assert "FD-baseline-unet" in report
    df = pd.read_csv(out / "results.csv")
    assert not any(c.startswith("FID") for c in df.columns)  # in-domain FD is never labelled FID
    gans = df[df["kind"] == "gan"]
    assert set(gans["model"]) == {"dcgan_random", "stylegan_random"}
    for col in ("FD-baseline-unet", "KID-baseline-unet", "two_sample_auc", "dice_synthetic_only",
                "dice_real_plus_synthetic", "label_agreement_dice"):
        assert gans[col].notna().all(), col
    assert ((gans["two_sample_auc"] >= 0) & (gans["two_sample_auc"] <= 1)).all()
    assert set(df[df["kind"] == "baseline"]["model"]) == {"original data", "original data + classic augmentation"}
    cond = df[df["section"] == "conditional"]
    assert set(cond["task"]) == {"synthesis", "inpainting", "segmentation", "enhancement"}
    inp = cond[cond["task"] == "inpainting"].iloc[0]
    assert inp["psnr"] > inp["hole_psnr"]  # composited: only the hole differs from the original
    meta = json.loads((out / "meta.json").read_text())
    assert meta["command"].startswith("python -m medgan evaluate --preset tiny")
    assert meta["config"]["seed"] == 0 and meta["versions"]["torch"]
    for name in ("generation_dice.html", "fd_vs_dice.html", "conditional.html"):
        assert "plotly" in (out / name).read_text()[:5000].lower()
    grid = Image.open(out / "samples_dcgan_random.png")
    assert grid.size[0] > 4 * 64 and grid.mode == "RGB"


def test_evaluate_rejects_unknown_preset() -> None:
    proc = subprocess.run([sys.executable, "-m", "medgan", "evaluate", "--preset", "huge"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "tiny" in proc.stderr
    with pytest.raises(ValueError, match="tiny, quick, full"):
        preset("huge")


def test_presets_scale() -> None:
    tiny, quick, full = preset("tiny"), preset("quick"), preset("full")
    assert tiny.data == "phantom" and quick.data == full.data == "brain"
    assert full.n_samples == 10_000 and quick.n_samples < full.n_samples
    assert preset("quick", seed=3, device=None).seed == 3


def test_augment_keeps_labels_integral() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 32, 32)
    y = resize_labels(torch.randint(0, 4, (3, 64, 64)), 32)
    xa, ya = augment(x, y, g)
    assert xa.shape == x.shape and ya.shape == y.shape and ya.dtype == torch.int64
    assert set(ya.unique().tolist()) <= {0, 1, 2, 3}
