"""Evaluator: runs one or more metrics over the validation/test outputs and merges their dicts.

The loop calls ``process(data_samples=outputs, data_batch=batch)`` per batch and
``evaluate(len(dataset))`` at the end. ``Evaluator(dict(type=Accuracy))``,
``Evaluator([m1, m2])`` and the seeds' ``dict(metrics=FashionMnistMetric())`` (built through
``EVALUATOR``) all work.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from kiln.errors import ConfigError, add_origin
from kiln.evaluator import dump_results  # noqa: F401 - registers DumpResults in METRICS
from kiln.evaluator.metric import BaseMetric
from kiln.registry import EVALUATOR, METRICS

__all__ = ["Evaluator"]


def _to_plain(sample: Any) -> Any:
    """Data elements (anything with ``to_dict``) become dicts, as metrics expect."""
    to_dict = getattr(sample, "to_dict", None)
    return to_dict() if callable(to_dict) and not isinstance(sample, dict) else sample


@EVALUATOR.register_module()
class Evaluator:
    """Wrap metrics: feed them batches, merge their results.

    Args:
        metrics: A metric, a metric config dict (``dict(type=Accuracy)``), or a list of them.
    """

    def __init__(self, metrics: BaseMetric | dict | Sequence[BaseMetric | dict]) -> None:
        items = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
        if not items:
            raise ConfigError("evaluator.metrics", "expected at least one metric, got an empty list")
        self.metrics: list[BaseMetric] = []
        for i, item in enumerate(items):
            path = f"evaluator.metrics[{i}]" if isinstance(metrics, (list, tuple)) else "evaluator.metrics"
            if isinstance(item, dict):
                item = METRICS.build(item, path=path)
            if not isinstance(item, BaseMetric):
                raise ConfigError(path, f"expected a BaseMetric or a metric config dict with 'type', "
                                        f"got {type(item).__name__}")
            self.metrics.append(item)
        self._dataset_meta: dict | None = None

    @property
    def dataset_meta(self) -> dict | None:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict | None) -> None:
        self._dataset_meta = meta
        for metric in self.metrics:
            metric.dataset_meta = meta

    def process(self, data_samples: Sequence, data_batch: Any = None) -> None:
        """Give every metric this batch (positionally: ``metric.process(data_batch, samples)``)."""
        samples = [_to_plain(s) for s in data_samples]
        for metric in self.metrics:
            # Positional on purpose: seed metrics name the parameters differently (data, preds).
            try:
                metric.process(data_batch, samples)
            except Exception as exc:
                add_origin(exc, f"in metric {type(metric).__name__}.process")
                raise

    def evaluate(self, size: int) -> dict[str, Any]:
        """Merge every metric's ``evaluate(size)``; two metrics may not produce the same key."""
        merged: dict[str, Any] = {}
        for metric in self.metrics:
            for name, value in metric.evaluate(size).items():
                if name in merged:
                    raise ValueError(f"There are multiple evaluation results with the same metric "
                                     f"name {name}. Please make sure all metrics have different "
                                     "prefixes.")
                merged[name] = value
        return merged

    def offline_evaluate(self, data_samples: Sequence, data: Sequence | None = None,
                         chunk_size: int = 1) -> dict[str, Any]:
        """Evaluate saved predictions (``data_samples``, and optionally their inputs) in chunks."""
        if data is not None and len(data) != len(data_samples):
            raise ValueError(f"data has {len(data)} items but data_samples has {len(data_samples)}")
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")

        def chunks(seq: Sequence) -> Iterator[Sequence]:
            for start in range(0, len(seq), chunk_size):
                yield seq[start:start + chunk_size]

        batches = chunks(data) if data is not None else iter(lambda: None, 0)
        for samples, batch in zip(chunks(data_samples), batches):
            self.process(samples, batch)
        return self.evaluate(len(data_samples))
