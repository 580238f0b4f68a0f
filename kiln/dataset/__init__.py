"""Data: BaseDataset, its pipeline (Compose) and wrappers, samplers, collate functions and dataloader
building (MMEngine's ``mmengine.dataset``)."""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "sampler": ["DefaultSampler", "InfiniteSampler"],
    "collate": ["pseudo_collate", "default_collate", "COLLATE_FUNCTIONS"],
    "dataloader": ["build_dataloader", "worker_init_fn"],
    "base_dataset": ["BaseDataset", "force_full_init"],
    "transforms": ["Compose"],
    "dataset_wrapper": ["ConcatDataset", "RepeatDataset", "ClassBalancedDataset"],
})
