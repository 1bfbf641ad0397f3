"""torch.distributed glue for torchrun: rank/world from the environment, gradient averaging.

Gloo on CPU, NCCL on CUDA. Gradients are averaged with one all_reduce over a flat buffer
per network (simpler than DistributedDataParallel here, because G is called through its
mapping and synthesis halves rather than its forward).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterable

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job (rank 0 of 1 when not launched by torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_from_env(device: str) -> DistInfo:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_*)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


def shutdown(wait: bool = True) -> None:
    """Leave the process group, if one was joined.

    With `wait`, every rank first meets the others, so no rank tears gloo down while another still
    talks to it (seen once on CI as a SIGABRT in rank 1 of a 2-rank CPU run); pass False after an error.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if wait:
        try:
            if dist.get_backend() == "gloo":
                dist.monitored_barrier(timeout=timedelta(seconds=120))
            else:
                dist.barrier()
        except RuntimeError:  # a rank that failed never arrives: leave anyway
            pass
    dist.destroy_process_group()


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank `src`'s parameters and buffers to every rank (start from identical weights)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=src)


def _mean_in_place(tensors: list[torch.Tensor], world_size: int) -> None:
    """Replace each tensor by its mean over ranks, with one flat all_reduce."""
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world_size
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset: offset + n].view_as(t))
        offset += n


def average_gradients(params: Iterable[torch.nn.Parameter], world_size: int) -> None:
    """Average .grad over ranks in one flat all_reduce (missing grads count as zero)."""
    if world_size <= 1:
        return
    params = [p for p in params if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    _mean_in_place([p.grad for p in params], world_size)


def average_buffers(buffers: Iterable[torch.Tensor], world_size: int) -> None:
    """Average buffers that training changes per rank (G's tracked w_avg) in one all_reduce."""
    if world_size <= 1:
        return
    _mean_in_place([b.data for b in buffers], world_size)


def all_mean(values: torch.Tensor, world_size: int) -> torch.Tensor:
    """Mean of a small stats tensor over ranks (for logging)."""
    if world_size <= 1:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / world_size
