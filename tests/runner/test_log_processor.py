"""LogProcessor: MMEngine's exact log lines, smoothing windows, custom statistics."""

from types import SimpleNamespace

import pytest
import torch

from kiln.errors import ConfigError
from kiln.logging.message_hub import MessageHub
from kiln.registry import LOG_PROCESSORS
from kiln.runner.log_processor import LogProcessor

_COUNTER = iter(range(10**6))


@pytest.fixture(autouse=True)
def _no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def make_runner(*, epoch=0, it=9, max_epochs=5, max_iters=4690, train_len=938, val_len=157,
                test_len=157, **kwargs):
    hub = MessageHub(f"lp-{next(_COUNTER)}")
    return SimpleNamespace(message_hub=hub, epoch=epoch, iter=it, max_epochs=max_epochs,
                           max_iters=max_iters, train_dataloader=[0] * train_len,
                           val_dataloader=[0] * val_len, test_dataloader=[0] * test_len, **kwargs)


def fill_train(hub, n=10, loss=2.2889):
    for i in range(n):
        hub.update_info("iter", i)
        hub.update_scalar("train/lr", 1e-3)
        hub.update_scalar("train/data_time", 0.002)
        hub.update_scalar("train/loss", torch.tensor(loss))
        hub.update_scalar("train/time", 0.011)
    hub.update_info("eta", 312.7)


def test_epoch_train_line():
    runner = make_runner()
    fill_train(runner.message_hub)
    tag, line = LogProcessor().get_log_after_iter(runner, 9, "train")
    assert line == ("Epoch(train) [1][ 10/938]  lr: 1.0000e-03  eta: 0:05:12  time: 0.0110  "
                    "data_time: 0.0020  loss: 2.2889")
    assert tag["epoch"] == 1 and tag["iter"] == 10
    assert tag["loss"] == pytest.approx(2.2889, abs=1e-6) and tag["lr"] == 1e-3


# What MMEngine 0.10.7 prints (checked by running the same job on it): one space, then "[e]"
# right-aligned to the width of "[max_epochs]" -- so 10+ epochs give "Epoch(train)  [1]", not "[ 1]".
@pytest.mark.parametrize("epoch, max_epochs, head", [
    (0, 2, "Epoch(train) [1][50/50]  lr: "),
    (9, 10, "Epoch(train) [10][50/50]  lr: "),
    (0, 10, "Epoch(train)  [1][50/50]  lr: "),
    (9, 100, "Epoch(train)  [10][50/50]  lr: "),
    (0, 100, "Epoch(train)   [1][50/50]  lr: "),
])
def test_epoch_field_width_follows_max_epochs(epoch, max_epochs, head):
    runner = make_runner(epoch=epoch, max_epochs=max_epochs, train_len=50)
    fill_train(runner.message_hub)
    _, line = LogProcessor().get_log_after_iter(runner, 49, "train")
    assert line.startswith(head)


def test_iter_train_line():
    runner = make_runner(it=9, max_iters=300)
    fill_train(runner.message_hub)
    _, line = LogProcessor(by_epoch=False).get_log_after_iter(runner, 9, "train")
    assert line == ("Iter(train) [ 10/300]  lr: 1.0000e-03  eta: 0:05:12  time: 0.0110  "
                    "data_time: 0.0020  loss: 2.2889")


def test_loss_is_smoothed_over_window_and_other_keys_are_current():
    runner = make_runner()
    hub = runner.message_hub
    for i in range(20):
        hub.update_scalar("train/loss", float(i))
        hub.update_scalar("train/acc", float(i))
    _, line = LogProcessor(window_size=4).get_log_after_iter(runner, 19, "train")
    assert "loss: 17.5000" in line and "acc: 19.0000" in line
    assert "eta" not in line  # no timer values logged


def fill_val(hub, n=157):
    for _ in range(n):
        hub.update_scalar("val/data_time", 0.001)
        hub.update_scalar("val/time", 0.005)
    hub.update_info("eta", 1.0)


