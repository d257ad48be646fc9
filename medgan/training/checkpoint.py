"""A run's resume state, written atomically beside its checkpoint (weights and card: :mod:`medgan.checkpoints`).

Resume state: ``train_state.safetensors`` (optimiser tensors, RNG state) + ``train_state.json`` (step, optimiser
param groups and scalar state, scheduler state, Python-side RNG).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import Tensor

from medgan.atomic import atomic_write_json
from medgan.checkpoints import save_tensors


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
    save_tensors(Path(out_dir) / "train_state.safetensors", tensors)
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
