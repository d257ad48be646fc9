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

- two-sample AUC: cross-validated classifier two-sample test (:func:`medgan.metrics.two_sample.two_sample_auc_cv`,
  4 folds, a small CNN, real train slices vs as many generated ones; 0.5 = indistinguishable), the machine
  stand-in for the experts' visual Turing test (reference: real val+test vs real train); one test per sample set,
  mean ± sd (the bar holds the mean).

Bars per GAN (:data:`BARS`), each printed PASS/MISS beside the real-vs-real reference at the same size:
label agreement ≥ 0.70; diversity (pairwise L1) ≥ 0.8 × the real slices'; FD-medgan ≤ the real test-vs-train
FD-medgan; two-sample AUC ≤ 0.90; no mode collapse (flagged when the generated images' nearest train slices cover
under 40 % of the distinct slices a uniform draw would hit, when the diversity is below half the real slices', or
when more than 5 % of generated pairs are closer than the closest pair of distinct real slices).

``--write`` stores the figures under ``metrics["generation"]`` in each card and writes a sample grid to
``checkpoints/samples/<name>.png``. ``--checkpoints DIR`` measures the generation cards in DIR (e.g. a
``train-all`` output) instead of the installed ones; the U-Net behind FD-medgan and the label agreement is always
the installed ``unet_segmentation``. ``--json PATH`` writes every figure and bar; with ``--checkpoints``,
``--installed-json PATH`` also measures the installed checkpoints of the same names in the same run (the real-slice
reference figures computed once) and writes theirs to PATH.

Run: ``OMP_NUM_THREADS=1 python benchmarks/generation_quality.py [--names a b] [--samples 128] [--write]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medgan.inference import build_from_card, list_cards, load_model, output_size  # noqa: E402
from medgan.metrics.distribution import frechet_distance  # noqa: E402
from medgan.metrics.features import medgan_features  # noqa: E402
from medgan.metrics.two_sample import two_sample_auc_cv  # noqa: E402
from medgan.models.truncated import check_psi, sampling_psi, truncated  # noqa: E402
from medgan.training.unconditional import load_generation_data, sample_grid  # noqa: E402

SEED = 2026

# (key, title): the bars every GAN is held to (thresholds below, judged by :func:`judge`)
BARS: tuple[tuple[str, str], ...] = (
    ("label_agreement", "label agreement ≥ 0.70"),
    ("diversity", "diversity ≥ 0.8 × real"),
    ("fd_medgan", "FD-medgan ≤ real test-vs-train"),
    ("two_sample_auc", "two-sample AUC ≤ 0.90"),
    ("no_collapse", "no mode collapse"),
)
LABEL_AGREEMENT_MIN, DIVERSITY_FRACTION, AUC_MAX = 0.70, 0.8, 0.90
COLLAPSE_DIVERSITY_FRACTION, COLLAPSE_DUPLICATE_SHARE, COLLAPSE_COVERAGE = 0.5, 0.05, 0.4


def pairwise_l1(img01: torch.Tensor, m: int = 64) -> torch.Tensor:
    """L1 distances ([0, 1] units, per pixel) between the first ``m`` images (N, 1, S, S): the off-diagonal
    entries, flattened."""
    flat = img01[:m].flatten(1)
    d = torch.cdist(flat, flat, p=1) / flat.shape[1]
    return d[~torch.eye(len(flat), dtype=torch.bool)]


def train_coverage(img01: torch.Tensor, train01: torch.Tensor) -> float:
    """How many distinct train slices are the nearest (L1) of some generated image, over the number expected when
    drawing as many slices uniformly from the train set (≈ 1 for a generator that covers every level of the
    brain, small when it draws a few levels only)."""
    n, t = len(img01), len(train01)
    nearest = torch.cdist(img01.flatten(1), train01.flatten(1), p=1).argmin(1)
    expected = t * (1 - (1 - 1 / t) ** n)
    return float(len(set(nearest.tolist())) / expected)


