"""What a training job is: the form's values as a dataclass, checked, and turned into ``python -m medgan train`` args.

A job started from the browser runs exactly the command a user would type in a terminal; :func:`train_args`
is the single place that maps a :class:`JobSpec` to that command line.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from medgan.models.registry import build_generator
from medgan.tasks.specs import TASK_NAMES
from medgan.tasks.specs import TASKS as TASK_SPECS
from medgan.training.cli import parse_model_args
from medgan.training.family_generation import generation_archs
from medgan.training.finetune import FINETUNE_LR_SCALE, default_warmup, freeze_targets
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
    # advanced (the CLI's switches); fine-tunes: warm-up and frozen generator parts
    ema_decay: float | None = None
    amp_cpu: bool = False
    r1_gamma: float | None = None
    g_args: str = ""
    warmup_steps: int | None = None
    freeze: str = ""
    quality_readout: bool | None = None
    # the job system's own (not a ``train`` argument): remove uploaded data once the job has finished
    remove_data: bool = False

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
    scale = FINETUNE_LR_SCALE if spec.init_from else 1.0  # fine-tunes: a gentler preset
    spec.lr_g = float(spec.lr_g if spec.lr_g is not None else hyper.lr_g * scale)
    spec.lr_d = float(spec.lr_d if spec.lr_d is not None else hyper.lr_d * scale)
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
    if spec.init_from:
        check_parent(spec)
    _check_advanced(spec)
    spec.name = (spec.name or "").strip()
    if spec.name and not NAME_RE.match(spec.name):
        raise ValueError(f"model name {spec.name!r} may use only letters, digits, '_', '-' and '.', "
                         "start with a letter or digit, and be at most 64 characters")
    return spec


def _check_advanced(spec: JobSpec) -> None:
    """EMA decay, R1 γ, model-size arguments, warm-up, frozen parts, quality readout."""
    if spec.ema_decay in (None, "", 0, 0.0):
        spec.ema_decay = None
    elif not 0.0 < float(spec.ema_decay) < 1.0:
        raise ValueError(f"EMA decay must be in (0, 1) (e.g. 0.999), or 0 for none; got {spec.ema_decay}")
    else:
        spec.ema_decay = float(spec.ema_decay)
    if spec.r1_gamma is not None and spec.r1_gamma != "":
        if spec.task != "generation":
            raise ValueError("R1 γ applies to generation only; leave it empty for other tasks")
        if float(spec.r1_gamma) < 0:
            raise ValueError(f"R1 γ must be ≥ 0, got {spec.r1_gamma}")
        spec.r1_gamma = float(spec.r1_gamma)
    else:
        spec.r1_gamma = None
    spec.amp_cpu = bool(spec.amp_cpu)
    spec.g_args = " ".join(model_arg_items(spec.g_args or ""))
    cfg = make_config(spec.task, spec.arch, spec.image_size, spectral_norm=spec.spectral_norm,
                      degradation=spec.degradation)
    if spec.g_args:
        if spec.init_from:
            raise ValueError("model-size arguments cannot change the generator of a fine-tune (it comes from the "
                             "parent checkpoint); leave them empty or train from scratch")
        try:
            cfg.generator.args.update(parse_model_args(model_arg_items(spec.g_args), "model-size argument"))
            build_generator(cfg.generator.name, **cfg.generator.args)
        except TypeError as exc:
            raise ValueError(f"model-size arguments: {cfg.generator.name} does not take them ({exc})") from None
    if spec.init_from and spec.warmup_steps is None:
        spec.warmup_steps = default_warmup(spec.steps)
    spec.warmup_steps = int(spec.warmup_steps or 0)
    if not 0 <= spec.warmup_steps <= spec.steps:
        raise ValueError(f"warm-up steps must be between 0 and the number of steps, got {spec.warmup_steps}")
    spec.freeze = ",".join(w.strip() for w in (spec.freeze or "").split(",") if w.strip())
    if spec.freeze:
        freeze_targets(build_generator(cfg.generator.name, **cfg.generator.args), spec.freeze.split(","))
    if spec.quality_readout is None:
        spec.quality_readout = spec.task == "generation"
    spec.quality_readout = bool(spec.quality_readout) and spec.task == "generation"


def model_arg_items(text: str) -> list[str]:
    """``"ngf=32, skip=true"`` → ``["ngf=32", "skip=true"]`` (separated by commas or spaces)."""
    return [t for t in re.split(r"[\s,]+", text.strip()) if t]


def check_parent(spec: JobSpec) -> None:
    """The checkpoint a fine-tune starts from must exist, serve the job's task, have the generator the
    architecture trains, and match the job's image size (and degradation); ValueError saying which and why."""
    from medgan.inference import list_cards

    cards = list_cards()
    card = next((c for c in cards if c.name == spec.init_from), None)
    if card is None:
        same = [c.name for c in cards if c.task == spec.task]
        raise ValueError(f"no checkpoint named {spec.init_from!r} to fine-tune from; {spec.task} checkpoints: "
                         f"{', '.join(same) or '(none)'}")
    if card.task != spec.task:
        raise ValueError(f"checkpoint {card.name!r} is a {card.task} model; it cannot start a {spec.task} job")
    wanted = make_config(spec.task, spec.arch, 64, degradation=spec.degradation).generator.name
    if card.generator.get("name") != wanted:
        raise ValueError(f"checkpoint {card.name!r} has a {card.generator.get('name')} generator, but architecture "
                         f"{spec.arch!r} trains a {wanted} generator; pick the architecture {card.family!r}")
    if int(card.image_size) != spec.image_size:
        raise ValueError(f"checkpoint {card.name!r} was trained at {card.image_size} px but this job asks for "
                         f"{spec.image_size} px; fine-tuning keeps the parent's size: choose image size "
                         f"{card.image_size} (growing a generator to another size is not available here)")
    if spec.task == "enhancement" and card.degradation and card.degradation != spec.degradation:
        raise ValueError(f"checkpoint {card.name!r} was trained for {card.degradation}, not {spec.degradation}")


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
    if spec.ema_decay:
        args += ["--ema-decay", repr(float(spec.ema_decay))]
    if spec.amp_cpu:
        args.append("--amp-cpu")
    if spec.r1_gamma is not None:
        args += ["--r1-gamma", repr(float(spec.r1_gamma))]
    for item in model_arg_items(spec.g_args or ""):
        args += ["--g-arg", item]
    if spec.warmup_steps:
        args += ["--warmup-steps", str(spec.warmup_steps)]
    if spec.freeze:
        args += ["--freeze", spec.freeze]
    if spec.quality_readout:
        args.append("--quality-readout")
    if spec.name:
        args += ["--name", spec.name]
    return args
