"""Joining torchrun's process group, on GPUs or on CPUs."""

from __future__ import annotations

import logging
import os

import torch
import torch.distributed as dist


def init_distributed() -> torch.device:
    """Join the process group started by ``torchrun`` and return this process's device.

    On GPUs: nccl and one GPU per process (``LOCAL_RANK``). On CPUs: gloo, and the machine's cores
    shared between its processes (``torch.set_num_threads``), since each process would otherwise
    start one thread per core. Outside torchrun (no ``WORLD_SIZE`` above 1) nothing is joined.
    """
    cuda = torch.cuda.is_available()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
        if not cuda:
            local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    if cuda:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        return device
    return torch.device("cpu")


def rank() -> int:
    """This process's rank: the process group's, else torchrun's ``RANK``, else 0."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def log_on_rank_zero_only() -> None:
    """Raise the log level of every process but rank 0 to warnings, so that one log is written."""
    if rank() > 0:
        for name in ("", "ignite"):
            logging.getLogger(name).setLevel(logging.WARNING)


def leave_distributed() -> None:
    """Leave the process group together: wait at a barrier until every process has finished its
    work (rank 0 writes the checkpoints and logs after the others are done), then destroy the group.
    A process that tears its group down while another still runs can abort on exit. Outside a
    process group nothing happens."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
