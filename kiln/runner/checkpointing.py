"""Compose, save, load and resume a run's checkpoint (``Runner.save_checkpoint/load_checkpoint/resume``).

The Runner delegates here, so its file stays a thin shell. A checkpoint holds MMEngine's keys
(``meta``, ``state_dict``, ``optimizer``, ``param_schedulers``, ``message_hub``) plus what an
exact resume needs and MMEngine lacks: the loop position (``loop_state``), the sampler's
epoch/position (``sampler``), every RNG (``rng``) and, when a save falls inside a gradient
accumulation window, the gradients accumulated so far. All of it is plain data: the file
loads with ``torch.load(weights_only=True)``.

Resume follows the config where it changed (MMEngine issue #1565): progress counters come from
the checkpoint, schedule hyper-parameters (milestones, ``end``, ...) from the new config, and
every difference is logged.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from kiln.checkpoint.async_save import done_save, stage_to_cpu, write_in_background
from kiln.checkpoint.dcp import (
    is_dcp_checkpoint,
    load_dcp_model,
    load_dcp_optimizer,
    read_dcp_state,
    save_dcp,
)
from kiln.checkpoint.loading import apply_state, compare_state_dict, unwrap_state_dict
from kiln.checkpoint.loading import revise_keys as revise_state_keys
from kiln.checkpoint.mmengine_compat import message_hub_to_plain
from kiln.checkpoint.model_state import (
    full_model_state_dict,
    full_optimizer_state_dict,
    is_fsdp1,
    is_sharded,
    load_full_model_state,
    load_optimizer_state,
)
from kiln.checkpoint.reading import find_checkpoints, read_checkpoint
from kiln.checkpoint.rng import rng_state, set_rng_state
from kiln.checkpoint.saving import save_checkpoint as save_checkpoint_file
from kiln.checkpoint.saving import to_plain
from kiln.dist import get_device, get_world_size, is_main_process
from kiln.errors import CheckpointError
from kiln.logging import print_log
from kiln.model.wrappers.utils import unwrap_model

__all__ = ["save_checkpoint", "load_checkpoint", "resume", "build_checkpoint", "resume_position",
           "check_same_model", "find_resume_checkpoint"]

# Scheduler state entries that record progress; every other entry is configuration.
_SCHEDULER_PROGRESS_KEYS = frozenset({
    "last_step", "last_epoch", "_step_count", "_last_lr", "_last_value", "_get_lr_called_within_step",
    "_global_step", "_initial_step", "_is_initial",
})
_WARNING = logging.WARNING


# -- saving ---------------------------------------------------------------------------------
def save_checkpoint(runner, out_dir: str, filename: str, save_optimizer: bool = True,
                    save_param_scheduler: bool = True, meta: Mapping[str, Any] | None = None,
                    by_epoch: bool = True, save_format: str = "pth", async_save: bool = False) -> Any:
    """Save the run's state to ``out_dir/filename`` atomically (rank 0; other ranks return None).

    Args:
        runner: The runner.
        out_dir: Directory of the file.
        filename: File name, e.g. ``epoch_3.pth`` (a directory name such as ``epoch_3`` for DCP).
        save_optimizer: Include the optimizer state.
        save_param_scheduler: Include the schedulers' states.
        meta: Extra ``meta`` entries (plain types).
        by_epoch: Saved at an epoch end (``meta.epoch`` = epochs done) or after an iteration
            (``meta.iter`` = iterations done), MMEngine's convention.
        save_format: ``'pth'``, ``'safetensors'`` (weights only) or ``'dcp'`` (a sharded
            directory every rank writes, :mod:`kiln.checkpoint.dcp`).
        async_save: Stage the state to the CPU and write it in the background; returns a
            :class:`kiln.checkpoint.async_save.PendingSave` (on every rank).

    Returns:
        The path written, or None on ranks other than 0 (pth/safetensors).

    Raises:
        CheckpointError: The model has non-finite weights (nothing is written), or the write
            failed (the previous file is kept).
    """
    path = os.path.join(out_dir, filename)
    if save_format == "dcp":
        return _save_dcp(runner, path, save_optimizer, save_param_scheduler, meta, by_epoch, async_save)
    sharded = is_sharded(runner.model)  # gathering a sharded model is a collective: every rank
    if not sharded and not is_main_process():
        return done_save(None) if async_save else None
    checkpoint = build_checkpoint(runner, save_optimizer, save_param_scheduler, meta, by_epoch)
    if not is_main_process():
        return done_save(None) if async_save else None
    if not async_save:
        _refuse_non_finite(checkpoint["state_dict"], path)
    runner.call_hook("before_save_checkpoint", checkpoint=checkpoint)
    if async_save:
        staged = stage_to_cpu(checkpoint)  # training may go on once this copy exists

        def write() -> str:  # the finite check reads every weight: off the training thread too
            _refuse_non_finite(staged["state_dict"], path)
            return save_checkpoint_file(staged, path, save_format=save_format)

        return write_in_background(write, path)
    return save_checkpoint_file(checkpoint, path, save_format=save_format)


def _save_dcp(runner, path: str, save_optimizer: bool, save_param_scheduler: bool,
              meta: Mapping[str, Any] | None, by_epoch: bool, async_save: bool) -> Any:
    """A DCP directory: tensors through DCP (every rank), the rest as this module composes it."""
    extra = build_checkpoint(runner, False, save_param_scheduler, meta, by_epoch, with_model=False)
    rank_state = {"rng": extra.pop("rng")}
    runner.call_hook("before_save_checkpoint", checkpoint=extra)
    optim_wrapper = getattr(runner, "optim_wrapper", None) if save_optimizer else None
    if not hasattr(optim_wrapper, "state_dict"):
        optim_wrapper = None
    return save_dcp(path, _state_model(runner), optim_wrapper, extra=extra, rank_state=rank_state,
                    async_save=async_save)


def build_checkpoint(runner, save_optimizer: bool = True, save_param_scheduler: bool = True,
                     meta: Mapping[str, Any] | None = None, by_epoch: bool = True,
                     with_model: bool = True) -> dict[str, Any]:
    """The checkpoint dict of the run as it is now (before hooks add their entries).

    A sharded (FSDP1/FSDP2) model's weights and optimizer state are gathered in full, to rank 0
    (a collective: every rank must call this then).
    """
    checkpoint: dict[str, Any] = {"meta": _meta(runner, meta, by_epoch)}
    sharded = is_sharded(runner.model)
    if with_model:
        checkpoint["state_dict"] = (full_model_state_dict(_state_model(runner)) if sharded
                                    else _cpu(unwrap_model(runner.model).state_dict()))
    checkpoint["message_hub"] = runner.message_hub.state_dict()
    optim_wrapper = getattr(runner, "optim_wrapper", None)
    if save_optimizer and hasattr(optim_wrapper, "state_dict"):
        checkpoint["optimizer"] = (full_optimizer_state_dict(_state_model(runner), optim_wrapper) if sharded
                                   else _cpu(optim_wrapper.state_dict()))
        grads = {} if sharded else _accumulated_grads(runner, optim_wrapper)
        if grads:
            checkpoint["accumulated_grads"] = grads
        if hasattr(optim_wrapper, "inner_counts"):  # an OptimWrapperDict: one window per optimizer
            checkpoint["optim_inner_counts"] = optim_wrapper.inner_counts()
    schedulers = getattr(runner, "param_schedulers", None)
    if save_param_scheduler and schedulers:
        checkpoint["param_schedulers"] = _scheduler_states(schedulers)
    loop = _train_loop(runner)
    if loop is not None:
        checkpoint["loop_state"] = loop.state.state_dict()
        checkpoint["loop_state"]["global_batch"] = _global_batch(loop, get_world_size())
        sampler = getattr(loop, "sampler", None)
        if hasattr(sampler, "state_dict"):
            checkpoint["sampler"] = dict(sampler.state_dict())
    checkpoint["rng"] = rng_state()
    return checkpoint


def _meta(runner, extra: Mapping[str, Any] | None, by_epoch: bool) -> dict[str, Any]:
    from kiln.version import __version__

    epoch, it = int(runner.epoch), int(runner.iter)
    meta: dict[str, Any] = dict(extra or {})
    meta.update(
        epoch=epoch + 1 if by_epoch else epoch,
        iter=it if by_epoch else it + 1,
        seed=getattr(runner, "seed", None),
        experiment_name=getattr(runner, "experiment_name", None),
        time=time.strftime("%Y%m%d_%H%M%S", time.localtime()),
        kiln_version=__version__,
        world_size=get_world_size(),
    )
    loop = _train_loop(runner)
    if loop is not None:
        meta["max_epochs"] = int(getattr(loop, "max_epochs", 0) or 0)
        meta["max_iters"] = int(getattr(loop, "max_iters", 0) or 0)
        dataset_meta = getattr(getattr(loop.dataloader, "dataset", None), "metainfo", None)
        if dataset_meta is not None:
            try:
                meta["dataset_meta"] = to_plain(dataset_meta, "dataset.metainfo")
            except CheckpointError as exc:  # an exotic metainfo must not stop training at a save
                print_log(f"dataset_meta is left out of the checkpoint: {exc}", logger="current",
                          level=_WARNING)
    cfg = getattr(runner, "cfg", None)
    if cfg:
        text = getattr(cfg, "pretty_text", None)
        meta["cfg"] = text if isinstance(text, str) else str(cfg)
    return meta


def _refuse_non_finite(state_dict: Mapping[str, Any], path: str) -> None:
    floats = [(k, v) for k, v in state_dict.items() if isinstance(v, torch.Tensor) and v.is_floating_point()]
    if not floats:
        return
    # One deliberate sync per save (never per iteration): is every weight finite?
    finite = torch.stack([torch.isfinite(v).all() for _, v in floats]).tolist()
    bad = [k for (k, _), ok in zip(floats, finite) if not ok]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise CheckpointError(f"refusing to save checkpoint {path}: the model has non-finite (NaN/inf) "
                              f"weights in {shown}. Training diverged; the previous checkpoint is kept. "
                              "Lower the learning rate or clip gradients, then resume from it.")


def _accumulated_grads(runner, optim_wrapper) -> dict[str, torch.Tensor]:
    """Gradients summed so far when the save falls inside an accumulation window (else empty)."""
    if not _inside_window(optim_wrapper):
        return {}
    model = unwrap_model(runner.model)
    return {name: p.grad.detach().cpu().clone() for name, p in model.named_parameters() if p.grad is not None}


def _inside_window(optim_wrapper) -> bool:
    """Has any optimizer accumulated gradients it has not stepped on yet (an OptimWrapperDict's
    children each keep their own window)? The wrapper's own rule: its last backward did not
    close a window (``should_update``)."""
    children = getattr(optim_wrapper, "optim_wrappers", None)
    wrappers = children.values() if isinstance(children, Mapping) else [optim_wrapper]
    return any(hasattr(w, "should_update") and not w.should_update() for w in wrappers)


def _scheduler_states(schedulers: Any) -> Any:
    if isinstance(schedulers, Mapping):
        return {name: [s.state_dict() for s in group] for name, group in schedulers.items()}
    return [s.state_dict() for s in schedulers]


# -- loading -------------------------------------------------------------------------------
def load_checkpoint(runner, filename: str, map_location: Any = "cpu", strict: bool = False,
                    revise_keys: Sequence[tuple[str, str]] = ((r"^module\.", ""),)) -> dict[str, Any]:
    """Load a checkpoint's weights into the runner's model (``load_from``); returns the checkpoint.

    Hooks see the checkpoint first (``after_load_checkpoint``: e.g. EMAHook swaps weights), then
    it goes through the one shared loader (mismatch table; ``strict=True`` raises on every rank).
    """
    if is_dcp_checkpoint(filename):
        return _load_dcp(runner, filename, strict)
    checkpoint = read_checkpoint(filename, map_location)
    runner.call_hook("after_load_checkpoint", checkpoint=checkpoint)
    _apply_file_weights(runner, checkpoint, strict=strict, revise=revise_keys)
    print_log(f"Load checkpoint from {filename}", logger="current")
    return checkpoint


def _apply_file_weights(runner, checkpoint: Mapping[str, Any], strict: bool,
                        revise: Sequence[tuple[str, str]]) -> None:
    """A file's full state dict into the model; a sharded model gets it sliced to its shards."""
    if is_sharded(runner.model):
        load_full_model_state(_state_model(runner), revise_state_keys(unwrap_state_dict(checkpoint), revise),
                              strict=strict)
    else:
        apply_state(unwrap_model(runner.model), checkpoint, strict=strict, revise=revise)


