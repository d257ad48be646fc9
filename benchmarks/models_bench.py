"""Per architecture: parameters, checkpoint MB, inference ms per slice on 2 CPU threads (256×256 conditional,
128×128 unconditional), training images/s (one step of the family's step function on CPU) and peak memory.

    python benchmarks/models_bench.py [--quick] [--only NAME ...]

Bundled checkpoints are measured as stored; architectures without a bundled checkpoint use their preset.
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from medgan.checkpoints import model_tensors  # noqa: E402
from medgan.models.registry import GENERATORS, build_discriminator, build_generator  # noqa: E402
from medgan.training.context import StepContext
from medgan.training.families import get_step  # noqa: E402
from medgan.training.presets import PRESETS, make_config  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bytes(module: torch.nn.Module, fp16: bool) -> int:
    from safetensors.torch import save

    t = model_tensors(module, dtype=torch.float16 if fp16 else None)
    return len(save({k: v.contiguous() for k, v in t.items()}))


def _time(fn, reps: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def bench_preset(task: str, arch: str, reps: int, train_reps: int) -> dict:
    size = 128 if task == "generation" else 256
    cfg = make_config(task, arch, size, degradation="denoise" if task == "enhancement" else None)
    g = build_generator(cfg.generator.name, **cfg.generator.args)
    n_params = sum(p.numel() for p in g.parameters())
    fp32 = _bytes(g, False)
    stored = fp32 if fp32 <= 10 * 2**20 else _bytes(g, True)
    g.eval()
    if task == "generation":
        x = torch.randn(1, int(getattr(g, "z_dim", cfg.z_dim or 128)))
    else:
        cin = cfg.generator.args.get("in_channels", cfg.generator.args.get("label_nc"))
        x = torch.randn(1, cin, size, size)
    with torch.no_grad():
        ms = _time(lambda: g(x), reps) * 1000
        from torch.utils.flop_counter import FlopCounterMode

        try:
            with FlopCounterMode(display=False) as fc:
                g(x)
            gflop = fc.get_total_flops() / 1e9
        except Exception:  # some custom ops cannot be counted
            gflop = float("nan")
    g.train()
    d = None if cfg.discriminator is None else build_discriminator(cfg.discriminator.name, **cfg.discriminator.args)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-4)
    opt_d = None if d is None else torch.optim.Adam(d.parameters(), lr=1e-4)
    ctx = StepContext(g, d, opt_g, opt_d, cfg, torch.device("cpu"))
    from medgan.training.data import BatchSampler, load_slices

    cfg.data.source, cfg.data.num_phantoms, cfg.data.batch_size = "phantoms", 8, 2
    batch = BatchSampler(load_slices(cfg.data, "train"), task, cfg.data, 4, seed=0).batch(0)
    step = get_step(cfg.family)
    sec = _time(lambda: step(ctx, batch), train_reps)
    return {"arch": f"{task}/{arch}", "generator": cfg.generator.name, "params_M": n_params / 1e6,
            "ckpt_MB": stored / 1e6, "fp16": stored != fp32, "size": size, "infer_ms": ms, "gflop": gflop,
            "train_img_s": cfg.data.batch_size / sec, "peak_MB": _peak_mb()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--only", nargs="*", default=None, help="task/arch pairs, e.g. synthesis/spade")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (the targets assume 2)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    reps, train_reps = (2, 1) if a.quick else (5, 2)
    rows = []
    from medgan.training.family_generation import generation_archs

    for task, arch in sorted(PRESETS) + [("generation", a) for a in generation_archs()]:
        if a.only and f"{task}/{arch}" not in a.only:
            continue
        try:
            rows.append(bench_preset(task, arch, reps, train_reps))
        except Exception as exc:  # a family that cannot be benchmarked is reported, not fatal
            rows.append({"arch": f"{task}/{arch}", "error": f"{type(exc).__name__}: {exc}"})
    buf = io.StringIO()
    hdr = f"{'task/arch':28s} {'generator':10s} {'params M':>9s} {'ckpt MB':>8s} {'px':>4s} {'infer ms':>9s} {'GFLOP':>6s} " \
          f"{'train img/s':>11s} {'peak MB':>8s}"
    print(hdr, file=buf)
    print("-" * len(hdr), file=buf)
    for r in rows:
        if "error" in r:
            print(f"{r['arch']:28s} error: {r['error']}", file=buf)
            continue
        print(f"{r['arch']:28s} {r['generator']:10s} {r['params_M']:9.2f} {r['ckpt_MB']:7.2f}{'h' if r['fp16'] else ' '}"
              f" {r['size']:4d} {r['infer_ms']:9.1f} {r['gflop']:6.2f} {r['train_img_s']:11.2f} {r['peak_MB']:8.0f}", file=buf)
    print(buf.getvalue() + f"h = stored as float16 (loaded back as float32); {a.threads} CPU thread(s); "
          f"registered generators: {', '.join(sorted(GENERATORS))}")
    if not a.only or any(o.startswith("generation/") for o in a.only):
        print(rendered_generation_line(reps))
    return 0


def rendered_generation_line(reps: int) -> str:
    """Inference of the bundled generation checkpoints as the app runs them (the generator, then the synthesis
    checkpoint that renders its label map at 256 px): ms per sample, one at a time."""
    from medgan.inference import list_cards, load_model, output_size

    cards = [c for c in list_cards("generation") if c.bundled and c.renderer]
    if not cards:
        return "no bundled generation checkpoint draws through a renderer"
    out = []
    for card in cards:
        module = load_model(card.name).module
        z = torch.randn(1, int(card.z_dim or 128))
        with torch.no_grad():
            ms = _time(lambda m=module, x=z: m(x), reps) * 1000
        out.append(f"{card.name} {ms:.0f} ms")
    return (f"generation as the app runs it ({cards[0].image_size} px label map → {cards[0].renderer} at "
            f"{output_size(cards[0])} px), per sample: " + ", ".join(out))


if __name__ == "__main__":
    sys.exit(main())
