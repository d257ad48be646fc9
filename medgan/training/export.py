"""Bundle a finished run: ``python -m medgan.training.export RUN_DIR [--dest checkpoints]``.

Writes ``DEST/<name>.safetensors`` (the generator: the EMA one when the run kept it; float16 when float32 would
exceed the size limit — loading casts back to float32), ``DEST/<name>.discriminator.safetensors`` (the run's
discriminator, which a fine-tune from this checkpoint starts from; float16 if needed, left out with the reason in
the card when it would still exceed the limit) and ``DEST/<name>.json`` (the run's card with test metrics
re-measured on the stored weights, and the lineage of :func:`medgan.training.lineage.finish_card`, which the
Train tab's publishing uses too). Each file stays within 10 MB (a bundled file on a Hugging Face Space)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from medgan import checkpoints
from medgan.checkpoints import ModelCard
from medgan.domain import card_domain
from medgan.training.config import TrainConfig
from medgan.training.data import fixed_batches, load_slices
from medgan.training.lineage import finish_card, resume_commands, run_history  # noqa: F401 (re-exported)
from medgan.training.validation import evaluate

logger = logging.getLogger(__name__)
MAX_BYTES = 10 * 1024 * 1024


def export_run(run_dir: Path, dest: Path, max_bytes: int = MAX_BYTES) -> Path:
    """Export the generator and discriminator of ``run_dir`` into ``dest``; returns the generator's weights path."""
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
    card.set_discriminator_file(checkpoints.save_discriminator(
        weights, checkpoints.split_prefix(all_tensors, "discriminator"), max_bytes))
    card.weights_path = weights
    if cfg.task != "generation" and cfg.data.source in ("embedded", "embedded+pydicom"):  # the template test split
        test = fixed_batches(load_slices(cfg.data, "test"), cfg.task, cfg.data, 4, 10_000)
        card.metrics["test"] = evaluate(cfg.task, card.build(), test, torch.device("cpu"))
    card = finish_card(card, run_dir, first_command=card.training_command, task=cfg.task, arch=cfg.arch,
                       total_steps=cfg.run.steps, init_from=cfg.run.init_from, dest=dest,
                       tail=f"python -m medgan.training.export {run_dir} --dest {dest}")
    if cfg.data.source in ("embedded", "embedded+pydicom"):  # the domain it was trained on, medgan.domain
        card.domain = card_domain(card, json.loads((run_dir / "config.json").read_text()).get("data"))
    if cfg.run.init_from and card.extra.get("grown_from") and card.training_stages:  # progressive resolution
        card.training_stages[-1]["grown_from"] = card.extra["grown_from"]
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
    disc = card.get("discriminator") or {}
    if disc.get("stored"):
        d = w.with_name(disc["file"])
        sys.stdout.write(f"{d} ({d.stat().st_size / 1e6:.2f} MB)\n")
    elif disc:
        sys.stdout.write(f"discriminator {disc.get('note', 'not stored')}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
