"""FSDP2 config values → torch's objects, checked before any model is built or mesh is made.

Every bad value is a :class:`~kiln.errors.ConfigError` naming ``model_wrapper_cfg.<key>``; nothing
here touches a process group (``world_size`` is passed in), so ``kiln.runner.builders`` checks a
config before building the model on meta, and the wrapper checks again before sharding.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, OffloadPolicy

from kiln.errors import ConfigError
from kiln.model.wrappers.fully_sharded import parse_dtype

__all__ = ["FSDP2Options", "parse_fsdp2_options", "check_fsdp2_cfg"]

_KEY = "model_wrapper_cfg"
_MP_FIELDS = ("param_dtype", "reduce_dtype", "output_dtype", "cast_forward_inputs")


@dataclass(frozen=True)
class FSDP2Options:
    """The checked form of the wrapper's config values (no process-group state in here)."""

    mesh: DeviceMesh | tuple[tuple[int, ...], tuple[str, ...]] | None
    reshard_after_forward: bool
    mp_policy: MixedPrecisionPolicy
    offload_policy: OffloadPolicy
    wrap: tuple[str, ...] | None
    activation_checkpointing: tuple[str, ...] | bool


def parse_fsdp2_options(mesh: Any = None, reshard_after_forward: Any = True, mp_policy: Any = None,
                        offload_policy: Any = None, wrap: Any = None, activation_checkpointing: Any = None,
                        world_size: int | None = None) -> FSDP2Options:
    """Check every FSDP2 config value and build torch's policy objects; touches no process group.

    ``world_size`` (when known) is checked against the mesh shape.
    """
    if not isinstance(reshard_after_forward, bool):
        raise ConfigError(f"{_KEY}.reshard_after_forward",
                          f"expected True or False, but got {reshard_after_forward!r}")
    return FSDP2Options(
        mesh=_parse_mesh(mesh, world_size),
        reshard_after_forward=reshard_after_forward,
        mp_policy=_parse_mp_policy(mp_policy),
        offload_policy=_parse_offload(offload_policy),
        wrap=_parse_selector(wrap, "wrap"),
        activation_checkpointing=_parse_ac(activation_checkpointing),
    )


def check_fsdp2_cfg(wrapper_cfg: Mapping[str, Any], world_size: int | None = None) -> FSDP2Options:
    """Check a whole ``model_wrapper_cfg`` for FSDP2 (unknown keys included) before anything is built."""
    accepted = ("mesh", "reshard_after_forward", "mp_policy", "offload_policy", "wrap",
                "activation_checkpointing")
    options = {k: v for k, v in wrapper_cfg.items() if k != "type"}
    for key in options:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{_KEY}.{key}", f"FSDP2 does not accept this argument (accepted: "
                                               f"{', '.join(accepted)}){hint}")
    return parse_fsdp2_options(**options, world_size=world_size)


def _parse_mesh(mesh: Any, world_size: int | None) -> Any:
    key = f"{_KEY}.mesh"
    if mesh is None or isinstance(mesh, DeviceMesh):
        return mesh
    if not isinstance(mesh, Mapping):
        raise ConfigError(key, f"expected None (1-D over the world), a DeviceMesh or dict(shape=(2, 4), "
                               f"names=('replicate', 'shard')), but got {type(mesh).__name__} {mesh!r}")
    unknown = sorted(set(mesh) - {"shape", "names"})
    if unknown:
        raise ConfigError(key, f"unexpected key(s) {unknown}; accepted: ['names', 'shape']")
    shape = mesh.get("shape")
    if not isinstance(shape, (list, tuple)) or len(shape) not in (1, 2) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        raise ConfigError(f"{key}.shape", f"expected 1 or 2 positive ints (shard,) or (replicate, shard), "
                                          f"but got {shape!r}")
    default_names = ("shard",) if len(shape) == 1 else ("replicate", "shard")
    names = mesh.get("names", default_names)
    if not isinstance(names, (list, tuple)) or len(names) != len(shape) or not all(
            isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise ConfigError(f"{key}.names", f"expected {len(shape)} distinct dimension name(s), one per entry "
                                          f"of shape {tuple(shape)}, but got {names!r}")
    if world_size is not None and math.prod(shape) != world_size:
        raise ConfigError(f"{key}.shape", f"{tuple(shape)} holds {math.prod(shape)} ranks, but the world "
                                          f"size is {world_size}")
    return tuple(shape), tuple(names)


def _parse_mp_policy(value: Any) -> MixedPrecisionPolicy:
    key = f"{_KEY}.mp_policy"
    if value is None:
        return MixedPrecisionPolicy()
    if isinstance(value, MixedPrecisionPolicy):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"expected dict(param_dtype='bfloat16', reduce_dtype='float32') or a "
                               f"MixedPrecisionPolicy, but got {type(value).__name__} {value!r}")
    unknown = sorted(set(value) - set(_MP_FIELDS))
    if unknown:
        raise ConfigError(key, f"unexpected key(s) {unknown}; accepted: {list(_MP_FIELDS)}")
    kwargs = {}
    for name, item in value.items():
        if name == "cast_forward_inputs":
            if not isinstance(item, bool):
                raise ConfigError(f"{key}.{name}", f"expected True or False, but got {item!r}")
            kwargs[name] = item
        elif item is not None:
            dtype = parse_dtype(item, f"{key}.{name}")
            if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
                raise ConfigError(f"{key}.{name}", f"expected a floating-point dtype name such as "
                                                   f"'bfloat16', but got {item!r}")
            kwargs[name] = dtype
    return MixedPrecisionPolicy(**kwargs)


def _parse_offload(value: Any) -> OffloadPolicy:
    key = f"{_KEY}.offload_policy"
    if value is None:
        return OffloadPolicy()
    if isinstance(value, OffloadPolicy):
        return value
    if value == "cpu":
        return CPUOffloadPolicy()
    if isinstance(value, Mapping) and value.get("type", "cpu") == "cpu":
        extra = sorted(set(value) - {"type", "pin_memory"})
        if extra or not isinstance(value.get("pin_memory", True), bool):
            raise ConfigError(key, f"dict(type='cpu', pin_memory=True/False) accepts only those keys, "
                                   f"but got {dict(value)!r}")
        return CPUOffloadPolicy(pin_memory=value.get("pin_memory", True))
    raise ConfigError(key, f"expected None, 'cpu', dict(type='cpu', pin_memory=False) or an OffloadPolicy, "
                           f"but got {value!r}")


def _parse_selector(value: Any, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{_KEY}.{name}", f"expected a list of module class names such as "
                                            f"['TransformerEncoderLayer'], but got {value!r}")
    return tuple(value)


def _parse_ac(value: Any) -> tuple[str, ...] | bool:
    if value is None or value is False:
        return False
    if value is True:  # the same modules that get their own fully_shard
        return True
    return _parse_selector(value, "activation_checkpointing") or False
