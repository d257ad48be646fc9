"""Bundle a finished run: ``python -m medgan.training.export RUN_DIR [--dest checkpoints]``.

Writes ``DEST/<name>.safetensors`` (generator weights only; float16 when float32 would exceed the size limit —
loading casts back to float32) and ``DEST/<name>.json`` (the run's card with test metrics re-measured on the
stored weights)."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

import torch

from medgan import checkpoints
from medgan.checkpoints import ModelCard
from medgan.inference import find_card
from medgan.training.config import TrainConfig
from medgan.training.data import fixed_batches, load_slices
from medgan.training.validation import evaluate

logger = logging.getLogger(__name__)
MAX_BYTES = 10 * 1024 * 1024


def run_history(run_dir: Path) -> list[dict]:
    """The run's segments from the ``start`` events of ``metrics.jsonl`` (one per launch, resumes included):
    ``from_step``, ``device``, ``precision``, ``ema_decay``, ``world_size``, ``family_args``; a launch that changed none of them
    is merged into the previous segment."""
    keys = ("device", "precision", "ema_decay", "world_size", "family_args")
    out: list[dict] = []
    for ev in _start_events(run_dir):
        seg = {"from_step": int(ev.get("start_step", 0)), "device": ev.get("device"),
               "precision": ev.get("precision", "fp32"), "ema_decay": ev.get("ema_decay"),
               "world_size": int(ev.get("world_size", 1)), "family_args": ev.get("family_args", {})}
        if out and all(out[-1][k] == seg[k] for k in keys):
            continue
        out.append(seg)
    return out


def _start_events(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    events = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a crash
            continue
        if ev.get("type") == "start":
            events.append(ev)
    return events


def resume_commands(run_dir: Path, first_command: str, task: str, arch: str) -> list[str]:
    """The ``--resume`` launches of a run as commands, rebuilt from its ``start`` events: the total ``--steps``
    of each launch (it sets the learning-rate schedule) and the switches it turned on (``--amp-cpu``,
    ``--ema-decay``, ``--r1-gamma``), in the run folder of ``first_command``. Appended to the card's command so
    that running it reproduces a run that was continued."""
    tokens = shlex.split(first_command) if first_command else []
    out = tokens[tokens.index("--out") + 1] if "--out" in tokens[:-1] else str(run_dir)
    cmds, prev = [], {}
    for ev in _start_events(run_dir):
        if int(ev.get("start_step", 0)) > 0:
            switches: list[str] = []
            if ev.get("device") == "cpu" and ev.get("precision") == "bf16-mixed" and prev.get("precision") != "bf16-mixed":
                switches.append("--amp-cpu")
            if ev.get("ema_decay") and ev.get("ema_decay") != prev.get("ema_decay"):
                switches += ["--ema-decay", str(ev["ema_decay"])]
            r1 = (ev.get("family_args") or {}).get("r1_gamma")
            if r1 is not None and r1 != (prev.get("family_args") or {}).get("r1_gamma"):
                switches += ["--r1-gamma", str(r1)]
            # a resume with the same total and no new switch continued a cut launch: running the chain, that
            # launch is not cut, so there is nothing left for it to do
            if switches or ev.get("total_steps") != prev.get("total_steps"):
                cmds.append(" ".join(["python -m medgan train --task", task, "--arch", arch, "--out", shlex.quote(out),
                                      "--resume", "--steps", str(ev.get("total_steps")), *switches]))
        prev = ev
    return cmds


def _init_card(name: str, dest: Path) -> ModelCard | None:
    """The card a run was initialised from: ``dest/<name>.json`` (where the previous stage was exported), else
    the installed card of that name; None when neither exists or it cannot be read."""
    path = dest / f"{name}.json"
    try:
        return ModelCard.read(path) if path.exists() else find_card(name)
    except (OSError, ValueError):  # json.JSONDecodeError is a ValueError
        return None


def export_run(run_dir: Path, dest: Path, max_bytes: int = MAX_BYTES) -> Path:
    """Export the generator of ``run_dir`` into ``dest``; returns the weights path."""
    run_dir, dest = Path(run_dir), Path(dest)
    card = ModelCard.read(run_dir / "model.json")
    all_tensors = checkpoints.load_weights(run_dir / "model.safetensors")
    # the EMA generator (when the run kept one) is what gets bundled, stored under "generator."
    tensors = checkpoints.split_prefix(all_tensors, "ema") or checkpoints.split_prefix(all_tensors, "generator")
    nbytes = sum(t.numel() * t.element_size() for t in tensors.values())
    dtype = torch.float16 if nbytes > max_bytes * 0.98 else None
    out = {f"generator.{k}": (v.to(dtype) if dtype is not None and v.is_floating_point() else v)
           for k, v in tensors.items()}
    weights = dest / f"{card.name}.safetensors"
    checkpoints.save_tensors(weights, out, metadata={"format": "pt", "storage": str(dtype or "float32")})
    if weights.stat().st_size > max_bytes:
        raise ValueError(f"{weights} is {weights.stat().st_size / 1e6:.1f} MB, over the limit")
    cfg = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    if card.discriminator is not None:
        card.discriminator["stored"] = False
    card.weights_path = weights
    if cfg.task != "generation" and cfg.data.source == "embedded":
        test = fixed_batches(load_slices(cfg.data, "test"), cfg.task, cfg.data, 4, 10_000)
        card.metrics["test"] = evaluate(cfg.task, card.build(), test, torch.device("cpu"))
    first = card.training_command
    card.training_command = " && ".join(
        [first, *resume_commands(run_dir, first, cfg.task, cfg.arch),
         f"python -m medgan.training.export {run_dir} --dest {dest}"] if first else
        [f"python -m medgan.training.export {run_dir} --dest {dest}"])
    history = run_history(run_dir)
    if len(history) > 1:  # switches turned on at a resume (EMA, CPU bf16, more ranks): the card says from when
        card.extra["training_segments"] = history
    if int(card.steps) < cfg.run.steps:  # a time-boxed run stopped early (clean cancel + checkpoint)
        card.extra["training_note"] = (f"stopped at step {card.steps} of {cfg.run.steps} by the training time limit; "
                                       f"add --steps {card.steps} to reproduce the same number of steps")
    if cfg.data.source == "embedded":  # the domain it was trained on (randomisation included), medgan.domain
        from medgan.domain import card_domain

        card.domain = card_domain(card, json.loads((run_dir / "config.json").read_text()).get("data"))
    if cfg.run.init_from:
        card = card.continued_from(_init_card(cfg.run.init_from, dest), str(run_dir))
    card.write(dest / f"{card.name}.json")
    return weights


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m medgan.training.export", description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--dest", default="checkpoints")
    a = p.parse_args(argv)
    w = export_run(Path(a.run_dir), Path(a.dest))
    card = json.loads(w.with_suffix(".json").read_text())
    sys.stdout.write(f"{w} ({w.stat().st_size / 1e6:.2f} MB) test metrics: {card.get('metrics', {}).get('test')}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
