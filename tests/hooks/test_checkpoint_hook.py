"""CheckpointHook: intervals, file names, last_checkpoint, keep-N, best rules, publishing."""

import os

import pytest
import torch

from kiln.checkpoint.saving import save_checkpoint
from kiln.errors import ConfigError
from kiln.hooks import CheckpointHook
from kiln.logging.message_hub import MessageHub


class FakeRunner:
    """What CheckpointHook touches: counters, work_dir, message hub, save_checkpoint."""

    def __init__(self, work_dir, max_epochs=5, max_iters=50):
        self.work_dir = str(work_dir)
        self.epoch, self.iter = 0, 0
        self.max_epochs, self.max_iters = max_epochs, max_iters
        self.message_hub = MessageHub(name=f"hub-{id(self)}")
        self.saved = []
        self.weight = torch.zeros(2)

    def save_checkpoint(self, out_dir, filename, save_optimizer=True, save_param_scheduler=True,
                        meta=None, by_epoch=True):
        self.saved.append((filename, save_optimizer))
        save_checkpoint({"meta": {"epoch": self.epoch, "iter": self.iter},
                         "state_dict": {"w": self.weight.clone()}, "optimizer": {"x": 1}},
                        os.path.join(out_dir, filename))


def _train_epochs(hook, runner, epochs):
    hook.before_train(runner)
    for epoch in range(epochs):
        runner.epoch = epoch
        hook.after_train_epoch(runner)
    runner.epoch = epochs


def test_epoch_interval_names_and_last_checkpoint(tmp_path, capsys):
    runner = FakeRunner(tmp_path, max_epochs=5)
    hook = CheckpointHook(interval=2)
    _train_epochs(hook, runner, 5)
    assert [f for f, _ in runner.saved] == ["epoch_2.pth", "epoch_4.pth", "epoch_5.pth"]  # 5: save_last
    assert (tmp_path / "last_checkpoint").read_text() == str(tmp_path / "epoch_5.pth")
    assert runner.message_hub.get_info("last_ckpt") == str(tmp_path / "epoch_5.pth")
    out = capsys.readouterr().out
    assert f"Checkpoints will be saved to {tmp_path}." in out
    assert "Saving checkpoint at 2 epochs" in out


def test_iter_interval_and_save_begin(tmp_path):
    runner = FakeRunner(tmp_path, max_iters=10)
    hook = CheckpointHook(interval=3, by_epoch=False, save_begin=4, save_last=False)
    hook.before_train(runner)
    for it in range(10):
        runner.iter = it
        hook.after_train_iter(runner, batch_idx=it)
        hook.after_train_epoch(runner)  # ignored when by_epoch=False
    # MMEngine's rule: (iter + 1 - save_begin) % 3 == 0 and >= 0  →  iterations 4, 7 and 10
    assert [f for f, _ in runner.saved] == ["iter_4.pth", "iter_7.pth", "iter_10.pth"]


def test_max_keep_ckpts_deletes_oldest_after_the_new_one_exists(tmp_path):
    runner = FakeRunner(tmp_path, max_epochs=4)
    hook = CheckpointHook(interval=1, max_keep_ckpts=2)
    seen = []
    original = runner.save_checkpoint

    def save_and_look(*args, **kwargs):
        seen.append(sorted(p for p in os.listdir(tmp_path) if p.endswith(".pth")))
        original(*args, **kwargs)

    runner.save_checkpoint = save_and_look
    _train_epochs(hook, runner, 4)
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".pth")) == ["epoch_3.pth", "epoch_4.pth"]
    assert seen[3] == ["epoch_2.pth", "epoch_3.pth"]  # epoch_2 still there while epoch_4 is written
    assert runner.message_hub.get_info("keep_ckpt_ids") == [3, 4]


def test_max_keep_resumes_from_message_hub(tmp_path):
    runner = FakeRunner(tmp_path, max_epochs=4)
    for n in (1, 2):
        save_checkpoint({"x": 1}, tmp_path / f"epoch_{n}.pth")
    runner.message_hub.update_info("keep_ckpt_ids", [1, 2])
    hook = CheckpointHook(interval=1, max_keep_ckpts=2)
    hook.before_train(runner)
    runner.epoch = 2
    hook.after_train_epoch(runner)
    assert sorted(p for p in os.listdir(tmp_path) if not p.endswith(".sha256")) == [
        "epoch_2.pth", "epoch_3.pth", "last_checkpoint"]


@pytest.mark.parametrize("key,rule", [
    ("accuracy", "greater"), ("top1", "greater"), ("coco/bbox_mAP", "greater"), ("mIoU", "greater"),
    ("val_loss", "less"), ("loss", "less"), ("AR@100", "greater"),
])
def test_rule_inference(key, rule):
    assert CheckpointHook(save_best=key).rules[key] == rule


def test_rule_inference_failure_and_bad_rule():
    with pytest.raises(ConfigError, match="cannot infer.*'psnr'.*rule="):
        CheckpointHook(save_best="psnr")
    with pytest.raises(ConfigError, match="rule"):
        CheckpointHook(save_best="acc", rule="bigger")
    with pytest.raises(ConfigError, match="'auto' cannot be combined"):
        CheckpointHook(save_best=["auto", "acc"])
    assert CheckpointHook(save_best="psnr", greater_keys=["psnr"]).rules["psnr"] == "greater"


