"""``python -m medgan train``: train or fine-tune a model; writes OUT/model.safetensors + model.json,
OUT/train_state.*, OUT/config.json, OUT/metrics.jsonl and OUT/samples/. Under ``torchrun --nproc_per_node=N``
the run is data-parallel (only rank 0 writes)."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from medgan.training.config import TASKS, TrainConfig

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--arch", required=True, help="architecture, e.g. spade, pix2pix, unet, wgangp")
    parser.add_argument("--degradation", choices=("denoise", "sr4", "deblur"), default=None)
    parser.add_argument("--data", default="embedded", help="embedded | phantoms | PATH to a folder dataset")
    parser.add_argument("--init-from", default=None, help="name of a checkpoint whose generator starts the run")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr-g", type=float, default=None)
    parser.add_argument("--lr-d", type=float, default=None)
    parser.add_argument("--betas", type=float, nargs=2, default=None, metavar=("B1", "B2"),
                        help="Adam betas (default: the preset's, e.g. 0.5 0.999)")
    parser.add_argument("--lambda-l1", type=float, default=None)
    parser.add_argument("--recon-loss", choices=("l1", "l2"), default=None,
                        help="conditional models: the reconstruction term weighed by --lambda-l1 (l2: mean squared)")
    parser.add_argument("--lambda-adv", type=float, default=None,
                        help="weight of the adversarial term for the generator (0: a pure reconstruction fine-tune; "
                             "the discriminator is then not trained)")
    parser.add_argument("--n-critic", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None,
                        help="training size in px (default 256; with --init-from the checkpoint's; another size is "
                             "refused, except a larger one for generation, which grows the generator: "
                             "medgan.training.progressive)")
    parser.add_argument("--crop-size", type=int, default=None,
                        help="train on random crops of this size (fully convolutional models only)")
    parser.add_argument("--augment", action="store_true")
    parser.add_argument("--ema-decay", type=float, default=None,
                        help="keep an exponential moving average of the generator (e.g. 0.999); exported in its place")
    parser.add_argument("--r1-gamma", type=float, default=None,
                        help="generation: R1 penalty weight on real samples (overrides the preset; 0 = off)")
    parser.add_argument("--amp-cpu", action="store_true",
                        help="bf16 mixed precision on CPU as well (fast on CPUs with AVX512-BF16 / AMX)")
    parser.add_argument("--zoom-out", type=float, default=None,
                        help="with --augment: shrink slices by a random factor in [1 - Z, 1] (small brains in empty fields)")
    parser.add_argument("--uniform-crops", type=float, default=None,
                        help="with --crop-size: fraction of crops placed anywhere instead of centred on tissue")
    parser.add_argument("--blank-fraction", type=float, default=None,
                        help="segmentation: fraction of training samples replaced by empty slices labelled background")
    parser.add_argument("--randomise", type=float, default=None,
                        help="with --augment: domain randomisation, the probability of each family (e.g. 0.5)")
    parser.add_argument("--randomise-families", default=None,
                        help="comma-separated families of medgan.data.randomise to draw (default: all)")
    parser.add_argument("--hole-max", type=int, default=None,
                        help="inpainting: random rectangle holes up to this side at 256 px (0 = fixed 50×50)")
    parser.add_argument("--input-fill", choices=("zero", "biharmonic"), default=None,
                        help="inpainting: what the generator sees in the hole (biharmonic = a classical pre-fill)")
    parser.add_argument("--zero-background", action="store_true", default=None,
                        help="synthesis: pixels labelled background are black in the output, in training and in use "
                             "(for skull-stripped data such as the embedded brain, whose background is exactly 0)")
    parser.add_argument("--label-dropout", type=float, default=None,
                        help="inpainting: probability that a training sample has no labels (blind)")
    parser.add_argument("--stroke-holes", type=float, default=None,
                        help="inpainting: probability of a free-form stroke hole instead of a rectangle")
    parser.add_argument("--spectral-norm", action="store_true")
    parser.add_argument("--g-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="generator constructor argument (repeatable), e.g. ngf=32; VALUE is read as JSON. With "
                             "--init-from only an argument that adds a part, e.g. refine=24 (a hole-filling head)")
    parser.add_argument("--d-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="discriminator constructor argument (repeatable), e.g. ndf=64")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-every", type=int, default=None)
    parser.add_argument("--val-every", type=int, default=None)
    parser.add_argument("--ckpt-every", type=int, default=None)
    parser.add_argument("--lr-decay-start", type=float, default=None,
                        help="fraction of the run after which the learning rates decay linearly to 0")
    parser.add_argument("--warmup-steps", type=int, default=None,
                        help="linear learning-rate warm-up over the first N steps (the Train tab uses it for fine-tunes)")
    parser.add_argument("--freeze", default=None,
                        help="generator parts that do not train, comma-separated: encoder | early | part names")
    parser.add_argument("--quality-readout", action="store_true",
                        help="generation: at the end, FD-medgan / label agreement / diversity on a fixed sample set "
                             "(and of the --init-from parent), in metrics.jsonl and the card")
    parser.add_argument("--quality-samples", type=int, default=None,
                        help="samples of the quality readout (default 64; FD from fewer moves more with the draw)")
    parser.add_argument("--name", default=None, help="checkpoint name written into the model card")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")


def build_config(args: argparse.Namespace) -> TrainConfig:
    """Preset for (task, arch) plus the command-line overrides."""
    from medgan.training.presets import make_config

    if args.init_from:
        cfg = _config_from_checkpoint(args)
    else:
        cfg = make_config(args.task, args.arch, args.image_size or 256, spectral_norm=args.spectral_norm,
                          degradation=args.degradation)
    o, d, r = cfg.optim, cfg.data, cfg.run
    d.source = args.data
    d.augment = bool(args.augment)
    for attr, target, field in (("lr_g", o, "lr_g"), ("lr_d", o, "lr_d"), ("lambda_l1", o, "lambda_l1"),
                                ("lambda_adv", o, "lambda_adv"), ("recon_loss", o, "recon_loss"),
                                ("n_critic", o, "n_critic"),
                                ("batch_size", d, "batch_size"), ("crop_size", d, "crop_size"),
                                ("blank_fraction", d, "blank_fraction"), ("zoom_out", d, "zoom_out"),
                                ("uniform_crops", d, "uniform_crops"), ("steps", r, "steps"),
                                ("randomise", d, "randomise"), ("hole_max", d, "hole_max"),
                                ("input_fill", d, "input_fill"), ("label_dropout", d, "label_dropout"),
                                ("zero_background", d, "zero_background"),
                                ("stroke_holes", d, "stroke_holes"),
                                ("sample_every", r, "sample_every"), ("val_every", r, "val_every"),
                                ("ckpt_every", r, "ckpt_every"), ("lr_decay_start", o, "lr_decay_start"),
                                ("warmup_steps", o, "warmup_steps")):
        v = getattr(args, attr, None)
        if v is not None:
            setattr(target, field, v)
    if getattr(args, "betas", None) is not None:
        if not all(0.0 <= b < 1.0 for b in args.betas):
            raise ValueError(f"--betas must be two numbers in [0, 1), got {args.betas}")
        o.betas = (float(args.betas[0]), float(args.betas[1]))
    if getattr(args, "randomise_families", None):
        from medgan.data.randomise import FAMILIES

        fams = tuple(f.strip() for f in args.randomise_families.split(",") if f.strip())
        bad = [f for f in fams if f not in FAMILIES]
        if bad:
            raise ValueError(f"--randomise-families: unknown {', '.join(bad)}; valid: {', '.join(FAMILIES)}")
        d.randomise_families = fams
    for name, value, top in (("--zoom-out", d.zoom_out, 0.95), ("--uniform-crops", d.uniform_crops, 1.0),
                             ("--blank-fraction", d.blank_fraction, 1.0), ("--randomise", d.randomise, 1.0),
                             ("--label-dropout", d.label_dropout, 1.0), ("--stroke-holes", d.stroke_holes, 1.0),
                             ("--hole-max", d.hole_max, 256)):
        if not 0.0 <= value <= top:
            raise ValueError(f"{name} must be between 0 and {top}, got {value}")
    if d.source == "embedded+pydicom" and cfg.task in ("synthesis", "segmentation", "generation"):
        raise ValueError(f"--data embedded+pydicom: its real slices have no labels, which {cfg.task} needs; use "
                         "--data embedded (embedded+pydicom serves inpainting and enhancement)")
    if d.zero_background and cfg.task != "synthesis":
        raise ValueError("--zero-background is for synthesis only")
    _model_args(cfg, args)
    _freeze(cfg, args)
    _resume_switches(cfg, args)
    r.amp_cpu = r.amp_cpu or bool(getattr(args, "amp_cpu", False))
    r.device, r.seed, r.out, r.init_from = args.device, args.seed, args.out, args.init_from
    r.name = args.name or Path(args.out).name
    r.command = "python -m medgan train " + " ".join(shlex.quote(a) for a in _argv())
    return cfg


def parse_model_args(items: list[str], flag: str) -> dict[str, object]:
    """``["ngf=32", "norm=instance"]`` → ``{"ngf": 32, "norm": "instance"}`` (values read as JSON, else text)."""
    import json

    out: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"{flag} takes KEY=VALUE (e.g. {flag} ngf=32), got {item!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _model_args(cfg: TrainConfig, args: argparse.Namespace) -> None:
    """Apply ``--g-arg`` / ``--d-arg`` and check that the models still build with them."""
    from medgan.models.registry import build_discriminator, build_generator

    g_extra = parse_model_args(getattr(args, "g_arg", None) or [], "--g-arg")
    d_extra = parse_model_args(getattr(args, "d_arg", None) or [], "--d-arg")
    if g_extra and args.init_from:
        from medgan.models.registry import generator_class

        addable = getattr(generator_class(cfg.generator.name), "ADDABLE", ())
        changed = sorted(set(g_extra) - set(addable))
        if changed:
            can = f"it may only add parts ({', '.join(addable)})" if addable else f"{cfg.generator.name} has none to add"
            raise ValueError(f"--g-arg {', '.join(changed)}: the generator of --init-from comes from the checkpoint's "
                             f"card; {can}")
    if d_extra and cfg.discriminator is None:
        raise ValueError(f"--d-arg: the {cfg.task} preset {cfg.arch!r} has no discriminator")
    for extra, model, build, flag in ((g_extra, cfg.generator, build_generator, "--g-arg"),
                                      (d_extra, cfg.discriminator, build_discriminator, "--d-arg")):
        if not extra:
            continue
        model.args.update(extra)
        try:
            build(model.name, **model.args)
        except TypeError as exc:
            raise ValueError(f"{flag}: {model.name} does not take these arguments ({exc})") from None


def _freeze(cfg: TrainConfig, args: argparse.Namespace) -> None:
    """``--freeze`` (checked against the generator's parts) and ``--quality-readout`` / ``--quality-samples``."""
    if getattr(args, "warmup_steps", None) is not None and args.warmup_steps < 0:
        raise ValueError(f"--warmup-steps must be ≥ 0, got {args.warmup_steps}")
    cfg.run.quality_readout = bool(getattr(args, "quality_readout", False))
    samples = getattr(args, "quality_samples", None)
    if samples is not None:
        if samples < 2:
            raise ValueError(f"--quality-samples must be ≥ 2 (FD needs two), got {samples}")
        cfg.run.quality_samples = samples
    what = [w.strip() for w in (getattr(args, "freeze", None) or "").split(",") if w.strip()]
    if not what:
        return
    from medgan.models.registry import build_generator
    from medgan.training.finetune import freeze_targets

    freeze_targets(build_generator(cfg.generator.name, **cfg.generator.args), what)
    cfg.run.freeze = what


def _resume_switches(cfg: TrainConfig, args: argparse.Namespace) -> None:
    """Switches that may change at a ``--resume``: ``--r1-gamma`` (generation) and ``--ema-decay`` (a generator
    EMA; switched on at a resume it starts from the resumed generator)."""
    if getattr(args, "r1_gamma", None) is not None:
        if args.r1_gamma < 0:
            raise ValueError(f"--r1-gamma must be ≥ 0, got {args.r1_gamma}")
        cfg.family_args["r1_gamma"] = float(args.r1_gamma)
    if getattr(args, "ema_decay", None) is None:
        return
    if not 0.0 <= args.ema_decay < 1.0:
        raise ValueError(f"--ema-decay must be in [0, 1), got {args.ema_decay}")
    cfg.family_args["ema_decay"] = float(args.ema_decay)


def _argv() -> list[str]:
    argv = sys.argv[1:]
    return argv[argv.index("train") + 1 :] if "train" in argv else argv


def _config_from_checkpoint(args: argparse.Namespace) -> TrainConfig:
    """Fine-tuning: the generator architecture comes from the named checkpoint's card."""
    from medgan.inference import find_card
    from medgan.training.config import ModelConfig
    from medgan.training.presets import make_config

    card = find_card(args.init_from)
    if card.task != args.task:
        raise ValueError(f"checkpoint {args.init_from!r} is a {card.task} model, not {args.task}")
    size = int(card.image_size)
    wanted = getattr(args, "image_size", None)
    grow = args.task == "generation" and wanted is not None and int(wanted) > size
    if wanted not in (None, size) and not grow:
        raise ValueError(f"--image-size {args.image_size}: checkpoint {args.init_from!r} was trained at {size} px; "
                         f"fine-tuning keeps its size (use --image-size {size} or leave it out; a generation "
                         f"checkpoint grows to a larger size)")
    cfg = make_config(args.task, args.arch, int(wanted) if grow else size, spectral_norm=args.spectral_norm,
                      degradation=args.degradation or card.degradation)
    if grow:
        from medgan.training.progressive import grow_checkpoint_config

        grow_checkpoint_config(cfg, card, int(wanted))
    else:
        cfg.generator = ModelConfig(card.generator["name"], dict(card.generator.get("args", {})))
    return cfg


def main(args: argparse.Namespace) -> int:
    from medgan.training.config import TrainConfig as _TC
    from medgan.training.loop import train

    out = Path(args.out)
    try:
        if args.resume and (out / "config.json").exists():
            import json

            cfg = _TC.from_dict(json.loads((out / "config.json").read_text()))
            cfg.run.out = str(out)  # the folder given now (a copied or moved run continues where it is)
            if args.steps is not None:
                cfg.run.steps = args.steps
            _resume_switches(cfg, args)
            cfg.run.amp_cpu = cfg.run.amp_cpu or bool(args.amp_cpu)
        else:
            cfg = build_config(args)
    except (ValueError, FileNotFoundError, ModuleNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        status = train(cfg, resume=args.resume)
    except (ValueError, FileNotFoundError, ModuleNotFoundError, OSError) as exc:  # recorded as a "failed" end event
        logger.debug("training failed", exc_info=True)
        print(f"error: training failed: {exc}", file=sys.stderr)
        return 1
    print(f"training {status}: {out}")
    return 0 if status in ("finished", "cancelled") else 1
