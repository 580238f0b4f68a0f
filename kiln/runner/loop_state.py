"""The train loop's progress, in ONE small object, so checkpoints and resume read one place.

``epoch`` counts completed passes over the training data, ``iter`` counts completed training
iterations (global), and ``batch_idx_in_epoch`` counts batches of the current pass already
consumed. A resumed run continues at exactly that batch: the loop tells the sampler to skip
``batch_idx_in_epoch * batch_size`` indices.

Checkpoints are saved from ``after_train_iter``/``after_train_epoch`` hooks, i.e. after the work
of the current iteration/epoch is done but before the loop advances its counters (hooks see
MMEngine's ``runner.iter``/``runner.epoch`` there). The loop marks that moment
(``mark_iter_done``/``mark_epoch_done``), and ``state_dict()`` then describes where a resumed run
continues: the current iteration/epoch counted as finished.

Example:
    >>> s = LoopState()
    >>> s.load_state_dict(dict(epoch=2, iter=250, batch_idx_in_epoch=10))
    >>> s
    LoopState(epoch=2, iter=250, batch_idx_in_epoch=10)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoopState"]


@dataclass(slots=True)
class LoopState:
    epoch: int = 0
    iter: int = 0
    batch_idx_in_epoch: int = 0
    _done: str | None = field(default=None, repr=False)  # 'iter' | 'epoch' while its hooks run

    def state_dict(self) -> dict[str, int]:
        """Where a run resumed from this state continues."""
        if self._done == "iter":
            return {"epoch": self.epoch, "iter": self.iter + 1,
                    "batch_idx_in_epoch": self.batch_idx_in_epoch + 1}
        if self._done == "epoch":
            return {"epoch": self.epoch + 1, "iter": self.iter, "batch_idx_in_epoch": 0}
        return {"epoch": self.epoch, "iter": self.iter, "batch_idx_in_epoch": self.batch_idx_in_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unknown = set(state) - {"epoch", "iter", "batch_idx_in_epoch"}
        if unknown:
            raise KeyError(f"loop state has no field(s) {sorted(unknown)}; "
                           "expected epoch, iter, batch_idx_in_epoch")
        self.epoch = int(state.get("epoch", 0))
        self.iter = int(state.get("iter", 0))
        self.batch_idx_in_epoch = int(state.get("batch_idx_in_epoch", 0))
        self._done = None

    # -- called by the loops ----------------------------------------------------------------
    def mark_iter_done(self) -> None:
        self._done = "iter"

    def finish_iter(self) -> None:
        self.iter += 1
        self.batch_idx_in_epoch += 1
        self._done = None

    def mark_epoch_done(self) -> None:
        self._done = "epoch"

    def finish_epoch(self) -> None:
        self.epoch += 1
        self.batch_idx_in_epoch = 0
        self._done = None