def test_save_best_auto_keeps_one_best_file(tmp_path, capsys):
    runner = FakeRunner(tmp_path, max_epochs=4)
    hook = CheckpointHook(interval=-1, save_best="auto", save_last=False)
    hook.before_train(runner)
    for epoch, acc in enumerate([0.5, 0.7, 0.6, float("nan")], start=1):
        runner.epoch = epoch  # validation runs after the epoch counter advanced
        hook.after_val_epoch(runner, {"accuracy": acc, "loss": 1.0})
    files = sorted(p for p in os.listdir(tmp_path) if p.endswith(".pth"))
    assert files == ["best_accuracy_epoch_2.pth"]
    assert runner.message_hub.get_info("best_score") == 0.7
    assert runner.message_hub.get_info("best_ckpt") == str(tmp_path / "best_accuracy_epoch_2.pth")
    assert all(not opt for _, opt in runner.saved)  # best checkpoints carry no optimizer
    out = capsys.readouterr().out
    assert "The best checkpoint with 0.7000 accuracy at 2 epoch is saved to best_accuracy_epoch_2.pth." in out
    assert "accuracy = nan is not finite; it is never marked best" in out


def test_save_best_several_keys_with_rules(tmp_path):
    runner = FakeRunner(tmp_path)
    hook = CheckpointHook(save_best=["acc", "val/loss"], rule=["greater", "less"], by_epoch=False)
    hook.before_train(runner)
    for it, (acc, loss) in zip((10, 20), [(0.5, 2.0), (0.4, 1.0)]):
        runner.iter = it
        hook.after_val_epoch(runner, {"acc": acc, "val/loss": loss})
    files = sorted(p for p in os.listdir(tmp_path) if p.endswith(".pth"))
    assert files == ["best_acc_iter_10.pth", "best_val_loss_iter_20.pth"]
    assert runner.message_hub.get_info("best_score_acc") == 0.5
    assert runner.message_hub.get_info("best_score_val/loss") == 1.0


def test_empty_metrics_skip_with_warning(tmp_path, capsys):
    hook = CheckpointHook(save_best="acc")
    runner = FakeRunner(tmp_path)
    hook.before_train(runner)
    hook.after_val_epoch(runner, {})
    assert "skipped" in capsys.readouterr().out
    assert not runner.saved


def test_published_keys(tmp_path):
    runner = FakeRunner(tmp_path, max_epochs=1)
    hook = CheckpointHook(interval=1, published_keys=["meta", "state_dict"])
    _train_epochs(hook, runner, 1)
    hook.after_train(runner)
    published = [p for p in os.listdir(tmp_path) if p.startswith("epoch_1-") and p.endswith(".pth")]
    assert len(published) == 1 and len(published[0]) == len("epoch_1-12345678.pth")
    loaded = torch.load(tmp_path / published[0], weights_only=True)
    assert sorted(loaded) == ["meta", "state_dict"]


def test_best_as_safetensors(tmp_path):
    from safetensors.torch import load_file

    runner = FakeRunner(tmp_path)
    runner.weight = torch.tensor([1.0, 2.0])
    hook = CheckpointHook(save_best="acc", save_format="safetensors")
    hook.before_train(runner)
    runner.epoch = 1
    hook.after_val_epoch(runner, {"acc": 0.9})
    assert torch.equal(load_file(tmp_path / "best_acc_epoch_1.safetensors")["w"], torch.tensor([1.0, 2.0]))
    assert not (tmp_path / "best_acc_epoch_1.pth").exists()


def test_out_dir_gets_work_dir_name(tmp_path):
    runner = FakeRunner(tmp_path / "work")
    os.makedirs(runner.work_dir)
    hook = CheckpointHook(interval=1, out_dir=str(tmp_path / "store"))
    _train_epochs(hook, runner, 1)
    assert (tmp_path / "store" / "work" / "epoch_1.pth").exists()


def test_bad_arguments():
    with pytest.raises(ConfigError, match="interval"):
        CheckpointHook(interval=1.5)
    with pytest.raises(ConfigError, match="save_format"):
        CheckpointHook(save_format="npz")
    with pytest.raises(ConfigError, match="only local files"):
        CheckpointHook(backend_args=dict(backend="petrel"))


def test_best_score_survives_resume(tmp_path):
    """A resumed run compares against the best score of the interrupted one (message hub)."""
    runner = FakeRunner(tmp_path)
    old_best = tmp_path / "best_acc_epoch_1.pth"
    save_checkpoint({"x": 1}, old_best)
    runner.message_hub.update_info("best_score", 0.9)
    runner.message_hub.update_info("best_ckpt", str(old_best))
    hook = CheckpointHook(save_best="acc")
    hook.before_train(runner)
    runner.epoch = 2
    hook.after_val_epoch(runner, {"acc": 0.8})
    assert not runner.saved and old_best.exists()
    runner.epoch = 3
    hook.after_val_epoch(runner, {"acc": 0.95})
    assert not old_best.exists() and (tmp_path / "best_acc_epoch_3.pth").exists()
