"""Data parallelism over ``torch.distributed`` (gloo on CPU, NCCL on CUDA), started by ``torchrun``.

Every rank holds a full replica, broadcast from rank 0 at start; after each ``backward`` the step calls
``sync(module)``, which averages the gradients over ranks in one flat all-reduce (what DistributedDataParallel
does, but explicit, so it composes with alternating G/D updates and the double backward of the gradient
penalty). Each rank draws its share of the same global batch, so N ranks × batch B equal one process with
batch N·B (for models without batch norm). Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


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
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def broadcast_module(module: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not info.enabled:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def make_sync(info: DistInfo):
    """A ``sync(module)`` that averages gradients over ranks (no-op in one process)."""
    def sync(module: nn.Module) -> None:
        if not info.enabled:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= info.world
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view_as(g))
            offset += n
    return sync


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_ranks_flag(flag: bool, info: DistInfo) -> bool:
    """True on every rank when any rank raised ``flag`` (used for cancel requests)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def replica_divergence(module: nn.Module, info: DistInfo) -> float:
    """Largest absolute difference between this module's parameters and rank 0's, over all ranks (0.0 when the
    replicas are identical; always 0.0 in one process)."""
    if not info.enabled:
        return 0.0
    with torch.no_grad():
        flat = torch.cat([p.detach().reshape(-1).float().cpu() for p in module.parameters()])
        ref = flat.clone()
        dist.broadcast(ref, src=0)
        diff = (flat - ref).abs().max().reshape(1)
        dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return float(diff.item())
