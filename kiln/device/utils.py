"""Which accelerator this process has (MMEngine's ``mmengine.device``).

MMEngine also probes NPU/MLU/MUSA/DIPU; kiln runs on CUDA, MPS or CPU, so those report False.
"""

from __future__ import annotations

import torch

__all__ = ["get_device", "is_cuda_available", "is_mps_available", "is_npu_available",
           "is_mlu_available", "is_musa_available", "is_dipu_available", "get_max_cuda_memory"]


def is_cuda_available() -> bool:
    return torch.cuda.is_available()


def is_mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def is_npu_available() -> bool:
    return False


def is_mlu_available() -> bool:
    return False


def is_musa_available() -> bool:
    return False


def is_dipu_available() -> bool:
    return False


def get_device() -> str:
    """``'cuda'`` if available, else ``'mps'``, else ``'cpu'`` (a device *type*, as in MMEngine)."""
    if is_cuda_available():
        return "cuda"
    if is_mps_available():
        return "mps"
    return "cpu"


def get_max_cuda_memory(device: torch.device | None = None) -> int:
    """Peak CUDA memory allocated since the last call, in MiB (the peak counter is reset).

    Syncs nothing by itself but reads allocator stats; call it at log intervals only.
    """
    mem = torch.cuda.max_memory_allocated(device=device)
    torch.cuda.reset_peak_memory_stats(device=device)
    return int(mem // (1024 * 1024))
