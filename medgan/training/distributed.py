"""Data parallelism under ``torchrun``: ``torch.nn.parallel.DistributedDataParallel`` over ``torch.distributed``
(gloo on CPU, NCCL on CUDA).

``torchrun --nproc_per_node=N -m medgan train ...`` starts N ranks; each builds the same models, loads the same
checkpoint on ``--resume``, and the loop wraps the generator and the discriminator each in
DistributedDataParallel (:func:`wrap`; construction broadcasts rank 0's parameters and buffers). The step functions
call the wrapped modules as usual; DDP's reducer averages every parameter's gradient over the ranks during
``backward`` (bucketed all-reduce overlapping the backward pass), so the optimisers step on identical gradients
and the replicas stay identical.

What makes that hold for every family:
- a module takes part in a backward only when all its parameters receive a gradient (DDP runs without
  ``find_unused_parameters``): the discriminator's parameters are frozen (``requires_grad=False``) while the
  generator's loss goes through it, and generator forwards for the discriminator update run under ``no_grad``;
- several forwards of one module before one backward (real and fake through D, the gradient-penalty and R1
  terms, whose ``torch.autograd.grad(..., create_graph=True)`` runs no gradient hook) are reduced once, when the
  ``backward`` of the summed loss reaches each parameter;
- every random *decision* that changes the graph (lazy R1) comes from a generator seeded identically on every
  rank (``StepContext.shared_rng``); per-sample randomness (noise, augmentations, interpolation weights) stays
  per rank.
Mixed precision (CUDA) is the same ``torch.autocast`` region inside the wrapped forward. Buffers are synchronised
once at the start but not re-broadcast at each forward (``forward_sync_buffers=False``; ``broadcast_buffers=False``
on torch versions without it): the ones a training forward reads (spectral-norm power-iteration vectors) depend
only on the weights and evolve identically on every rank; the data-dependent ones (BatchNorm running statistics,
StyleGAN's ``w_avg``) are not read by a training forward, and rank 0's are saved.

Each rank draws its share of the same global batch (:class:`medgan.training.data.BatchSampler`), so N ranks ×
batch B equal one process with batch N·B (for models without batch norm). Only rank 0 writes files; checkpoints,
EMA, samples and validation use the unwrapped modules, so the saved keys carry no ``module.`` prefix.
"""

from __future__ import annotations

import gc
import inspect
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (WORLD_SIZE > 1); single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    # torch._dynamo (which DistributedDataParallel imports) keeps a reference to a process group that exists
    # when it is first imported; the group's gloo worker threads then outlive destroy_process_group and can abort
    # the interpreter at exit. Imported first, it holds nothing and shutdown() can free the group.
    import torch._dynamo  # noqa: F401
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank)


def _comm_device(info: DistInfo) -> torch.device:
    """Where small collective tensors live: the rank's GPU under NCCL, the CPU under gloo."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", info.local_rank)
    return torch.device("cpu")


_NO_FORWARD_BUFFER_SYNC = ({"forward_sync_buffers": False}
                           if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
                           else {"broadcast_buffers": False})


def wrap(module: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """``module`` in DistributedDataParallel when data-parallel (``device_ids=[local_rank]`` on CUDA); the module
    itself in one process."""
    if not info.enabled:
        return module
    ids = [device.index if device.index is not None else info.local_rank] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, **_NO_FORWARD_BUFFER_SYNC)


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (the module itself otherwise)."""
    return module.module if isinstance(module, DistributedDataParallel) else module


def describe(modules: dict[str, nn.Module | None], info: DistInfo) -> dict | None:
    """What runs the data parallelism, for the run's events: backend, world size and the wrapper of each module
    (None in one process)."""
    if not info.enabled:
        return None
    return {"backend": str(dist.get_backend()), "world_size": info.world,
            "wrappers": {name: type(m).__name__ for name, m in modules.items() if m is not None}}


def broadcast_module(module: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank (for modules that are not DDP-wrapped, e.g. the EMA)."""
    if not info.enabled:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[info.local_rank])
        else:
            dist.barrier()


def all_ranks_flag(flag: bool, info: DistInfo) -> bool:
    """True on every rank when any rank raised ``flag`` (used for cancel requests)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_comm_device(info))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def shutdown(info: DistInfo) -> None:
    """Leave the process group and free it now, joining its worker threads while the interpreter is alive
    (call once the DDP wrappers are out of scope: the first collection frees their reducers while the group is
    still registered, the second frees the group itself)."""
    if info.enabled and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()
        gc.collect()


def replica_divergence(module: nn.Module, info: DistInfo) -> float:
    """Largest absolute difference between this module's parameters and rank 0's, over all ranks (0.0 when the
    replicas are identical; always 0.0 in one process)."""
    if not info.enabled:
        return 0.0
    dev = _comm_device(info)
    with torch.no_grad():
        flat = torch.cat([p.detach().reshape(-1).float().to(dev) for p in unwrap(module).parameters()])
        ref = flat.clone()
        dist.broadcast(ref, src=0)
        diff = (flat - ref).abs().max().reshape(1)
        dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return float(diff.item())
