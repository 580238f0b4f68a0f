"""``curves.png``: the training loss and every evaluation metric against the step, one panel each.

Drawn once at the end of a run from the scalars the visualizer saw. matplotlib is imported here,
lazily, through its object API (``Figure`` + the Agg canvas), so it never touches pyplot's global
backend of a user's session.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["CurveRecorder", "plot_curves", "split_series"]

# Bookkeeping values that are not worth a panel.
_SKIP = {"step", "epoch", "iter", "time", "data_time", "memory", "eta"}

Series = dict[str, tuple[list[float], list[float]]]


def _plottable_key(key: str) -> bool:
    short = key.rsplit("/", 1)[-1]
    return not (short in _SKIP or short.endswith("lr") or short.endswith("momentum"))


def _plottable_value(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _plottable(key: str, value: Any) -> bool:
    return _plottable_key(key) and _plottable_value(value)


class CurveRecorder:
    """Keeps only what ``curves.png`` needs: ``(step, value)`` per loss key and per metric.

    A record carrying ``iter`` comes from a training iteration (only its loss keys are kept,
    against the iteration); any other record is an evaluation summary (all its values are
    metrics). A series longer than ``max_points`` is thinned to every other point, so a long
    run's memory stays bounded while the curve keeps its shape.
    """

    def __init__(self, max_points: int = 20_000) -> None:
        self.max_points = max_points
        self.losses: Series = {}
        self.metrics: Series = {}
        self._train_keys: dict[str, bool] = {}  # key -> drawn? (decided once per key: every log line)

    def add(self, step: int, scalars: Mapping[str, Any]) -> None:
        train = "iter" in scalars
        for key, value in scalars.items():
            if train:
                drawn = self._train_keys.get(key)
                if drawn is None:
                    drawn = self._train_keys[key] = "loss" in key and _plottable_key(key)
                if not drawn or not _plottable_value(value):
                    continue
            elif not _plottable(key, value):
                continue
            xs, ys = (self.losses if train else self.metrics).setdefault(key, ([], []))
            xs.append(step)
            ys.append(float(value))
            if len(xs) > self.max_points:
                del xs[1::2], ys[1::2]

    def __bool__(self) -> bool:
        return bool(self.losses or self.metrics)


def split_series(records: Iterable[tuple[int, Mapping[str, Any]]]) -> tuple[Series, Series]:
    """Split logged ``(step, scalars)`` records into ``(losses, metrics)`` series."""
    recorder = CurveRecorder()
    for step, scalars in records:
        recorder.add(step, scalars)
    return recorder.losses, recorder.metrics


def plot_curves(records: Iterable[tuple[int, Mapping[str, Any]]] | CurveRecorder,
                path: str | os.PathLike, title: str | None = None) -> str | None:
    """Write the PNG at ``path``; return the path, or None when nothing was plottable."""
    if isinstance(records, CurveRecorder):
        losses, metrics = records.losses, records.metrics
    else:
        losses, metrics = split_series(records)
    panels: list[tuple[str, Series, str]] = []
    if losses:
        panels.append(("loss", losses, "iteration"))
    panels += [(key, {key: series}, "step") for key, series in metrics.items()]
    if not panels:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(4.5 * cols, 3.2 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    for i, (name, series, xlabel) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        for key, (xs, ys) in series.items():
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=key)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole iterations/epochs
        ax.grid(True, alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
