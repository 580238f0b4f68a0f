"""LoggerHook with the real hub/log processor/visualizer on a small fake runner and loop."""

import itertools
import json
import re
from types import SimpleNamespace

import pytest
import torch

from kiln.errors import ConfigError
from kiln.hooks.hook import get_priority
from kiln.hooks.iter_timer_hook import IterTimerHook
from kiln.hooks.logger_hook import LoggerHook
from kiln.hooks.runtime_info_hook import RuntimeInfoHook
from kiln.logging import get_logger
from kiln.logging.message_hub import MessageHub
from kiln.runner.log_processor import LogProcessor
from kiln.utils.progressbar import ProgressBar
from kiln.visualization.visualizer import Visualizer

_IDS = itertools.count()


@pytest.fixture(autouse=True)
def _no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def make_runner(tmp_path, *, train_len=25, val_len=4, max_epochs=2, by_epoch=True, max_iters=None):
    n = next(_IDS)
    log_dir = tmp_path / "work" / "20250101_000000"
    log_dir.mkdir(parents=True, exist_ok=True)
    return SimpleNamespace(
        message_hub=MessageHub(f"lh-{n}"), log_processor=LogProcessor(by_epoch=by_epoch),
        visualizer=Visualizer(name=f"lh-{n}", save_dir=str(log_dir),
                              vis_backends=[dict(type="LocalVisBackend")]),
        logger=get_logger(), timestamp="20250101_000000", log_dir=str(log_dir),
        work_dir=str(tmp_path / "work"), experiment_name="toy_exp", cfg=None, seed=0,
        epoch=0, iter=0, max_epochs=max_epochs, max_iters=max_iters or max_epochs * train_len,
        train_dataloader=list(range(train_len)), val_dataloader=list(range(val_len)),
        test_dataloader=list(range(val_len)),
        optim_wrapper=SimpleNamespace(get_lr=lambda: {"lr": [0.01]}))


def call(hooks, stage, runner, **kwargs):
    for hook in sorted(hooks, key=lambda h: get_priority(h.priority)):
        getattr(hook, stage)(runner, **kwargs)


def train(runner, hooks, loss_fn=lambda it: torch.tensor(1.0 / (it + 1), requires_grad=True) * 1,
          validate=True):
    """The epoch-based loop's hook sequence (as MMEngine's loops call them)."""
    call(hooks, "before_run", runner)
    call(hooks, "before_train", runner)
    while runner.epoch < runner.max_epochs:
        call(hooks, "before_train_epoch", runner)
        for idx, batch in enumerate(runner.train_dataloader):
            call(hooks, "before_train_iter", runner, batch_idx=idx, data_batch=batch)
            outputs = {"loss": loss_fn(runner.iter)}
            call(hooks, "after_train_iter", runner, batch_idx=idx, data_batch=batch, outputs=outputs)
            runner.iter += 1
        call(hooks, "after_train_epoch", runner)
        runner.epoch += 1
        if validate:
            evaluate(runner, hooks, "val", {"accuracy": torch.tensor(50.0 + runner.epoch)})
    call(hooks, "after_train", runner)
    call(hooks, "after_run", runner)


def evaluate(runner, hooks, mode, metrics):
    call(hooks, f"before_{mode}", runner)
    call(hooks, f"before_{mode}_epoch", runner)
    for idx, batch in enumerate(getattr(runner, f"{mode}_dataloader")):
        call(hooks, f"before_{mode}_iter", runner, batch_idx=idx, data_batch=batch)
        call(hooks, f"after_{mode}_iter", runner, batch_idx=idx, data_batch=batch, outputs=None)
    call(hooks, f"after_{mode}_epoch", runner, metrics=metrics)
    call(hooks, f"after_{mode}", runner)


def default_hooks(**logger_kwargs):
    return [RuntimeInfoHook(), IterTimerHook(), LoggerHook(**logger_kwargs)]


def log_lines(text):
    return [line.split(" - INFO - ", 1)[1] for line in text.splitlines() if " - INFO - " in line]


def test_priority_and_arguments():
    assert get_priority(LoggerHook.priority) == 60
    with pytest.raises(ConfigError, match="logger.interval"):
        LoggerHook(interval=0)
    with pytest.raises(ConfigError, match="backend_args"):
        LoggerHook(backend_args=dict(backend="petrel"))