def test_val_iteration_and_epoch_lines():
    runner = make_runner(epoch=1)  # the train loop finished epoch 1
    hub = runner.message_hub
    fill_train(hub)
    fill_val(hub, 10)
    _, line = LogProcessor().get_log_after_iter(runner, 9, "val")
    # as MMEngine: the val field is aligned like the train one, and the line ends in two spaces
    assert line == "Epoch(val) [1][ 10/157]    eta: 0:00:01  time: 0.0050  data_time: 0.0010  "
    fill_val(hub, 147)
    hub.update_scalar("val/accuracy", torch.tensor(89.5))
    tag, line = LogProcessor().get_log_after_epoch(runner, 157, "val")
    assert line == "Epoch(val) [1][157/157]    accuracy: 89.5000  data_time: 0.0010  time: 0.0050"
    assert list(tag) == ["accuracy", "data_time", "time"]


def test_val_iteration_line_of_a_ten_epoch_run_is_aligned_like_train():
    runner = make_runner(epoch=1, max_epochs=10)
    fill_val(runner.message_hub, 10)
    _, line = LogProcessor().get_log_after_iter(runner, 9, "val")
    assert line.startswith("Epoch(val)  [1][ 10/157]    eta: ")
    _, line = LogProcessor().get_log_after_epoch(runner, 157, "val")
    assert line.startswith("Epoch(val) [1][157/157]    data_time: ")  # the summary is not aligned


def test_integer_metrics_print_as_integers():
    runner = make_runner(epoch=1)
    hub = runner.message_hub
    fill_val(hub, 157)
    hub.update_scalar("val/num_samples", 157)  # an int
    hub.update_scalar("val/correct", torch.tensor(140))  # an integer tensor (converted at the log)
    hub.update_scalar("val/accuracy", 50.0)  # a float that happens to be integral stays a float
    tag, line = LogProcessor().get_log_after_epoch(runner, 157, "val")
    assert "num_samples: 157  correct: 140  accuracy: 50.0000  " in line
    assert type(tag["num_samples"]) is int and type(tag["correct"]) is int


def test_val_epoch_line_averages_timing_over_the_epoch_only():
    runner = make_runner(epoch=1, val_len=4)
    hub = runner.message_hub
    for t in (9.0, 9.0, 1.0, 2.0, 3.0, 4.0):  # two values left over from an earlier validation
        hub.update_scalar("val/time", t)
        hub.update_scalar("val/data_time", 0.0)
    tag, _ = LogProcessor().get_log_after_epoch(runner, 4, "val")
    assert tag["time"] == pytest.approx(2.5)


def test_val_line_without_train_loop_uses_epoch_zero():
    runner = make_runner(_train_loop=None)
    fill_val(runner.message_hub, 10)
    _, line = LogProcessor().get_log_after_iter(runner, 9, "val")
    assert line.startswith("Epoch(val) [0][ 10/157]    eta: ")
    _, line = LogProcessor().get_log_after_epoch(runner, 157, "val")
    assert line.startswith("Epoch(val) [0][157/157]    data_time: ")


def test_test_lines_and_iter_based_val_lines():
    runner = make_runner(_train_loop=None)
    hub = runner.message_hub
    for _ in range(10):
        hub.update_scalar("test/data_time", 0.001)
        hub.update_scalar("test/time", 0.005)
    hub.update_info("eta", 61.0)
    _, line = LogProcessor().get_log_after_iter(runner, 9, "test")
    assert line == "Epoch(test) [ 10/157]    eta: 0:01:01  time: 0.0050  data_time: 0.0010  "
    hub.update_scalar("test/acc/top1", 0.75)
    _, line = LogProcessor().get_log_after_epoch(runner, 157, "test")
    assert line == "Epoch(test) [157/157]    acc/top1: 0.7500  data_time: 0.0010  time: 0.0050"
    fill_val(hub, 10)
    _, line = LogProcessor(by_epoch=False).get_log_after_iter(runner, 9, "val")
    assert line == "Iter(val) [ 10/157]    eta: 0:00:01  time: 0.0050  data_time: 0.0010  "
    hub.update_scalar("val/acc", 1.0)
    _, line = LogProcessor(by_epoch=False).get_log_after_epoch(runner, 157, "val")
    assert line == "Iter(val) [157/157]    acc: 1.0000  data_time: 0.0010  time: 0.0050"


