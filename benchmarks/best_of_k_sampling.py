"""Does the GAN's own discriminator pick better samples? Best-of-k sampling, measured against the generation bars.

For each latent ``z`` the generator draws ``k`` candidates (``z`` and ``k - 1`` cyclic shifts of its coordinates,
which are again standard normal draws), the checkpoint's shipped discriminator scores their raw outputs, and the
best-scoring one goes on (through the card's renderer). Everything else is ``generation_quality.py``: the same
sample sets, the same bars, the same real-vs-real reference. Needs a card that ships its discriminator
(``lsgan_generation``).

    OMP_NUM_THREADS=1 python benchmarks/best_of_k_sampling.py --k 4 --names lsgan_generation --size 128 \
        --samples 96 --seeds 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import generation_quality as gq  # noqa: E402

from medgan import checkpoints as ckpt  # noqa: E402
from medgan.models.registry import build_discriminator  # noqa: E402


class BestOfK(nn.Module):
    """``generator`` (z → output) returning, per ``z``, the one of ``k`` candidates ``discriminator`` scores
    highest (mean logit)."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, k: int) -> None:
        super().__init__()
        self.generator, self.discriminator, self.k = generator, discriminator, int(k)

    def forward(self, z: Tensor) -> Tensor:
        y = self.generator(torch.cat([torch.roll(z, j, dims=1) for j in range(self.k)]))
        score = self.discriminator(y).flatten(1).mean(1).view(self.k, len(z))
        return y.view(self.k, len(z), *y.shape[1:])[score.argmax(0), torch.arange(len(z))]


def shipped_discriminator(card: object) -> nn.Module:
    spec = getattr(card, "discriminator", None) or {}
    state, _ = ckpt.stored_discriminator(card.weights_path)  # type: ignore[attr-defined]
    if not spec.get("name") or not state:
        raise SystemExit(f"{card.name} ships no discriminator; best-of-k needs one")  # type: ignore[attr-defined]
    d = build_discriminator(spec["name"], **spec["args"])
    ckpt.load_into(d, state)
    return d.eval()


def main() -> int:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--k", type=int, default=4)
    a, rest = ap.parse_known_args()
    build = gq.build_from_card

    def with_best_of_k(card, device="cpu", render=True, truncation=None):  # noqa: ANN001, ANN202
        module = build(card, device, render, truncation)
        d = shipped_discriminator(card)
        if hasattr(module, "renderer"):
            module.generator = BestOfK(module.generator, d, a.k)
            return module
        return BestOfK(module, d, a.k).eval()

    gq.build_from_card = with_best_of_k
    print(f"best-of-{a.k} sampling with each checkpoint's own discriminator")
    return gq.main(rest)


if __name__ == "__main__":
    sys.exit(main())
