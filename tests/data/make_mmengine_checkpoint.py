"""Make ``mmengine_0.10.7_tiny.pth``: a checkpoint written by the REAL MMEngine 0.10.7 Runner.

kiln's tests load this file (tests/checkpoint/test_mmengine_fixture.py) through ``load_from``,
``resume`` and ``Pretrained``; they never import mmengine. Regenerate it in a separate venv::

    python3 -m venv /work/venvs/mmengine
    /work/venvs/mmengine/bin/pip install torch==2.13.0      # torch first, the CPU wheel
    /work/venvs/mmengine/bin/pip install mmengine==0.10.7
    /work/venvs/mmengine/bin/python tests/data/make_mmengine_checkpoint.py

The run: a 4 -> 3 -> 2 MLP (a few hundred bytes of weights), 2 epochs of 4 iterations, SGD with
momentum, a MultiStepLR scheduler, CheckpointHook every epoch, LoggerHook every iteration (so the
message hub holds HistoryBuffers of loss/lr/time). Then MMEngine itself resumes from that file for
a 3rd epoch; the losses of that epoch go to ``mmengine_0.10.7_tiny_resume.json``, so kiln's test can
check that kiln resuming from MMEngine's checkpoint continues as MMEngine does.
"""

import importlib
import json
import os
import os.path as osp
import shutil
import sys
import tempfile

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def tiny_net(base_model):
    class TinyNet(base_model):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 3)
            self.fc2 = nn.Linear(3, 2)

        def forward(self, x, y, mode='tensor'):
            out = self.fc2(torch.relu(self.fc1(x)))
            if mode == 'loss':
                return {'loss': nn.functional.mse_loss(out, y)}
            return out

    return TinyNet()


def collate(batch):
    xs, ys = zip(*batch)
    return dict(x=torch.stack(xs), y=torch.stack(ys))


def loss_recorder(engine):
    """A hook of ``engine`` that records the training losses in ``.losses``."""
    class RecordLoss(importlib.import_module(f'{engine.__name__}.hooks').Hook):
        def __init__(self):
            self.losses = []

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.losses.append(float(outputs['loss']))

    return RecordLoss()


def make_runner(work_dir, max_epochs, engine=None, **kwargs):
    """The run on ``engine`` (the ``mmengine`` or ``kiln`` package; default mmengine)."""
    if engine is None:
        import mmengine as engine
    importlib.import_module(f'{engine.__name__}.model')
    importlib.import_module(f'{engine.__name__}.runner')
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(16, 4), torch.randn(16, 2))
    return engine.runner.Runner(
        model=tiny_net(engine.model.BaseModel), work_dir=work_dir,
        train_dataloader=DataLoader(data, batch_size=4, shuffle=False, collate_fn=collate),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1], gamma=0.5, by_epoch=True),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), **kwargs)


def main(out_path):
    work_dir = tempfile.mkdtemp()
    try:
        make_runner(work_dir, max_epochs=2).train()
        shutil.copy(osp.join(work_dir, 'epoch_2.pth'), out_path)
        # MMEngine 0.10.7 calls torch.load without weights_only, which torch >= 2.6 defaults to
        # True: it cannot read its own checkpoints back. This file is ours, so opt out here.
        os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
        import mmengine
        recorder = loss_recorder(mmengine)
        make_runner(tempfile.mkdtemp(dir=work_dir), max_epochs=3, load_from=out_path, resume=True,
                    custom_hooks=[recorder]).train()
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    with open(out_path.replace('.pth', '_resume.json'), 'w') as f:
        json.dump({'epoch_3_losses': recorder.losses}, f, indent=1)
    print('MMEngine resumed epoch 3 losses', recorder.losses)
    ckpt = torch.load(out_path, weights_only=False)
    print('size', os.path.getsize(out_path), 'bytes; keys', sorted(ckpt))
    print('meta epoch/iter', ckpt['meta']['epoch'], ckpt['meta']['iter'])
    print('fc2.bias', ckpt['state_dict']['fc2.bias'].tolist())
    print('lr history', ckpt['message_hub']['log_scalars']['train/lr'].data[0].tolist())
    print('loss history', ckpt['message_hub']['log_scalars']['train/loss'].data[0].tolist())
    print('scheduler', ckpt['param_schedulers'])


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else osp.join(osp.dirname(osp.abspath(__file__)),
                                                        'mmengine_0.10.7_tiny.pth'))