def test_val_iteration_line_shows_only_losses():
    runner = make_runner(epoch=1)
    fill_val(runner.message_hub, 10)
    runner.message_hub.update_scalar("val/accuracy", 50.0)  # a metric of the previous validation
    runner.message_hub.update_scalar("val/loss", 0.25)
    _, line = LogProcessor().get_log_after_iter(runner, 9, "val")
    assert line.endswith("data_time: 0.0010  loss: 0.2500") and "accuracy" not in line


def test_memory_is_shown_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 392 * 2**20 + 5)
    resets = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: resets.append(device))
    runner = make_runner()
    fill_train(runner.message_hub)
    tag, line = LogProcessor().get_log_after_iter(runner, 9, "train")
    assert "data_time: 0.0020  memory: 392  loss: 2.2889" in line
    assert tag["memory"] == 392 and resets == [0]


def test_several_lrs_and_hierarchy():
    runner = make_runner()
    hub = runner.message_hub
    hub.update_scalar("train/base_lr", 0.1)
    hub.update_scalar("train/lr", 0.05)
    hub.update_scalar("train/loss", 1.0)
    tag, line = LogProcessor(log_with_hierarchy=True).get_log_after_iter(runner, 9, "train")
    assert line.startswith("Epoch(train) [1][ 10/938]  base_lr: 1.0000e-01 lr: 5.0000e-02  loss: 1.0000")
    assert "train/loss" in tag and "train/base_lr" in tag


def test_custom_cfg_statistics():
    runner = make_runner(it=19)
    hub = runner.message_hub
    for i in range(20):
        hub.update_scalar("train/loss", float(i))
    cfg = [dict(data_src="loss", method_name="max", window_size="global", log_name="loss_max"),
           dict(data_src="loss", method_name="mean", window_size="epoch")]
    tag, line = LogProcessor(custom_cfg=cfg).get_log_after_iter(runner, 3, "train")
    assert tag["loss_max"] == 19.0
    assert tag["loss"] == pytest.approx(17.5)  # epoch window = batch_idx + 1 = 4 values
    assert "loss: 17.5000" in line and "loss_max: 19.0000" in line


def test_custom_cfg_uses_a_registered_statistic():
    from kiln.logging import HistoryBuffer

    def spread_for_log_test(self, window_size=None):
        values = self.data[0][-window_size:] if window_size else self.data[0]
        return float(values.max() - values.min())

    HistoryBuffer.register_statistics(spread_for_log_test)
    try:
        runner = make_runner(it=19)
        for i in range(20):
            runner.message_hub.update_scalar("train/loss", float(i))
        cfg = [dict(data_src="loss", method_name="spread_for_log_test", window_size=5, log_name="spread")]
        tag, line = LogProcessor(custom_cfg=cfg).get_log_after_iter(runner, 3, "train")
        assert tag["spread"] == 4.0 and "spread: 4.0000" in line
    finally:
        del HistoryBuffer._statistics_methods["spread_for_log_test"]


@pytest.mark.parametrize("cfg, match", [
    ([dict(method_name="mean")], r"custom_cfg\[0\]"),
    ([dict(data_src="loss", method_name="median")], r"custom_cfg\[0\]\.method_name"),
    ([dict(data_src="loss", window_size=0)], r"custom_cfg\[0\]\.window_size"),
    ([dict(data_src="loss"), dict(data_src="loss")], r"custom_cfg\[1\]"),
])
def test_custom_cfg_errors(cfg, match):
    with pytest.raises(ConfigError, match=match):
        LogProcessor(custom_cfg=cfg)


def test_registered():
    assert isinstance(LOG_PROCESSORS.build(dict(type="LogProcessor", window_size=5)), LogProcessor)