def mode_collapse(div: float, pairs: torch.Tensor, real_div: float, real_min_pair: float, coverage: float) -> bool:
    """True when the samples look mode-collapsed: train coverage (:func:`train_coverage`) under
    ``COLLAPSE_COVERAGE``, diversity under half the real slices', or more than 5 % of the generated pairs closer
    than the closest pair of distinct real slices (near-duplicates)."""
    dup = float((pairs < real_min_pair).float().mean()) if len(pairs) else 0.0
    return (coverage < COLLAPSE_COVERAGE or div < COLLAPSE_DIVERSITY_FRACTION * real_div
            or dup > COLLAPSE_DUPLICATE_SHARE)


def judge(res: dict[str, Any]) -> dict[str, bool]:
    """PASS (True) / MISS (False) per bar of :data:`BARS` from one GAN's figures (keys as written by ``main``)."""
    return {"label_agreement": res["label_dice_seg_vs_generated"] >= LABEL_AGREEMENT_MIN,
            "diversity": res["pairwise_l1"] >= DIVERSITY_FRACTION * res["pairwise_l1_real"],
            "fd_medgan": res["fd_medgan_vs_train"] <= res["fd_medgan_real_test_vs_train"],
            "two_sample_auc": res["two_sample_auc"] <= AUC_MAX,
            "no_collapse": not res["mode_collapse"]}


def format_bars(res: dict[str, Any]) -> str:
    """One line per bar: PASS/MISS, the GAN's figure, the bar and the real-vs-real reference."""
    b = res["bars"]
    rows = [("label_agreement", f"{res['label_dice_seg_vs_generated']:.3f}",
             f"≥ {LABEL_AGREEMENT_MIN:.2f} (real {res['label_dice_real_reference']:.3f})"),
            ("diversity", f"{res['pairwise_l1']:.4f}",
             f"≥ {DIVERSITY_FRACTION * res['pairwise_l1_real']:.4f} (real {res['pairwise_l1_real']:.4f})"),
            ("fd_medgan", f"{res['fd_medgan_vs_train']:.3f}", f"≤ {res['fd_medgan_real_test_vs_train']:.3f} (real)"),
            ("two_sample_auc", f"{res['two_sample_auc']:.3f}",
             f"≤ {AUC_MAX:.2f} (real {res['two_sample_auc_real_reference']:.3f})"),
            ("no_collapse", f"{'COLLAPSED' if res['mode_collapse'] else 'no'} (coverage {res['train_coverage']:.2f})",
             f"coverage ≥ {COLLAPSE_COVERAGE}, diversity ≥ {COLLAPSE_DIVERSITY_FRACTION} × real")]
    titles = dict(BARS)
    return "\n".join(f"    {'PASS' if b[k] else 'MISS'}  {titles[k]:32s} {v:>9s}  {bar}" for k, v, bar in rows)


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


@dataclasses.dataclass
class Candidate:
    """A generator to measure: an installed checkpoint (``card``) or a training run's weights."""

    name: str
    image_size: int
    steps: int
    z_dim: int
    module: torch.nn.Module
    card: Any = None


def run_candidate(run: Path, truncation: float | None = None) -> Candidate:
    """The EMA generator (else the generator) saved in a training run folder (sampled with ``truncation``)."""
    from medgan import checkpoints as ckpt
    from medgan.models.registry import build_generator
    from medgan.training.config import TrainConfig

    cfg = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    g = build_generator(cfg.generator.name, **cfg.generator.args)
    tensors = ckpt.load_weights(run / "model.safetensors")
    ckpt.load_into(g, ckpt.split_prefix(tensors, "ema") or ckpt.split_prefix(tensors, "generator"))
    steps = int(json.loads((run / "model.json").read_text()).get("steps", 0)) if (run / "model.json").exists() else 0
    return Candidate(run.name, int(cfg.generator.args.get("image_size", 64)), steps, int(cfg.z_dim or 128),
                     truncated(g.eval(), sampling_psi(None, truncation)))


