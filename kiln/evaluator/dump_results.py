"""DumpResults: a "metric" that saves every prediction to a pickle file instead of scoring it.

Used as ``test_evaluator=dict(type='DumpResults', out_file_path='preds.pkl')`` to keep a
model's raw outputs for offline analysis (``Evaluator.offline_evaluate`` can score them later).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from typing import Any

from kiln.errors import ConfigError
from kiln.evaluator.collect import to_cpu
from kiln.evaluator.metric import BaseMetric
from kiln.logging import print_log
from kiln.registry import METRICS

__all__ = ["DumpResults"]


@METRICS.register_module()
class DumpResults(BaseMetric):
    """Collect predictions from every rank and pickle them (rank 0) to ``out_file_path``.

    Args:
        out_file_path: Destination, ending in ``.pkl`` or ``.pickle``.
        collect_device: See :class:`BaseMetric`.
        collect_dir: See :class:`BaseMetric`.
    """

    default_prefix = "dump"

    def __init__(self, out_file_path: str, collect_device: str = "cpu",
                 collect_dir: str | None = None) -> None:
        super().__init__(collect_device=collect_device, collect_dir=collect_dir)
        if not str(out_file_path).endswith((".pkl", ".pickle")):
            raise ConfigError("out_file_path", f"The output file must be a pkl file, got {out_file_path!r}")
        self.out_file_path = os.fspath(out_file_path)

    def process(self, data_batch: Any, predictions: Sequence) -> None:
        self.results.extend(to_cpu(list(predictions)))

    def compute_metrics(self, results: list) -> dict[str, Any]:
        os.makedirs(os.path.dirname(os.path.abspath(self.out_file_path)), exist_ok=True)
        with open(self.out_file_path, "wb") as f:
            pickle.dump(results, f)
        print_log(f"Results has been saved to {self.out_file_path}.", logger="current")
        return {}
