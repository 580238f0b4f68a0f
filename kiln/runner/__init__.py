"""The Runner and what it is made of: loops, samplers, collate functions, checkpoint helpers.

Exports are lazy (``kiln._lazy``): ``from kiln.runner import Runner`` imports only the runner.
"""

from typing import TYPE_CHECKING

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "runner": ["Runner"],
    "loops": ["BaseLoop", "EpochBasedTrainLoop", "IterBasedTrainLoop", "ValLoop", "TestLoop"],
    "loop_state": ["LoopState"],
    "sampler": ["DefaultSampler", "InfiniteSampler"],
    "collate": ["pseudo_collate", "default_collate"],
    "data": ["build_dataloader", "worker_init_fn"],
    "environment": ["set_random_seed", "init_dist"],
    "hook_list": ["DEFAULT_HOOKS"],
    "message_hub": ["MessageHub", "HistoryBuffer"],
    "log_processor": ["LogProcessor"],
    "visualizer": ["Visualizer"],
    "rng": ["rng_state", "set_rng_state"],
    "_checkpoint_exports": ["save_checkpoint", "load_checkpoint"],
})

if TYPE_CHECKING:  # static tools see the real names
    from .collate import *  # noqa: F403
    from .loop_state import *  # noqa: F403
    from .loops import *  # noqa: F403
    from .runner import *  # noqa: F403
    from .sampler import *  # noqa: F403
