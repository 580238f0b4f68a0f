"""Validation/test loss (MMEngine 0.10.7): a trailing loss-only data element in val_step's output
is removed, averaged over the pass (each iteration once) and reported as <name> and val_loss."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from kiln.evaluator.val_loss import EvalLosses, is_loss_element
from kiln.hooks import Hook


class LossElement:
    """The part of BaseDataElement's API the loop looks at: data keys and metainfo keys."""

    def __init__(self, **data):
        self.__dict__.update(data)

    def keys(self):
        return list(vars(self))

    def metainfo_keys(self):
        return []


def test_take_and_add_to():
    losses = EvalLosses("val")
    preds = ["p0", "p1"]
    out = losses.take([*preds, LossElement(loss=dict(loss=torch.tensor(1.0), loss_aux=[torch.tensor(0.5),
                                                                                      torch.tensor(1.5)]))])
    assert out == preds
    losses.take(["p2", LossElement(loss=dict(loss=torch.tensor(3.0), loss_aux=[torch.tensor(2.0)], acc=4.0))])
    metrics = losses.add_to({"accuracy": 50.0})
    assert metrics["accuracy"] == 50.0
    assert metrics["loss"] == pytest.approx(2.0)  # (1 + 3) / 2: a mean over iterations
    assert metrics["loss_aux"] == pytest.approx(4.0 / 3)  # every tensor of a list counts once
    assert metrics["acc"] == 4.0
    assert metrics["val_loss"] == pytest.approx(2.0 + 4.0 / 3)  # names containing 'loss' only


def test_outputs_without_a_loss_element_are_untouched():
    losses = EvalLosses("test")
    for outputs in ([], ["a"], ("a", "b"), {"loss": 1.0}, [LossElement(loss={}, extra=1)]):
        assert losses.take(outputs) is outputs
    assert losses.add_to({"acc": 1.0}) == {"acc": 1.0}
    assert not is_loss_element({"loss": 1})  # a plain dict is a prediction, not the loss element


def test_real_base_data_element_is_recognised():
    structures = pytest.importorskip("kiln.structures", reason="kiln.structures not in this tree yet")
    element = structures.BaseDataElement(loss=dict(loss=torch.tensor(2.0)))
    assert is_loss_element(element)
    assert not is_loss_element(structures.BaseDataElement(loss=dict(loss=torch.tensor(2.0)), pred=1))


class ValLossModel:
    """Mixed into the shared toy model: val_step returns its predictions, then the loss element."""

    def val_step(self, data):
        x, y = data
        scores = self.fc(x)
        loss = F.cross_entropy(scores, y)
        self.batch_losses.append((float(loss), len(y)))
        return [scores, y, LossElement(loss=dict(loss=loss))]


class MetricsLog(Hook):
    def __init__(self):
        self.metrics = []

    def after_val_epoch(self, runner, metrics=None):
        self.metrics.append(dict(metrics))


def _model(toy_model_cls):
    model = type("ToyValLoss", (ValLossModel, toy_model_cls), {})()
    model.batch_losses = []
    return model


def test_runner_reports_val_loss_per_epoch(make_runner, toy_model_cls, counting_dataset_cls, tmp_path):
    model, log = _model(toy_model_cls), MetricsLog()
    runner = make_runner(model=model, train_cfg=dict(by_epoch=True, max_epochs=3),
                         val_dataloader=DataLoader(counting_dataset_cls(10), batch_size=4),  # 4, 4, 2
                         custom_hooks=[log])
    runner.train()
    assert len(log.metrics) == 3
    per_epoch = [model.batch_losses[3 * i:3 * i + 3] for i in range(3)]
    for metrics, batches in zip(log.metrics, per_epoch):
        by_iteration = sum(v for v, _ in batches) / 3
        by_sample = sum(v * n for v, n in batches) / 10
        assert metrics["val_loss"] == pytest.approx(by_iteration) and metrics["loss"] == pytest.approx(by_iteration)
        assert not math.isclose(by_iteration, by_sample)  # the test tells the two apart
        assert "toy/accuracy" in metrics  # the evaluator still got the predictions
    assert log.metrics[0]["val_loss"] != log.metrics[2]["val_loss"]
    # logged: one scalars.json record per validation, the epoch's own value (not smoothed across epochs)
    lines = [json.loads(line) for line in open(f"{runner.log_dir}/vis_data/scalars.json")]
    logged = [r["val_loss"] for r in lines if "val_loss" in r]
    assert logged == pytest.approx([m["val_loss"] for m in log.metrics])


def test_early_stopping_and_save_best_on_val_loss(make_runner, toy_model_cls, tmp_path):
    runner = make_runner(model=_model(toy_model_cls), train_cfg=dict(by_epoch=True, max_epochs=5),
                         default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=100,
                                                            save_best="val_loss")),
                         custom_hooks=[dict(type="EarlyStoppingHook", monitor="val_loss",
                                            min_delta=10.0, patience=1)])
    runner.train()
    # epoch 1 sets the best; epoch 2 cannot beat it by 10: stop after 2 of 5 epochs
    assert runner.epoch == 2
    # save_best ('less', inferred from the name) moved to epoch 2's lower val_loss
    assert sorted(p.name for p in (tmp_path / "work").glob("best_*.pth")) == ["best_val_loss_epoch_2.pth"]


def test_runner_test_reports_test_loss(make_runner, toy_model_cls, counting_dataset_cls, toy_metric_cls):
    model = _model(toy_model_cls)
    model.test_step = model.val_step
    runner = make_runner(model=model, test_dataloader=DataLoader(counting_dataset_cls(8), batch_size=4),
                         test_cfg=dict(), test_evaluator=dict(type=toy_metric_cls))
    metrics = runner.test()
    expected = sum(v for v, _ in model.batch_losses) / 2
    assert metrics["test_loss"] == pytest.approx(expected) and "val_loss" not in metrics


def test_readme_example_runs_and_stops_early(tmp_path):
    pytest.importorskip("kiln.structures", reason="kiln.structures not in this tree yet")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "val_loss.py"
    spec = importlib.util.spec_from_file_location("kiln_example_val_loss", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    runner = example.main(str(tmp_path / "work"))
    assert runner.epoch < 30 and runner.train_loop.stop_training  # EarlyStoppingHook ended it
    lines = [json.loads(line) for line in open(f"{runner.log_dir}/vis_data/scalars.json")]
    val = [r["val_loss"] for r in lines if "val_loss" in r]
    assert len(val) == runner.epoch and val[-1] < val[0]
    assert len(list((tmp_path / "work").glob("best_val_loss_epoch_*.pth"))) == 1
