"""Every evaluator form the seeds and MMEngine configs use."""

import pytest


@pytest.mark.parametrize("form", ["instance", "type_dict", "metrics_dict", "list"])
def test_evaluator_forms(make_runner, toy_metric_cls, form):
    from kiln.evaluator import Evaluator

    evaluator = {
        "instance": lambda: Evaluator(toy_metric_cls()),
        "type_dict": lambda: dict(type=toy_metric_cls),
        "metrics_dict": lambda: dict(metrics=toy_metric_cls()),  # the FashionMNIST seed's form
        "list": lambda: [dict(type=toy_metric_cls, prefix="a"), toy_metric_cls(prefix="b")],
    }[form]()
    runner = make_runner(val_evaluator=evaluator)
    metrics = runner.val()
    expected = {"a/accuracy", "b/accuracy"} if form == "list" else {"toy/accuracy"}
    assert set(metrics) == expected
    assert isinstance(runner.val_evaluator, Evaluator)
