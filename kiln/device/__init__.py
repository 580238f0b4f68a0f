"""Device queries (MMEngine's ``mmengine.device``): ``get_device()`` → 'cuda' / 'mps' / 'cpu'."""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "utils": ["get_device", "is_cuda_available", "is_mps_available", "is_npu_available",
              "is_mlu_available", "is_musa_available", "is_dipu_available", "get_max_cuda_memory"],
})
