"""Checkpoints: safetensors weights + JSON, written atomically (temporary file in the same folder, fsync,
``os.replace``), so a crash mid-save leaves the previous checkpoint intact and loadable.

Weights file keys: ``generator.<param>``, ``discriminator.<param>`` (optional), ``ema.<param>`` (optional).
Resume state: ``train_state.safetensors`` (optimiser tensors, RNG state) + ``train_state.json`` (step, optimiser
param groups and scalar state, scheduler state, Python-side RNG).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import Tensor, nn

from medgan.atomic import atomic_write, atomic_write_bytes, atomic_write_json  # noqa: F401 (re-exported for the loop)


def atomic_save_tensors(path: Path, tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> None:
    """Serialise ``tensors`` as safetensors and write them with :func:`medgan.atomic.atomic_write`."""
    prepared = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(Path(path), lambda f: f.write(save(prepared, metadata=metadata)))


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if hasattr(module, "module") and isinstance(module.module, nn.Module) else module


def model_tensors(generator: nn.Module, discriminator: nn.Module | None = None, ema: nn.Module | None = None,
                  dtype: torch.dtype | None = None) -> dict[str, Tensor]:
    """Prefixed state dicts (optionally cast floating tensors to ``dtype``, e.g. float16 for bundling)."""
    out: dict[str, Tensor] = {}
    for prefix, m in (("generator", generator), ("discriminator", discriminator), ("ema", ema)):
        if m is None:
            continue
        for k, v in unwrap(m).state_dict().items():
            out[f"{prefix}.{k}"] = v.to(dtype) if dtype is not None and v.is_floating_point() else v
    return out


def split_prefix(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    p = prefix + "."
    return {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}


def load_into(module: nn.Module, state: dict[str, Tensor]) -> None:
    """Load a (possibly float16) state dict into ``module`` keeping the module's dtypes."""
    target = unwrap(module).state_dict()
    cast = {k: v.to(target[k].dtype) if k in target else v for k, v in state.items()}
    unwrap(module).load_state_dict(cast, strict=True)


def save_model(out_dir: Path, generator: nn.Module, discriminator: nn.Module | None, card: dict[str, Any],
               stem: str = "model", ema: nn.Module | None = None) -> Path:
    """``out_dir/<stem>.safetensors`` then ``out_dir/<stem>.json`` (card), each atomic."""
    out_dir = Path(out_dir)
    weights = out_dir / f"{stem}.safetensors"
    atomic_save_tensors(weights, model_tensors(generator, discriminator, ema))
    atomic_write_json(out_dir / f"{stem}.json", card)
    return weights


def load_weights(path: Path) -> dict[str, Tensor]:
    return load_file(str(path))


# --- optimiser / scheduler / RNG state ----------------------------------------------------------------------
def _optim_to_parts(name: str, opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, Any] = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, Tensor):
                tensors[f"{name}.state.{pid}.{k}"] = v
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optim_from_parts(name: str, opt: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict[str, Any]
                      ) -> None:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"{name}.state."
    for key, v in tensors.items():
        if key.startswith(prefix):
            pid, k = key[len(prefix):].split(".", 1)
            state.setdefault(int(pid), {})[k] = v
    for key, v in meta["scalars"].items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_train_state(out_dir: Path, step: int, optimizers: dict[str, torch.optim.Optimizer | None],
                     schedulers: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """train_state.safetensors (tensors) then train_state.json (written last: it marks the state complete)."""
    tensors: dict[str, Tensor] = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    meta: dict[str, Any] = {"step": step, "optimizers": {}, "schedulers": {}, "extra": extra or {}}
    for name, opt in optimizers.items():
        if opt is None:
            continue
        t, m = _optim_to_parts(name, opt)
        tensors.update(t)
        meta["optimizers"][name] = m
    for name, sch in schedulers.items():
        if sch is not None:
            meta["schedulers"][name] = sch.state_dict()
    atomic_save_tensors(Path(out_dir) / "train_state.safetensors", tensors)
    atomic_write_json(Path(out_dir) / "train_state.json", meta)


def load_train_state(out_dir: Path, optimizers: dict[str, torch.optim.Optimizer | None],
                     schedulers: dict[str, Any]) -> dict[str, Any]:
    """Restore optimisers, schedulers and RNG; returns the JSON part (``step`` is the next step to run)."""
    meta = json.loads((Path(out_dir) / "train_state.json").read_text())
    tensors = load_file(str(Path(out_dir) / "train_state.safetensors"))
    for name, opt in optimizers.items():
        if opt is not None and name in meta["optimizers"]:
            _optim_from_parts(name, opt, tensors, meta["optimizers"][name])
    for name, sch in schedulers.items():
        if sch is not None and name in meta["schedulers"]:
            sch.load_state_dict(meta["schedulers"][name])
    torch.set_rng_state(tensors["rng.torch"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
        if states:
            torch.cuda.set_rng_state_all(states)
    return meta
