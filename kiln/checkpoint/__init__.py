"""Checkpoint I/O: safe loading (weights_only), mismatch reports, downloads, atomic saving.

This package sits below ``kiln.model`` so that ``PretrainedInit`` and the Runner's ``load_from``
share one loader; ``kiln.runner`` re-exports ``save_checkpoint``/``load_checkpoint``.
"""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "loading": ["load_checkpoint", "load_state_dict", "load_checkpoint_file", "LoadReport"],
    "download": ["download_checkpoint"],
    "saving": ["save_checkpoint", "atomic_save", "save_safetensors", "to_plain"],
    "reading": ["read_checkpoint", "find_previous_checkpoint"],
    "mmengine_compat": ["mmengine_safe_globals", "convert_foreign"],
    "rng": ["rng_state", "set_rng_state"],
    "utils": ["get_state_dict", "weights_to_cpu", "find_latest_checkpoint", "CheckpointLoader"],
    "dcp": ["save_dcp", "load_dcp_model", "is_dcp_checkpoint"],
    "consolidate": ["consolidate"],
})
