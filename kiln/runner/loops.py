"""The four loops: epoch- and iteration-based training, validation, test (registered in ``LOOPS``).

Each loop reads top to bottom like a hand-written training loop: fire the hook stage, run the
model step, fire the next stage. Progress lives in ``loop.state`` (:class:`LoopState`); a resumed
loop starts its sampler at the right index, so already-seen batches are never loaded again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader

from kiln.checkpoint.rng import preserved_rng
from kiln.dataset.dataloader import find_sampler, loader_batch_size, skip_batches
from kiln.errors import ConfigError, add_origin
from kiln.evaluator.val_loss import EvalLosses
from kiln.logging import print_log
from kiln.registry import LOOPS
from kiln.runner.loop_state import LoopState
from kiln.runner.preemption import NEVER

__all__ = ["BaseLoop", "EpochBasedTrainLoop", "IterBasedTrainLoop", "ValLoop", "TestLoop"]


class BaseLoop:
    """Holds the runner and the dataloader (a dict config is built by the runner)."""

    def __init__(self, runner, dataloader: Any) -> None:
        self._runner = runner
        if isinstance(dataloader, (dict, DataLoader)):  # a ready DataLoader: its workers get the exit guard
            dataloader = runner.build_dataloader(dataloader)
        self.dataloader = dataloader

    @property
    def runner(self):
        return self._runner

    def run(self) -> Any:
        raise NotImplementedError


def _positive_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise ConfigError(path, f"expected a positive integer, but got {value!r}")
    return int(value)


def _dataset_meta(loader: Any) -> Any:
    return getattr(getattr(loader, "dataset", None), "metainfo", None)


def _interval_schedule(val_interval: int, dynamic_intervals: Sequence[tuple[int, int]] | None,
                       path: str) -> tuple[list[int], list[int]]:
    """Milestones and intervals: ``val_interval`` from 0, then each ``(milestone, interval)``."""
    milestones, intervals = [0], [val_interval]
    for i, pair in enumerate(dynamic_intervals or []):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise ConfigError(f"{path}.dynamic_intervals[{i}]", f"expected (milestone, interval), got {pair!r}")
        milestones.append(int(pair[0]))
        intervals.append(int(pair[1]))
    if milestones != sorted(milestones):
        raise ConfigError(f"{path}.dynamic_intervals", f"milestones must increase, got {milestones[1:]}")
    return milestones, intervals


class _TrainLoop(BaseLoop):
    """What both train loops share: state, counters, resume position, validation decision."""

    def __init__(self, runner, dataloader: Any, val_begin: int, val_interval: int,
                 dynamic_intervals: Sequence[tuple[int, int]] | None, path: str) -> None:
        super().__init__(runner, dataloader)
        self.state = LoopState()
        self.stop_training = False
        self.preemption: Any = NEVER  # the Runner installs kiln.runner.preemption.Preemption in train()
        self._iterator: Iterator[Any] | None = None
        self.val_begin = int(val_begin)
        self.val_interval = _positive_int(val_interval, f"{path}.val_interval")
        self._milestones, self._intervals = _interval_schedule(self.val_interval, dynamic_intervals, path)
        self.batch_size = loader_batch_size(self.dataloader)  # per rank
        self.sampler = find_sampler(self.dataloader)
        meta = _dataset_meta(self.dataloader)
        visualizer = getattr(runner, "visualizer", None)
        if visualizer is not None and hasattr(visualizer, "dataset_meta"):
            visualizer.dataset_meta = meta

    # -- counters the runner exposes --------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self.state.epoch

    @property
    def iter(self) -> int:
        return self.state.iter

    @property
    def max_epochs(self) -> int:
        return self._max_epochs

    @property
    def max_iters(self) -> int:
        return self._max_iters

    # -- shared steps ------------------------------------------------------------------------
    def _start_pass(self) -> Iterator[Any]:
        """An iterator over the current pass, skipping the batches a resumed run has seen.

        The one place the sampler learns the epoch (its shuffle order) and, on a resumed pass,
        where to start: the loop state owns progress, the sampler only follows.
        """
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.state.epoch)
        seen = self.state.batch_idx_in_epoch
        if seen == 0:
            self._iterator = iter(self.dataloader)
            return self._iterator
        # The interrupted run drew the workers' base seed when this pass started, before the
        # checkpoint's RNG snapshot: creating the resumed iterator must not draw again.
        with preserved_rng():
            self._iterator = iter(skip_batches(self.dataloader, seen))
        return self._iterator

    def run_iter(self, batch_idx: int, data_batch: Any) -> None:
        runner = self._runner
        runner.call_hook("before_train_iter", batch_idx=batch_idx, data_batch=data_batch)
        try:
            outputs = runner.model.train_step(data_batch, optim_wrapper=runner.optim_wrapper)
        except Exception as exc:
            add_origin(exc, f"in train_step at iteration {self.state.iter + 1}")
            raise
        self.state.mark_iter_done()  # checkpoints saved by the next hooks count this iteration
        runner.call_hook("after_train_iter", batch_idx=batch_idx, data_batch=data_batch, outputs=outputs)
        if self.state.iter >= self.preemption.next_check:  # one host-side int compare; no device sync
            self.preemption.at_boundary(runner)  # a signal came: save here and exit
        self.state.finish_iter()

    def _update_val_interval(self, progress: int) -> None:
        for milestone, interval in zip(self._milestones, self._intervals):
            if progress >= milestone:
                self.val_interval = interval

    def _should_validate(self, progress: int, last: int) -> bool:
        return (self._runner.val_loop is not None and progress >= self.val_begin
                and (progress % self.val_interval == 0 or progress == last))


@LOOPS.register_module()
class EpochBasedTrainLoop(_TrainLoop):
    """Train for ``max_epochs`` epochs; validate every ``val_interval`` epochs from ``val_begin``
    and always after the last epoch.

    Args:
        runner: The runner.
        dataloader: A ``DataLoader`` or a dataloader config.
        max_epochs: Number of epochs.
        val_begin: First epoch (1-based) after which validation may run.
        val_interval: Validate every this many epochs.
        dynamic_intervals: ``[(epoch, interval), ...]``: switch to ``interval`` from ``epoch`` on.
    """

    def __init__(self, runner, dataloader: Any, max_epochs: int, val_begin: int = 1,
                 val_interval: int = 1, dynamic_intervals: Sequence[tuple[int, int]] | None = None) -> None:
        super().__init__(runner, dataloader, val_begin, val_interval, dynamic_intervals, "train_cfg")
        self._max_epochs = _positive_int(max_epochs, "train_cfg.max_epochs")
        self._max_iters = self._max_epochs * len(self.dataloader)

    def run(self):
        runner = self._runner
        runner.call_hook("before_train")
        while self.state.epoch < self._max_epochs and not self.stop_training:
            self.run_epoch()
            self._update_val_interval(self.state.epoch)
            if self._should_validate(self.state.epoch, self._max_epochs):
                runner.val_loop.run()
        runner.call_hook("after_train")
        return runner.model

    def run_epoch(self) -> None:
        runner = self._runner
        runner.call_hook("before_train_epoch")
        batches = self._start_pass()
        runner.model.train()
        for batch_idx, data_batch in enumerate(batches, start=self.state.batch_idx_in_epoch):
            self.run_iter(batch_idx, data_batch)
            if self.stop_training:
                break
        self.state.mark_epoch_done()
        runner.call_hook("after_train_epoch")
        self.state.finish_epoch()


@LOOPS.register_module()
class IterBasedTrainLoop(_TrainLoop):
    """Train for ``max_iters`` iterations, restarting the data loader when it runs out.

    ``state.epoch`` counts passes over the data, so a ``DefaultSampler`` reshuffles each pass and
    a resumed run continues in the right pass at the right batch (MMEngine replays from batch 0).

    Args:
        runner: The runner.
        dataloader: A ``DataLoader`` or a dataloader config.
        max_iters: Number of iterations.
        val_begin: First iteration (1-based) after which validation may run.
        val_interval: Validate every this many iterations (and after the last one).
        dynamic_intervals: ``[(iter, interval), ...]``: switch to ``interval`` from ``iter`` on.
    """

    def __init__(self, runner, dataloader: Any, max_iters: int, val_begin: int = 1,
                 val_interval: int = 1000, dynamic_intervals: Sequence[tuple[int, int]] | None = None) -> None:
        super().__init__(runner, dataloader, val_begin, val_interval, dynamic_intervals, "train_cfg")
        self._max_iters = _positive_int(max_iters, "train_cfg.max_iters")
        self._max_epochs = 1
        self._iterator: Iterator[Any] | None = None
        self._warned_restart = False

    def run(self):
        runner = self._runner
        runner.call_hook("before_train")
        runner.call_hook("before_train_epoch")
        self._iterator = self._start_pass()
        runner.model.train()
        while self.state.iter < self._max_iters and not self.stop_training:
            data_batch = self._next_batch()
            self.run_iter(self.state.iter, data_batch)
            self._update_val_interval(self.state.iter)
            if self._should_validate(self.state.iter, self._max_iters):
                runner.val_loop.run()
                runner.model.train()  # validation switched the model to eval mode
        runner.call_hook("after_train_epoch")
        runner.call_hook("after_train")
        return runner.model

    def _next_batch(self) -> Any:
        try:
            return next(self._iterator)  # type: ignore[arg-type]
        except StopIteration:
            if not self._warned_restart:
                print_log("Reached the end of the dataloader; restarting it (next pass, reshuffled "
                          "by the sampler). Use sampler=dict(type='InfiniteSampler') to iterate "
                          "without restarts.", logger="current")
                self._warned_restart = True
            self.state.finish_epoch()
            self._iterator = self._start_pass()
            try:
                return next(self._iterator)
            except StopIteration:
                raise RuntimeError("train_dataloader yields no batches (is the dataset empty, or "
                                   "batch_size larger than it with drop_last=True?)") from None


def _autocast(enabled: bool):
    """fp16 inference where the device supports it (bfloat16 on CPU)."""
    if not enabled:
        return contextlib.nullcontext()
    from kiln.dist import get_device

    device = get_device().type
    dtype = torch.bfloat16 if device == "cpu" else torch.float16
    return torch.autocast(device_type=device, dtype=dtype)


class _EvalLoop(BaseLoop):
    """Validation and test share everything but the hook stage names and the model step."""

    mode = "val"

    def __init__(self, runner, dataloader: Any, evaluator: Any, fp16: bool = False) -> None:
        super().__init__(runner, dataloader)
        self.evaluator = evaluator = runner.build_evaluator(evaluator)
        meta = _dataset_meta(self.dataloader)
        if meta is not None and hasattr(evaluator, "dataset_meta"):
            evaluator.dataset_meta = meta
        self.fp16 = bool(fp16)
        self.losses = EvalLosses(self.mode)

    def run(self) -> dict[str, Any]:
        runner, mode = self._runner, self.mode
        runner.call_hook(f"before_{mode}")
        runner.call_hook(f"before_{mode}_epoch")
        runner.model.eval()
        self.losses = EvalLosses(mode)  # val_step's trailing loss element (kiln/evaluator/val_loss.py)
        self._iterator = iter(self.dataloader)  # kept: a failure stops its workers (runner.errors)
        for batch_idx, data_batch in enumerate(self._iterator):
            self.run_iter(batch_idx, data_batch)
        self._iterator = None
        metrics = self.losses.add_to(self.evaluator.evaluate(len(self.dataloader.dataset)))
        runner.call_hook(f"after_{mode}_epoch", metrics=metrics)
        runner.call_hook(f"after_{mode}")
        return metrics

    @torch.no_grad()
    def run_iter(self, batch_idx: int, data_batch: Any) -> None:
        runner, mode = self._runner, self.mode
        runner.call_hook(f"before_{mode}_iter", batch_idx=batch_idx, data_batch=data_batch)
        with _autocast(self.fp16):
            outputs = getattr(runner.model, f"{mode}_step")(data_batch)
        outputs = self.losses.take(outputs)
        try:
            self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        except Exception as exc:
            if not getattr(exc, "__notes__", None):  # an Evaluator already named its metric
                add_origin(exc, f"in metric {type(self.evaluator).__name__}.process")
            raise
        runner.call_hook(f"after_{mode}_iter", batch_idx=batch_idx, data_batch=data_batch, outputs=outputs)


@LOOPS.register_module()
class ValLoop(_EvalLoop):
    """One pass over the validation data: ``model.val_step`` → ``evaluator.process`` → metrics.

    Args:
        runner: The runner.
        dataloader: A ``DataLoader`` or a dataloader config.
        evaluator: An evaluator, or its config (dict with ``type``/``metrics``, or a list).
        fp16: Run ``val_step`` under autocast (float16; bfloat16 on CPU).
    """

    mode = "val"


@LOOPS.register_module()
class TestLoop(_EvalLoop):
    """One pass over the test data, like :class:`ValLoop` with ``test_step`` and ``*_test_*`` hooks."""

    mode = "test"