def _load_dcp(runner, directory: str, strict: bool) -> dict[str, Any]:
    """Load a DCP directory's weights (resharded to this run); returns its plain state."""
    checkpoint = read_dcp_state(directory)
    checkpoint["state_dict"] = load_dcp_model(directory, _state_model(runner), strict=strict)
    runner.call_hook("after_load_checkpoint", checkpoint=checkpoint)
    print_log(f"Load checkpoint from {directory}", logger="current")
    return checkpoint


def resume(runner, filename: str, resume_optimizer: bool = True, resume_param_scheduler: bool = True,
           map_location: Any = "default") -> dict[str, Any]:
    """Restore everything a run needs to continue exactly where ``filename`` was saved.

    Model, optimizer (and gradients accumulated mid-window), schedulers, loop counters and
    position, sampler epoch/position, message hub history, and the RNG states. Changed
    ``max_epochs``/``max_iters``/scheduler settings and a different world size are reported.
    """
    if map_location == "default":
        map_location = get_device()
    if is_dcp_checkpoint(filename):  # DCP checks keys and shapes itself (strict), resharding
        checkpoint = _load_dcp(runner, filename, strict=True)
    else:
        checkpoint = read_checkpoint(filename, map_location)
        if not is_sharded(runner.model):  # a sharded model's own state dict holds shard shapes
            check_same_model(runner, checkpoint, filename)  # before anything changes
        runner.call_hook("after_load_checkpoint", checkpoint=checkpoint)
        _apply_file_weights(runner, checkpoint, strict=is_sharded(runner.model),
                            revise=((r"^module\.", ""),))
        print_log(f"Load checkpoint from {filename}", logger="current")
    meta = checkpoint.get("meta", {})
    loop = _train_loop(runner)
    if loop is not None:
        _restore_loop(runner, loop, checkpoint)
    _check_seed(runner, meta)
    _check_world_size(meta)
    if "message_hub" in checkpoint:
        runner.message_hub.load_state_dict(message_hub_to_plain(checkpoint["message_hub"]))
    optim_wrapper = getattr(runner, "optim_wrapper", None)
    if resume_optimizer and hasattr(optim_wrapper, "load_state_dict"):
        if is_dcp_checkpoint(filename):
            load_dcp_optimizer(filename, _state_model(runner), optim_wrapper, checkpoint.get("optimizer_extra"))
        elif "optimizer" in checkpoint:
            load_optimizer_state(_state_model(runner), optim_wrapper, checkpoint["optimizer"])
            _restore_grads(runner, checkpoint.get("accumulated_grads"))
        if "optim_inner_counts" in checkpoint and hasattr(optim_wrapper, "resume_inner_counts"):
            optim_wrapper.resume_inner_counts(checkpoint["optim_inner_counts"])
    schedulers = getattr(runner, "param_schedulers", None)
    if resume_param_scheduler and schedulers and "param_schedulers" in checkpoint:
        _restore_schedulers(schedulers, checkpoint["param_schedulers"])
    if "rng" in checkpoint:  # last: nothing above may draw random numbers after this
        set_rng_state(checkpoint["rng"])
    print_log(f"resumed epoch: {runner.epoch}, iter: {runner.iter}", logger="current")
    return checkpoint


