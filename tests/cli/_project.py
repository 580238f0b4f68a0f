"""A small OpenMMLab-style project written by the CLI tests: a package registering its model,
dataset and metric, a ``configs/`` tree with ``_base_`` files, and ``tools/train.py`` /
``tools/test.py`` in the standard shape (argparse + DictAction + Config.fromfile + merge_from_dict
+ Runner.from_cfg), importing ``mmengine`` as real projects do."""

import textwrap
from pathlib import Path

FILES = {
    "h7cli/__init__.py": """\
        import torch
        import torch.nn.functional as F
        from torch import nn
        from torch.utils.data import Dataset

        from mmengine.evaluator import BaseMetric
        from mmengine.model import BaseModel
        from mmengine.registry import DATASETS, METRICS, MODELS


        @MODELS.register_module()
        class H7CliNet(BaseModel):
            def __init__(self, width=4):
                super().__init__()
                self.fc = nn.Linear(width, 2)

            def forward(self, x, y, mode='tensor'):
                out = self.fc(x)
                if mode == 'loss':
                    return {'loss': F.cross_entropy(out, y)}
                return out, y


        @DATASETS.register_module()
        class H7CliData(Dataset):
            def __init__(self, n=16):
                g = torch.Generator().manual_seed(0)
                self.x = torch.randn(n, 4, generator=g)
                self.y = (self.x[:, 0] > 0).long()

            def __len__(self):
                return len(self.y)

            def __getitem__(self, i):
                return self.x[i], self.y[i]


        @METRICS.register_module()
        class H7CliAcc(BaseMetric):
            def process(self, data_batch, data_samples):
                out, y = data_samples
                self.results.append(((out.argmax(1) == y).sum().item(), len(y)))

            def compute_metrics(self, results):
                return dict(acc=100 * sum(c for c, _ in results) / sum(n for _, n in results))
        """,
    "configs/_base_/default_runtime.py": """\
        default_scope = 'mmengine'
        default_hooks = dict(logger=dict(type='LoggerHook', interval=2),
                             checkpoint=dict(type='CheckpointHook', interval=1))
        env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
        randomness = dict(seed=0)
        log_level = 'INFO'
        """,
    "configs/_base_/schedule.yaml": """\
        optim_wrapper:
          optimizer: {type: SGD, lr: 0.1, momentum: 0.9}
        train_cfg: {by_epoch: true, max_epochs: 3, val_interval: 1}
        val_cfg: {}
        test_cfg: {}
        """,
    "configs/x.py": """\
        _base_ = ['./_base_/default_runtime.py', './_base_/schedule.yaml']
        custom_imports = dict(imports=['h7cli'], allow_failed_imports=False)
        model = dict(type='H7CliNet', width=4)
        train_dataloader = dict(batch_size=4, dataset=dict(type='H7CliData', n=16),
                                sampler=dict(type='DefaultSampler', shuffle=True),
                                collate_fn=dict(type='default_collate'))
        val_dataloader = dict(batch_size=4, dataset=dict(type='H7CliData', n=8),
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate'))
        test_dataloader = val_dataloader
        val_evaluator = dict(type='H7CliAcc')
        test_evaluator = val_evaluator
        """,
    "tools/train.py": """\
        import argparse
        import os
        import os.path as osp

        from mmengine.config import Config, DictAction
        from mmengine.runner import Runner


        def parse_args():
            parser = argparse.ArgumentParser(description='Train a model')
            parser.add_argument('config', help='train config file path')
            parser.add_argument('--work-dir', help='the dir to save logs and models')
            parser.add_argument('--resume', action='store_true', help='resume from the latest checkpoint')
            parser.add_argument(
                '--cfg-options', nargs='+', action=DictAction,
                help='override some settings in the used config, the key-value pair '
                'in xxx=yyy format will be merged into config file.')
            parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                                default='none', help='job launcher')
            parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
            args = parser.parse_args()
            if 'LOCAL_RANK' not in os.environ:
                os.environ['LOCAL_RANK'] = str(args.local_rank)
            return args


        def main():
            args = parse_args()
            cfg = Config.fromfile(args.config)
            cfg.launcher = args.launcher
            if args.cfg_options is not None:
                cfg.merge_from_dict(args.cfg_options)
            if args.work_dir is not None:
                cfg.work_dir = args.work_dir
            elif cfg.get('work_dir', None) is None:
                cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
            cfg.resume = args.resume
            runner = Runner.from_cfg(cfg)
            runner.train()


        if __name__ == '__main__':
            main()
        """,
}


def write_project(root: Path) -> Path:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root
