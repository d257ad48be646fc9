"""Does ``torch.compile`` or channels-last memory format speed up one generation training step on the CPU?

One full step of the HingeGAN preset (the DCGAN pair; one discriminator update, one generator update, DiffAugment)
at ``--image-size`` px under bf16 autocast on the CPU (``--amp-cpu``), for each variant: eager; channels-last
(models and batch); ``torch.compile`` of the generator (the discriminator stays eager: the R1 penalty takes a
double backward through it, which compiled graphs do not support); both. R1 is off in every variant so that all
variants run the same work. Images/s = batch / median step time after the warm-up steps (compilation happens
there and is reported separately).

    OMP_NUM_THREADS=1 python benchmarks/generation_step_bench.py [--image-size 128] [--batch-size 16] [--steps 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medgan.models.registry import build_discriminator, build_generator  # noqa: E402
from medgan.training.family_generation import make_generation_config, step_config  # noqa: E402
from medgan.training.unconditional import generation_step, to_generation_tensor  # noqa: E402


def run_variant(name: str, size: int, batch: int, steps: int, warmup: int, channels_last: bool, compile_g: bool
                ) -> dict[str, float]:
    torch.manual_seed(0)
    cfg = make_generation_config("hingegan", size)
    g = build_generator(cfg.generator.name, **cfg.generator.args)
    d = build_discriminator(cfg.discriminator.name, **cfg.discriminator.args)
    s = step_config(cfg)
    s.r1_gamma = 0.0
    gen = torch.Generator().manual_seed(0)
    real = to_generation_tensor(torch.rand(batch, size, size, generator=gen),
                                torch.randint(0, 4, (batch, size, size), generator=gen), size)
    if channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
        real = real.contiguous(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.optim.lr_g, betas=cfg.optim.betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.optim.lr_d, betas=cfg.optim.betas)
    g_run = torch.compile(g) if compile_g else g

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16)

    times = []
    t_first = time.perf_counter()
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        generation_step(g_run, d, opt_g, opt_d, real, s, autocast=autocast)
        if i == warmup - 1:
            t_first = time.perf_counter() - t_first
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"imgs_s": batch / med, "step_s": med, "warmup_s": t_first}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--variants", default="eager,channels_last,compile,compile+channels_last")
    a = ap.parse_args(argv)
    print(f"one HingeGAN step at {a.image_size} px, batch {a.batch_size}, bf16 autocast on CPU, "
          f"{torch.get_num_threads()} thread(s), torch {torch.__version__}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    base = None
    for v in a.variants.split(","):
        try:
            r = run_variant(v, a.image_size, a.batch_size, a.steps, a.warmup, "channels_last" in v, "compile" in v)
        except Exception as exc:  # noqa: BLE001 (a variant that does not run on this machine is reported)
            print(f"{v:24s} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
            continue
        base = base or r["imgs_s"]
        print(f"{v:24s} {r['imgs_s']:7.1f} images/s  ({r['step_s'] * 1000:6.0f} ms/step, ×{r['imgs_s'] / base:.2f} vs "
              f"eager; warm-up {r['warmup_s']:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