def _global_batch(loop, world_size: int) -> int:
    return int(getattr(loop, "batch_size", 1)) * world_size


def check_same_model(runner, checkpoint: Mapping[str, Any], filename: str) -> None:
    """Resume is strict: the checkpoint's weights must fit the model key for key, shape for shape.

    A checkpoint of another model used to load partly (mismatches were a warning) and then crash
    deep inside the optimizer. ``load_from`` stays lenient (fine-tuning loads what fits).

    Raises:
        CheckpointError: naming the first mismatching keys, before any state has changed.
    """
    state = revise_state_keys(unwrap_state_dict(checkpoint), [(r"^module\.", "")])
    report, _ = compare_state_dict(unwrap_model(runner.model), state)
    if report.ok:
        return
    problems = [f"{k}: checkpoint {c} vs model {m}" for k, c, m in report.mismatched[:3]]
    problems += [f"{k}: missing in the checkpoint" for k in report.missing[:3]]
    problems += [f"{k}: not in the model" for k in report.unexpected[:3]]
    count = len(report.mismatched) + len(report.missing) + len(report.unexpected)
    raise CheckpointError(
        f"cannot resume from {filename}: it does not hold this model's weights ({count} key(s) differ; "
        f"first: {'; '.join(problems[:5])}). Nothing was changed. To start from its weights anyway, "
        "use load_from=<file> with resume=False (loads what fits and reports the rest).")


