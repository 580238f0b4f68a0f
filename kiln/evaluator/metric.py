"""BaseMetric: accumulate per-batch results in ``process``, reduce them in ``compute_metrics``.

``evaluate(size)`` gathers every rank's ``results`` (in dataset order, the distributed
sampler's padding dropped), moves tensors to CPU, computes the metrics on rank 0, prefixes the
keys (``'{prefix}/{key}'``) and hands the same dict to every rank.

Example (the seed tutorial's metric runs as written):
    >>> class Accuracy(BaseMetric):
    ...     def process(self, data_batch, data_samples):
    ...         score, gt = data_samples
    ...         self.results.append({'batch_size': len(gt),
    ...                              'correct': (score.argmax(dim=1) == gt).sum().cpu()})
    ...     def compute_metrics(self, results):
    ...         correct = sum(r['correct'] for r in results)
    ...         return dict(accuracy=100 * correct / sum(r['batch_size'] for r in results))
"""

from __future__ import annotations

import logging
from abc import ABCMeta, abstractmethod
from collections.abc import Sequence
from typing import Any

from kiln import dist
from kiln.errors import ConfigError, add_origin
from kiln.evaluator.collect import collect_results, to_cpu
from kiln.logging import print_log

__all__ = ["BaseMetric"]


class BaseMetric(metaclass=ABCMeta):
    """Base class of evaluation metrics.

    Args:
        collect_device: ``'cpu'`` (results moved to CPU before they are gathered) or ``'gpu'``.
        prefix: Prepended to every metric name (``'acc/top1'``); defaults to ``default_prefix``.
        collect_dir: A directory shared by all ranks; when set, results are gathered through
            files there instead of the process group (only with ``collect_device='cpu'``).
    """

    default_prefix: str | None = None

    def __init__(self, collect_device: str = "cpu", prefix: str | None = None,
                 collect_dir: str | None = None) -> None:
        if collect_device not in ("cpu", "gpu", "cuda"):
            raise ConfigError("collect_device", f"expected 'cpu' or 'gpu', but got {collect_device!r}")
        if collect_dir is not None and collect_device != "cpu":
            raise ConfigError("collect_dir", "`collect_dir` could only be configured when "
                                             f"`collect_device='cpu'`, but collect_device={collect_device!r}")
        self._dataset_meta: dict | None = None
        self.collect_device = collect_device
        self.collect_dir = collect_dir
        self.results: list[Any] = []
        self.prefix = prefix or self.default_prefix
        if self.prefix is None:
            print_log(f"The prefix is not set in metric class {type(self).__name__}.",
                      logger="current", level=logging.WARNING)

    @property
    def dataset_meta(self) -> dict | None:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict | None) -> None:
        self._dataset_meta = meta

    @abstractmethod
    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        """Add this batch's intermediate results to ``self.results``."""

    @abstractmethod
    def compute_metrics(self, results: list) -> dict[str, Any]:
        """Reduce all results (every rank's, in dataset order) to ``{name: value}``."""

    def evaluate(self, size: int) -> dict[str, Any]:
        """The metrics over the whole dataset of ``size`` samples (same dict on every rank)."""
        if not self.results:
            print_log(f"{type(self).__name__} got empty `self.results`. Please ensure that the "
                      "processed results are properly added into `self.results` in `process` "
                      "method.", logger="current", level=logging.WARNING)
        collected = collect_results(self.results, size, self.collect_device, tmpdir=self.collect_dir)
        metrics = None
        if dist.is_main_process():
            try:
                metrics = self.compute_metrics(to_cpu(collected))
            except Exception as exc:
                add_origin(exc, f"in metric {type(self).__name__}.compute_metrics")
                raise
            if self.prefix:
                metrics = {f"{self.prefix}/{k}": v for k, v in metrics.items()}
        metrics = dist.broadcast_object(metrics)
        self.results.clear()
        return metrics
