"""Safe checkpoint loading shared by ``PretrainedInit``, the Runner's ``load_from`` and resume.

Checkpoints are read with ``torch.load(weights_only=True)``: tensors, numbers, strings and plain
containers only. A file that needs arbitrary unpickling is refused with an explanation (it could
run any code on this machine) and the exact opt-in. Key mismatches between a checkpoint and a
model are collected in ONE pass over the keys and reported as a table, never dropped silently.

Example:
    >>> import torch.nn as nn
    >>> from kiln.checkpoint import load_state_dict
    >>> report = load_state_dict(nn.Linear(2, 2), {'weight': nn.Linear(2, 2).weight.detach()})
    >>> report.missing
    ['bias']
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from kiln.checkpoint.download import download_checkpoint, is_url
from kiln.checkpoint.mmengine_compat import convert_foreign, mmengine_safe_globals
from kiln.errors import CheckpointError
from kiln.logging import print_log

__all__ = [
    "load_checkpoint_file", "load_state_dict", "load_checkpoint", "LoadReport",
    "unwrap_state_dict", "select_prefix", "checkpoint_source", "compare_state_dict", "revise_keys",
]

_NESTING_KEYS = ("state_dict", "model")


def checkpoint_source(filename: str | os.PathLike) -> str:
    """``'http'`` for http(s) URLs, else ``'local'`` (the word the load log line starts with)."""
    return "http" if is_url(filename) else "local"


def load_checkpoint_file(
    filename: str | os.PathLike,
    map_location: Any = "cpu",
    weights_only: bool = True,
    *,
    log: bool = True,
) -> dict:
    """Read a checkpoint dict from a local path or an http(s) URL (downloaded once, then cached).

    Args:
        filename: Local path or ``http(s)://`` URL.
        map_location: Passed to ``torch.load``.
        weights_only: Keep True unless you trust the file: False unpickles arbitrary objects.
        log: Print ``{local|http} loads checkpoint from path: {filename}`` (the seeds' line).

    Raises:
        FileNotFoundError: a local file does not exist.
        CheckpointError: the file is truncated/corrupt, needs unsafe unpickling, or is not a dict.
    """
    filename = os.fspath(filename)
    if log:
        print_log(f"{checkpoint_source(filename)} loads checkpoint from path: {filename}", logger="current")
    path = download_checkpoint(filename) if is_url(filename) else filename
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {filename!r} can not be found "
                                f"(looked for {os.path.abspath(path)})")
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {filename!r} is a directory, not a checkpoint file")
    try:
        if weights_only:  # MMEngine's pickled HistoryBuffer/numpy objects load as inert stand-ins
            with mmengine_safe_globals():
                checkpoint = convert_foreign(
                    torch.load(path, map_location=map_location, weights_only=True))
        else:
            checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        shown = filename if path == filename else f"{filename} (cached at {path}: delete it to download again)"
        raise _explain_load_error(shown, exc) from exc
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"checkpoint {filename!r} holds a {type(checkpoint).__name__}, "
                              "expected a dict (a state dict or a dict with a 'state_dict' entry)")
    return dict(checkpoint)


def _explain_load_error(filename: str, exc: Exception) -> CheckpointError:
    text = str(exc)
    # torch reports both unsafe pickles and plain garbage as "Weights only load failed"; only a
    # GLOBAL (an importable class/function to call) means "needs arbitrary unpickling".
    if "Weights only load failed" in text and "GLOBAL" in text:
        detail = next((line.strip() for line in text.splitlines() if "Unsupported global" in line), "")
        detail = detail.split(" was not an allowed global")[0].replace("WeightsUnpickler error: ", "")
        return CheckpointError(
            f"refused to load checkpoint {filename!r} with weights_only=True: it contains pickled "
            f"Python objects, not only tensors and plain containers{f' ({detail})' if detail else ''}. "
            "Unpickling such a file can execute arbitrary code: a malicious checkpoint can run any "
            "command on this machine. Only if you trust where the file came from, opt in with "
            "weights_only=False, e.g. dict(type='Pretrained', checkpoint=..., weights_only=False) "
            "or load_checkpoint(model, filename, weights_only=False).")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = next((line for line in lines if line.startswith("Unsupported")), lines[0] if lines else "")
    return CheckpointError(f"checkpoint {filename!r} cannot be read (truncated or corrupt file?): "
                           f"{type(exc).__name__}: {first}")


def unwrap_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The state dict inside ``checkpoint``: entries nested under ``state_dict``/``model`` are unwrapped."""
    state: Any = checkpoint
    while isinstance(state, Mapping):
        inner = next((state[k] for k in _NESTING_KEYS if isinstance(state.get(k), Mapping)), None)
        if inner is None:
            break
        state = inner
    return dict(state)


def select_prefix(state_dict: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Keys under ``prefix`` (``'backbone'`` or ``'backbone.'``) with the prefix removed.

    Raises:
        CheckpointError: no key starts with the prefix (names the prefixes that do exist).
    """
    dotted = prefix if prefix.endswith(".") else prefix + "."
    selected = {k[len(dotted):]: v for k, v in state_dict.items() if k.startswith(dotted)}
    if not selected:
        heads = sorted({k.split(".", 1)[0] for k in state_dict})
        raise CheckpointError(f"prefix {prefix!r} is not in the checkpoint (its top-level key "
                              f"prefixes are: {', '.join(heads[:20]) or 'none'})")
    return selected


def revise_keys(state_dict: Mapping[str, Any], rules: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Apply ``re.sub(pattern, replacement, key)`` for each rule to every key."""
    compiled = [(re.compile(pattern), repl) for pattern, repl in rules]
    out = {}
    for key, value in state_dict.items():
        for pattern, repl in compiled:
            key = pattern.sub(repl, key)
        out[key] = value
    return out


@dataclass
class LoadReport:
    """What did not match when a state dict was loaded into a module.

    Attributes:
        missing: Model keys the state dict does not have (they keep their current values).
        unexpected: State-dict keys the model does not have (ignored).
        mismatched: ``(key, checkpoint_shape, model_shape)`` for keys whose shapes differ (skipped).
    """

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def table(self) -> str:
        """A plain-text table, one row per problem key (empty string when everything matched)."""
        if self.ok:
            return ""
        rows = [(k, "missing in checkpoint", "-", "") for k in self.missing]
        rows += [(k, "unexpected (not in model)", "", "-") for k in self.unexpected]
        rows += [(k, "shape mismatch", str(tuple(c)), str(tuple(m))) for k, c, m in self.mismatched]
        rows = [(k, p, c or "", m or "") for k, p, c, m in rows]
        head = ("key", "problem", "checkpoint shape", "model shape")
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*r).rstrip() for r in rows]
        return "The model and loaded state dict do not match exactly\n" + "\n".join(lines)


