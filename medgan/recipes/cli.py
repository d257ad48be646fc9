"""``python -m medgan train-all --profile gpu|cpu|smoke [--out DIR] [--only a,b] [--replace] [--dry-run]``:
retrain every bundled checkpoint with the recipe table, export the cards, run the quality reports, and say which
new checkpoints beat the installed ones (``--replace`` copies exactly those over ``checkpoints/``)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from medgan.recipes.table import PROFILES, RECIPES, planned_steps, train_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=sorted(PROFILES), default="gpu",
                        help="; ".join(f"{p.name}: {p.summary}" for p in PROFILES.values()))
    parser.add_argument("--smoke", action="store_true", help="same as --profile smoke")
    parser.add_argument("--out", default=None, help="output folder (default runs/train-all-<profile>)")
    parser.add_argument("--only", default="", help="comma-separated checkpoint names (default: all)")
    parser.add_argument("--replace", action="store_true",
                        help="copy each new checkpoint that beats the installed one over it in checkpoints/")
    parser.add_argument("--jobs", type=int, default=None, help="trainings at once (default: the profile's)")
    parser.add_argument("--train-seconds", type=float, default=None,
                        help="time box per training (default: the profile's; 0 = none)")
    parser.add_argument("--no-quality", action="store_true", help="skip the quality reports (and the verdicts)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan (one command per model) and stop")


def main(args: argparse.Namespace) -> int:
    import dataclasses

    profile = PROFILES["smoke" if args.smoke else args.profile]
    changes = {k: v for k, v in (("jobs", args.jobs), ("train_seconds", args.train_seconds)) if v is not None}
    profile = dataclasses.replace(profile, **changes)
    out = Path(args.out or f"runs/train-all-{profile.name}")
    only = [n for n in args.only.split(",") if n]
    known = {r.name for r in RECIPES}
    if set(only) - known:
        print(f"error: no recipe for {', '.join(sorted(set(only) - known))}; valid: {', '.join(sorted(known))}",
              file=sys.stderr)
        return 2
    rows = [r for r in RECIPES if not only or r.name in only]
    if args.dry_run:
        print(f"profile {profile.name}: {profile.summary}; {profile.jobs} at once, time box "
              f"{profile.train_seconds or 'none'} s per model")
        for r in rows:
            cmd = train_args(r, profile, str(out / "runs" / r.name))
            print(f"{r.name:22s} {planned_steps(r, profile):6d} steps  python -m medgan train "
                  + " ".join(shlex.quote(a) for a in cmd))
        return 0
    if profile.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("error: --profile gpu needs a CUDA GPU (use --profile cpu or smoke)", file=sys.stderr)
            return 2
    from medgan.recipes.runner import run_all

    outcomes = run_all(profile, out, only=only or None, replace=args.replace, quality=not args.no_quality)
    return 0 if all(o.status != "failed" and not o.report_failed for o in outcomes.values()) else 1
