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


def build(engine, work_dir, max_epochs, **kwargs):
    """make_mmengine_checkpoint.py's run, on ``engine`` (the kiln or the mmengine package)."""
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    from make_mmengine_checkpoint import make_runner

    return make_runner(work_dir, max_epochs, engine=engine, **kwargs)


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
