"""The training loop shared by every family: data, models, optimisers, the family's step function, progress
events (``metrics.jsonl``), samples, validation, atomic checkpoints, exact resume, cancellation (SIGTERM or an
``OUT/STOP`` file: finish the step, checkpoint, exit cleanly), and data parallelism under torchrun (the generator
and discriminator wrapped in DistributedDataParallel, see :mod:`medgan.training.distributed`)."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import logging
import signal
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from medgan import checkpoints
from medgan.atomic import atomic_write_bytes, atomic_write_json
from medgan.checkpoints import ModelCard
from medgan.data.brain import CLASS_NAMES
from medgan.inference import find_card
from medgan.models.registry import build_discriminator, build_generator
from medgan.tasks.specs import get_spec
from medgan.training import checkpoint as ckpt
from medgan.training import distributed as ddp
from medgan.training import finetune, readout
from medgan.training.config import TrainConfig
from medgan.training.context import StepContext
from medgan.training.cpu_bf16 import bf16_cpu_note, cpu_has_fast_bf16
from medgan.training.data import BatchSampler, fixed_batches, load_slices
from medgan.training.families import get_family
from medgan.training.unconditional import update_ema
from medgan.training.validation import evaluate, sample_grid

logger = logging.getLogger(__name__)

DATASET_NAMES = {"embedded": "embedded MNI152 2009c T1 (nilearn), train split",
                 "embedded+pydicom": "embedded MNI152 2009c T1 (nilearn), train split, plus real CR/CT/NM slices "
                                     "from pydicom-data (medgan.data.extra_scans.TRAIN_FILES)",
                 "phantoms": "procedural phantoms (medgan.data.phantoms)"}


def pick_device(name: str) -> torch.device:
    """"auto" → CUDA when available else CPU; "cuda" raises ValueError when no GPU is present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but no CUDA GPU is available; use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; valid: auto, cpu, cuda")
    return torch.device(name)


class EventLog:
    """Appends JSON lines to OUT/metrics.jsonl, flushed at once (rank 0 only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._f = open(path, "a", buffering=1) if path is not None else None  # noqa: SIM115

    def write(self, event: dict[str, Any]) -> None:
        if self._f is None:
            return
        event.setdefault("time", time.time())
        self._f.write(json.dumps(event) + "\n")
        self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class CancelFlag:
    """Set by SIGTERM (main thread only) or by the presence of OUT/STOP."""

    def __init__(self, out: Path) -> None:
        self.stop_file = out / "STOP"
        self.signalled = False
        self._old = None
        with contextlib.suppress(ValueError):  # not in the main thread
            self._old = signal.signal(signal.SIGTERM, self._handler)

    def _handler(self, signum, frame) -> None:  # noqa: ANN001
        self.signalled = True

    def requested(self) -> bool:
        return self.signalled or self.stop_file.exists()

    def restore(self) -> None:
        if self._old is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, self._old)


def build_card(cfg: TrainConfig, step: int, metrics: dict[str, Any]) -> ModelCard:
    """The model card (docs/architecture.md) for the run's generator."""
    g = cfg.generator.args
    k = len(CLASS_NAMES)
    spec = get_spec(cfg.task)
    in_ch = g.get("in_channels", g.get("label_nc")) if spec.in_channels(k) is not None else None
    out_ch = g.get("out_channels", g.get("num_classes")) if spec.in_channels(k) is not None else spec.out_channels(k)
    arch_titles = {"spade": "SPADE", "pix2pix": "Pix2Pix", "unet": "U-Net", "wgangp": "WGAN-GP", "dcgan": "DCGAN",
                   "lsgan": "LSGAN", "hingegan": "HingeGAN", "stylegan": "StyleGAN"}
    what = spec.phrase(cfg.data.degradation)
    return ModelCard(
        name=cfg.run.name,
        summary=f"{arch_titles.get(cfg.arch, cfg.arch)}, {what}, {cfg.data.image_size} px",
        task=cfg.task,
        family=cfg.arch,
        generator={"name": cfg.generator.name, "args": dict(g)},
        discriminator=None if cfg.discriminator is None else {"name": cfg.discriminator.name,
                                                               "args": dict(cfg.discriminator.args)},
        image_size=cfg.data.image_size,
        in_channels=in_ch,
        out_channels=out_ch,
        label_classes=list(CLASS_NAMES),
        degradation=cfg.data.degradation,
        z_dim=cfg.z_dim,
        input_fill=cfg.data.input_fill if cfg.task == "inpainting" else None,
        zero_background=True if cfg.task == "synthesis" and cfg.data.zero_background else None,
        dataset=DATASET_NAMES.get(cfg.data.source, f"folder {cfg.data.source}"),
        training_command=cfg.run.command,
        steps=step,
        metrics=metrics,
        turing=None,
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        extra={"grown_from": dict(cfg.run.grown_from)} if cfg.run.grown_from else {},
    )


