"""Model wrappers with the BaseModel step API: DDP (``distributed``), FSDP1 (``fully_sharded``),
FSDP2 (``fsdp2``: ``fully_shard``, meta-device init; ``fsdp2_config`` checks its config values).

``utils`` holds ``is_model_wrapper`` and ``unwrap_model``, which everything that needs the user's
model behind a wrapper uses. FSDP modules import ``torch.distributed.fsdp`` (~0.5 s), so they load
only when named.
"""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "utils": ["is_model_wrapper", "unwrap_model"],
    "distributed": ["MMDistributedDataParallel", "MMSeparateDistributedDataParallel"],
    "fully_sharded": ["MMFullyShardedDataParallel"],
    "fsdp2": ["FullyShardWrapper"],
})
