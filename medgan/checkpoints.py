"""Checkpoints: the model card (:class:`ModelCard`, the one owner of the card's JSON) and the weights.

A checkpoint is ``<name>.safetensors`` + ``<name>.json`` (docs/architecture.md). The card is read and validated
here, written atomically here (the Turing write-back, job publishing, training export and the loop all go through
:meth:`ModelCard.write`), and its lineage (``training_stages``, the chained ``training_command``, the total
``steps``) is continued here. Keys this class does not know are kept in ``extra`` and written back unchanged, in
their original order, so nothing a newer or older writer put in a card is lost.

Weights file keys: ``generator.<param>`` (always), ``ema.<param>`` and ``discriminator.<param>`` (optional). A run
folder keeps all three in ``model.safetensors``; an exported or published checkpoint keeps the discriminator in
``<name>.discriminator.safetensors`` beside the generator (:func:`save_discriminator`), and its card says whether
it is there (``discriminator.stored``, ``discriminator.file``) or why not (``discriminator.note``).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import Tensor, nn

from medgan.atomic import atomic_write, atomic_write_bytes
from medgan.models.registry import build_generator

REQUIRED = ("name", "task", "generator")
# written only when set, so that cards without them stay byte-identical after a read → write
OPTIONAL = ("training_stages", "domain", "input_fill", "zero_background", "renderer", "truncation")
_LOCATION = ("weights_path", "card_path", "bundled", "extra", "key_order")


@dataclass
class ModelCard:
    """The fields of a model card JSON, plus where its files are (``weights_path``, ``card_path``; not written).

    ``training_stages``: one dict per stage of a fine-tuned checkpoint (steps, command, run, init_from,
    the parent's metrics); ``domain``: what the model was trained on (modality, anatomy, contrast, intensity
    convention, size and spacing); ``turing``: the latest visual Turing test summary; ``extra``: every other key.
    """

    name: str
    task: str
    generator: dict[str, Any]
    summary: str = ""
    family: str = ""
    discriminator: dict[str, Any] | None = None
    image_size: int = 256
    in_channels: int | None = None
    out_channels: int | None = None
    label_classes: list[str] = field(default_factory=list)
    degradation: str | None = None
    z_dim: int | None = None
    input_fill: str | None = None  # inpainting: what the generator sees in the hole ("zero" when None)
    zero_background: bool | None = None  # synthesis: pixels labelled background are black in the output
    renderer: str | None = None  # generation: the synthesis checkpoint that draws the image from the label map
    truncation: float | None = None  # generation: latent truncation psi in (0, 1] used to sample (None: 1, none)
    dataset: str = ""
    training_command: str = ""
    steps: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    turing: dict[str, Any] | None = None
    created: str = ""
    training_stages: list[dict[str, Any]] = field(default_factory=list)
    domain: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    key_order: tuple[str, ...] = field(default=(), compare=False, repr=False)
    weights_path: Path = field(default=Path(), compare=False)
    card_path: Path = field(default=Path(), compare=False)
    bundled: bool = False

    # ------------------------------------------------------------------------------------------------ JSON
    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The card keys this class owns, in the order they are written."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in _LOCATION)

    @classmethod
    def from_dict(cls, data: dict[str, Any], weights_path: Path | str = "", card_path: Path | str = "",
                  bundled: bool = False) -> ModelCard:
        """A card from its JSON object; ValueError naming what is missing or malformed."""
        if not isinstance(data, dict):
            raise ValueError(f"a model card is a JSON object, got {type(data).__name__}")
        where = f"model card {card_path}" if card_path else "model card"
        missing = [k for k in REQUIRED if k not in data]
        if missing:
            raise ValueError(f"{where} lacks {', '.join(missing)}")
        gen = data["generator"]
        if not isinstance(gen, dict) or not isinstance(gen.get("name"), str):
            raise ValueError(f"{where}: 'generator' must be an object with a 'name'")
        if not isinstance(gen.get("args", {}), dict):
            raise ValueError(f"{where}: 'generator.args' must be an object")
        known = cls.keys()
        data = copy.deepcopy(data)
        own = {k: v for k, v in data.items() if k in known}
        own["training_stages"] = own.get("training_stages") or []
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**own, extra=extra, key_order=tuple(data), weights_path=Path(weights_path),
                   card_path=Path(card_path), bundled=bundled)

    @classmethod
    def read(cls, card_path: Path | str, weights_path: Path | str | None = None, bundled: bool = False) -> ModelCard:
        """Read and validate ``card_path``; the weights default to ``<stem>.safetensors`` beside it."""
        card_path = Path(card_path)
        data = json.loads(card_path.read_text())
        weights = Path(weights_path) if weights_path is not None else card_path.with_suffix(".safetensors")
        return cls.from_dict(data, weights, card_path, bundled)

    @classmethod
    def from_json(cls, card_path: Path, weights_path: Path, bundled: bool) -> ModelCard:
        """Same as :meth:`read` (the older name)."""
        return cls.read(card_path, weights_path, bundled)

    def to_dict(self) -> dict[str, Any]:
        """The card's JSON object: keys in the order they were read, new keys after them, unknown keys kept."""
        values: dict[str, Any] = {}
        for k in self.keys():
            v = getattr(self, k)
            if k in OPTIONAL and not v and k not in self.key_order:
                continue
            values[k] = copy.deepcopy(v)
        for k, v in self.extra.items():
            values.setdefault(k, copy.deepcopy(v))
        order = [k for k in self.key_order if k in values]
        order += [k for k in values if k not in order]
        return {k: values[k] for k in order}

    def to_json(self) -> dict[str, Any]:
        """Same as :meth:`to_dict` (the older name)."""
        return self.to_dict()

    def write(self, path: Path | str | None = None) -> Path:
        """Write the card atomically to ``path`` (default: where it was read from); NaN becomes null."""
        target = Path(path) if path is not None else self.card_path
        if not str(target) or target == Path():
            raise ValueError(f"card {self.name!r} has no path to be written to")
        text = json.dumps(json_safe(self.to_dict()), indent=2, allow_nan=False, default=str) + "\n"
        atomic_write_bytes(target, text.encode())
        return target

    # ------------------------------------------------------------------------------------------------ lineage
    @property
    def total_steps(self) -> int:
        """Steps over every training stage (``steps`` when the card has a single stage)."""
        if self.training_stages:
            return sum(int(s.get("steps", 0)) for s in self.training_stages)
        return int(self.steps)

    def continued_from(self, parent: ModelCard | None, run: str) -> ModelCard:
        """This (fine-tuning) run's card continued from ``parent``, the card it was initialised from:
        ``training_stages`` lists every stage (steps, command, run folder, metrics of the parent at the time),
        ``training_command`` chains the stages' commands with ``&&`` (running it reproduces the checkpoint) and
        ``steps`` is the total. Exporting the same run again replaces its own stage instead of adding it twice."""
        if parent is None:
            return self
        stages = [dict(s) for s in parent.training_stages]
        if not stages:
            first: dict[str, Any] = {"steps": int(parent.steps), "command": parent.training_command}
            if parent.metrics:
                first["metrics"] = copy.deepcopy(parent.metrics)
            for key in ("training_note", "training_segments"):
                if parent.extra.get(key):
                    first[key] = copy.deepcopy(parent.extra[key])
            stages = [first]
        if stages[-1].get("run") == run:  # re-export of this run
            stages.pop()
        out = dataclasses.replace(self, extra=dict(self.extra), training_stages=[])
        stage: dict[str, Any] = {"steps": int(self.steps), "command": self.training_command, "run": run,
                                 "init_from": parent.name}
        for key in ("training_note", "training_segments"):
            if key in out.extra:
                stage[key] = out.extra.pop(key)
        out.training_stages = [*stages, stage]
        if parent.renderer and not out.renderer and out.task == parent.task == "generation":
            out.renderer = parent.renderer  # a fine-tuned generator keeps drawing through its parent's renderer
        out.training_command = " && ".join(s["command"] for s in out.training_stages if s.get("command"))
        out.steps = out.total_steps
        return out

    def set_discriminator_file(self, fields: dict[str, Any]) -> None:
        """Record where the discriminator's weights are: ``fields`` (from :func:`save_discriminator`: ``stored``,
        then ``file`` + ``storage`` or a ``note`` saying why not) replace the earlier ones; a card without a
        discriminator is left alone."""
        if self.discriminator is None:
            return
        for key in ("stored", "file", "storage", "note"):
            self.discriminator.pop(key, None)
        self.discriminator.update(fields)

    # ------------------------------------------------------------------------------------------------ models
    def build(self, device: str | torch.device = "cpu") -> nn.Module:
        """The card's generator with its weights (the EMA weights when stored), float32, eval mode, on
        ``device``; ValueError when the weights are missing."""
        if not self.weights_path.is_file():
            raise ValueError(f"checkpoint {self.name!r}: weights file {self.weights_path} is missing")
        module = build_generator(self.generator["name"], **self.generator.get("args", {}))
        tensors = load_weights(self.weights_path)
        state = split_prefix(tensors, "ema") or split_prefix(tensors, "generator")
        if not state:
            raise ValueError(f"checkpoint {self.name!r} has no generator weights in {self.weights_path}")
        load_into(module, state)
        return module.float().to(device).eval()


