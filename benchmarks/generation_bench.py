"""Inference latency of the unconditional generators: ms per single sample (batch 1), best of ``--reps`` runs
(the minimum is the figure least disturbed by other processes on a shared machine), at 64 and 128 px, on 1 and 2
CPU threads. Bundled checkpoints (``*_generation``) are timed as stored; presets at the other size.
Target (issue 3): ≤ 50 ms per 128×128 sample on 2 threads.

    python benchmarks/generation_bench.py [--reps 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from medgan.models.registry import build_generator  # noqa: E402
from medgan.training.family_generation import generation_archs, make_generation_config  # noqa: E402


def best_ms(g: torch.nn.Module, z_dim: int, reps: int) -> float:
    z = torch.randn(1, z_dim)
    times = []
    with torch.no_grad():
        g(z)
        for _ in range(reps):
            t = time.perf_counter()
            g(z)
            times.append(time.perf_counter() - t)
    return min(times) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args()
    print(f"{'arch':10s} {'generator':9s} {'px':>4s} {'params M':>9s} {'1 thread ms':>12s} {'2 threads ms':>13s}")
    for arch in generation_archs():
        for size in (64, 128):
            cfg = make_generation_config(arch, size, 4)
            g = build_generator(cfg.generator.name, **cfg.generator.args).eval()
            row = []
            for threads in (1, 2):
                torch.set_num_threads(threads)
                row.append(best_ms(g, cfg.z_dim or 128, a.reps))
            n = sum(p.numel() for p in g.parameters()) / 1e6
            print(f"{arch:10s} {cfg.generator.name:9s} {size:4d} {n:9.2f} {row[0]:12.1f} {row[1]:13.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