def shared_seed(seed: int, step: int) -> int:
    """Seed of step ``step``'s shared generator (``StepContext.shared_rng``): the same on every rank, unlike the
    global generator's per-step seed, which includes the rank."""
    return seed * 1_000_003 + step * 101 + 500_009


def _optimizer(kind: str, params, lr: float, betas: tuple[float, float]) -> torch.optim.Optimizer:
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    raise ValueError(f"unknown optimizer {kind!r}; valid: adam, rmsprop")


def _scheduler(opt: torch.optim.Optimizer | None, total: int, decay_start: float, warmup: int = 0):
    if opt is None:
        return None
    start = int(total * decay_start)

    def factor(step: int) -> float:
        ramp = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0  # linear warm-up (fine-tunes)
        if step < start or total <= start:
            return ramp
        return ramp * max(0.0, 1.0 - (step - start) / max(1, total - start))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _quality(cfg: TrainConfig, generator: torch.nn.Module, train_set: Any, log: EventLog, step: int
             ) -> dict[str, Any]:
    """The fixed-sample-set readout (:mod:`medgan.training.readout`) of the final generator and, for a
    fine-tune, of its parent; recorded as ``val`` events (split "after" / "parent") and returned for the card."""
    models = {"after": generator}
    try:
        if cfg.run.init_from:
            models["parent"] = find_card(cfg.run.init_from).build()
        ref = torch.from_numpy(train_set.images[:, None].astype("float32"))
        res = readout.readout(models, int(cfg.z_dim or 128), ref, n=cfg.run.quality_samples)
    except (ValueError, OSError, RuntimeError) as exc:  # a missing feature network must not fail the run
        logger.warning("quality readout skipped: %s", exc)
        return {"error": f"quality readout skipped: {exc}"}
    for split in ("parent", "after"):
        if split in res:
            log.write({"type": "val", "step": step, "split": split, "metrics": res[split]})
    return {"after": res["after"], **({"before": res["parent"]} if "parent" in res else {}),
            "features": readout.FEATURES}