def json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity: those become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------- weights
def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel (or similar) wrapper, else ``module``."""
    return module.module if hasattr(module, "module") and isinstance(module.module, nn.Module) else module


def model_tensors(generator: nn.Module, discriminator: nn.Module | None = None, ema: nn.Module | None = None,
                  dtype: torch.dtype | None = None) -> dict[str, Tensor]:
    """Prefixed state dicts (floating tensors optionally cast to ``dtype``, e.g. float16 for bundling)."""
    out: dict[str, Tensor] = {}
    for prefix, m in (("generator", generator), ("discriminator", discriminator), ("ema", ema)):
        if m is None:
            continue
        for k, v in unwrap(m).state_dict().items():
            out[f"{prefix}.{k}"] = v.to(dtype) if dtype is not None and v.is_floating_point() else v
    return out


def split_prefix(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The tensors under ``prefix.``, with the prefix removed."""
    p = prefix + "."
    return {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}


def load_into(module: nn.Module, state: dict[str, Tensor]) -> None:
    """Load a (possibly float16) state dict into ``module`` keeping the module's dtypes (strict)."""
    target = unwrap(module).state_dict()
    cast = {k: v.to(target[k].dtype) if k in target else v for k, v in state.items()}
    unwrap(module).load_state_dict(cast, strict=True)


