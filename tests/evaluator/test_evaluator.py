"""Evaluator: the seeds' metrics run as written, config forms, merging and its errors."""

import pytest
import torch

from kiln.errors import ConfigError
from kiln.evaluator import BaseMetric, Evaluator
from kiln.registry import EVALUATOR


class Accuracy(BaseMetric):  # the 15-minute tutorial's metric, verbatim
    def process(self, data_batch, data_samples):
        score, gt = data_samples
        self.results.append({
            'batch_size': len(gt),
            'correct': (score.argmax(dim=1) == gt).sum().cpu(),
        })

    def compute_metrics(self, results):
        total_correct = sum(item['correct'] for item in results)
        total_size = sum(item['batch_size'] for item in results)
        return dict(accuracy=100 * total_correct / total_size)


class FashionMnistMetric(BaseMetric):  # model-guide.zh.md's metric, verbatim
    def process(self, data, preds) -> None:
        self.results.append(((data[1] == preds[0].cpu()).sum(), preds[1], len(preds[0])))

    def compute_metrics(self, results):
        correct, loss, batch_size = zip(*results)
        test_loss, correct = sum(loss) / len(self.results), sum(correct) / sum(batch_size)
        return dict(Accuracy=correct, Avg_loss=test_loss)


def batches():
    torch.manual_seed(0)
    for _ in range(3):
        labels = torch.randint(0, 4, (8,))
        logits = torch.randn(8, 4)
        yield logits, labels


def test_seed_accuracy_from_type_config():
    evaluator = Evaluator(dict(type=Accuracy))
    correct = total = 0
    for logits, labels in batches():
        evaluator.process(data_samples=(logits, labels), data_batch=None)  # model returns a tuple
        correct += (logits.argmax(1) == labels).sum().item()
        total += len(labels)
    metrics = evaluator.evaluate(24)
    assert list(metrics) == ["accuracy"]
    assert float(metrics["accuracy"]) == pytest.approx(100 * correct / total)


def test_seed_fashion_mnist_metric_via_evaluator_registry():
    evaluator = EVALUATOR.build(dict(type="Evaluator", metrics=FashionMnistMetric()))
    correct = total = 0
    losses = []
    for i, (logits, labels) in enumerate(batches()):
        preds = logits.argmax(1)
        loss = float(i)
        evaluator.process(data_samples=(preds, loss), data_batch=[torch.zeros(8, 2), labels])
        correct += (preds == labels).sum().item()
        total += len(labels)
        losses.append(loss)
    metrics = evaluator.evaluate(total)
    assert float(metrics["Accuracy"]) == pytest.approx(correct / total)
    assert metrics["Avg_loss"] == pytest.approx(sum(losses) / 3)


class Constant(BaseMetric):
    def __init__(self, value=1.0, **kwargs):
        super().__init__(**kwargs)
        self.value = value

    def process(self, data_batch, data_samples):
        self.results.append(self.value)

    def compute_metrics(self, results):
        return {"value": sum(results)}


def test_list_of_metrics_with_prefixes_merge():
    evaluator = Evaluator([Constant(1.0, prefix="a"), dict(type=Constant, value=2.0, prefix="b")])
    evaluator.process([0])
    evaluator.process([0])
    assert evaluator.evaluate(2) == {"a/value": 2.0, "b/value": 4.0}


def test_duplicate_metric_names_raise():
    evaluator = Evaluator([Constant(prefix="same"), Constant(prefix="same")])
    evaluator.process([0])
    with pytest.raises(ValueError, match="multiple evaluation results with the same metric name same/value"):
        evaluator.evaluate(1)


def test_data_elements_are_converted_with_to_dict():
    class Element:
        def to_dict(self):
            return {"pred": 1}

    seen = []

    class Record(Constant):
        def process(self, data_batch, data_samples):
            seen.extend(data_samples)

    Evaluator(Record(prefix="r")).process([Element(), {"pred": 2}])
    assert seen == [{"pred": 1}, {"pred": 2}]


def test_dataset_meta_reaches_every_metric():
    metrics = [Constant(prefix="a"), Constant(prefix="b")]
    evaluator = Evaluator(metrics)
    evaluator.dataset_meta = {"classes": ("x",)}
    assert all(m.dataset_meta == {"classes": ("x",)} for m in metrics)


def test_offline_evaluate_chunks():
    class Count(Constant):
        def process(self, data_batch, data_samples):
            self.results.append((len(data_samples), data_batch))

        def compute_metrics(self, results):
            return {"chunks": [n for n, _ in results], "batches": [b for _, b in results]}

    evaluator = Evaluator(Count(prefix="c"))
    out = evaluator.offline_evaluate(list(range(5)), data=list("abcde"), chunk_size=2)
    assert out == {"c/chunks": [2, 2, 1], "c/batches": [list("ab"), list("cd"), list("e")]}
    with pytest.raises(ValueError, match="data has 2 items"):
        evaluator.offline_evaluate([1, 2, 3], data=[1, 2])


def test_bad_metric_configs():
    with pytest.raises(ConfigError, match=r"evaluator.metrics\[1\]: expected a BaseMetric"):
        Evaluator([Constant(prefix="a"), object()])
    with pytest.raises(ConfigError, match=r"evaluator.metrics.*'Acuracy' is not registered"):
        Evaluator(dict(type="Acuracy"))
    with pytest.raises(ConfigError, match="at least one metric"):
        Evaluator([])


def test_dump_results_pickles_predictions(tmp_path):
    import pickle

    out = tmp_path / "preds.pkl"
    evaluator = Evaluator(dict(type="DumpResults", out_file_path=str(out)))
    evaluator.process([{"pred": torch.tensor([1])}, {"pred": torch.tensor([2])}])
    evaluator.process([{"pred": torch.tensor([3])}])
    assert evaluator.evaluate(3) == {}
    saved = pickle.loads(out.read_bytes())
    assert [int(s["pred"]) for s in saved] == [1, 2, 3]
    with pytest.raises(ConfigError, match="out_file_path"):
        Evaluator(dict(type="DumpResults", out_file_path=str(tmp_path / "preds.json")))