def find_resume_checkpoint(work_dir: str) -> str | None:
    """The checkpoint ``resume=True`` continues from (MMEngine: the latest one in ``work_dir``).

    ``work_dir/last_checkpoint`` when it names an existing file; otherwise (missing, empty, or
    pointing at a file that is gone) the newest ``epoch_N``/``iter_N`` checkpoint in ``work_dir``
    that loads, saying so. Training from scratch here would overwrite ``last_checkpoint`` and
    orphan the real progress.

    Raises:
        CheckpointError: checkpoints exist but none of them loads.
    """
    pointer = os.path.join(work_dir, "last_checkpoint")
    named = None
    if os.path.isfile(pointer):
        with open(pointer, encoding="utf-8") as f:
            named = f.read().strip() or None
    if named is not None and (os.path.isfile(named) or is_dcp_checkpoint(named)):
        return named
    candidates = find_checkpoints(work_dir)
    if not candidates:
        return named  # None, or a missing file whose error names it
    why = "is empty" if os.path.isfile(pointer) and named is None else (
        f"names {named}, which does not exist" if named else "does not exist")
    failures = []
    for path in candidates:
        try:
            if not is_dcp_checkpoint(path):  # a DCP directory is published complete (renamed last)
                read_checkpoint(path, "cpu")
        except (CheckpointError, OSError) as exc:
            failures.append(f"{os.path.basename(path)}: {str(exc).splitlines()[0][:200]}")
            continue
        skipped = f" (skipped, unreadable: {'; '.join(failures)})" if failures else ""
        print_log(f"{pointer} {why}; resuming from the newest checkpoint that loads: {path}{skipped}",
                  logger="current", level=_WARNING)
        return path
    raise CheckpointError(f"resume=True: {pointer} {why} and none of the {len(candidates)} checkpoint(s) in "
                          f"{work_dir} loads: {'; '.join(failures)}")