def save_tensors(path: Path, tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` as safetensors, atomically."""
    prepared = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(Path(path), lambda f: f.write(save(prepared, metadata=metadata)))


DISCRIMINATOR_SUFFIX = ".discriminator.safetensors"


def discriminator_path(weights_path: Path | str) -> Path:
    """``NAME.discriminator.safetensors`` beside ``NAME.safetensors``."""
    p = Path(weights_path)
    stem = p.name[: -len(".safetensors")] if p.name.endswith(".safetensors") else p.name
    return p.with_name(stem + DISCRIMINATOR_SUFFIX)


def stored_discriminator(weights_path: Path | str, tensors: dict[str, Tensor] | None = None
                         ) -> tuple[dict[str, Tensor], str]:
    """A checkpoint's discriminator state (unprefixed) and the file it came from: ``discriminator.*`` tensors in
    the weights file (``tensors``, when already loaded), else the ``NAME.discriminator.safetensors`` beside it;
    ``({}, "")`` when neither holds one."""
    weights_path = Path(weights_path)
    state = split_prefix(tensors if tensors is not None else load_weights(weights_path), "discriminator")
    if state:
        return state, weights_path.name
    side = discriminator_path(weights_path)
    if not side.exists():
        return {}, ""
    extra = load_weights(side)
    return split_prefix(extra, "discriminator") or extra, side.name


def save_discriminator(weights_path: Path | str, state: dict[str, Tensor], max_bytes: int | None = None
                       ) -> dict[str, Any]:
    """Write the discriminator ``state`` (unprefixed) beside ``weights_path`` as ``discriminator.<param>`` tensors:
    float32, or float16 when float32 would exceed ``max_bytes`` (loading casts back). Returns the card's
    ``discriminator`` fields: ``stored``, and ``file`` + ``storage`` or a ``note`` saying why it was not written
    (nothing stored, or over ``max_bytes`` even in float16); an earlier file of that name is removed then."""
    path = discriminator_path(weights_path)
    if not state:
        path.unlink(missing_ok=True)
        return {"stored": False, "note": "the training run stored no discriminator"}
    nbytes = sum(t.numel() * t.element_size() for t in state.values())
    dtype = torch.float16 if max_bytes is not None and nbytes > max_bytes * 0.98 else None
    out = {f"discriminator.{k}": (v.to(dtype) if dtype is not None and v.is_floating_point() else v)
           for k, v in state.items()}
    half = sum(t.numel() * t.element_size() for t in out.values())
    if max_bytes is not None and half > max_bytes * 0.98:
        path.unlink(missing_ok=True)
        return {"stored": False, "note": f"not written: {half / 1e6:.1f} MB even in float16, over the "
                                         f"{max_bytes / 1e6:.1f} MB limit for a checkpoint file"}
    storage = str(dtype or torch.float32).replace("torch.", "")
    save_tensors(path, out, metadata={"format": "pt", "storage": storage})
    return {"stored": True, "file": path.name, "storage": storage}


def load_weights(path: Path) -> dict[str, Tensor]:
    """Every tensor of a safetensors file (on the CPU)."""
    return load_file(str(path))


def save_checkpoint(out_dir: Path, generator: nn.Module, discriminator: nn.Module | None,
                    card: ModelCard | dict[str, Any], stem: str = "model", ema: nn.Module | None = None) -> Path:
    """``out_dir/<stem>.safetensors`` then ``out_dir/<stem>.json`` (the card, written last so a reader never sees
    a card without its weights), each atomic; returns the weights path."""
    out_dir = Path(out_dir)
    weights = out_dir / f"{stem}.safetensors"
    save_tensors(weights, model_tensors(generator, discriminator, ema))
    if isinstance(card, dict):
        card = ModelCard.from_dict(card)
    card.write(out_dir / f"{stem}.json")
    return weights
