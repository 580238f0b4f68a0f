"""EarlyStoppingHook: the evaluation it stops at on scripted metrics (both rules, patience,
min_delta, stopping_threshold, non-finite values), rule inference, and a real Runner that stops."""

import math

import pytest
from torch.utils.data import DataLoader

from kiln.errors import ConfigError
from kiln.evaluator import BaseMetric
from kiln.hooks import EarlyStoppingHook


class _Loop:
    stop_training = False


class _Runner:
    def __init__(self):
        self.train_loop = _Loop()


def stop_index(hook, scores, key="score"):
    """1-based index of the evaluation after which the hook stopped training (None: never)."""
    runner = _Runner()
    hook.before_train(runner)
    for i, score in enumerate(scores, start=1):
        hook.after_val_epoch(runner, {key: score})
        if runner.train_loop.stop_training:
            return i
    return None


@pytest.mark.parametrize("rule, scores, patience, expected", [
    ("greater", [0.5, 0.6, 0.55, 0.58, 0.59], 3, 5),     # best at 2, three evaluations without improvement
    ("greater", [0.5, 0.6, 0.55, 0.7, 0.65, 0.69], 2, 6),  # the improvement at 4 resets the wait
    ("less", [3.0, 2.0, 2.5, 1.0, 1.5, 1.2], 2, 6),
    ("less", [3.0, 2.0, 1.0, 0.5], 1, None),             # always improving: never stops
])
def test_patience(rule, scores, patience, expected):
    assert stop_index(EarlyStoppingHook("score", rule=rule, min_delta=0.0, patience=patience), scores) == expected


def test_equal_value_counts_as_improvement_with_zero_min_delta():
    """MMEngine's comparison: not improving means strictly worse than best + min_delta."""
    assert stop_index(EarlyStoppingHook("score", rule="greater", min_delta=0.0, patience=1), [0.6] * 5) is None


def test_min_delta_counts_an_improvement_of_exactly_min_delta():
    # greater: 0.5 -> 0.6 is an improvement of exactly 0.1 (counts); 0.65 is only 0.05 (does not)
    assert stop_index(EarlyStoppingHook("score", rule="greater", min_delta=0.1, patience=1),
                      [0.5, 0.6, 0.65]) == 3
    # less: 1.0 -> 0.9 exactly min_delta (counts), 0.85 not enough
    assert stop_index(EarlyStoppingHook("score", rule="less", min_delta=0.1, patience=1),
                      [1.0, 0.9, 0.85]) == 3
    assert stop_index(EarlyStoppingHook("score", rule="less", min_delta=0.1, patience=1),
                      [1.0, 0.9, 0.75]) is None


def test_stopping_threshold_and_best_score():
    hook = EarlyStoppingHook("acc", min_delta=0.0, patience=10, stopping_threshold=0.9)
    assert stop_index(hook, [0.5, 0.8, 0.9, 0.95], key="acc") == 4  # 0.9 is not strictly beyond
    assert hook.best_score == 0.95
    hook = EarlyStoppingHook("loss", min_delta=0.0, patience=10, stopping_threshold=0.1)
    assert stop_index(hook, [1.0, 0.5, 0.05], key="loss") == 3


def test_non_finite_stops_unless_check_finite_is_off():
    assert stop_index(EarlyStoppingHook("loss", patience=5), [1.0, math.nan], key="loss") == 2
    assert stop_index(EarlyStoppingHook("loss", patience=5), [1.0, math.inf], key="loss") == 2
    assert stop_index(EarlyStoppingHook("loss", patience=5, check_finite=False), [1.0, math.nan], key="loss") is None


def test_missing_monitor_warns_or_raises():
    runner = _Runner()
    hook = EarlyStoppingHook("val_loss")
    hook.before_train(runner)
    with pytest.warns(UserWarning, match=r"do not include `monitor` \(val_loss\)"):
        hook.after_val_epoch(runner, {"accuracy": 1.0})
    strict = EarlyStoppingHook("val_loss", strict=True)
    strict.before_train(runner)
    with pytest.raises(RuntimeError, match="`val_loss` is not available"):
        strict.after_val_epoch(runner, {"accuracy": 1.0})


def test_rule_inference_and_bad_arguments():
    assert EarlyStoppingHook("accuracy").rule == "greater"
    assert EarlyStoppingHook("coco/bbox_mAP").rule == "greater"
    assert EarlyStoppingHook("val_loss").rule == "less"
    assert EarlyStoppingHook("loss").rule == "less"
    with pytest.raises(ConfigError, match="cannot infer the rule for 'psnr'"):
        EarlyStoppingHook("psnr")
    with pytest.raises(ConfigError, match="rule"):
        EarlyStoppingHook("acc", rule="bigger")
    with pytest.raises(ConfigError, match="patience"):
        EarlyStoppingHook("acc", patience=0)


def test_val_only_run_is_left_alone():
    runner = _Runner()
    hook = EarlyStoppingHook("acc", patience=1, min_delta=0.0)
    for score in (0.5, 0.4, 0.3):  # no before_train: runner.val() on its own
        hook.after_val_epoch(runner, {"acc": score})
    assert not runner.train_loop.stop_training


class ScriptedMetric(BaseMetric):
    """Reports the next value of ``scores`` at each evaluation."""

    default_prefix = "scripted"
    scores = [0.50, 0.60, 0.62, 0.61, 0.55, 0.9, 0.9]

    def __init__(self):
        super().__init__()
        self.calls = 0

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        self.calls += 1
        return dict(acc=self.scores[self.calls - 1])


def test_runner_stops_at_the_right_epoch(make_runner, counting_dataset_cls):
    # best 0.60 at epoch 2 (0.62 is < min_delta better), then 3 evaluations without improvement
    runner = make_runner(train_cfg=dict(by_epoch=True, max_epochs=7),
                         val_dataloader=DataLoader(counting_dataset_cls(8), batch_size=4),
                         val_evaluator=dict(type=ScriptedMetric),
                         custom_hooks=[dict(type="EarlyStoppingHook", monitor="scripted/acc",
                                            min_delta=0.05, patience=3)])
    runner.train()
    assert runner.epoch == 5 and runner.train_loop.stop_training