class AtSize(torch.nn.Module):
    """A generator's output area-resized to ``size`` (measuring a 256 px model at 128 px, say)."""

    def __init__(self, module: torch.nn.Module, size: int) -> None:
        super().__init__()
        self.module, self.size = module, int(size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.module(z)
        return y if y.shape[-1] == self.size else F.interpolate(y, size=(self.size, self.size), mode="area")


def card_candidate(card: Any, raw: bool = False, truncation: float | None = None) -> Candidate:
    """A generation card's model as it runs in the app (with its renderer, at the renderer's size, sampled with
    the card's latent truncation), or with ``raw`` the generator alone at its own size; ``truncation`` replaces
    the card's."""
    module = build_from_card(card, render=not raw, truncation=truncation)
    size = int(card.image_size) if raw or not card.renderer else output_size(card)
    return Candidate(card.name, size, int(card.steps or 0), int(card.z_dim or 128), module, card)


def installed_candidates(names: list[str] | set[str] | None, raw: bool = False,
                         truncation: float | None = None) -> list[Candidate]:
    """The installed generation checkpoints (all, or those in ``names``)."""
    return [card_candidate(c, raw, truncation) for c in list_cards("generation") if names is None or c.name in names]


def sample_set_metrics(out: torch.Tensor, ref: dict, feat, seg: torch.nn.Module, seg_size: int  # noqa: ANN001
                       ) -> dict[str, float]:
    """FD-medgan, FD-layout, label Dice, nearest-train L1 and pairwise L1 of one set of generator outputs."""
    img = (out[:, :1].clamp(-1, 1) + 1) / 2
    probs = seg_probs(seg, img, seg_size)
    flat, tr = img.flatten(1), ref["train_img"].flatten(1)
    pairs = pairwise_l1(img)
    div = float(pairs.mean())
    cov = train_coverage(img, ref["train_img"])
    return {"fd": float(frechet_distance(ref["train_feats"], feat(img))),
            "fd_layout": float(frechet_distance(ref["train_layout"], layout_features(probs))),
            "dice": mean_dice(probs.argmax(1), out[:, 1:].argmax(1)),
            "nn_l1": float(torch.cdist(flat, tr, p=1).min(1).values.mean() / flat.shape[1]),
            "div": div, "coverage": cov,
            "collapse": float(mode_collapse(div, pairs, ref["div_real"], ref["min_pair_real"], cov))}


def reference_figures(size: int, feat, seg: torch.nn.Module, seg_size: int, folds: int,  # noqa: ANN001
                      auc_epochs: int) -> dict[str, Any]:
    """The real slices at ``size``: train images and features, and the real-vs-real reference of each figure."""
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
    real_pairs = pairwise_l1(tr_img, m=len(tr_img))
    ref["div_real"], ref["min_pair_real"] = float(real_pairs.mean()), float(real_pairs.min())
    held = torch.cat([(load_generation_data("val", size)[:, :1] + 1) / 2, te_img])
    ref["auc_real"] = two_sample_auc_cv(tr_img, held, folds=folds, seed=SEED, epochs=auc_epochs)
    print(f"reference @{size}px: FD-medgan(real test vs train) = {ref['fd_test']:.2f}; "
          f"FD-layout(real test vs train) = {ref['layout_test']:.2f}; "
          f"label Dice U-Net(real test) vs labels = {ref['dice_real']:.3f}; "
          f"pairwise L1(real train) = {ref['div_real']:.4f}; "
          f"two-sample AUC(real val+test vs train) = {ref['auc_real']:.3f}")
    return ref


def measure(card: Candidate, ref: dict[str, Any], feat, seg: torch.nn.Module, seg_size: int,  # noqa: ANN001
            a: argparse.Namespace) -> dict[str, Any]:
    """Every figure and bar of one generator (printed; ``--write`` stores them in a bundled card)."""
    size = int(card.image_size)
    g = card.module
    runs, out, ms = [], None, 0.0
    for seed in [SEED + i for i in range(a.seeds)]:  # FD from ~100 samples varies with the draw: several sets
        z = torch.randn(a.samples, card.z_dim, generator=torch.Generator().manual_seed(seed))
        torch.manual_seed(seed)  # generators with noise inputs (StyleGAN) draw the same samples in any run order
        t0 = time.perf_counter()
        with torch.no_grad():
            o = torch.cat([g(z[i:i + 32]) for i in range(0, len(z), 32)])
        ms = (time.perf_counter() - t0) * 1000 / len(z)
        out = o if out is None else out
        fig = sample_set_metrics(o, ref, feat, seg, seg_size)
        # the two-sample test of each set: a ~100-vs-100 classifier's AUC moves by several hundredths with the draw
        fake01 = (o[: len(ref["train_img"]), :1].clamp(-1, 1) + 1) / 2
        fig["auc"] = two_sample_auc_cv(ref["train_img"], fake01, folds=a.folds, seed=SEED, epochs=a.auc_epochs)
        runs.append(fig)
    assert out is not None
    auc = statistics.fmean(r["auc"] for r in runs)
    mean = {k: statistics.fmean(r[k] for r in runs) for k in runs[0]}
    sd = {k: statistics.stdev(r[k] for r in runs) if len(runs) > 1 else 0.0 for k in runs[0]}
    res = {"fd_medgan_vs_train": round(mean["fd"], 3), "fd_medgan_sd": round(sd["fd"], 3),
           "fd_medgan_real_test_vs_train": round(ref["fd_test"], 3),
           "fd_layout_vs_train": round(mean["fd_layout"], 3), "fd_layout_sd": round(sd["fd_layout"], 3),
           "fd_layout_real_test_vs_train": round(ref["layout_test"], 3),
           "label_dice_seg_vs_generated": round(mean["dice"], 4), "label_dice_sd": round(sd["dice"], 4),
           "label_dice_real_reference": round(ref["dice_real"], 4),
           "nearest_train_l1": round(mean["nn_l1"], 4), "pairwise_l1": round(mean["div"], 4),
           "pairwise_l1_real": round(ref["div_real"], 4),
           "two_sample_auc": round(auc, 4), "two_sample_auc_sd": round(sd["auc"], 4),
           "two_sample_auc_real_reference": round(ref["auc_real"], 4),
           "two_sample_folds": a.folds, "train_coverage": round(mean["coverage"], 3),
           "mode_collapse": mean["collapse"] > 0,
           "samples": a.samples, "sample_sets": a.seeds, "truncation": truncation_of(card, a),
           "feature_extractor": "unet_segmentation encoder (FD-medgan)"}
    res["bars"] = judge(res)
    res["bars_passed"] = sum(res["bars"].values())
    print(f"{card.name:22s} {size}px steps={card.steps:5d} FD-medgan={mean['fd']:.3f}±{sd['fd']:.3f} "
          f"FD-layout={mean['fd_layout']:.2f}±{sd['fd_layout']:.2f} label-Dice={mean['dice']:.3f}±{sd['dice']:.3f} "
          f"nearest-train-L1={mean['nn_l1']:.4f} pairwise-L1={mean['div']:.4f} "
          f"two-sample-AUC={auc:.3f}±{sd['auc']:.3f} ({ms:.1f} ms/sample batched, 1 thread)")
    print(format_bars(res))
    res["image_size"] = size
    res["command"] = "OMP_NUM_THREADS=1 python benchmarks/generation_quality.py " + " ".join(_replayable(a.argv))
    if card.card is not None and card.card.renderer:
        res["renderer"] = None if a.raw else card.card.renderer
    if a.write and card.card is not None and card.card.bundled:
        from medgan.checkpoints import ModelCard

        written = ModelCard.read(card.card.card_path, bundled=True)
        written.metrics["generation_without_renderer" if a.raw and written.renderer else "generation"] = res
        if a.truncation is not None:  # the card samples at the truncation its figures were measured at
            written.truncation = None if a.truncation == 1.0 else a.truncation
        written.write()
        if not a.raw:
            from PIL import Image

            grid_dir = card.card.card_path.parent / "samples"
            grid_dir.mkdir(exist_ok=True)
            Image.fromarray(sample_grid(out[:32], cols=8).numpy()).save(grid_dir / f"{card.name}.png", optimize=True)
    return {**res, "steps": card.steps}


def truncation_of(card: Candidate, a: argparse.Namespace) -> float:
    """The latent truncation a candidate was sampled with (1 = none)."""
    return sampling_psi(getattr(card.card, "truncation", None), a.truncation)


def _replayable(argv: list[str] | None) -> list[str]:
    """The command-line arguments that reproduce the figures: without --write and the output files."""
    out, skip = [], False
    for arg in argv or []:
        if skip:
            skip = False
        elif arg in ("--json", "--installed-json"):
            skip = True
        elif arg != "--write" and not arg.startswith(("--json=", "--installed-json=")):
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", nargs="*", default=None)
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--seeds", type=int, default=3, help="sample sets (seeds 2026, 2027, ...); mean ± sd reported")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--checkpoints", default=None,
                    help="measure the generation cards in this folder instead of the installed ones")
    ap.add_argument("--json", default=None, help="write every figure and bar to this JSON file")
    ap.add_argument("--installed-json", default=None,
                    help="with --checkpoints: also measure the installed checkpoints of the same names and write "
                         "their figures to this JSON file")
    ap.add_argument("--raw", action="store_true",
                    help="measure each generator alone at its own size, without the synthesis checkpoint that "
                         "renders its label maps (--write stores these under metrics.generation_without_renderer)")
    ap.add_argument("--size", type=int, default=None,
                    help="measure every model at this size (outputs area-resized), e.g. 128 for a 256 px model; "
                         "default: the size each model outputs")
    ap.add_argument("--folds", type=int, default=4, help="folds of the cross-validated two-sample test")
    ap.add_argument("--auc-epochs", type=int, default=30, help="epochs of each fold's classifier")
    ap.add_argument("--runs", nargs="*", default=None,
                    help="training run folders (config.json + model.safetensors) to measure instead of the "
                         "installed checkpoints; the EMA generator when the run keeps one")
    ap.add_argument("--truncation", type=check_psi, default=None,
                    help="sample every model with this latent truncation psi in (0, 1] (1 = none) instead of its "
                         "card's; with --write the cards take it")
    a = ap.parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    if a.installed_json and a.checkpoints is None:
        ap.error("--installed-json goes with --checkpoints")
    torch.set_num_threads(1)
    if a.runs is not None:
        cards = [run_candidate(Path(r), a.truncation) for r in a.runs]
    elif a.checkpoints is not None:
        from medgan.inference import _scan

        cards = [card_candidate(c, a.raw, a.truncation) for c in _scan(Path(a.checkpoints), False)
                 if c.task == "generation" and (a.names is None or c.name in a.names)]
    else:
        cards = installed_candidates(a.names, a.raw, a.truncation)
    if not cards:
        print("no generation checkpoints found")
        return 1
    def at_size(group: list[Candidate]) -> list[Candidate]:
        return [dataclasses.replace(c, image_size=a.size, module=AtSize(c.module, a.size).eval()) if a.size else c
                for c in group]

    cards = at_size(cards)
    groups = [(a.json, cards)]
    if a.installed_json:
        groups.append((a.installed_json, at_size(installed_candidates({c.name for c in cards}, a.raw, a.truncation))))
    feat = medgan_features("unet_segmentation")
    seg = load_model("unet_segmentation").module
    seg_size = int(feat.image_size)
    refs: dict[int, dict] = {}
    for i, (json_path, group) in enumerate(groups):
        if i == 1:
            print("\ninstalled checkpoints of the same names:")
        results: dict[str, dict] = {}
        for card in group:
            size = int(card.image_size)
            if size not in refs:
                refs[size] = reference_figures(size, feat, seg, seg_size, a.folds, a.auc_epochs)
            results[card.name] = measure(card, refs[size], feat, seg, seg_size, a)
        if json_path:
            Path(json_path).parent.mkdir(parents=True, exist_ok=True)
            Path(json_path).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