def _restore_loop(runner, loop, checkpoint: Mapping[str, Any]) -> None:
    meta = checkpoint.get("meta", {})
    loop.state.load_state_dict(resume_position(loop, checkpoint))
    sampler = getattr(loop, "sampler", None)
    if checkpoint.get("sampler") is not None and hasattr(sampler, "load_state_dict"):
        sampler.load_state_dict(checkpoint["sampler"])  # the shuffle seed (a random one is rank 0's)
    key = "max_iters" if type(loop).__name__ == "IterBasedTrainLoop" else "max_epochs"
    old, new = meta.get(key), getattr(loop, key, None)
    if old is not None and new is not None and int(old) != int(new):
        print_log(f"train_cfg.{key} changed from {old} (checkpoint) to {new} (config): training "
                  f"continues until {key} = {new}.", logger="current")


def resume_position(loop, checkpoint: Mapping[str, Any]) -> dict[str, int]:
    """The loop state a resumed run starts from, re-split for this run's world size and batch.

    The position within the pass is kept in SAMPLES seen by all ranks together: saved by 2 ranks
    after 10 batches of 8 each, it is sample 160, i.e. batch 10 for 1 rank with batch 16 (or
    batch 20 with batch 8). Samplers shard ``rank::world_size``, so the first N samples of a pass
    are the same indices for any world size, and the loop only has to skip that many.
    """
    meta = checkpoint.get("meta", {})
    state = checkpoint.get("loop_state")
    if state is None:  # an MMEngine checkpoint: counters only, from meta
        epoch, it = int(meta.get("epoch", 0)), int(meta.get("iter", 0))
        batch = 0
        if type(loop).__name__ == "IterBasedTrainLoop":
            epoch, batch = divmod(it, max(len(loop.dataloader), 1))
        state = {"epoch": epoch, "iter": it, "batch_idx_in_epoch": batch}
    state = dict(state)
    saved_ws, world_size = int(meta.get("world_size", 1)), get_world_size()
    saved_batch = int(state.pop("global_batch", _global_batch(loop, saved_ws)))  # older files: same per-rank batch
    batch = _global_batch(loop, world_size)
    seen = int(state.get("batch_idx_in_epoch", 0)) * saved_batch
    state["batch_idx_in_epoch"], extra = divmod(seen, batch)
    if extra:
        print_log(f"The checkpoint's position in the pass (sample {seen}) is not a multiple of this run's "
                  f"global batch ({batch}): the pass resumes at sample {seen - extra}, seeing {extra} "
                  "samples again.", logger="current", level=_WARNING)
    return state