def load_state_dict(module: nn.Module, state_dict: Mapping[str, Any], strict: bool = False) -> LoadReport:
    """Load ``state_dict`` into ``module``, skipping and reporting keys that do not fit.

    Missing keys keep their values, unexpected keys are ignored and shape mismatches are skipped
    (torch would raise on them even with ``strict=False``). ``num_batches_tracked`` buffers are
    not reported as missing (older checkpoints lack them). With ``strict=True`` any problem raises
    BEFORE anything is loaded, on every rank.

    Raises:
        CheckpointError: ``strict`` and the keys or shapes do not match (message holds the table).

    ``module`` is the user's model, not a wrapper: callers unwrap it with
    ``kiln.model.unwrap_model`` (this package sits below ``kiln.model`` and does not know wrappers).
    """
    report, loadable = compare_state_dict(module, state_dict)
    if strict and not report.ok:
        raise CheckpointError(report.table())
    module.load_state_dict(loadable, strict=False)
    return report


def compare_state_dict(module: nn.Module, state_dict: Mapping[str, Any]) -> tuple[LoadReport, dict[str, Any]]:
    """What would not fit if ``state_dict`` were loaded into ``module``, and the entries that would.

    Nothing is loaded: resume uses it to refuse another model's checkpoint before any change.
    """
    own = module.state_dict(keep_vars=True)
    report = LoadReport()
    loadable = {}
    for key, value in state_dict.items():  # the one pass over the checkpoint's keys
        target = own.get(key)
        if target is None:
            report.unexpected.append(key)
        elif isinstance(value, torch.Tensor) and value.shape != target.shape:
            report.mismatched.append((key, tuple(value.shape), tuple(target.shape)))
        else:
            loadable[key] = value
    report.missing = [k for k in own if k not in state_dict and not k.endswith("num_batches_tracked")]
    return report, loadable


def load_checkpoint(
    model: nn.Module,
    filename: str | os.PathLike,
    map_location: Any = "cpu",
    strict: bool = False,
    revise_keys: Sequence[tuple[str, str]] = ((r"^module\.", ""),),
    prefix: str | None = None,
    weights_only: bool = True,
) -> dict:
    """Load a checkpoint file's weights into ``model`` and return the whole checkpoint dict.

    The state dict is unwrapped from ``state_dict``/``model`` nesting, keys are revised (by
    default a leading ``module.`` from DDP is stripped), then, with ``prefix``, only the keys
    under it are kept (prefix stripped). Mismatches are logged as a WARNING table.
    """
    checkpoint = load_checkpoint_file(filename, map_location, weights_only)
    apply_state(model, checkpoint, strict=strict, revise=revise_keys, prefix=prefix)
    return checkpoint


def apply_state(
    model: nn.Module,
    checkpoint: Mapping[str, Any],
    strict: bool = False,
    revise: Sequence[tuple[str, str]] = ((r"^module\.", ""),),
    prefix: str | None = None,
) -> LoadReport:
    """Unwrap, revise, select ``prefix`` and load an already-read checkpoint; warn on mismatches."""
    state = revise_keys(unwrap_state_dict(checkpoint), revise)
    if prefix is not None:
        state = select_prefix(state, prefix)
    report = load_state_dict(model, state, strict=strict)
    if not report.ok:
        print_log(report.table(), logger="current", level=logging.WARNING)
    return report
