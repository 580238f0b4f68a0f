"""Sharded checkpoints: a directory written by every rank through ``torch.distributed.checkpoint``.

A DCP checkpoint (``iter_10/``, ``epoch_2/``) holds:

- ``.metadata`` and ``__<rank>_<n>.distcp``: the model and optimizer state, each rank writing its
  own shards (``get_state_dict``: DTensor shards under FSDP2, replicated tensors once under DDP);
- ``extra_state.pth`` (rank 0): everything else a resume needs, as plain data loadable with
  ``weights_only=True``: meta, schedulers, message hub, loop state, sampler position, the optim
  wrapper's extras and hook additions;
- ``rank_<r>.pth``: each rank's RNG states.

It is written to ``.<name>.partial/`` beside the target and renamed to ``<name>/`` by rank 0 only
once every rank has written its part, so a crash (SIGKILL) mid-save leaves the previous
checkpoint and ``last_checkpoint`` as they were. Loading works at ANY world size: DCP reshards
the tensors to the loading run's layout (2 ranks → 1 rank, FSDP2 → plain model); the sampler
position is re-split by the runner (:mod:`kiln.runner.checkpointing`).

The directory must be on a filesystem every rank sees (as DCP requires for loading).

Example:
    >>> import torch
    >>> from kiln.checkpoint.dcp import save_dcp, load_dcp_model
    >>> model = torch.nn.Linear(2, 2)
    >>> save_dcp('/tmp/kiln_doc/iter_1', model, extra={'meta': {'iter': 1}})  # doctest: +SKIP
    >>> load_dcp_model('/tmp/kiln_doc/iter_1', model)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from kiln.checkpoint.model_state import (
    check_optimizer_wrapper,
    optimizer_extras,
    state_dict_options,
)
from kiln.checkpoint.reading import is_dcp_checkpoint
from kiln.checkpoint.saving import _fsync_dir, atomic_save, to_plain
from kiln.errors import CheckpointError
from kiln.logging import print_log

__all__ = ["save_dcp", "load_dcp_model", "load_dcp_optimizer", "read_dcp_state", "is_dcp_checkpoint",
           "partial_path", "remove_partial_dcp", "read_weights_checkpoint", "remove_checkpoint", "EXTRA_FILE"]

EXTRA_FILE = "extra_state.pth"
_PARTIAL = ".partial"


def partial_path(directory: str) -> str:
    """Where :func:`save_dcp` writes ``directory`` before publishing it: ``.<name>.partial``."""
    final = os.path.abspath(directory)
    return os.path.join(os.path.dirname(final), f".{os.path.basename(final)}{_PARTIAL}")


def _rank_file(directory: str, rank: int) -> str:
    return os.path.join(directory, f"rank_{rank}.pth")


# -- saving ---------------------------------------------------------------------------------
def save_dcp(directory: str, model: nn.Module, optim_wrapper: Any = None,
             extra: Mapping[str, Any] | None = None, rank_state: Mapping[str, Any] | None = None,
             async_save: bool = False) -> Any:
    """Write a DCP checkpoint of ``model`` (+ ``optim_wrapper``) and plain state; every rank calls it.

    Args:
        directory: The checkpoint directory to create (e.g. ``work_dir/iter_10``).
        model: The (maybe wrapped or sharded) model.
        optim_wrapper: An optim wrapper whose optimizer state is saved sharded (None: weights only).
        extra: Plain data, the same on every rank; rank 0 writes it.
        rank_state: Plain data of this rank (its RNG states).
        async_save: Stage to the CPU and write in the background; returns a
            :class:`kiln.checkpoint.async_save.PendingSave` instead of the path.

    Returns:
        The directory's absolute path (or the pending save).

    Raises:
        CheckpointError: The write failed; the previous checkpoint of that name (if any) is kept.
    """
    import torch.distributed.checkpoint as dcp

    from kiln.dist import barrier, get_rank, is_main_process

    final, tmp = os.path.abspath(directory), partial_path(directory)
    if is_main_process() and os.path.exists(tmp):  # left by a save that crashed
        shutil.rmtree(tmp)
    barrier()  # nobody writes into tmp before rank 0 has cleared it
    os.makedirs(tmp, exist_ok=True)
    state = _tensor_state(model, optim_wrapper)
    extra = dict(extra or {})
    if optim_wrapper is not None:
        extra["optimizer_extra"] = optimizer_extras(optim_wrapper)
    # Small plain files first, synchronously: DCP's save returns on rank 0 only after every rank
    # passed its own write, so these are on disk when rank 0 publishes the directory.
    atomic_save(to_plain(dict(rank_state or {}), "rank_state"), _rank_file(tmp, get_rank()))
    if is_main_process():
        atomic_save(to_plain(extra, "checkpoint"), os.path.join(tmp, EXTRA_FILE))

    def publish() -> str | None:
        if is_main_process():
            _publish(tmp, final)
        return final

    if async_save:
        from kiln.checkpoint.async_save import dcp_async_save

        return dcp_async_save(state, tmp, publish, final)
    try:
        with _single_process_ok():
            dcp.save(state, checkpoint_id=tmp, no_dist=not _distributed())
        publish()
    except Exception as exc:
        raise CheckpointError(f"could not save the DCP checkpoint {final}: {exc}. The previous "
                              "checkpoint (if any) is intact.") from exc
    barrier()  # every rank sees the published directory before it goes on
    return final


def _tensor_state(model: nn.Module, optim_wrapper: Any) -> dict[str, Any]:
    from torch.distributed.checkpoint.state_dict import (
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = state_dict_options(model, full=False)
    state: dict[str, Any] = {"model": get_model_state_dict(model, options=options)}
    if optim_wrapper is not None:
        check_optimizer_wrapper(optim_wrapper, "save_format='dcp'")
        state["optimizer"] = get_optimizer_state_dict(model, optim_wrapper.optimizer, options=options)
    return state


def _publish(tmp: str, final: str) -> None:
    """Rename the finished ``tmp`` to ``final``; an existing ``final`` is replaced only after."""
    old = None
    if os.path.exists(final):
        old = f"{tmp}.old"
        if os.path.exists(old):
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    _fsync_dir(os.path.dirname(final))
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)



@contextlib.contextmanager
def _single_process_ok():
    """Silence DCP's "assuming the intent is to ... in a single process": kiln passes no_dist itself."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*assuming the intent is to")
        yield


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def remove_partial_dcp(out_dir: str) -> int:
    """Delete ``.<name>.partial`` directories left by interrupted saves; returns how many."""
    partial = [p for p in glob.glob(os.path.join(glob.escape(out_dir), f".*{_PARTIAL}*")) if os.path.isdir(p)]
    for path in partial:
        shutil.rmtree(path, ignore_errors=True)
    return len(partial)


