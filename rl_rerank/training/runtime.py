"""The process's hardware and distributed state, as the training stages need it."""

from __future__ import annotations


def has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()



def finish_distributed() -> None:
    """End a multi-process run cleanly (gloo/NCCL complain at exit otherwise)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
