"""Data preprocessors: the model's first stage, which moves a batch to the model's device.

A preprocessor is a submodule of :class:`kiln.model.BaseModel`, so it follows the model when the
model moves (``model.cuda()``), and batch-level work (normalisation, padding, channel flips) runs
on the accelerator after the cheap ``uint8`` batch has been copied there.

Example:
    >>> import torch
    >>> from kiln.model import ImgDataPreprocessor
    >>> pre = ImgDataPreprocessor(mean=[127.5] * 3, std=[127.5] * 3, pad_size_divisor=4)
    >>> out = pre({'inputs': [torch.zeros(3, 5, 6, dtype=torch.uint8)]})
    >>> out['inputs'].shape, out['data_samples']
    (torch.Size([1, 3, 8, 8]), None)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kiln.errors import ConfigError
from kiln.model.utils import stack_batch
from kiln.registry import MODELS

__all__ = ["BaseDataPreprocessor", "ImgDataPreprocessor", "cast_data", "set_preprocessor_device"]

# Accelerator ``nn.Module`` methods besides ``cuda``/``cpu`` that this torch build (or a plugin
# such as torch_npu, imported before kiln) provides; the preprocessors track those moves too.
EXTRA_DEVICE_KINDS = tuple(k for k in ("npu", "mlu", "musa", "xpu", "mtia") if hasattr(nn.Module, k))


def cast_data(data: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Return ``data`` with every tensor (and every object with a ``.to()``) on ``device``.

    Recurses through mappings (their type is kept when it can be copied), namedtuples, lists,
    tuples and other sequences. Strings, bytes, None, numbers, numpy arrays and other leaves are
    returned as they are. ``non_blocking`` is used only for copies *to* an accelerator: a
    non-blocking device→CPU copy could be read before it lands.
    """
    if isinstance(data, torch.Tensor):  # the common case first: this is on the hot path
        if data.device == device:  # already there: skip the dispatcher round trip
            return data
        return data.to(device, non_blocking=non_blocking and device.type != "cpu")
    if data is None or isinstance(data, (str, bytes, int, float, bool)):
        return data
    # The usual batches: a dict, list or tuple of tensors already on ``device`` (CPU training, or
    # a loader that pins and moves) cost no recursive call per item; abstract-class checks below.
    if type(data) is dict:
        return {k: v if type(v) is torch.Tensor and v.device == device else cast_data(v, device, non_blocking)
                for k, v in data.items()}
    if type(data) is list:
        return [x if type(x) is torch.Tensor and x.device == device else cast_data(x, device, non_blocking)
                for x in data]
    if type(data) is tuple:  # (inputs, targets) batches; a namedtuple is a subclass, handled below
        return tuple([x if type(x) is torch.Tensor and x.device == device else cast_data(x, device, non_blocking)
                      for x in data])
    if isinstance(data, Mapping):
        return _cast_mapping(data, device, non_blocking)
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple: rebuild positionally
        return type(data)(*(cast_data(x, device, non_blocking) for x in data))
    if isinstance(data, list):
        return [cast_data(x, device, non_blocking) for x in data]
    if isinstance(data, tuple):
        return tuple(cast_data(x, device, non_blocking) for x in data)
    if isinstance(data, Sequence):
        items = [cast_data(x, device, non_blocking) for x in data]
        try:
            return type(data)(items)
        except TypeError:  # a sequence type that cannot be built from an iterable
            return items
    to = getattr(data, "to", None)
    if callable(to):  # data-sample containers (BaseDataElement-like)
        try:
            return to(device, non_blocking=non_blocking and device.type != "cpu")
        except TypeError:  # a .to() without non_blocking
            return to(device)
    return data


def _cast_mapping(data: Mapping, device: torch.device, non_blocking: bool) -> Mapping:
    if isinstance(data, MutableMapping):
        try:  # keep OrderedDict / defaultdict / user mappings (and their extra state)
            out = copy.copy(data)
            for key, value in data.items():
                out[key] = cast_data(value, device, non_blocking)
            return out
        except Exception:  # noqa: BLE001 - an uncopyable mapping still casts, as a dict
            pass
    return {k: cast_data(v, device, non_blocking) for k, v in data.items()}


