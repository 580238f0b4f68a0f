"""The Runner and its control flow: loops, loop state, hook list, builders, checkpointing.

Names that moved to their own packages in 0.2 (samplers and collate to ``kiln.dataset``, the
message hub to ``kiln.logging``, the visualizer to ``kiln.visualization``, RNG state to
``kiln.checkpoint``) are still exported here for one release.

Exports are lazy (``kiln._lazy``): ``from kiln.runner import Runner`` imports only the runner.
"""

from typing import TYPE_CHECKING

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "runner": ["Runner"],
    "loops": ["BaseLoop", "EpochBasedTrainLoop", "IterBasedTrainLoop", "ValLoop", "TestLoop"],
    "loop_state": ["LoopState"],
    "kiln.dataset.sampler": ["DefaultSampler", "InfiniteSampler"],
    "kiln.dataset.collate": ["pseudo_collate", "default_collate"],
    "kiln.dataset.dataloader": ["build_dataloader", "worker_init_fn"],
    "environment": ["set_random_seed", "init_dist"],
    "hook_list": ["DEFAULT_HOOKS"],
    "kiln.logging.message_hub": ["MessageHub"],
    "kiln.logging.history_buffer": ["HistoryBuffer"],
    "log_processor": ["LogProcessor"],
    "kiln.visualization.visualizer": ["Visualizer"],
    "kiln.checkpoint.rng": ["rng_state", "set_rng_state"],
    "_checkpoint_exports": ["save_checkpoint", "load_checkpoint"],
    "kiln.checkpoint.utils": ["get_state_dict", "weights_to_cpu", "find_latest_checkpoint", "CheckpointLoader"],
    "amp": ["autocast"],
})

if TYPE_CHECKING:  # static tools see the real names
    from .loop_state import *  # noqa: F403
    from .loops import *  # noqa: F403
    from .runner import *  # noqa: F403