def _check_seed(runner, meta: Mapping[str, Any]) -> None:
    seed, saved = getattr(runner, "seed", None), meta.get("seed")
    if saved is not None and seed is not None and saved != seed:
        print_log(f"randomness.seed is {seed} but the checkpoint was trained with seed {saved}: the "
                  f"data order and random states continue from the checkpoint (seed {saved}).",
                  logger="current", level=_WARNING)


def _check_world_size(meta: Mapping[str, Any]) -> None:
    saved, now = meta.get("world_size"), get_world_size()
    if saved is not None and int(saved) != now:
        print_log(f"The checkpoint was saved by {saved} process(es) but this run has {now}: the "
                  "effective batch size and each rank's data shard change, so the run will not "
                  "continue bitwise as the original would have.", logger="current", level=_WARNING)


def _restore_grads(runner, grads: Mapping[str, torch.Tensor] | None) -> None:
    if not grads:
        return
    params = dict(unwrap_model(runner.model).named_parameters())
    for name, grad in grads.items():
        if name in params:
            params[name].grad = grad.to(params[name].device)


def _restore_schedulers(schedulers: Any, saved: Any) -> None:
    if isinstance(schedulers, Mapping):
        for name, group in schedulers.items():
            if isinstance(saved, Mapping) and name in saved:
                _restore_scheduler_list(group, saved[name], f"param_scheduler.{name}")
        return
    _restore_scheduler_list(schedulers, saved, "param_scheduler")


def _restore_scheduler_list(schedulers: Sequence[Any], saved: Sequence[Any], path: str) -> None:
    if len(saved) != len(schedulers):
        print_log(f"{path}: the checkpoint has {len(saved)} scheduler(s), the config {len(schedulers)}; "
                  f"the first {min(len(saved), len(schedulers))} resume their progress, the rest "
                  "start fresh.", logger="current", level=_WARNING)
    for index, (scheduler, state) in enumerate(zip(schedulers, saved)):
        fresh = scheduler.state_dict()
        merged, changes = dict(state), []
        for key, value in fresh.items():
            if key in _SCHEDULER_PROGRESS_KEYS or key not in state or _same(value, state[key]):
                continue
            merged[key] = value
            changes.append(f"{key}: {state[key]!r} -> {value!r}")
        if changes:
            _realign_progress(merged)
        scheduler.load_state_dict(merged)
        if changes:
            print_log(f"{path}[{index}] ({type(scheduler).__name__}) differs from the checkpoint "
                      f"({'; '.join(changes)}): resuming its progress with the NEW config.",
                      logger="current", level=_WARNING)


def _realign_progress(state: dict[str, Any]) -> None:
    """Recount ``last_step`` (steps taken inside ``[begin, end)``) for a changed ``begin``/``end``.

    The global step count is the progress that survives a config change; the in-range count of
    the old range would, e.g., leave a schedule whose old ``end`` had been reached frozen forever.
    """
    if not all(k in state for k in ("_global_step", "begin", "end", "last_step")):
        return
    global_step, begin, end = int(state["_global_step"]), state["begin"], state["end"]
    in_range = max(0, min(global_step, end - 1) - begin + 1) if global_step >= begin else 0
    state["last_step"] = in_range - 1


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a.cpu(), b.cpu())
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:  # objects without a usable ==
        return a is b


# -- helpers -------------------------------------------------------------------------------
def _state_model(runner) -> torch.nn.Module:
    """The module whose state a checkpoint holds: the user's model behind any wrapper, except an
    FSDP1 root (its state-dict hooks live on it); torch's state-dict API handles both, and the keys
    are the user's model's at every world size (so a checkpoint of 2 ranks loads into 1)."""
    model = runner.model
    return model if is_fsdp1(model) else unwrap_model(model)


def _train_loop(runner) -> Any:
    """The train loop (built now if it is still a config), or None (val-/test-only runner)."""
    try:
        loop = runner.train_loop
    except Exception:  # a runner without training parts
        return None
    return loop if hasattr(loop, "state") else None


def _cpu(obj: Any) -> Any:
    """Tensors moved to CPU (no copy for CPU tensors); a state dict keeps its ``_metadata``."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, Mapping):
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for key, value in obj.items():
            out[key] = _cpu(value)
        metadata = getattr(obj, "_metadata", None)
        if metadata is not None and isinstance(out, OrderedDict):
            out._metadata = metadata  # type: ignore[attr-defined]
        return out
    if isinstance(obj, (list, tuple)):
        items = [_cpu(v) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj
