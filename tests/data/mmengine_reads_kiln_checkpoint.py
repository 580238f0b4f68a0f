"""By hand: does the real MMEngine 0.10.7 load a checkpoint kiln wrote (load_from and resume)?

Two steps, two venvs (kiln's tests never need mmengine)::

    PYTHONPATH=$PWD .venv/bin/python tests/data/mmengine_reads_kiln_checkpoint.py write /tmp/k2m
    /work/venvs/mmengine/bin/python tests/data/mmengine_reads_kiln_checkpoint.py read /tmp/k2m

``write`` trains the make_mmengine_checkpoint.py model for 2 epochs with kiln and saves
``epoch_2.pth``; ``read`` builds the same run with MMEngine, loads the weights (``load_from``),
then resumes and trains a 3rd epoch, and prints what it restored.
"""

import os
import os.path as osp
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def collate(batch):
    xs, ys = zip(*batch)
    return dict(x=torch.stack(xs), y=torch.stack(ys))


def build(engine, work_dir, max_epochs, **kwargs):
    BaseModel, Runner = engine.model.BaseModel, engine.runner.Runner

    class TinyNet(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 3)
            self.fc2 = nn.Linear(3, 2)

        def forward(self, x, y, mode='tensor'):
            out = self.fc2(torch.relu(self.fc1(x)))
            if mode == 'loss':
                return {'loss': nn.functional.mse_loss(out, y)}
            return out

    torch.manual_seed(0)
    data = TensorDataset(torch.randn(16, 4), torch.randn(16, 2))
    return Runner(model=TinyNet(), work_dir=work_dir,
                  train_dataloader=DataLoader(data, batch_size=4, shuffle=False, collate_fn=collate),
                  optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
                  param_scheduler=dict(type='MultiStepLR', milestones=[1], gamma=0.5, by_epoch=True),
                  train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
                  default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                                     logger=dict(type='LoggerHook', interval=1)),
                  randomness=dict(seed=0), **kwargs)


def write(out_dir):
    import kiln.model
    import kiln.runner

    build(kiln, out_dir, max_epochs=2).train()
    print('kiln wrote', osp.join(out_dir, 'epoch_2.pth'))


def read(out_dir):
    import mmengine.model
    import mmengine.runner

    path = osp.join(out_dir, 'epoch_2.pth')
    runner = build(mmengine, osp.join(out_dir, 'mm_load'), max_epochs=2, load_from=path)
    runner.load_or_resume()
    saved = torch.load(path, weights_only=True)
    same = all(torch.equal(v, saved['state_dict'][k]) for k, v in runner.model.state_dict().items())
    print('load_from: weights equal to the file:', same)
    runner = build(mmengine, osp.join(out_dir, 'mm_resume'), max_epochs=3, load_from=path, resume=True)
    runner.train()
    print('resume: trained to epoch', runner.epoch, 'iter', runner.iter,
          'lr', runner.optim_wrapper.get_lr(),
          'loss history length', len(runner.message_hub.get_scalar('train/loss').data[0]))


if __name__ == '__main__':
    mode, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    write(out) if mode == 'write' else read(out)
