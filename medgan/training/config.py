"""Nested dataclass configuration of one training run (built by the CLI, saved as config.json beside the
checkpoint). ``presets`` fills the defaults for each (task, arch)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from medgan.tasks.specs import TASK_NAMES

TASKS: tuple[str, ...] = TASK_NAMES


@dataclass
class ModelConfig:
    """A registry name and its constructor keyword arguments."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """Optimisers and loss weights (seed values: Adam 2e-4 β=(0.5, 0.999); RMSProp 5e-5 for WGAN-GP)."""

    optimizer: str = "adam"  # "adam" | "rmsprop"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    adv_loss: str = "bce"  # a key of medgan.losses.LOSSES
    lambda_adv: float = 1.0
    lambda_l1: float = 100.0
    recon_loss: str = "l1"  # the reconstruction term λ_l1 weighs: "l1" (median-seeking) or "l2" (what PSNR measures)
    lambda_dice: float = 10.0
    lambda_gp: float = 10.0
    lambda_fm: float = 10.0
    n_critic: int = 1
    label_smoothing: float = 0.0
    lr_decay_start: float = 1.0  # fraction of the run after which the lr decays linearly to 0 (1.0 = constant)
    warmup_steps: int = 0  # linear learning-rate warm-up over the first steps (fine-tunes)


@dataclass
class DataConfig:
    """Where the slices come from and how batches are made."""

    source: str = "embedded"  # "embedded" | "phantoms" | a folder path
    image_size: int = 256
    batch_size: int = 4
    augment: bool = False
    degradation: str | None = None  # enhancement: "denoise" | "sr4" | "deblur"
    num_phantoms: int = 64
    label_dropout: float = 0.3  # inpainting: probability that the labels channel is zeroed
    stroke_holes: float = 0.2  # inpainting: probability of a free-form hole instead of a square
    val_limit: int = 20
    crop_size: int | None = None  # train on random crops (fully convolutional models); validation uses full slices
    zoom_out: float = 0.0  # augmentation: shrink the content by a random factor in [1 - zoom_out, 1]
    uniform_crops: float = 0.0  # fraction of crops placed anywhere (empty corners included), not on tissue
    blank_fraction: float = 0.0  # segmentation: probability of an empty (tissue-free) training sample, all background
    randomise: float = 0.0  # domain randomisation: probability of each family of medgan.data.randomise (0 = off)
    randomise_families: tuple[str, ...] = ()  # the families drawn (empty = all of medgan.data.randomise.FAMILIES)
    hole_max: int = 0  # inpainting: largest hole side at 256 px (random rectangles from 24 px); 0 = fixed 50×50
    input_fill: str = "zero"  # inpainting: what the generator sees in the hole: "zero" or "biharmonic" (pre-fill)
    zero_background: bool = False  # synthesis: pixels labelled background are black (skull-stripped data)


def _data_config(d: dict[str, Any]) -> DataConfig:
    d = dict(d)
    if "randomise_families" in d:
        d["randomise_families"] = tuple(d["randomise_families"])
    return DataConfig(**d)


@dataclass
class RunConfig:
    """Loop length, cadence of side effects, device, seed and output."""

    steps: int = 1000
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    sample_every: int = 100
    val_every: int = 200
    ckpt_every: int = 200
    name: str = "model"
    out: str = "runs/model"
    init_from: str | None = None
    grown_from: dict[str, Any] | None = None  # generation: init_from's generator grown to a larger size (progressive)
    freeze: list[str] = field(default_factory=list)  # generator parts that do not train (medgan.training.finetune)
    quality_readout: bool = False  # generation: fixed-sample-set readout of the final model (and the parent)
    quality_samples: int = 64  # samples of that readout (medgan.training.readout.SAMPLES)
    amp: bool = True  # bf16 mixed precision on CUDA
    amp_cpu: bool = False  # bf16 mixed precision on CPU too (about 1.8× faster where the CPU has AVX512-BF16 / AMX)
    command: str = ""


@dataclass
class TrainConfig:
    """Everything that defines one run."""

    task: str
    arch: str
    family: str  # key of medgan.training.families.FAMILIES
    generator: ModelConfig
    discriminator: ModelConfig | None
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    run: RunConfig = field(default_factory=RunConfig)
    z_dim: int | None = None
    family_args: dict[str, Any] = field(default_factory=dict)  # family-specific switches (generation)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        disc = d.get("discriminator")
        opt = dict(d.get("optim", {}))
        if "betas" in opt:
            opt["betas"] = tuple(opt["betas"])
        return cls(task=d["task"], arch=d["arch"], family=d["family"], generator=ModelConfig(**d["generator"]),
                   discriminator=ModelConfig(**disc) if disc else None, optim=OptimConfig(**opt),
                   data=_data_config(d.get("data", {})), run=RunConfig(**d.get("run", {})), z_dim=d.get("z_dim"),
                   family_args=dict(d.get("family_args", {})))
