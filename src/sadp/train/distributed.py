"""Multi-process training (torchrun / DDP) helpers.

Launch: ``torchrun --nproc_per_node=N -m sadp train ...`` (multi-node: add ``--nnodes``,
``--node_rank``, ``--rdzv_endpoint``). Backend: NCCL on CUDA, gloo on CPU.

Consistency contract for pruning (kept by :class:`sadp.pruning.Pruner`): every rank builds the
same method from the same seed and state, so every rank computes the same epoch selection; the
sampler gives each rank a disjoint, equal-length share (the selection is padded to a multiple of
the world size with duplicates, which get zero loss weight and are left out of the statistics and
of the logged training loss and accuracy); after each step the per-example statistics of all ranks
are all-gathered in rank order and every rank feeds the same concatenation to ``method.observe``,
so method state stays identical everywhere. Only rank 0 writes files.
"""
from __future__ import annotations

import os
import sys
from datetime import timedelta
from typing import NoReturn

import torch
import torch.distributed as dist

from sadp.utils.distributed import all_gather_cat, all_reduce_sum, barrier, rank, world_size

__all__ = [
    "all_gather_cat", "all_reduce_sum", "barrier", "cleanup", "exit_process", "launched_by_torchrun", "rank",
    "setup", "world_size",
]


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def setup(device: torch.device) -> torch.device:
    """Join the process group torchrun set up in the environment; returns this rank's device."""
    if not launched_by_torchrun() or dist.is_initialized():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
        # Share the node's cores between its processes instead of oversubscribing them.
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return device


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def exit_process(code: int) -> NoReturn:
    """End a torchrun worker with ``code`` once its results are written, skipping Python's shutdown.

    Public as ``sadp.exit_process``: the last line of a user's own DDP loop too
    (``examples/ddp_plain_loop.py``). gloo's worker threads are still running after
    ``destroy_process_group``; when one of them takes the GIL (releasing a tensor) while the
    interpreter finalizes, the process aborts ("terminate called without an active exception",
    SIGABRT) after a run that succeeded, and torchrun reports the run as failed (how often, with
    and without this exit: ``benchmarks/ddp_exit.py``). Leaving through ``os._exit`` after flushing
    stdout and stderr skips finalization (and ``atexit`` handlers): write and close every result
    file before calling it.
    """
    cleanup()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
