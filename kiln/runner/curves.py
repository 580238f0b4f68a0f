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

__all__ = ["plot_curves", "split_series"]

# Bookkeeping values that are not worth a panel.
_SKIP = {"step", "epoch", "iter", "time", "data_time", "memory", "eta"}

Series = dict[str, tuple[list[float], list[float]]]


def _plottable(key: str, value: Any) -> bool:
    short = key.rsplit("/", 1)[-1]
    if short in _SKIP or short.endswith("lr") or short.endswith("momentum"):
        return False
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def split_series(records: Iterable[tuple[int, Mapping[str, Any]]]) -> tuple[Series, Series]:
    """Split logged ``(step, scalars)`` records into ``(losses, metrics)`` series.

    A record carrying ``iter`` comes from a training iteration (its loss keys are plotted against
    the iteration); any other record is an evaluation summary (all its values are metrics).
    """
    losses: Series = {}
    metrics: Series = {}
    for step, scalars in records:
        train = "iter" in scalars
        for key, value in scalars.items():
            if not _plottable(key, value) or (train and "loss" not in key):
                continue
            xs, ys = (losses if train else metrics).setdefault(key, ([], []))
            xs.append(step)
            ys.append(float(value))
    return losses, metrics


def plot_curves(records: Iterable[tuple[int, Mapping[str, Any]]], path: str | os.PathLike,
                title: str | None = None) -> str | None:
    """Write the PNG at ``path``; return the path, or None when nothing was plottable."""
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
