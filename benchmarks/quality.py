"""Quality of the bundled checkpoints on the held-out test slices, against the targets of the GAN-zoo issue.

- inpainting (one 50×50 hole per 256 px slice inside the brain, label-guided, composited): whole-image PSNR and
  SSIM, in-hole PSNR, Dice(seg(output), seg(original)) with the ``unet_segmentation`` checkpoint;
- segmentation: mean Dice over CSF / grey matter / white matter vs the reference labels;
- synthesis: SSIM vs the real slice, Dice(seg(output), input labels);
- enhancement: denoise (σ = 15/255) output PSNR; ×4 super-resolution output PSNR vs bicubic (+2 dB);
  deblur reported;
- generation: FD-medgan per GAN (``--samples`` samples vs the real train slices at the generator's size).

Dice pools the counts over all test slices (medgan.metrics.dice_per_class). Seeds fixed.

    OMP_NUM_THREADS=1 python benchmarks/quality.py [--samples 256] [--max-slices 0] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medgan.evaluation.config import preset  # noqa: E402
from medgan.evaluation.downstream import load_data, resize_images  # noqa: E402
from medgan.evaluation.models import CONDITIONAL_TASKS, installed_models, installed_segmenter  # noqa: E402
from medgan.evaluation.protocol import build_context, evaluate_conditional, sample_pairs  # noqa: E402
from medgan.metrics import frechet_distance  # noqa: E402

# (task, degradation or None) → [(label, row key, operator, target or callable(row) → target)]
TARGETS: dict[str, list[tuple[str, str, str, float | str | None]]] = {
    "inpainting": [("PSNR whole image (dB)", "psnr", ">=", 36.0), ("SSIM whole image", "ssim", ">=", 0.97),
                   ("PSNR in hole (dB)", "hole_psnr", "report", None),
                   ("Dice seg(out) vs seg(orig)", "dice", ">=", 0.94)],
    "segmentation": [("mean Dice CSF/GM/WM", "dice", ">=", 0.90)],
    "synthesis": [("SSIM vs real slice", "ssim", ">=", 0.75), ("PSNR vs real slice (dB)", "psnr", "report", None),
                  ("Dice seg(out) vs input labels", "dice", ">=", 0.80)],
    "enhancement:denoise": [("PSNR output (dB)", "psnr", ">=", 32.0),
                            ("PSNR noisy input (dB)", "input_psnr", "report", None)],
    "enhancement:sr4": [("PSNR output (dB)", "psnr", ">=", "input_psnr+2"),
                        ("PSNR bicubic (dB)", "input_psnr", "report", None)],
    "enhancement:deblur": [("PSNR output (dB)", "psnr", "report", None),
                           ("PSNR blurred input (dB)", "input_psnr", "report", None)],
}


def _check(row: dict, key: str, op: str, target: float | str | None) -> tuple[str, str, str]:
    value = row.get(key)
    shown = "n/a" if value is None else f"{value:.4g}"
    if op == "report" or value is None:
        return shown, "", "" if value is not None else "MISS"
    if isinstance(target, str):  # "input_psnr+2": relative to the degraded-input baseline
        base_key, plus = target.split("+")
        goal = float(row[base_key]) + float(plus)
        label = f"≥ {goal:.4g} (bicubic + {plus} dB)"
    else:
        goal, label = float(target), f"≥ {target}"
    return shown, label, "PASS" if value >= goal else "MISS"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=256, help="samples per generation checkpoint for FD-medgan")
    ap.add_argument("--max-slices", type=int, default=0, help="limit the test slices (0 = all)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.time()
    if installed_segmenter(args.device) is None:
        print("quality: the unet_segmentation checkpoint is not installed; Dice and FD-medgan need it",
              file=sys.stderr)
        return 2
    cfg = replace(preset("quick"), device=args.device, max_test_slices=args.max_slices, generation=False)
    data = load_data(cfg)
    ctx = build_context(cfg, data, None)
    n_test = args.max_slices or len(data.test_images)
    print(f"held-out test slices: {n_test} of the embedded MNI152 test split (256 px); "
          f"segmenter/features: {ctx.segmenter.name} ({ctx.extractor.fd_name})\n")
    lines: list[tuple[str, str, str, str, str, str]] = []
    n_pass = n_miss = 0
    for task in CONDITIONAL_TASKS:
        for entry in installed_models(task, args.device):
            row = evaluate_conditional(ctx, entry)
            key = f"{task}:{row.get('degradation')}" if task == "enhancement" else task
            for label, k, op, target in TARGETS.get(key, []):
                shown, goal, verdict = _check(row, k, op, target)
                n_pass += verdict == "PASS"
                n_miss += verdict == "MISS"
                lines.append((task, entry.name, label, shown, goal, verdict))
            if row.get(ctx.extractor.fd_name) is not None:
                lines.append((task, entry.name, "FD-medgan to test slices", f"{row[ctx.extractor.fd_name]:.4g}",
                              "", ""))
    gens = installed_models("generation", args.device)
    if gens:
        size_feats: dict[int, torch.Tensor] = {}
        for entry in gens:
            imgs, _ = sample_pairs(entry, args.samples, seed=0, device=args.device)
            size = int(imgs.shape[-1])
            if size not in size_feats:  # real slices at the generator's size, same resampling as the samples
                size_feats[size] = ctx.extractor(resize_images(data.train_images, size))
                ref = frechet_distance(size_feats[size], ctx.extractor(resize_images(data.test_images, size)))
                lines.append(("generation", f"real test vs train ({size} px)", "FD-medgan (reference)",
                              f"{float(ref):.4g}", "", ""))
            fd = frechet_distance(size_feats[size], ctx.extractor(imgs))
            lines.append(("generation", entry.name, f"FD-medgan ({args.samples} samples, {size} px)",
                          f"{float(fd):.4g}", "lower is better", ""))
    else:
        lines.append(("generation", "(none installed)", "FD-medgan", "n/a", "", ""))
    if not lines:
        print("no conditional or generation checkpoints are installed")
        return 2
    head = ("task", "checkpoint", "metric", "value", "target", "")
    widths = [max(len(str(r[i])) for r in [head, *lines]) for i in range(6)]
    for r in [head, tuple("-" * w for w in widths), *lines]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"\n{n_pass} PASS, {n_miss} MISS · {time.time() - t0:.0f} s · torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