def train(cfg: TrainConfig, resume: bool = False) -> str:
    """Run (or resume) ``cfg``; returns the end status: "finished", "cancelled" or "failed"."""
    out = Path(cfg.run.out)
    device = pick_device(cfg.run.device)
    info = ddp.init_from_env(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
    ddp.barrier(info)
    log = EventLog(out / "metrics.jsonl" if info.is_main else None)
    cancel = CancelFlag(out)
    status, reason = "failed", ""
    try:
        status, reason = _run(cfg, resume, out, device, info, log, cancel)
        return status
    except BaseException as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        log.write({"type": "end", "status": status, "reason": reason})
        log.close()
        cancel.restore()
        ddp.shutdown(info)


def _run(cfg: TrainConfig, resume: bool, out: Path, device: torch.device, info: ddp.DistInfo, log: EventLog,
         cancel: CancelFlag) -> tuple[str, str]:
    k = len(CLASS_NAMES)
    torch.manual_seed(cfg.run.seed)
    generator = build_generator(cfg.generator.name, **cfg.generator.args).to(device)
    discriminator = None
    if cfg.discriminator is not None:
        discriminator = build_discriminator(cfg.discriminator.name, **cfg.discriminator.args).to(device)
    init_info: dict[str, Any] = {}
    if cfg.run.init_from and not resume:
        init_info = finetune.load_parent(cfg.run.init_from, generator, discriminator, grow=bool(cfg.run.grown_from))
        if cfg.run.grown_from:  # progressive resolution: how many tensors came from the parent, how many are new
            cfg.run.grown_from.update(init_info.get("grown", {}))
    elif resume and (out / "init.json").exists():
        init_info = json.loads((out / "init.json").read_text())
    if cfg.run.freeze:
        init_info["frozen"] = finetune.freeze(generator, cfg.run.freeze)
    if cfg.optim.warmup_steps:
        init_info["warmup_steps"] = int(cfg.optim.warmup_steps)
    channels_last = device.type == "cpu" and cfg.run.amp_cpu and cfg.task == "generation" and not info.enabled
    if channels_last:  # bf16 generation steps on the CPU: 1.3–2.2× faster (benchmarks/generation_step_bench.py)
        for m in (generator, discriminator):
            if m is not None:
                m.to(memory_format=torch.channels_last)
    ema = None
    ema_decay = float(cfg.family_args.get("ema_decay", 0.0))
    if ema_decay > 0:
        ema = copy.deepcopy(generator).eval()
        for p in ema.parameters():
            p.requires_grad_(False)
    o = cfg.optim
    opt_g = _optimizer(o.optimizer, [p for p in generator.parameters() if p.requires_grad], o.lr_g, o.betas)
    opt_d = None if discriminator is None else _optimizer(o.optimizer, discriminator.parameters(), o.lr_d, o.betas)
    total = cfg.run.steps
    sch_g = _scheduler(opt_g, total, o.lr_decay_start, o.warmup_steps)
    sch_d = _scheduler(opt_d, total, o.lr_decay_start, o.warmup_steps)
    optimizers = {"opt_g": opt_g, "opt_d": opt_d}
    schedulers = {"sch_g": sch_g, "sch_d": sch_d}
    start = 0
    if resume and (out / "train_state.json").exists():
        tensors = checkpoints.load_weights(out / "model.safetensors")
        checkpoints.load_into(generator, checkpoints.split_prefix(tensors, "generator"))
        if discriminator is not None:
            checkpoints.load_into(discriminator, checkpoints.split_prefix(tensors, "discriminator"))
        ema_tensors = checkpoints.split_prefix(tensors, "ema")
        if ema is not None and ema_tensors:
            checkpoints.load_into(ema, ema_tensors)
        elif ema is not None:  # EMA switched on at this resume: it starts from the resumed generator
            ema.load_state_dict(generator.state_dict())
            logger.info("EMA (decay %g) starts from the generator at the resumed step", ema_decay)
        start = int(ckpt.load_train_state(out, optimizers, schedulers)["step"])
        logger.info("resumed %s at step %d", out, start)
    ddp.broadcast_module(generator, info)
    if discriminator is not None:
        ddp.broadcast_module(discriminator, info)
    if ema is not None:
        ddp.broadcast_module(ema, info)
    if info.is_main:
        atomic_write_json(out / "config.json", cfg.to_dict())
        if init_info and not resume:
            atomic_write_json(out / "init.json", {k: v for k, v in init_info.items() if k != "frozen"})

    train_set = load_slices(cfg.data, "train")
    sampler = BatchSampler(train_set, cfg.task, cfg.data, k, cfg.run.seed, info.rank, info.world)
    val_batches = []
    family = get_family(cfg.family)
    if family.validates:
        val_batches = fixed_batches(load_slices(cfg.data, "val"), cfg.task, cfg.data, k, cfg.data.val_limit)
    step_fn = family.step
    amp_device = device.type if (cfg.run.amp and device.type == "cuda") or (
        cfg.run.amp_cpu and device.type == "cpu") else None

    if amp_device == "cpu" and not cpu_has_fast_bf16():
        logger.warning("bf16 on CPU (--amp-cpu): %s", bf16_cpu_note())

    def autocast():
        return torch.autocast(amp_device, dtype=torch.bfloat16) if amp_device else contextlib.nullcontext()

    # the step functions see the data-parallel wrappers; checkpoints, EMA, samples and validation the modules
    g_step = ddp.wrap(generator, info, device)
    d_step = None if discriminator is None else ddp.wrap(discriminator, info, device)
    shared_rng = torch.Generator() if info.enabled else None
    ctx = StepContext(g_step, d_step, opt_g, opt_d, cfg, device, shared_rng=shared_rng, autocast=autocast,
                      extra={"ema": ema} if ema is not None else {})
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    start_event = {"type": "start", "device": device.type, "device_name": name, "total_steps": total,
                   "start_step": start, "world_size": info.world, "precision": "bf16-mixed" if amp_device else "fp32"}
    if channels_last:
        start_event["memory_format"] = "channels_last"
    if ema is not None:
        start_event["ema_decay"] = ema_decay
    if init_info:
        start_event["fine_tune"] = init_info
    if cfg.family_args:
        start_event["family_args"] = dict(cfg.family_args)
    if info.enabled:
        start_event["data_parallel"] = ddp.describe({"generator": g_step, "discriminator": d_step}, info)
    log.write(start_event)
    generator.train()
    if discriminator is not None:
        discriminator.train()
    last_metrics: dict[str, Any] = {}

    def fit_ema() -> None:  # e.g. an EMA generator's BatchNorm statistics, re-estimated for its own weights
        if ema is not None and family.fit_ema is not None:
            family.fit_ema(ctx)

    def save(step_done: int, final_metrics: dict[str, Any] | None = None) -> None:
        if not info.is_main:
            return
        fit_ema()
        card = build_card(cfg, step_done, final_metrics if final_metrics is not None else last_metrics)
        if init_info:
            card.extra["fine_tune"] = dict(init_info)
        checkpoints.save_checkpoint(out, generator, discriminator, card, ema=ema)
        ckpt.save_train_state(out, step_done, optimizers, schedulers)
        log.write({"type": "checkpoint", "step": step_done, "path": "model.safetensors"})

    def sample(step_done: int) -> None:
        if not info.is_main:
            return
        path = out / "samples" / f"step_{step_done:06d}.png"
        if family.write_samples is not None:
            fit_ema()
            family.write_samples(ctx, path)
        else:
            sample_grid(cfg.task, generator, val_batches[0], device, path)
        atomic_write_bytes(out / "samples" / "latest.png", path.read_bytes())
        log.write({"type": "sample", "step": step_done, "path": f"samples/{path.name}"})

    bar = tqdm(total=total, initial=start, disable=not info.is_main, dynamic_ncols=True, mininterval=1.0)
    t_last, steps_since, last_write = time.time(), 0, 0.0
    step = start
    cancelled = False
    while step < total:
        torch.manual_seed(cfg.run.seed * 1_000_003 + step * 101 + info.rank)
        if shared_rng is not None:  # decisions every rank must take alike
            shared_rng.manual_seed(shared_seed(cfg.run.seed, step))
        batch = {kk: v.to(device, non_blocking=True) for kk, v in sampler.batch(step).items()}
        logs = step_fn(ctx, batch)
        if ema is not None:  # every family: the EMA follows the generator after each step
            update_ema(ema, generator, ema_decay)
        if sch_g is not None:
            sch_g.step()
        if sch_d is not None:  # it follows the step count even where the discriminator does not train
            with warnings.catch_warnings():  # (--lambda-adv 0: torch warns that its optimizer never stepped)
                warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler.step\(\)` before")
                sch_d.step()
        step += 1
        steps_since += 1
        now = time.time()
        if info.is_main and (now - last_write >= 1.0 or step == total or step - start <= 1):
            it_s = steps_since / max(1e-9, now - t_last)
            log.write({"type": "step", "step": step, "total": total, "losses": logs, "it_s": it_s,
                       "imgs_s": it_s * cfg.data.batch_size * info.world, "eta_s": (total - step) / max(it_s, 1e-9)})
            t_last, steps_since, last_write = now, 0, now
        bar.update(1)
        bar.set_postfix({kk: f"{v:.3g}" for kk, v in list(logs.items())[:4]}, refresh=False)
        if cfg.run.sample_every > 0 and step % cfg.run.sample_every == 0:
            sample(step)
        if cfg.run.val_every > 0 and step % cfg.run.val_every == 0 and val_batches and info.is_main:
            last_metrics = {"val": evaluate(cfg.task, generator, val_batches, device)}
            log.write({"type": "val", "step": step, "metrics": last_metrics["val"]})
        if ddp.all_ranks_flag(cancel.requested(), info):
            cancelled = True
            break
        if cfg.run.ckpt_every > 0 and step % cfg.run.ckpt_every == 0 and step < total:
            save(step)
    bar.close()
    if cancelled:
        save(step)
        return "cancelled", "stop requested (SIGTERM or STOP file)"
    final = dict(last_metrics)
    if info.is_main and val_batches:
        final["val"] = evaluate(cfg.task, generator, val_batches, device)
        log.write({"type": "val", "step": step, "metrics": final["val"]})
        if cfg.data.source == "embedded":
            test = fixed_batches(load_slices(cfg.data, "test"), cfg.task, cfg.data, k, 10_000)
            final["test"] = evaluate(cfg.task, generator, test, device)
            log.write({"type": "val", "step": step, "split": "test", "metrics": final["test"]})
    if info.is_main and cfg.run.quality_readout and cfg.task == "generation":
        final["quality"] = _quality(cfg, ema if ema is not None else generator, train_set, log, step)
    sample(step)
    save(step, final)
    if info.enabled:
        nets = [generator] + ([discriminator] if discriminator is not None else [])
        div = max(ddp.replica_divergence(m, info) for m in nets)
        log.write({"type": "ddp", "world_size": info.world, "max_replica_diff": div})
    ddp.barrier(info)
    return "finished", ""