def remove_checkpoint(path: str) -> None:
    """Delete a checkpoint file or DCP directory (missing is fine)."""
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)


# -- loading --------------------------------------------------------------------------------
def read_dcp_state(directory: str, rank: int | None = None) -> dict[str, Any]:
    """The plain state of a DCP checkpoint (``extra_state.pth``) with this rank's ``rng``.

    A rank the saving run did not have (resumed on more ranks) gets no ``rng`` entry.
    """
    from kiln.checkpoint.loading import load_checkpoint_file
    from kiln.dist import get_rank

    if not is_dcp_checkpoint(directory):
        raise CheckpointError(f"{directory} is not a DCP checkpoint directory (no .metadata in it)")
    state = dict(load_checkpoint_file(os.path.join(directory, EXTRA_FILE), "cpu", log=False))
    rank_file = _rank_file(directory, get_rank() if rank is None else rank)
    if os.path.isfile(rank_file):
        state.update(load_checkpoint_file(rank_file, "cpu", log=False))
    return state


def read_weights_checkpoint(path: str) -> dict[str, Any]:
    """``meta`` + the FULL ``state_dict`` of a DCP directory, or a checkpoint file read as usual."""
    if not is_dcp_checkpoint(path):
        from kiln.checkpoint.reading import read_checkpoint

        return read_checkpoint(path)
    return {"meta": read_dcp_state(path, rank=0).get("meta", {}), "state_dict": load_dcp_full_model_state(path)}


