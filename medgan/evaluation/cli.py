"""``python -m medgan evaluate --preset tiny|quick|full``: run the empirical-study protocol, write a report."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from medgan.evaluation.config import PRESET_NAMES, preset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=PRESET_NAMES, default="quick",
                        help="tiny: phantoms + random-init tiny models (seconds, tests); quick: bundled checkpoints "
                             "on the embedded data (≤ 20 min on 2 CPU cores); full: N = 10 000 per GAN (GPU)")
    parser.add_argument("--out", default=None, help="report folder (default reports/<name>)")
    parser.add_argument("--name", default=None, help="report name (default: the preset)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:0 (default: the preset's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (1 is fastest on a busy machine; default: the preset's)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default 0)")
    parser.add_argument("--n-samples", type=int, default=None, help="synthetic pairs per GAN")
    parser.add_argument("--steps", type=int, default=None, help="downstream U-Net training steps")
    parser.add_argument("--models", nargs="+", default=None, metavar="NAME",
                        help="evaluate only these checkpoints (names as in checkpoints/)")
    parser.add_argument("--skip-generation", action="store_true", help="skip the generation protocol")
    parser.add_argument("--skip-conditional", action="store_true", help="skip the conditional tasks")
    parser.add_argument("--max-test-slices", type=int, default=None, help="limit the test slices (0 = all)")
    parser.add_argument("--fid-weights", default=None,
                        help="InceptionV3 FID weights file (pt_inception-2015-12-05-6726825d.pth) to add ImageNet "
                             "FID beside FD-medgan; or set MEDGAN_FID_WEIGHTS. Never downloaded")


def main(args: argparse.Namespace) -> int:
    import os
    from dataclasses import replace

    fid = args.fid_weights or os.environ.get("MEDGAN_FID_WEIGHTS")
    try:
        cfg = preset(args.preset, device=args.device, seed=args.seed, n_samples=args.n_samples,
                     max_test_slices=args.max_test_slices, fid_weights=fid, threads=args.threads)
        if args.steps is not None:
            cfg = replace(cfg, downstream=replace(cfg.downstream, steps=args.steps))
        if args.models:
            cfg = replace(cfg, only=tuple(args.models))
        cfg = replace(cfg, generation=not args.skip_generation, conditional=not args.skip_conditional)
        if cfg.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                print(f"device {cfg.device!r} is not available here; running on cpu (pass --device cpu to "
                      "silence this)", file=sys.stderr)
                cfg = replace(cfg, device="cpu")
        out = Path(args.out) if args.out else Path("reports") / (args.name or cfg.preset)
        from medgan.evaluation.report import evaluate

        command = "python -m medgan " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        path = evaluate(cfg, out, command)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    print(f"report written to {path}")
    return 0