def test_epoch_run_lines_scalars_and_curves(tmp_path, capsys):
    runner = make_runner(tmp_path)
    train(runner, default_hooks(interval=10))
    lines = log_lines(capsys.readouterr().out)
    train_lines = [line for line in lines if line.startswith("Epoch(train)")]
    heads = [re.match(r"Epoch\(train\) +\[\d\]\[ ?\d+/25\]", line).group(0) for line in train_lines]
    assert heads == ["Epoch(train) [1][10/25]", "Epoch(train) [1][20/25]",
                     "Epoch(train) [2][10/25]", "Epoch(train) [2][20/25]"]
    assert re.fullmatch(r"Epoch\(train\) \[1\]\[10/25\]  lr: 1\.0000e-02  eta: 0:00:00  "
                        r"time: \d\.\d{4}  data_time: \d\.\d{4}  loss: 0\.2929", train_lines[0])
    assert lines.count("Exp name: toy_exp") == 2  # at each epoch end
    val = [line for line in lines if line.startswith("Epoch(val)")]
    assert len(val) == 2 and val[0].startswith("Epoch(val) [1][4/4]    accuracy: 51.0000  data_time: ")
    assert val[1].startswith("Epoch(val) [2][4/4]    accuracy: 52.0000")

    vis_data = tmp_path / "work" / "20250101_000000" / "vis_data"
    records = [json.loads(line) for line in (vis_data / "scalars.json").read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20, 1, 35, 45, 2]
    assert set(records[0]) == {"lr", "data_time", "loss", "time", "epoch", "iter", "step"}
    assert records[0]["loss"] == pytest.approx(sum(1 / (i + 1) for i in range(10)) / 10)
    assert records[2]["accuracy"] == 51.0 and set(records[2]) == {"accuracy", "data_time", "time", "step"}
    assert (vis_data / "20250101_000000.json").read_text() == (vis_data / "scalars.json").read_text()
    assert (tmp_path / "work" / "20250101_000000" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_last_iterations_logged_when_not_ignored(tmp_path, capsys):
    runner = make_runner(tmp_path, max_epochs=1)
    train(runner, default_hooks(interval=10, ignore_last=False), validate=False)
    heads = [line[:25] for line in log_lines(capsys.readouterr().out) if line.startswith("Epoch(train)")]
    assert heads == ["Epoch(train) [1][10/25]  ", "Epoch(train) [1][20/25]  ",
                     "Epoch(train) [1][25/25]  "]


def test_epoch_shorter_than_interval_is_logged(tmp_path, capsys):
    runner = make_runner(tmp_path, train_len=4, max_epochs=2)
    train(runner, default_hooks(interval=10), validate=False)
    heads = [line[:23] for line in log_lines(capsys.readouterr().out) if line.startswith("Epoch(train)")]
    assert heads == ["Epoch(train) [1][4/4]  ", "Epoch(train) [2][4/4]  "]


def test_iteration_based_lines(tmp_path, capsys):
    runner = make_runner(tmp_path, train_len=300, max_epochs=1, by_epoch=False, max_iters=30)
    runner.train_dataloader = list(range(30))
    train(runner, default_hooks(interval=10), validate=False)
    heads = [line[:19] for line in log_lines(capsys.readouterr().out) if line.startswith("Iter(train)")]
    assert heads == ["Iter(train) [10/30]", "Iter(train) [20/30]", "Iter(train) [30/30]"]


def test_logged_tensors_are_read_only_at_the_log_interval(tmp_path, monkeypatch):
    runner = make_runner(tmp_path, train_len=10, max_epochs=1)
    reads = []  # the iteration at which each tensor read (a device sync on an accelerator) happens
    item, tolist = torch.Tensor.item, torch.Tensor.tolist

    def counting_item(self):
        reads.append(runner.message_hub.get_info("iter"))
        return item(self)

    def counting_tolist(self):
        reads.append(runner.message_hub.get_info("iter"))
        return tolist(self)

    losses = [torch.tensor(float(i), requires_grad=True) * 1 for i in range(10)]
    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    monkeypatch.setattr(torch.Tensor, "tolist", counting_tolist)
    train(runner, default_hooks(interval=10), loss_fn=lambda it: losses[it], validate=False)
    # CPU tensors are read one by one (no stack kernel); all of them at the 10th iteration
    assert reads == [9] * 10
    assert runner.message_hub.get_scalar("train/loss").mean(10) == pytest.approx(4.5)


def test_non_finite_loss_stops_with_key_and_iteration(tmp_path):
    runner = make_runner(tmp_path, train_len=10, max_epochs=1)
    loss_fn = lambda it: torch.tensor(float("nan") if it == 6 else 1.0)  # noqa: E731
    with pytest.raises(FloatingPointError, match=r"'train/loss' = nan at iteration 7"):
        train(runner, default_hooks(interval=10), loss_fn=loss_fn, validate=False)


def test_val_iteration_lines_and_test_json(tmp_path, capsys, monkeypatch):
    import itertools

    import kiln.hooks.iter_timer_hook as timer_mod

    clock = itertools.count(1.0)  # each reading is 1 s after the previous: timings are exact
    monkeypatch.setattr(timer_mod.time, "perf_counter", lambda: next(clock))
    runner = make_runner(tmp_path, val_len=20)
    runner.train_progress = None  # runner.test() only: no train loop built
    hooks = default_hooks(interval=10)
    call(hooks, "before_run", runner)
    evaluate(runner, hooks, "test", {"acc/top1": torch.tensor(0.75), "cm": torch.eye(2)})
    out = capsys.readouterr().out
    lines = log_lines(out)
    assert [line[:22] for line in lines] == ["Epoch(test) [10/20]   ", "Epoch(test) [20/20]   ",
                                            "Epoch(test) [20/20]   "]
    summary = out[out.rindex("Epoch(test)"):]  # non-scalar metrics are printed on their own lines
    assert summary.startswith("Epoch(test) [20/20]    acc/top1: 0.7500  cm: \ntensor([[1., 0.],")
    # epoch means: the batch wait is 1 reading, the whole iteration 2 (wait + step)
    assert summary.rstrip().endswith("\n  data_time: 1.0000  time: 2.0000")
    dumped = json.loads((tmp_path / "work" / "20250101_000000" / "20250101_000000.json").read_text())
    assert dumped["acc/top1"] == 0.75 and dumped["cm"] == [[1.0, 0.0], [0.0, 1.0]]


def test_val_only_run_writes_metrics_at_step_zero(tmp_path):
    runner = make_runner(tmp_path)
    runner.train_progress = None
    hooks = default_hooks(interval=10)
    call(hooks, "before_run", runner)
    evaluate(runner, hooks, "val", {"accuracy": 12.5})
    call(hooks, "after_run", runner)
    vis_data = tmp_path / "work" / "20250101_000000" / "vis_data"
    record = json.loads((vis_data / "scalars.json").read_text())
    assert record["accuracy"] == 12.5 and record["step"] == 0


def test_out_dir_copies_logs(tmp_path):
    runner = make_runner(tmp_path, train_len=10, max_epochs=1)
    (tmp_path / "work" / "20250101_000000" / "20250101_000000.log").write_text("log\n")
    train(runner, default_hooks(interval=10, out_dir=str(tmp_path / "remote"), keep_local=False),
          validate=False)
    copied = tmp_path / "remote" / "work"
    assert (copied / "20250101_000000.log").read_text() == "log\n"
    assert not (tmp_path / "work" / "20250101_000000" / "20250101_000000.log").exists()


def test_no_progress_bar_without_terminal(tmp_path):
    hook = LoggerHook()
    runner = make_runner(tmp_path, train_len=3, max_epochs=1)
    hook.before_train_epoch(runner)  # pytest captures stdout: not a terminal
    assert not hook.progress.active


def test_progress_bar_redraws_at_most_a_few_times_per_second(monkeypatch):
    bar = ProgressBar(enabled=True, refresh_per_second=4)
    bar.start("Epoch 1/1", total=10_000)
    assert bar.active
    updates = []
    original = bar._progress.update
    monkeypatch.setattr(bar._progress, "update", lambda *a, **k: (updates.append(k), original(*a, **k)))
    for _ in range(10_000):  # a tight loop of ~10k iterations takes well under a second
        bar.advance()
    assert len(updates) <= 3
    bar.stop()
    assert updates[-1]["completed"] == 10_000 and not bar.active


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_no_device_sync_between_log_intervals_on_cuda(tmp_path, monkeypatch):
    monkeypatch.undo()  # the real torch.cuda.is_available: memory is reported on CUDA
    runner = make_runner(tmp_path, train_len=20, max_epochs=1)
    hooks = default_hooks(interval=10)
    weight = torch.ones(4, device="cuda", requires_grad=True)
    syncs = []

    def loss_fn(it):
        loss = (weight * it).sum()
        # Iterations 0-8 must not synchronize: CUDA raises on any sync in 'error' mode.
        torch.cuda.set_sync_debug_mode("error" if it % 10 != 9 else "default")
        syncs.append(it)
        return loss

    try:
        train(runner, hooks, loss_fn=loss_fn, validate=False)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    values = runner.message_hub.get_scalar("train/loss").data[0].tolist()
    assert values == [4.0 * i for i in range(20)]


def test_progress_bars_follow_epochs_and_validation(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(ProgressBar, "start", lambda self, desc, total, completed=0:
                        (started.append((desc, total, completed)), setattr(self, "_progress", object())))
    monkeypatch.setattr(ProgressBar, "advance", lambda self, n=1: None)
    monkeypatch.setattr(ProgressBar, "stop", lambda self: setattr(self, "_progress", None))
    runner = make_runner(tmp_path, train_len=5, val_len=2, max_epochs=2)
    train(runner, default_hooks(interval=10, progress_bar=True))
    assert started == [("Epoch 1/2", 5, 0), ("Val", 2, 0), ("Epoch 2/2", 5, 0), ("Val", 2, 0)]

    started.clear()
    runner = make_runner(tmp_path, train_len=5, max_epochs=1, by_epoch=False, max_iters=4)
    hooks = default_hooks(interval=10, progress_bar=True)
    call(hooks, "before_run", runner)
    call(hooks, "before_train", runner)
    call(hooks, "before_train_epoch", runner)
    for idx in range(4):  # iteration-based: one bar for the run, resumed after a validation
        call(hooks, "before_train_iter", runner, batch_idx=idx)
        call(hooks, "after_train_iter", runner, batch_idx=idx, outputs={"loss": torch.tensor(1.0)})
        runner.iter += 1
        if idx == 1:
            evaluate(runner, hooks, "val", {"acc": 1.0})
    assert started == [("Train", 4, 0), ("Val", 4, 0), ("Train", 4, 2)]  # then advanced to 3


def test_iteration_based_run_logs_metrics_at_the_iteration(tmp_path):
    runner = make_runner(tmp_path, train_len=5, max_epochs=1, by_epoch=False, max_iters=4)
    hooks = default_hooks(interval=2)
    call(hooks, "before_run", runner)
    call(hooks, "before_train", runner)
    call(hooks, "before_train_epoch", runner)
    for idx in range(4):
        call(hooks, "before_train_iter", runner, batch_idx=idx)
        call(hooks, "after_train_iter", runner, batch_idx=idx, outputs={"loss": torch.tensor(1.0)})
        runner.iter += 1
    evaluate(runner, hooks, "val", {"acc": 1.0})
    call(hooks, "after_run", runner)
    lines = (tmp_path / "work" / "20250101_000000" / "vis_data" / "scalars.json").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [2, 4, 4]


@pytest.mark.parametrize("interval,train_len,ignore_last,exp_every", [
    (10, 25, False, 1000), (10, 25, True, 7), (4, 7, False, 3), (7, 7, True, 5), (30, 25, True, 1000),
])
def test_lines_skipped_between_checks_are_exactly_the_ones_not_due(tmp_path, capsys, interval, train_len,
                                                                     ignore_last, exp_every):
    """after_train_iter returns early until the next iteration where something can be due; the
    lines written must be exactly those of the rule evaluated at every iteration."""
    runner = make_runner(tmp_path, train_len=train_len, max_epochs=2)
    hooks = [RuntimeInfoHook(), IterTimerHook(),
             LoggerHook(interval=interval, ignore_last=ignore_last, interval_exp_name=exp_every,
                        progress_bar=False)]
    train(runner, hooks, validate=False)
    out = capsys.readouterr().out
    lines = [int(m.group(1)) for m in re.finditer(r"Epoch\(train\) +\[\d\]\[ *(\d+)/\d+\]", out)]
    expected, names = [], 0
    for it in range(2 * train_len):
        idx = it % train_len
        end = idx + 1 == train_len
        names += (it + 1) % exp_every == 0 or end
        if (idx + 1) % interval == 0 or (end and (not ignore_last or train_len <= interval)):
            expected.append(idx + 1)
    assert lines == expected
    assert out.count("Exp name: toy_exp") == names