def _saved_keys(directory: str, prefix: str) -> set[str]:
    from torch.distributed.checkpoint import FileSystemReader

    metadata = FileSystemReader(directory).read_metadata()
    return {k[len(prefix):] for k in metadata.state_dict_metadata if k.startswith(prefix)}


def load_dcp_model(directory: str, model: nn.Module, strict: bool = False) -> dict[str, Any]:
    """Load the model state of a DCP checkpoint into ``model``, resharded to this run (every rank).

    Returns:
        The loaded state dict (this rank's view: shards for a sharded model).

    Raises:
        CheckpointError: ``strict`` and keys differ, or a tensor's shape does not match.
    """
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, set_model_state_dict

    options = state_dict_options(model, full=False, strict=strict)
    template = get_model_state_dict(model, options=options)
    saved = _saved_keys(directory, "model.")
    missing = sorted(set(template) - saved)
    unexpected = sorted(k for k in saved - set(template) if not _nested_of(k, template))
    if missing or unexpected:
        message = (f"{directory}: the model and the checkpoint differ: missing in the checkpoint "
                   f"{missing[:10]}, unexpected in it {unexpected[:10]}")
        if strict:
            raise CheckpointError(message)
        print_log(message, logger="current", level=logging.WARNING)
    _dcp_load({"model": template}, directory, partial=bool(missing))
    set_model_state_dict(model, template, options=options)
    return template


def _nested_of(key: str, template: Mapping[str, Any]) -> bool:
    """DCP flattens non-tensor nested values (``a.b.0``); they belong to a template key."""
    return any(key.startswith(f"{k}.") for k in template)


def load_dcp_optimizer(directory: str, model: nn.Module, optim_wrapper: Any,
                       extras: Mapping[str, Any] | None = None) -> None:
    """Load the optimizer state of a DCP checkpoint into ``optim_wrapper`` (resharded), plus its extras."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    from kiln.checkpoint.model_state import load_optimizer_state

    check_optimizer_wrapper(optim_wrapper, "resume from a DCP checkpoint")
    if not _saved_keys(directory, "optimizer."):
        print_log(f"{directory} has no optimizer state; the optimizer starts fresh.", logger="current",
                  level=logging.WARNING)
        return
    options = state_dict_options(model, full=False)
    template = {"optimizer": get_optimizer_state_dict(model, optim_wrapper.optimizer, options=options)}
    _dcp_load(template, directory, partial=False)
    load_optimizer_state(model, optim_wrapper, {**template["optimizer"], **dict(extras or {})}, full=False)


def _dcp_load(state: dict[str, Any], directory: str, partial: bool) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import DefaultLoadPlanner

    try:
        with _single_process_ok():
            dcp.load(state, checkpoint_id=directory, planner=DefaultLoadPlanner(allow_partial_load=partial),
                     no_dist=not _distributed())
    except Exception as exc:
        raise CheckpointError(f"could not load the DCP checkpoint {directory}: {exc}") from exc


def load_dcp_full_model_state(directory: str) -> dict[str, torch.Tensor]:
    """The FULL model state dict of a DCP checkpoint, read in this process (no process group).

    Every shard is read, so it needs the whole model's memory: for consolidation and inspection.
    """
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

    if not is_dcp_checkpoint(directory):
        raise CheckpointError(f"{directory} is not a DCP checkpoint directory (no .metadata in it)")
    loaded: dict[str, Any] = {}
    # What torch's _load_state_dict_from_keys does, with no_dist: this process alone reads every
    # shard, even inside a distributed run (e.g. on rank 0 only); the public dcp.load would copy
    # the dict the planner fills.
    _load_state_dict(loaded, storage_reader=FileSystemReader(directory),
                     planner=_EmptyStateDictLoadPlanner(keys={"model"}), no_dist=True)
    return dict(loaded["model"])
