"""BaseMetric: prefixes, warnings, argument errors, trimming, results cleared after evaluate."""

import pytest
import torch

from kiln.errors import ConfigError
from kiln.evaluator import BaseMetric


class Ids(BaseMetric):
    """Keeps one result per sample and returns them, so collection order is visible."""

    def process(self, data_batch, data_samples):
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        return {"ids": list(results), "n": len(results)}


class Prefixed(Ids):
    default_prefix = "ids"


def test_base_metric_is_abstract():
    with pytest.raises(TypeError):
        BaseMetric()


def test_prefix_argument_default_prefix_and_warning(capsys):
    metric = Ids(prefix="toy")
    metric.process(None, [1, 2])
    assert metric.evaluate(2) == {"toy/ids": [1, 2], "toy/n": 2}
    assert Prefixed().prefix == "ids"
    assert "prefix is not set" not in capsys.readouterr().out
    Ids()
    assert "WARNING - The prefix is not set in metric class Ids." in capsys.readouterr().out


def test_evaluate_trims_to_size_and_clears_results():
    metric = Ids(prefix="p")
    metric.process(None, [0, 1, 2, 0])  # a padded last batch
    assert metric.evaluate(3)["p/ids"] == [0, 1, 2]
    assert metric.results == []


def test_empty_results_warn(capsys):
    metric = Ids(prefix="p")
    assert metric.evaluate(0) == {"p/ids": [], "p/n": 0}
    assert "Ids got empty `self.results`" in capsys.readouterr().out


def test_tensors_reach_compute_metrics_on_cpu():
    seen = []

    class Devices(Ids):
        def compute_metrics(self, results):
            seen.extend(r["t"].device.type for r in results)
            return {}

    metric = Devices(prefix="d")
    metric.results.append({"t": torch.zeros(1)})
    metric.evaluate(1)
    assert seen == ["cpu"]


def test_argument_errors():
    with pytest.raises(ConfigError, match="collect_device"):
        Ids(collect_device="tpu", prefix="p")
    with pytest.raises(ConfigError, match="collect_dir.*collect_device='cpu'"):
        Ids(collect_device="gpu", collect_dir="/tmp/x", prefix="p")


def test_dataset_meta():
    metric = Ids(prefix="p")
    metric.dataset_meta = {"classes": ["a"]}
    assert metric.dataset_meta == {"classes": ["a"]}
