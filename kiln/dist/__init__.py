"""Distributed helpers (MMEngine's ``mmengine.dist``): thin over ``torch.distributed``, and the
identity in a single process. ``utils`` holds rank/world facts, ``dist`` the collectives,
``collect`` result gathering; ``init_dist`` lives in ``launch``."""

from kiln._lazy import attach

_EXPORTS = {
    "utils": ["is_distributed", "get_rank", "get_world_size", "get_dist_info", "get_local_rank",
              "get_local_size", "get_local_group", "init_local_group", "get_default_group",
              "get_backend", "is_main_process", "master_only", "barrier", "get_comm_device",
              "get_data_device", "get_device"],
    "dist": ["all_reduce", "all_reduce_dict", "all_reduce_mean", "all_gather", "gather", "broadcast",
             "broadcast_object", "broadcast_object_list", "all_gather_object", "gather_object",
             "sync_random_seed"],
    "collect": ["collect_results"],
    "launch": ["init_dist"],
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
