"""THE acceptance test: crash (SIGKILL) after a checkpoint, resume, and the loss sequence is
bitwise identical to an uninterrupted run — epoch- and iteration-based, with and without
gradient accumulation, with dropout (RNG), a shuffling sampler and an EMA, resuming mid-epoch."""

import os
import random
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

_JOB = textwrap.dedent('''
    import json, os, signal, sys
    import torch
    from torch import nn
    from kiln.hooks import EMAHook, Hook
    from kiln.model import BaseModel
    from kiln.runner import Runner

    args = json.loads(sys.argv[1])

    if args.get("kill_in_save"):  # die inside torch.save of the checkpoint at iteration kill_in_save
        real_save = torch.save

        def dying_save(obj, f, *a, **k):
            real_save(obj, f, *a, **k)
            if isinstance(obj, dict) and obj.get("meta", {}).get("iter") == args["kill_in_save"]:
                os.kill(os.getpid(), signal.SIGKILL)

        torch.save = dying_save

    class Net(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 16)
            self.drop = nn.Dropout(0.3)      # uses torch's global RNG every iteration
            self.fc2 = nn.Linear(16, 1)

        def forward(self, x, y, mode="tensor"):
            out = self.fc2(self.drop(torch.relu(self.fc1(x)))).squeeze(1)
            return {"loss": ((out - y) ** 2).mean()} if mode == "loss" else out

    class Data(torch.utils.data.Dataset):
        def __init__(self):
            g = torch.Generator().manual_seed(0)
            self.x, self.y = torch.randn(30, 4, generator=g), torch.randn(30, generator=g)

        def __len__(self):
            return 30

        def __getitem__(self, i):
            return self.x[i], self.y[i]

    class RecordLoss(Hook):
        """Append every iteration's exact loss; SIGKILL the process at iteration kill_at."""
        priority = "LOWEST"

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            with open(args["losses"], "a") as f:
                f.write(f"{runner.iter} {outputs['loss'].item().hex()}\\n")
            if runner.iter + 1 == args.get("kill_at"):
                os.kill(os.getpid(), signal.SIGKILL)

    if args["by_epoch"]:
        train_cfg = dict(by_epoch=True, max_epochs=4)          # 4 x 6 batches
    else:
        train_cfg = dict(by_epoch=False, max_iters=20)
    torch.manual_seed(0)  # the model is built here, before the Runner seeds anything
    runner = Runner(
        model=Net(), work_dir=args["work_dir"],
        train_dataloader=dict(dataset=Data(), batch_size=5, num_workers=args["workers"],
                              sampler=dict(type="DefaultSampler", shuffle=True),
                              collate_fn=dict(type="default_collate")),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.05, momentum=0.9),
                           accumulative_counts=args["acc"]),
        param_scheduler=dict(type="MultiStepLR", milestones=[2, 3], gamma=0.5, by_epoch=args["by_epoch"]),
        train_cfg=train_cfg,
        default_hooks=dict(logger=None,
                           checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=args["every"])),
        custom_hooks=[RecordLoss(), EMAHook(momentum=0.1)],
        randomness=dict(seed=5), resume=args["resume"])
    runner.train()
''')


def _run(tmp_path, name, **args):
    args.setdefault("resume", False)
    args["losses"] = str(tmp_path / f"{name}.txt")
    import json

    result = subprocess.run([sys.executable, "-c", _JOB, json.dumps(args)], capture_output=True,
                            text=True, timeout=240)
    return result, _losses(args["losses"])


def _losses(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [tuple(line.split()) for line in f if line.strip()]


# With accumulation, checkpoints every 3 iterations fall inside accumulation windows of 2: the
# gradients accumulated so far must survive the crash too.
@pytest.mark.parametrize("by_epoch,acc,workers,every", [
    (True, 1, 0, 4), (True, 2, 0, 3), (False, 1, 0, 4), (False, 2, 0, 3), (True, 1, 2, 4),
])
def test_crash_and_resume_reproduces_uninterrupted_losses(tmp_path, by_epoch, acc, workers, every):
    common = dict(by_epoch=by_epoch, acc=acc, workers=workers, every=every)
    ref_result, reference = _run(tmp_path, "reference", work_dir=str(tmp_path / "ref"), **common)
    assert ref_result.returncode == 0, ref_result.stderr[-3000:]
    total = len(reference)
    assert total == (24 if by_epoch else 20)

    # die somewhere after the first checkpoint, not right on one; with accumulation, after one
    # that was saved inside an accumulation window
    candidates = [i for i in range(every + 1, total)
                  if i % every != 0 and (acc == 1 or (i // every * every) % acc != 0)]
    kill_at = random.SystemRandom().choice(candidates)
    work_dir = str(tmp_path / "crash")
    crashed, first = _run(tmp_path, "crashed", work_dir=work_dir, kill_at=kill_at, **common)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-3000:]
    assert len(first) == kill_at

    resumed, second = _run(tmp_path, "resumed", work_dir=work_dir, resume=True, **common)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    start = int(second[0][0])
    assert start == (kill_at // every) * every, f"resumed at {start}, last checkpoint before {kill_at}"
    combined = first[:start] + second
    assert combined == reference, f"killed at iteration {kill_at}; resumed from {start}"

    # the final checkpoints agree bitwise too: weights, EMA weights and steps, optimizer state
    name = f"iter_{total}.pth"
    ref_ckpt = torch.load(tmp_path / "ref" / name, weights_only=True)
    new_ckpt = torch.load(os.path.join(work_dir, name), weights_only=True)
    for key in ("state_dict", "ema_state_dict"):
        assert ref_ckpt[key].keys() == new_ckpt[key].keys()
        assert all(torch.equal(ref_ckpt[key][k], new_ckpt[key][k]) for k in ref_ckpt[key]), key
    ref_state, new_state = ref_ckpt["optimizer"]["state"], new_ckpt["optimizer"]["state"]
    assert all(torch.equal(ref_state[i]["momentum_buffer"], new_state[i]["momentum_buffer"]) for i in ref_state)


def test_sigkill_inside_a_runner_save_keeps_previous_checkpoint_and_resumes(tmp_path):
    common = dict(by_epoch=False, acc=1, workers=0, every=4)
    _, reference = _run(tmp_path, "reference", work_dir=str(tmp_path / "ref"), **common)
    work_dir = tmp_path / "crash"
    crashed, first = _run(tmp_path, "crashed", work_dir=str(work_dir), kill_in_save=12, **common)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-3000:]
    assert len(first) == 11  # the 12th iteration's loss is recorded after (LOWEST) the save that died
    assert not (work_dir / "iter_12.pth").exists()
    assert [p for p in os.listdir(work_dir) if p.endswith(".tmp")], "the killed save left its temp file"
    assert (work_dir / "last_checkpoint").read_text() == str(work_dir / "iter_8.pth")
    assert torch.load(work_dir / "iter_8.pth", weights_only=True)["meta"]["iter"] == 8

    resumed, second = _run(tmp_path, "resumed", work_dir=str(work_dir), resume=True, **common)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Removed 1 partial checkpoint file(s) left by an interrupted save" in resumed.stdout
    assert not [p for p in os.listdir(work_dir) if p.endswith(".tmp")]
    assert first[:8] + second == reference
