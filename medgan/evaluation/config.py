"""Evaluation configuration: one dataclass, three presets (tiny, quick, full).

- tiny: procedural phantoms at 64 px, random-initialised tiny models from the registry, a few optimisation steps.
  Seconds on a CPU; exercises every code path (used in the test suite). Its numbers mean nothing clinically.
- quick: the embedded brain data and the bundled checkpoints, N = 300 samples per GAN, small downstream U-Nets
  (base 8) at 128 px for 200 steps. Aims at ≤ 20 minutes on 2 otherwise idle CPU cores.
- full: the empirical study's scale: N = 10 000 samples per GAN, downstream U-Nets at 256 px, long schedules.
  Meant for a GPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

PRESET_NAMES: tuple[str, ...] = ("tiny", "quick", "full")


@dataclass
class DownstreamConfig:
    """The downstream segmentation U-Net (registry "unet") trained on real and/or synthetic pairs."""

    base: int = 16
    depth: int = 4
    steps: int = 300
    batch_size: int = 8
    lr: float = 2e-3


@dataclass
class EvalConfig:
    preset: str
    data: str = "brain"                      # "brain" (embedded MNI152) or "phantom"
    image_size: int = 128                    # working size of the generation protocol (downstream U-Net, FD)
    n_samples: int = 300                     # synthetic pairs per GAN
    n_phantoms: tuple[int, int] = (24, 8)    # phantom data only: (train, test)
    phantom_size: int = 64
    models: str = "checkpoints"              # "checkpoints" (bundled + user) or "random-init" (tiny registry models)
    features: str = "checkpoint"             # "checkpoint" (unet_segmentation → FD-medgan) or "baseline" U-Net
    downstream: DownstreamConfig = field(default_factory=DownstreamConfig)
    kid_subsets: int = 50
    kid_subset_size: int = 200
    auc_epochs: int = 30
    auc_size: int = 64
    max_test_slices: int = 0                 # conditional tasks: 0 = all test slices
    inpaint_with_labels: bool = True
    grid_samples: int = 8
    seed: int = 0
    device: str = "cpu"
    threads: int = 0                         # torch CPU threads during the run (0 = leave torch's setting)
    generation: bool = True
    conditional: bool = True
    only: tuple[str, ...] = ()               # restrict to these checkpoint names (empty = all)
    fid_weights: str | None = None           # InceptionV3 FID weights file (optional)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def preset(name: str, **overrides: Any) -> EvalConfig:
    """The named preset with keyword overrides applied; ValueError listing valid names when unknown."""
    if name == "tiny":
        cfg = EvalConfig("tiny", data="phantom", image_size=64, n_samples=16, models="random-init",
                         features="baseline", downstream=DownstreamConfig(base=8, depth=2, steps=6, batch_size=4),
                         kid_subsets=5, kid_subset_size=8, auc_epochs=2, auc_size=32, grid_samples=4,
                         threads=1)
    elif name == "quick":
        cfg = EvalConfig("quick", n_samples=300, downstream=DownstreamConfig(base=8, depth=4, steps=200, batch_size=8),
                         kid_subsets=50, kid_subset_size=100, auc_epochs=20)
    elif name == "full":
        cfg = EvalConfig("full", image_size=256, n_samples=10_000,
                         downstream=DownstreamConfig(base=32, depth=5, steps=6000, batch_size=16),
                         kid_subsets=100, kid_subset_size=1000, auc_epochs=60, auc_size=128, device="cuda")
    else:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESET_NAMES)}")
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