def resolve_device(kind: str, device: int | str | torch.device | None) -> torch.device:
    """The device that ``module.<kind>(device)`` moves to, index included.

    ``None`` means the current device of that kind (``cuda:N``); an int is an index.
    """
    if device is None:
        backend = getattr(torch, kind, None)
        current = getattr(backend, "current_device", None)
        return torch.device(kind, current()) if current is not None else torch.device(kind)
    if isinstance(device, int):
        return torch.device(kind, device)
    return torch.device(device)


def set_preprocessor_device(module: nn.Module, device: torch.device) -> None:
    """Record ``device`` in every :class:`BaseDataPreprocessor` inside ``module`` (itself included)."""
    for m in module.modules():
        if isinstance(m, BaseDataPreprocessor):
            m._device = device


class _TracksDevice:
    """Mixin: ``to``/``cuda``/``cpu`` (and other accelerators) update the preprocessors' device.

    ``nn.Module.to`` moves tensors without calling the children's ``to``, so the module that is
    moved records the new device in every preprocessor below it. The move happens first: a move
    that fails leaves the recorded device unchanged.
    """

    def to(self, *args: Any, **kwargs: Any) -> Any:
        out = super().to(*args, **kwargs)
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        if device is not None:  # a dtype-only .to() keeps the device
            set_preprocessor_device(self, torch.device(device))
        return out

    def cuda(self, device: int | str | torch.device | None = None) -> Any:
        out = super().cuda(device)
        set_preprocessor_device(self, resolve_device("cuda", device))
        return out

    def cpu(self) -> Any:
        out = super().cpu()
        set_preprocessor_device(self, torch.device("cpu"))
        return out


def _make_device_method(kind: str):
    def method(self, device=None):
        out = getattr(super(_TracksDevice, self), kind)(device)
        set_preprocessor_device(self, resolve_device(kind, device))
        return out

    method.__name__ = kind
    method.__doc__ = f"Move to ``{kind}`` (``device`` index honoured) and update the preprocessors."
    return method


for _kind in EXTRA_DEVICE_KINDS:
    setattr(_TracksDevice, _kind, _make_device_method(_kind))


@MODELS.register_module()
class BaseDataPreprocessor(_TracksDevice, nn.Module):
    """Moves a batch to the model's device; subclasses add batch-level preprocessing.

    Args:
        non_blocking: Copy host→accelerator without waiting. Only overlaps with compute when the
            batch is in pinned memory (``DataLoader(pin_memory=True)``).
    """

    def __init__(self, non_blocking: bool = False) -> None:
        super().__init__()
        self._non_blocking = bool(non_blocking)
        self._device = torch.device("cpu")

    @property
    def device(self) -> torch.device:
        """Where batches are moved to (the model's device)."""
        return self._device

    def cast_data(self, data: Any) -> Any:
        """Move ``data`` to :attr:`device`; see :func:`cast_data`."""
        return cast_data(data, self._device, self._non_blocking)

    def forward(self, data: Any, training: bool = False) -> Any:
        """Return ``data`` on the model's device. ``training`` lets subclasses augment batches."""
        return self.cast_data(data)


def _channel_stats(name: str, values: Sequence[float] | float) -> torch.Tensor:
    values = [values] if isinstance(values, (int, float)) else list(values)
    if not values or not all(isinstance(v, (int, float)) for v in values):
        raise ConfigError(name, f"expected a number or a list of numbers (one per channel), but got {values!r}")
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1)


