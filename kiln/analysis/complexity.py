"""``get_model_complexity_info``: FLOPs, activations and parameters of a model, per module.

Counting is torch's own :class:`torch.utils.flop_counter.FlopCounterMode` (it sees every matmul,
convolution and attention op dispatched during one forward, including functional calls, and
knows which module ran them). Its counts are halved so that ``flops`` means what MMEngine (and
fvcore) call FLOPs: one fused multiply-add = 1. What differs from MMEngine: only the ops that
FlopCounterMode has formulas for are counted (matmul/linear, convolutions, batched matmul,
scaled-dot-product attention and their backward); element-wise ops, norms and pooling count
zero, where fvcore counts some of them. ``activations`` are the output elements of each leaf
module that did counted work (fvcore's definition for conv/linear layers).

Example:
    >>> import torch.nn as nn
    >>> info = get_model_complexity_info(nn.Linear(8, 4), input_shape=(8,), show_table=False,
    ...                                  show_arch=False)
    >>> info['flops'], info['params'], info['activations']
    (32, 36, 4)
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["get_model_complexity_info"]

_UNITS = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))
_THRESHOLDS = (1e14, 1e11, 1e8, 1e5, 1e2)  # a unit is used from a tenth of it on: 0.402K, not 402


def _format_size(x: float, digits: int = 3) -> str:
    """``4176 -> '4.176K'``, ``402 -> '0.402K'``, ``2 -> '2'`` (MMEngine's style)."""
    for (unit, suffix), threshold in zip(_UNITS, _THRESHOLDS):
        if abs(x) > threshold:
            return f"{round(x / unit, digits)}{suffix}"
    return str(x)


def _inputs(model: nn.Module, input_shape: tuple | None, inputs: Any) -> tuple:
    if (input_shape is None) == (inputs is None):
        raise ValueError("get_model_complexity_info needs exactly one of input_shape (without the "
                         "batch dimension, e.g. (3, 224, 224)) or inputs (the forward's arguments)")
    if inputs is not None:
        return inputs if isinstance(inputs, tuple) else (inputs,)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    shapes = input_shape if isinstance(input_shape[0], (tuple, list)) else (input_shape,)
    return tuple(torch.randn(1, *shape, device=device) for shape in shapes)


def _count(model: nn.Module, args: tuple) -> tuple[dict[str, int], dict[str, int]]:
    """``(flops per module name, activations per module name)`` of one forward, '' = the model."""
    outputs: dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():
        if not any(True for _ in module.children()):
            def hook(mod, inp, out, name=name):
                outputs[name] = outputs.get(name, 0) + (out.numel() if isinstance(out, torch.Tensor) else 0)
            handles.append(module.register_forward_hook(hook))
    root = type(model).__name__
    counter = FlopCounterMode(display=False)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), counter:
            model(*args)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    flops: dict[str, int] = defaultdict(int)
    for key, ops in counter.get_flop_counts().items():
        if key == "Global":
            continue
        name = "" if key == root else key[len(root) + 1:] if key.startswith(root + ".") else None
        if name is not None:
            flops[name] = sum(ops.values()) // 2  # multiply-adds, MMEngine's "flops"
    flops[""] = counter.get_total_flops() // 2
    acts: dict[str, int] = defaultdict(int)
    for name, count in outputs.items():
        if flops.get(name, 0) > 0:
            parts = name.split(".")
            for depth in range(len(parts) + 1):  # add to the module and all its parents
                acts[".".join(parts[:depth])] += count
    return dict(flops), dict(acts)


def _params(model: nn.Module) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for name, param in model.named_parameters():
        parts = name.split(".")[:-1]
        for depth in range(len(parts) + 1):
            counts[".".join(parts[:depth])] += param.numel()
    return dict(counts)


def _table(model: nn.Module, flops: dict, acts: dict, params: dict, max_depth: int = 3) -> str:
    rows = [("model", _format_size(params.get("", 0)), _format_size(flops.get("", 0)),
             _format_size(acts.get("", 0)))]
    for name, module in model.named_modules():
        depth = name.count(".") + 1
        if not name or depth > max_depth or not (params.get(name) or flops.get(name)):
            continue
        pad = " " * depth
        rows.append((pad + name, pad + _format_size(params.get(name, 0)),
                     pad + _format_size(flops[name]) if flops.get(name) else "",
                     pad + _format_size(acts[name]) if acts.get(name) else ""))
        for pname, param in module.named_parameters(recurse=False):
            rows.append((pad + " " + f"{name}.{pname}", pad + " " + str(tuple(param.shape)), "", ""))
    header = ("module", "#parameters or shape", "#flops", "#activations")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(row):
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |"

    return "\n".join(["", rule, line(header), rule, *(line(r) for r in rows), rule, ""])


def _arch(model: nn.Module, flops: dict, acts: dict, params: dict) -> str:
    names = {module: name for name, module in model.named_modules()}
    originals: dict[nn.Module, Any] = {}

    def extra_repr(module):
        name = names[module]
        stats = f"#params: {_format_size(params.get(name, 0), 2)}, #flops: {_format_size(flops.get(name, 0), 2)}, " \
                f"#acts: {_format_size(acts.get(name, 0), 2)}"
        base = originals[module]()
        return f"{base}\n{stats}" if base else stats

    try:
        for module, name in names.items():
            if params.get(name) or flops.get(name):
                originals[module] = module.extra_repr
                module.extra_repr = (lambda m=module: extra_repr(m))  # type: ignore[method-assign]
        return "\n" + repr(model)
    finally:
        for module in originals:
            del module.extra_repr  # back to the class's method


def get_model_complexity_info(model: nn.Module, input_shape: tuple | None = None, inputs: Any = None,
                              show_table: bool = True, show_arch: bool = True) -> dict[str, Any]:
    """FLOPs, activations and parameters of ``model`` for one forward (MMEngine's keys).

    Args:
        model: The model; it runs once in eval mode under ``torch.no_grad()`` (mode restored).
        input_shape: Shape of one input without the batch dimension (a batch of 1 is made), or
            a tuple of such shapes for several inputs.
        inputs: The forward's arguments instead (a tensor or a tuple).
        show_table: Fill ``out_table`` (per-module table, 3 levels deep).
        show_arch: Fill ``out_arch`` (the model's repr with the statistics of each module).

    Returns:
        ``flops`` (multiply-adds), ``flops_str``, ``activations``, ``activations_str``,
        ``params``, ``params_str``, ``out_table``, ``out_arch`` (empty strings when not shown).
    """
    flops, acts, params = *_count(model, _inputs(model, input_shape, inputs)), _params(model)
    total_flops, total_acts, total_params = flops.get("", 0), acts.get("", 0), params.get("", 0)
    return {
        "flops": total_flops, "flops_str": _format_size(total_flops),
        "activations": total_acts, "activations_str": _format_size(total_acts),
        "params": total_params, "params_str": _format_size(total_params),
        "out_table": _table(model, flops, acts, params) if show_table else "",
        "out_arch": _arch(model, flops, acts, params) if show_arch else "",
    }
