"""The seeds' "15 minutes to get started" tutorial: ResNet-50 on CIFAR-10 with kiln's Runner.

Needs torchvision and the internet (CIFAR-10 is downloaded to ``data/cifar10``):

    python examples/cifar10_resnet50.py [--epochs 5] [--work-dir ./work_dir]

The code is the tutorial's with ``mmengine`` replaced by ``kiln``. torchvision is imported where
it is used, so the tests can run the same model, metric and runner code with a small ResNet and
synthetic CIFAR-shaped data (``tests/test_examples.py``).
"""

from __future__ import annotations

import argparse

import torch.nn.functional as F
from torch.optim import SGD
from torch.utils.data import DataLoader

from kiln.evaluator import BaseMetric
from kiln.model import BaseModel
from kiln.runner import Runner


class MMResNet50(BaseModel):
    def __init__(self, resnet=None):
        super().__init__()
        if resnet is None:
            import torchvision

            resnet = torchvision.models.resnet50()
        self.resnet = resnet

    def forward(self, imgs, labels, mode):
        x = self.resnet(imgs)
        if mode == 'loss':
            return {'loss': F.cross_entropy(x, labels)}
        elif mode == 'predict':
            return x, labels


class Accuracy(BaseMetric):
    def process(self, data_batch, data_samples):
        score, gt = data_samples
        # Save the middle result of a batch to `self.results`
        self.results.append({
            'batch_size': len(gt),
            'correct': (score.argmax(dim=1) == gt).sum().cpu(),
        })

    def compute_metrics(self, results):
        total_correct = sum(item['correct'] for item in results)
        total_size = sum(item['batch_size'] for item in results)
        # Return the dict containing the eval results
        return dict(accuracy=100 * total_correct / total_size)


def cifar10_dataloaders(root: str = 'data/cifar10', batch_size: int = 32):
    import torchvision
    import torchvision.transforms as transforms

    norm_cfg = dict(mean=[0.491, 0.482, 0.447], std=[0.202, 0.199, 0.201])
    train_dataloader = DataLoader(batch_size=batch_size,
                                  shuffle=True,
                                  dataset=torchvision.datasets.CIFAR10(
                                      root,
                                      train=True,
                                      download=True,
                                      transform=transforms.Compose([
                                          transforms.RandomCrop(32, padding=4),
                                          transforms.RandomHorizontalFlip(),
                                          transforms.ToTensor(),
                                          transforms.Normalize(**norm_cfg)
                                      ])))

    val_dataloader = DataLoader(batch_size=batch_size,
                                shuffle=False,
                                dataset=torchvision.datasets.CIFAR10(
                                    root,
                                    train=False,
                                    download=True,
                                    transform=transforms.Compose([
                                        transforms.ToTensor(),
                                        transforms.Normalize(**norm_cfg)
                                    ])))
    return train_dataloader, val_dataloader


def build_runner(model, train_dataloader, val_dataloader, work_dir='./work_dir', max_epochs=5):
    return Runner(
        # The model used for training and validation. Needs to meet specific interface requirements
        model=model,
        # Working directory which saves training logs and weight files
        work_dir=work_dir,
        # Train dataloader needs to meet the PyTorch data loader protocol
        train_dataloader=train_dataloader,
        # Optimizer wrapper for optimization with additional features like AMP, gradient accumulation, etc
        optim_wrapper=dict(optimizer=dict(type=SGD, lr=0.001, momentum=0.9)),
        # Training configs for specifying training epochs, verification intervals, etc
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        # Validation dataloader also needs to meet the PyTorch data loader protocol
        val_dataloader=val_dataloader,
        # Validation configs for specifying additional parameters required for validation
        val_cfg=dict(),
        # Validation evaluator. The default one is used here
        val_evaluator=dict(type=Accuracy),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description='ResNet-50 on CIFAR-10 (the 15-minute tutorial)')
    parser.add_argument('--epochs', type=int, default=5)
    parser.add_argument('--work-dir', default='./work_dir')
    args = parser.parse_args(argv)
    train_dataloader, val_dataloader = cifar10_dataloaders()
    runner = build_runner(MMResNet50(), train_dataloader, val_dataloader, args.work_dir, args.epochs)
    runner.train()


if __name__ == '__main__':
    main()
