"""Module init functions: initialize ONE module's ``weight``/``bias`` (missing or None skipped).

They do not recurse into children and return None; ``bias_init_with_prob`` and ``trunc_normal_``
are helpers. ``kiln.model.weight_init`` re-exports all of them (MMEngine's import paths).

Example:
    >>> import torch.nn as nn
    >>> from kiln.model import normal_init
    >>> normal_init(nn.Conv2d(1, 1, 1), mean=0, std=0.01, bias=0)
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

__all__ = [
    "constant_init", "xavier_init", "normal_init", "trunc_normal_init", "uniform_init",
    "kaiming_init", "caffe2_xavier_init", "bias_init_with_prob", "trunc_normal_",
]

_DISTRIBUTIONS = ("normal", "uniform")


def _tensor(module: nn.Module, name: str) -> torch.Tensor | None:
    value = getattr(module, name, None)
    return value if isinstance(value, torch.Tensor) else None


def _fill_bias(module: nn.Module, bias: float) -> None:
    tensor = _tensor(module, "bias")
    if tensor is not None:
        nn.init.constant_(tensor, bias)


def _check_distribution(distribution: str) -> None:
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"distribution must be 'uniform' or 'normal', but got {distribution!r}")


def constant_init(module: nn.Module, val: float, bias: float = 0) -> None:
    """Fill ``module.weight`` with ``val`` and ``module.bias`` with ``bias`` (missing/None skipped)."""
    weight = _tensor(module, "weight")
    if weight is not None:
        nn.init.constant_(weight, val)
    _fill_bias(module, bias)


def xavier_init(module: nn.Module, gain: float = 1, bias: float = 0, distribution: str = "normal") -> None:
    """Xavier (Glorot) ``uniform``/``normal`` weight, constant bias."""
    _check_distribution(distribution)
    weight = _tensor(module, "weight")
    if weight is not None:
        fn = nn.init.xavier_uniform_ if distribution == "uniform" else nn.init.xavier_normal_
        fn(weight, gain=gain)
    _fill_bias(module, bias)


def normal_init(module: nn.Module, mean: float = 0, std: float = 1, bias: float = 0) -> None:
    """Normal(mean, std) weight, constant bias."""
    weight = _tensor(module, "weight")
    if weight is not None:
        nn.init.normal_(weight, mean, std)
    _fill_bias(module, bias)


def trunc_normal_init(module: nn.Module, mean: float = 0, std: float = 1, a: float = -2,
                      b: float = 2, bias: float = 0) -> None:
    """Truncated normal weight (``a``/``b`` are ABSOLUTE cut-offs, not in std units), constant bias."""
    weight = _tensor(module, "weight")
    if weight is not None:
        trunc_normal_(weight, mean, std, a, b)
    _fill_bias(module, bias)


def uniform_init(module: nn.Module, a: float = 0, b: float = 1, bias: float = 0) -> None:
    """Uniform[a, b) weight, constant bias."""
    weight = _tensor(module, "weight")
    if weight is not None:
        nn.init.uniform_(weight, a, b)
    _fill_bias(module, bias)


def kaiming_init(module: nn.Module, a: float = 0, mode: str = "fan_out", nonlinearity: str = "relu",
                 bias: float = 0, distribution: str = "normal") -> None:
    """Kaiming (He) weight for ``nonlinearity`` keeping the variance of ``mode``; constant bias."""
    _check_distribution(distribution)
    weight = _tensor(module, "weight")
    if weight is not None:
        fn = nn.init.kaiming_uniform_ if distribution == "uniform" else nn.init.kaiming_normal_
        fn(weight, a=a, mode=mode, nonlinearity=nonlinearity)
    _fill_bias(module, bias)


def caffe2_xavier_init(module: nn.Module, bias: float = 0) -> None:
    """Caffe2's "XavierFill": Kaiming uniform, fan_in, leaky_relu with a=1 (i.e. gain 1)."""
    kaiming_init(module, a=1, mode="fan_in", nonlinearity="leaky_relu", bias=bias, distribution="uniform")


def bias_init_with_prob(prior_prob: float) -> float:
    """The bias whose sigmoid is ``prior_prob``: ``-log((1 - p) / p)`` (focal-loss heads use p=0.01)."""
    if not 0 < prior_prob < 1:
        raise ValueError(f"prior_prob must be in (0, 1), but got {prior_prob!r}")
    return float(-math.log((1 - prior_prob) / prior_prob))


def trunc_normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0) -> torch.Tensor:
    """Fill ``tensor`` from N(mean, std²) truncated to the ABSOLUTE interval [a, b]; returns it.

    Delegates to ``torch.nn.init.trunc_normal_`` (same cut-off semantics, same warning when
    ``mean`` is more than 2 std outside [a, b]), so kiln's init costs exactly what a plain
    ``torch.nn.init`` loop costs. Note: recent torch samples by rejection, which reads one flag
    back from the device per tensor; that sync is torch's, not kiln's bookkeeping.
    """
    return nn.init.trunc_normal_(tensor, mean=mean, std=std, a=a, b=b)