@MODELS.register_module()
class ImgDataPreprocessor(BaseDataPreprocessor):
    """Image batches: channel flip, normalisation and padding to a common, divisible size.

    Inputs are ``data['inputs']``: an ``NCHW`` tensor or a list of ``CHW`` tensors of different
    sizes. Everything runs in float32 on the model's device, after the (often ``uint8``) batch has
    been copied there. Padding comes last, so ``pad_value`` is in normalised units.

    Args:
        mean: Per-channel mean (one value, or one per channel); None for no normalisation.
        std: Per-channel std, given together with ``mean``.
        pad_size_divisor: Pad height and width up to a multiple of this.
        pad_value: Value of the padded pixels.
        bgr_to_rgb: Reverse the channel order of 3-channel images.
        rgb_to_bgr: Same operation; at most one of the two may be set.
        non_blocking: See :class:`BaseDataPreprocessor`.
    """

    def __init__(
        self,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        pad_size_divisor: int = 1,
        pad_value: float = 0,
        bgr_to_rgb: bool = False,
        rgb_to_bgr: bool = False,
        non_blocking: bool = False,
    ) -> None:
        super().__init__(non_blocking)
        if bgr_to_rgb and rgb_to_bgr:
            raise ConfigError("bgr_to_rgb", "`bgr_to_rgb` and `rgb_to_bgr` cannot both be True "
                                            "(they are the same channel flip)")
        if (mean is None) != (std is None):
            raise ConfigError("mean" if mean is None else "std",
                              f"mean and std must both be given or both be None, but got mean={mean!r}, std={std!r}")
        if not isinstance(pad_size_divisor, int) or isinstance(pad_size_divisor, bool) or pad_size_divisor < 1:
            raise ConfigError("pad_size_divisor", f"expected a positive int, but got {pad_size_divisor!r}")
        self._enable_normalize = mean is not None
        if mean is not None:
            mean_t, std_t = _channel_stats("mean", mean), _channel_stats("std", std)
            if mean_t.numel() != std_t.numel():
                raise ConfigError("std", f"mean has {mean_t.numel()} values but std has {std_t.numel()}")
            if bool((std_t == 0).any()):
                raise ConfigError("std", f"std must not contain 0 (division by zero), but got {std!r}")
            # Non-persistent: they come from the config, and checkpoints stay loadable with other values.
            self.register_buffer("mean", mean_t, persistent=False)
            self.register_buffer("std", std_t, persistent=False)
        self._channel_conversion = bool(bgr_to_rgb or rgb_to_bgr)
        self.pad_size_divisor = pad_size_divisor
        self.pad_value = pad_value

    def forward(self, data: Any, training: bool = False) -> Any:
        """Cast ``data`` to the device, then flip, normalise and pad ``data['inputs']``."""
        data = self.cast_data(data)
        if not isinstance(data, MutableMapping) or "inputs" not in data:
            raise TypeError(f"{type(self).__name__} expects a dict with an 'inputs' key (and optionally "
                            f"'data_samples'), but got {_describe(data)}")
        inputs = data["inputs"]
        if isinstance(inputs, torch.Tensor):
            if inputs.dim() != 4:
                raise ValueError(f"{type(self).__name__}: data['inputs'] should be an NCHW tensor or a list "
                                 f"of CHW tensors, but got a tensor of shape {tuple(inputs.shape)}")
            batch = self._pad(self._normalize(inputs, channel_dim=1))
        elif isinstance(inputs, Sequence) and inputs and all(isinstance(x, torch.Tensor) for x in inputs):
            batch = stack_batch([self._normalize(x, channel_dim=0) for x in inputs],
                                self.pad_size_divisor, self.pad_value)
        else:
            raise TypeError(f"{type(self).__name__}: data['inputs'] should be an NCHW tensor or a non-empty "
                            f"list of CHW tensors, but got {_describe(inputs)}")
        data["inputs"] = batch
        data.setdefault("data_samples", None)
        return data

    def _normalize(self, x: torch.Tensor, channel_dim: int) -> torch.Tensor:
        channels = x.shape[channel_dim] if x.dim() > channel_dim else None
        if self._channel_conversion:
            if channels != 3:
                raise ValueError(f"{type(self).__name__}: bgr_to_rgb/rgb_to_bgr needs 3-channel images, but got "
                                 f"a tensor of shape {tuple(x.shape)} (channels on dim {channel_dim})")
            x = x.flip(channel_dim)
        x = x.float()
        if self._enable_normalize:
            n = self.mean.numel()
            if n > 1 and channels != n:
                raise ValueError(f"{type(self).__name__}: mean/std have {n} values, so images need {n} channels "
                                 f"on dim {channel_dim}, but got a tensor of shape {tuple(x.shape)}")
            x = (x - self.mean) / self.std
        return x

    def _pad(self, batch: torch.Tensor) -> torch.Tensor:
        h, w = batch.shape[-2:]
        d = self.pad_size_divisor
        pad_h, pad_w = -h % d, -w % d
        if pad_h == 0 and pad_w == 0:
            return batch
        return F.pad(batch, (0, pad_w, 0, pad_h), "constant", self.pad_value)


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__}: {text[:120] + '...' if len(text) > 120 else text}"
