"""What a training job is: the form's values as a dataclass, checked, and turned into ``python -m medgan train`` args.

A job started from the browser runs exactly the command a user would type in a terminal; :func:`train_args`
is the single place that maps a :class:`JobSpec` to that command line.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from medgan.tasks.specs import TASK_NAMES
from medgan.tasks.specs import TASKS as TASK_SPECS
from medgan.training.family_generation import generation_archs
from medgan.training.presets import PRESETS, make_config

TASKS = TASK_NAMES
DEGRADATIONS = TASK_SPECS["enhancement"].degradations
DEVICES = ("auto", "cpu", "cuda")

# Architectures per task (names as ``python -m medgan train --arch`` takes them), the default first.
ARCHS: dict[str, tuple[str, ...]] = {name: spec.archs for name, spec in TASK_SPECS.items()}

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class Hyper:
    """Seed hyper-parameters of one architecture (the form's defaults)."""

    lr_g: float = 2e-4
    lr_d: float = 2e-4
    lambda_l1: float | None = 100.0
    n_critic: int = 1


def task_archs() -> dict[str, tuple[str, ...]]:
    """Architectures per task as the training presets define them, in the task spec's order."""
    out: dict[str, tuple[str, ...]] = {}
    for task in TASKS:
        names = list(generation_archs()) if task == "generation" else [a for t, a in PRESETS if t == task]
        order = {a: i for i, a in enumerate(ARCHS[task])}
        out[task] = tuple(sorted(names, key=lambda a: (order.get(a, 99), a)))
    return out


def seed_hyper(task: str, arch: str) -> Hyper:
    """The seed hyper-parameters for ``arch`` serving ``task``: the training preset's (the one source of them);
    ValueError for a pair no preset defines."""
    cfg = make_config(task, arch, 64, degradation="denoise" if task == "enhancement" else None)
    o = cfg.optim
    uses_l1 = task != "generation" and cfg.discriminator is not None
    return Hyper(lr_g=o.lr_g, lr_d=o.lr_d, lambda_l1=o.lambda_l1 if uses_l1 else None, n_critic=o.n_critic)


@dataclass
class Scale:
    """Defaults that depend on the device: on a CPU a demo job must finish in minutes."""

    steps: int
    batch_size: int
    image_size: int


CPU_SCALE = Scale(steps=200, batch_size=4, image_size=64)
GPU_SCALE = Scale(steps=4000, batch_size=16, image_size=256)


@dataclass
class JobSpec:
    """One training run, as the Train tab's form describes it. ``data`` is embedded, phantoms or a folder path."""

    task: str
    arch: str
    data: str = "embedded"
    data_desc: str = ""
    init_from: str | None = None
    degradation: str | None = None
    steps: int = CPU_SCALE.steps
    batch_size: int = CPU_SCALE.batch_size
    lr_g: float | None = None
    lr_d: float | None = None
    lambda_l1: float | None = None
    n_critic: int | None = None
    image_size: int = CPU_SCALE.image_size
    augment: bool = False
    spectral_norm: bool = False
    device: str = "auto"
    seed: int = 0
    sample_every: int | None = None
    val_every: int | None = None
    ckpt_every: int | None = None
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _every(steps: int, parts: int, least: int) -> int:
    """A cadence of about ``parts`` events per run, never more often than every ``least`` steps."""
    return max(least, steps // parts)


def check_spec(spec: JobSpec) -> JobSpec:
    """Validate and normalise ``spec`` in place; ValueError with a plain-words message when something is wrong."""
    if spec.task not in TASKS:
        raise ValueError(f"unknown task {spec.task!r}; valid: {', '.join(TASKS)}")
    valid = task_archs()[spec.task]
    if spec.arch not in valid:
        raise ValueError(f"architecture {spec.arch!r} does not serve {spec.task}; valid: {', '.join(valid)}")
    if spec.task == "enhancement":
        spec.degradation = spec.degradation or "denoise"
        if spec.degradation not in DEGRADATIONS:
            raise ValueError(f"unknown degradation {spec.degradation!r}; valid: {', '.join(DEGRADATIONS)}")
    else:
        spec.degradation = None
    if spec.device not in DEVICES:
        raise ValueError(f"unknown device {spec.device!r}; valid: {', '.join(DEVICES)}")
    spec.steps, spec.batch_size, spec.image_size = int(spec.steps), int(spec.batch_size), int(spec.image_size)
    if not 1 <= spec.steps <= 1_000_000:
        raise ValueError(f"steps must be between 1 and 1000000, got {spec.steps}")
    if not 1 <= spec.batch_size <= 1024:
        raise ValueError(f"batch size must be between 1 and 1024, got {spec.batch_size}")
    size = spec.image_size
    if size < 16 or size > 1024 or size & (size - 1):
        raise ValueError(f"image size must be a power of two between 16 and 1024, got {size}")
    hyper = seed_hyper(spec.task, spec.arch)
    spec.lr_g = float(spec.lr_g if spec.lr_g is not None else hyper.lr_g)
    spec.lr_d = float(spec.lr_d if spec.lr_d is not None else hyper.lr_d)
    for label, lr in (("generator", spec.lr_g), ("discriminator", spec.lr_d)):
        if not 0 < lr < 1:
            raise ValueError(f"{label} learning rate must be in (0, 1), got {lr}")
    if spec.lambda_l1 is None:
        spec.lambda_l1 = hyper.lambda_l1
    if spec.lambda_l1 is not None and not 0 <= float(spec.lambda_l1) <= 10_000:
        raise ValueError(f"λ L1 must be between 0 and 10000, got {spec.lambda_l1}")
    spec.n_critic = int(spec.n_critic if spec.n_critic is not None else hyper.n_critic)
    if not 1 <= spec.n_critic <= 20:
        raise ValueError(f"n_critic must be between 1 and 20, got {spec.n_critic}")
    spec.seed = int(spec.seed)
    spec.sample_every = int(spec.sample_every or _every(spec.steps, 20, 5))
    spec.val_every = int(spec.val_every or _every(spec.steps, 5, 10))
    spec.ckpt_every = int(spec.ckpt_every or _every(spec.steps, 5, 5))
    spec.init_from = spec.init_from or None
    spec.name = (spec.name or "").strip()
    if spec.name and not NAME_RE.match(spec.name):
        raise ValueError(f"model name {spec.name!r} may use only letters, digits, '_', '-' and '.', "
                         "start with a letter or digit, and be at most 64 characters")
    return spec


def train_args(spec: JobSpec) -> list[str]:
    """The ``python -m medgan train`` arguments for ``spec`` (without ``--out`` / ``--resume``)."""
    args = ["--task", spec.task, "--arch", spec.arch]
    if spec.degradation:
        args += ["--degradation", spec.degradation]
    args += ["--data", spec.data]
    if spec.init_from:
        args += ["--init-from", spec.init_from]
    args += ["--steps", str(spec.steps), "--batch-size", str(spec.batch_size),
             "--lr-g", repr(float(spec.lr_g)), "--lr-d", repr(float(spec.lr_d))]
    if spec.lambda_l1 is not None:
        args += ["--lambda-l1", repr(float(spec.lambda_l1))]
    args += ["--n-critic", str(spec.n_critic), "--image-size", str(spec.image_size)]
    if spec.augment:
        args.append("--augment")
    if spec.spectral_norm:
        args.append("--spectral-norm")
    args += ["--device", spec.device, "--seed", str(spec.seed)]
    for flag, value in (("--sample-every", spec.sample_every), ("--val-every", spec.val_every),
                        ("--ckpt-every", spec.ckpt_every)):
        if value:
            args += [flag, str(value)]
    if spec.name:
        args += ["--name", spec.name]
    return args
