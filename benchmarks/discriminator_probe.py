"""Can a discriminator learn to tell a frozen synthesis model's output from the real slices?

Trains only a discriminator, against a bundled conditional generator that does not move, on the training split, and
prints its loss and mean logits on real and synthesised pairs every 25 steps. A loss that stays at its chance value
(1.0 for hinge, ln 2 = 0.693 for BCE) with equal real and fake logits means the discriminator gives the generator no
signal. ``--fake noise`` replaces the generator's output by the real slice plus Gaussian noise (σ 0.1): a task any
working discriminator learns in a few dozen steps. ``--raw-scale xavier-0.02`` puts the spectral-normalised layers'
raw weights back at the scale Xavier initialisation with gain 0.02 gives (before ``unit_spectral_scale``).

    OMP_NUM_THREADS=1 python benchmarks/discriminator_probe.py [--model spade_synthesis] [--steps 150]
        [--fake model|noise] [--raw-scale unit|xavier-0.02] [--norm instance|none] [--disc multiscale|patchgan]
        [--loss hinge|bce] [--lr 2e-4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medgan import checkpoints, losses  # noqa: E402
from medgan.inference import find_card  # noqa: E402
from medgan.models.registry import build_discriminator, build_generator  # noqa: E402
from medgan.tasks.specs import get_spec  # noqa: E402
from medgan.training.config import DataConfig  # noqa: E402
from medgan.training.data import BatchSampler, load_slices  # noqa: E402


def _logit_mean(out) -> float:
    return float(torch.stack([t.detach().float().mean() for t in losses.logits_per_scale(out)]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="spade_synthesis")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--fake", choices=["model", "noise"], default="model")
    ap.add_argument("--raw-scale", choices=["unit", "xavier-0.02"], default="unit")
    ap.add_argument("--norm", choices=["instance", "none"], default="instance")
    ap.add_argument("--disc", choices=["multiscale", "patchgan"], default="multiscale")
    ap.add_argument("--loss", choices=["hinge", "bce"], default="hinge")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch-size", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)

    card = find_card(args.model)
    gen = build_generator(card.generator["name"], **card.generator["args"])
    checkpoints.load_into(gen, checkpoints.split_prefix(checkpoints.load_weights(card.weights_path), "generator"))
    gen.eval()
    cin = int(card.in_channels) + int(card.out_channels)
    torch.manual_seed(0)
    if args.disc == "multiscale":
        disc = build_discriminator("multiscale_patchgan", in_channels=cin, ndf=32, num_d=2, spectral_norm=True,
                                   norm=args.norm)
    else:
        disc = build_discriminator("patchgan", in_channels=cin, ndf=32, norm=args.norm)
    if args.raw_scale == "xavier-0.02":
        for m in disc.modules():
            if hasattr(m, "parametrizations"):
                with torch.no_grad():
                    torch.nn.init.xavier_normal_(m.parametrizations.weight.original, gain=0.02)
    opt = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=(0.5, 0.999))
    adv = losses.get_loss(args.loss)
    data_cfg = DataConfig(image_size=int(card.image_size), batch_size=args.batch_size, augment=True,
                          zero_background=bool(getattr(card, "zero_background", False)))
    sampler = BatchSampler(load_slices(data_cfg, "train"), card.task, data_cfg, len(card.label_classes), seed=3)
    spec = get_spec(card.task)
    print(f"{args.model}: discriminator {args.disc} (norm {args.norm}, raw scale {args.raw_scale}), "
          f"{args.loss} loss, lr {args.lr:g}, fakes from {args.fake}")
    t0, window = time.time(), []
    for step in range(args.steps):
        batch = sampler.batch(step)
        x, y = batch["input"], batch["target"]
        with torch.no_grad():
            fake = (y + 0.1 * torch.randn_like(y)).clamp(-1, 1) if args.fake == "noise" else \
                spec.composite(gen(x), batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            real_out, fake_out = disc(torch.cat([x, y], 1)), disc(torch.cat([x, fake], 1))
            loss = adv.d_loss(real_out, fake_out)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        window.append((float(loss.detach()), _logit_mean(real_out), _logit_mean(fake_out)))
        if (step + 1) % 25 == 0:
            m = [sum(v[i] for v in window) / len(window) for i in range(3)]
            print(f"step {step + 1:4d}  loss {m[0]:.3f}  logit real {m[1]:+.3f}  fake {m[2]:+.3f}  "
                  f"({time.time() - t0:.0f} s)", flush=True)
            window = []


if __name__ == "__main__":
    main()
