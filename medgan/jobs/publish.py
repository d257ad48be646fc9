"""Publish a finished job's model into ``MEDGAN_HOME/checkpoints/`` so the Studio's pickers offer it.

The run's ``model.safetensors`` is split as the CLI export splits it: the generator (and its EMA) go to
``<home>/checkpoints/<name>.safetensors``, the discriminator to ``<name>.discriminator.safetensors`` beside it (a
later fine-tune starts from both networks; :func:`medgan.checkpoints.save_discriminator`), each written
atomically (temporary file, fsync, rename), and the model card is completed through the one card owner (:class:`medgan.checkpoints.ModelCard`) and the same lineage code as
the CLI export (:func:`medgan.training.lineage.finish_card`): name, dataset description, metrics, the training
command chained after the parent's, ``training_stages`` and total steps of a fine-tune, the job id. The card is
written last so a reader never sees a card without its weights.

A job is published once: two app processes sharing ``MEDGAN_HOME`` can both see its worker end, so publishing
holds a lock on the job's folder and returns the name already published for that job id.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from medgan import checkpoints, paths
from medgan.checkpoints import ModelCard
from medgan.inference import list_cards
from medgan.training.lineage import finish_card


def checkpoints_dir() -> Path:
    """``MEDGAN_HOME/checkpoints`` (created)."""
    return paths.user_checkpoint_dir(create=True)


def existing_names() -> set[str]:
    """Names of every installed checkpoint (bundled and user-trained)."""
    return {c.name for c in list_cards()}


def unique_name(base: str, folder: Path) -> str:
    """``base``, or ``base-2``, ``base-3``, ... whichever no checkpoint (in ``folder`` or bundled) uses yet."""
    taken = existing_names()
    name, i = base, 1
    while name in taken or any((folder / f"{name}{ext}").exists()
                               for ext in (".safetensors", ".json", checkpoints.DISCRIMINATOR_SUFFIX)):
        i += 1
        name = f"{base}-{i}"
    return name


def published_name(job_id: str) -> str | None:
    """The user checkpoint published for ``job_id``, if any."""
    return next((c.name for c in list_cards() if not c.bundled and c.extra.get("job_id") == job_id), None)


@contextmanager
def _job_lock(out: Path) -> Iterator[None]:
    with open(out / ".publish.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def publish(out_dir: str | Path, name: str, *, data_desc: str, command: str, job_id: str,
            val_metrics: dict[str, Any] | None = None) -> str:
    """Publish ``out_dir/model.safetensors`` + card as ``name`` (made unique); returns the published name, or the
    name this job was already published under.

    Raises FileNotFoundError when the run left no model, ValueError when its model file cannot be read.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"the run folder {out} does not exist")
    with _job_lock(out):
        done = published_name(job_id)
        return done if done is not None else _publish(out, name, data_desc=data_desc, command=command,
                                                        job_id=job_id, val_metrics=val_metrics)


def _publish(out: Path, name: str, *, data_desc: str, command: str, job_id: str,
             val_metrics: dict[str, Any] | None) -> str:
    weights, card_path = out / "model.safetensors", out / "model.json"
    if not weights.exists():
        raise FileNotFoundError(f"the run left no model file in {out}")
    if not card_path.exists():
        raise FileNotFoundError(f"the run left no model card in {out}")
    card = ModelCard.read(card_path, weights)
    try:
        tensors = checkpoints.load_weights(weights)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type for a damaged file
        raise ValueError(f"the run's model file {weights} cannot be read ({exc})") from exc
    folder = checkpoints_dir()
    name = unique_name(name, folder)
    card.name = name
    if data_desc:
        card.dataset = data_desc
    card.extra["job_id"] = job_id
    metrics = dict(card.metrics or {})
    if val_metrics and "val" not in metrics:
        metrics["val"] = {k: v for k, v in val_metrics.items() if k != "step"}
    card.metrics = metrics
    cfg = _run_config(out)
    card = finish_card(card, out, first_command=command, task=card.task, arch=str(cfg.get("arch") or card.family),
                       total_steps=int((cfg.get("run") or {}).get("steps") or card.steps),
                       init_from=(cfg.get("run") or {}).get("init_from"), dest=folder)
    card.created = card.created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    card.summary = card.summary or f"{card.family} {card.task}, fine-tuned ({data_desc})"
    target = folder / f"{name}.safetensors"
    if card.discriminator is not None:
        card.set_discriminator_file(checkpoints.save_discriminator(
            target, checkpoints.split_prefix(tensors, "discriminator")))
    checkpoints.save_tensors(target, {k: v for k, v in tensors.items() if not k.startswith("discriminator.")},
                             metadata={"format": "pt"})
    card.write(folder / f"{name}.json")
    return name


def _run_config(out: Path) -> dict[str, Any]:
    """The run's ``config.json`` (empty when the run left none)."""
    try:
        return json.loads((out / "config.json").read_text())
    except (OSError, ValueError):
        return {}
