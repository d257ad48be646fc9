"""Quality of the bundled unconditional generation checkpoints (DCGAN, LSGAN, WGAN-GP, HingeGAN, StyleGAN).

For each generation checkpoint, from ``--seeds`` sets of ``--samples`` fixed-seed samples (mean ± sd over the sets:
FD from about a hundred samples moves a lot with the draw, e.g. 0.045 to 0.15 for one StyleGAN):
- FD-medgan: Fréchet distance on the encoder features of the bundled ``unet_segmentation`` U-Net, generated
  images vs the real train slices at the same size (reference line: real test vs real train);
- FD-layout: Fréchet distance on the U-Net's class-probability maps average-pooled to 8×8 (where the tissues
  are; the pooled FD-medgan features are nearly blind to layout at this size);
- label consistency: mean Dice over CSF / GM / WM between the U-Net's segmentation of the generated image and the
  generated label map (reference: the U-Net on real slices vs their labels at the same size);
- nearest-train L1: mean L1 ([0, 1] units) from each generated image to its nearest train slice (memorisation
  check; 0 = copies), and the mean pairwise L1 between generated images (diversity).

``--write`` stores the figures under ``metrics["generation"]`` in each card and writes a sample grid to
``checkpoints/samples/<name>.png``.

Run: ``OMP_NUM_THREADS=1 python benchmarks/generation_quality.py [--names a b] [--samples 128] [--write]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medgan.inference import list_cards, load_model  # noqa: E402
from medgan.metrics.distribution import frechet_distance  # noqa: E402
from medgan.metrics.features import medgan_features  # noqa: E402
from medgan.training.unconditional import load_generation_data, sample_grid  # noqa: E402

SEED = 2026


@torch.no_grad()
def seg_probs(seg_model: torch.nn.Module, img01: torch.Tensor, seg_size: int) -> torch.Tensor:
    """U-Net class probabilities of images (N, 1, S, S) in [0, 1] (run at the U-Net's size), (N, K, S, S)."""
    s = img01.shape[-1]
    out = []
    for i in range(0, len(img01), 16):
        x = F.interpolate(img01[i:i + 16], size=(seg_size, seg_size), mode="bilinear", align_corners=False)
        probs = seg_model(x * 2 - 1).softmax(1)
        out.append(F.interpolate(probs, size=(s, s), mode="area"))
    return torch.cat(out)


def layout_features(probs: torch.Tensor) -> torch.Tensor:
    """Anatomical layout descriptor: U-Net probabilities average-pooled to 8×8, flattened (N, K·64)."""
    return F.adaptive_avg_pool2d(probs, 8).flatten(1)


def mean_dice(pred: torch.Tensor, target: torch.Tensor, k: int = 4) -> float:
    """Mean Dice over classes 1..k-1, pooled over the batch."""
    d = []
    for c in range(1, k):
        p, t = pred == c, target == c
        den = p.sum() + t.sum()
        if den > 0:
            d.append(float(2 * (p & t).sum() / den))
    return sum(d) / max(1, len(d))


@dataclass
class Candidate:
    """A generator to measure: an installed checkpoint (``card``) or a training run's weights."""

    name: str
    image_size: int
    steps: int
    z_dim: int
    module: torch.nn.Module
    card: Any = None


def run_candidate(run: Path) -> Candidate:
    """The EMA generator (else the generator) saved in a training run folder."""
    from medgan import checkpoints as ckpt
    from medgan.models.registry import build_generator
    from medgan.training.config import TrainConfig

    cfg = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    g = build_generator(cfg.generator.name, **cfg.generator.args)
    tensors = ckpt.load_weights(run / "model.safetensors")
    ckpt.load_into(g, ckpt.split_prefix(tensors, "ema") or ckpt.split_prefix(tensors, "generator"))
    steps = int(json.loads((run / "model.json").read_text()).get("steps", 0)) if (run / "model.json").exists() else 0
    return Candidate(run.name, int(cfg.generator.args.get("image_size", 64)), steps, int(cfg.z_dim or 128), g.eval())


def sample_set_metrics(out: torch.Tensor, ref: dict, feat, seg: torch.nn.Module, seg_size: int  # noqa: ANN001
                       ) -> dict[str, float]:
    """FD-medgan, FD-layout, label Dice, nearest-train L1 and pairwise L1 of one set of generator outputs."""
    img = (out[:, :1].clamp(-1, 1) + 1) / 2
    probs = seg_probs(seg, img, seg_size)
    flat, tr = img.flatten(1), ref["train_img"].flatten(1)
    m = min(64, len(flat))
    pair = torch.cdist(flat[:m], flat[:m], p=1) / flat.shape[1]
    return {"fd": float(frechet_distance(ref["train_feats"], feat(img))),
            "fd_layout": float(frechet_distance(ref["train_layout"], layout_features(probs))),
            "dice": mean_dice(probs.argmax(1), out[:, 1:].argmax(1)),
            "nn_l1": float(torch.cdist(flat, tr, p=1).min(1).values.mean() / flat.shape[1]),
            "div": float(pair.sum() / (m * (m - 1)))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", nargs="*", default=None)
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--seeds", type=int, default=3, help="sample sets (seeds 2026, 2027, ...); mean ± sd reported")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--runs", nargs="*", default=None,
                    help="training run folders (config.json + model.safetensors) to measure instead of the "
                         "installed checkpoints; the EMA generator when the run keeps one")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if a.runs is not None:
        cards = [run_candidate(Path(r)) for r in a.runs]
    else:
        cards = [Candidate(c.name, int(c.image_size), int(c.steps or 0), int(c.z_dim or 128),
                           load_model(c.name).module, c)
                 for c in list_cards("generation") if a.names is None or c.name in a.names]
    if not cards:
        print("no generation checkpoints found")
        return 1
    feat = medgan_features("unet_segmentation")
    seg = load_model("unet_segmentation").module
    seg_size = int(feat.image_size)
    refs: dict[int, dict] = {}
    for card in cards:
        size = int(card.image_size)
        if size not in refs:
            train = load_generation_data("train", size)
            test = load_generation_data("test", size)
            tr_img = (train[:, :1] + 1) / 2
            te_img = (test[:, :1] + 1) / 2
            ref = {"train_img": tr_img, "train_feats": feat(tr_img)}
            ref["fd_test"] = float(frechet_distance(ref["train_feats"], feat(te_img)))
            te_probs = seg_probs(seg, te_img, seg_size)
            ref["dice_real"] = mean_dice(te_probs.argmax(1), test[:, 1:].argmax(1))
            ref["train_layout"] = layout_features(seg_probs(seg, tr_img, seg_size))
            ref["layout_test"] = float(frechet_distance(ref["train_layout"], layout_features(te_probs)))
            refs[size] = ref
            print(f"reference @{size}px: FD-medgan(real test vs train) = {ref['fd_test']:.2f}; "
                  f"FD-layout(real test vs train) = {ref['layout_test']:.2f}; "
                  f"label Dice U-Net(real test) vs labels = {ref['dice_real']:.3f}")
        ref = refs[size]
        g = card.module
        runs, out, ms = [], None, 0.0
        for seed in [SEED + i for i in range(a.seeds)]:  # FD from ~100 samples varies with the draw: several sets
            z = torch.randn(a.samples, card.z_dim, generator=torch.Generator().manual_seed(seed))
            t0 = time.perf_counter()
            with torch.no_grad():
                o = torch.cat([g(z[i:i + 32]) for i in range(0, len(z), 32)])
            ms = (time.perf_counter() - t0) * 1000 / len(z)
            out = o if out is None else out
            runs.append(sample_set_metrics(o, ref, feat, seg, seg_size))
        assert out is not None
        mean = {k: statistics.fmean(r[k] for r in runs) for k in runs[0]}
        sd = {k: statistics.stdev(r[k] for r in runs) if len(runs) > 1 else 0.0 for k in runs[0]}
        res = {"fd_medgan_vs_train": round(mean["fd"], 3), "fd_medgan_sd": round(sd["fd"], 3),
               "fd_medgan_real_test_vs_train": round(ref["fd_test"], 3),
               "fd_layout_vs_train": round(mean["fd_layout"], 3), "fd_layout_sd": round(sd["fd_layout"], 3),
               "fd_layout_real_test_vs_train": round(ref["layout_test"], 3),
               "label_dice_seg_vs_generated": round(mean["dice"], 4), "label_dice_sd": round(sd["dice"], 4),
               "label_dice_real_reference": round(ref["dice_real"], 4),
               "nearest_train_l1": round(mean["nn_l1"], 4), "pairwise_l1": round(mean["div"], 4),
               "samples": a.samples, "sample_sets": a.seeds,
               "feature_extractor": "unet_segmentation encoder (FD-medgan)"}
        print(f"{card.name:22s} {size}px steps={card.steps:5d} FD-medgan={mean['fd']:.3f}±{sd['fd']:.3f} "
              f"FD-layout={mean['fd_layout']:.2f}±{sd['fd_layout']:.2f} label-Dice={mean['dice']:.3f}±{sd['dice']:.3f} "
              f"nearest-train-L1={mean['nn_l1']:.4f} pairwise-L1={mean['div']:.4f} "
              f"({ms:.1f} ms/sample batched, 1 thread)")
        if a.write and card.card is not None and card.card.bundled:
            data = json.loads(card.card.card_path.read_text())
            data.setdefault("metrics", {})["generation"] = res
            card.card.card_path.write_text(json.dumps(data, indent=2) + "\n")
            from PIL import Image

            grid_dir = card.card.card_path.parent / "samples"
            grid_dir.mkdir(exist_ok=True)
            Image.fromarray(sample_grid(out[:16], cols=8).numpy()).save(grid_dir / f"{card.name}.png", optimize=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
