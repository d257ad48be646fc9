"""A run's lineage on its model card, the one code the CLI export and the Train tab's publishing share.

:func:`finish_card` completes the card a run wrote (``OUT/model.json``) for a checkpoint that leaves the run
folder: the training command as a chain that reproduces it (the first launch, every ``--resume`` that changed
the total or turned a switch on, then the step that installs it), the run's segments (switches turned on at a
resume), a note when a time limit stopped it early, and — for a run started with ``--init-from`` — the parent's
stages (:meth:`medgan.checkpoints.ModelCard.continued_from`: ``training_stages``, chained command, total steps)
with the parent's metrics at the time kept on the new stage (``parent_metrics``).
"""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

from medgan.checkpoints import ModelCard
from medgan.inference import find_card


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


def finish_card(card: ModelCard, run_dir: Path, *, first_command: str, task: str, arch: str, total_steps: int,
                init_from: str | None, dest: Path, tail: str | None = None) -> ModelCard:
    """``card`` (the run's) with its lineage: chained command (``first_command``, the resumes, ``tail``),
    segments, early-stop note, and the parent's stages when the run was initialised from ``init_from`` (looked up
    in ``dest`` first, where an earlier stage was installed, then among the installed checkpoints)."""
    run_dir = Path(run_dir)
    first = first_command or card.training_command
    chain = [first, *resume_commands(run_dir, first, task, arch)] if first else []
    card.training_command = " && ".join([*chain, *([tail] if tail else [])])
    history = run_history(run_dir)
    if len(history) > 1:  # switches turned on at a resume (EMA, CPU bf16, more ranks): the card says from when
        card.extra["training_segments"] = history
    if int(card.steps) < int(total_steps):  # a time-boxed run stopped early (clean cancel + checkpoint)
        card.extra["training_note"] = (f"stopped at step {card.steps} of {total_steps} by the training time limit; "
                                       f"add --steps {card.steps} to reproduce the same number of steps")
    if not init_from:
        return card
    parent = _init_card(init_from, Path(dest))
    if parent is None:
        card.extra["lineage_note"] = f"initialised from {init_from!r}, whose card could not be read"
        return card
    out = card.continued_from(parent, str(run_dir))
    if parent.metrics:
        out.training_stages[-1]["parent_metrics"] = copy.deepcopy(parent.metrics)
    return out
