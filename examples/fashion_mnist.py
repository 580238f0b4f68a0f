"""The seed's FashionMNIST example (model-guide.zh.md) with kiln's Runner.

Needs torchvision and the internet (FashionMNIST is downloaded to ``data/``):

    python examples/fashion_mnist.py [--epochs 5] [--work-dir ./work_dir]

The code is the seed's with ``mmengine`` replaced by ``kiln``. Validation runs with
``val_cfg=dict(fp16=True)`` (autocast; bfloat16 on CPU). torchvision is imported where the data
is built, so ``tests/test_examples.py`` runs this model, metric and runner on in-memory tensors.
"""

from __future__ import annotations

import argparse

from torch import nn
from torch.utils.data import DataLoader

from kiln import Runner
from kiln.evaluator import BaseMetric
from kiln.model import BaseModel


class NeuralNetwork(BaseModel):
    def __init__(self, data_preprocessor=None):
        super(NeuralNetwork, self).__init__(data_preprocessor)  # noqa: UP008 - the seed, verbatim
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28*28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )
        self.loss = nn.CrossEntropyLoss()

    def forward(self, img, label, mode='tensor'):
        x = self.flatten(img)
        pred = self.linear_relu_stack(x)
        loss = self.loss(pred, label)
        if mode == 'loss':
            return dict(loss=loss)
        else:
            return pred.argmax(1), loss.item()


class FashionMnistMetric(BaseMetric):
    def process(self, data, preds) -> None:
        self.results.append(((data[1] == preds[0].cpu()).sum(), preds[1], len(preds[0])))

    def compute_metrics(self, results):
        correct, loss, batch_size = zip(*results)
        test_loss, correct = sum(loss) / len(self.results), sum(correct) / sum(batch_size)
        return dict(Accuracy=correct, Avg_loss=test_loss)


def fashion_mnist_dataloaders(root='data', batch_size=64):
    from torchvision import datasets
    from torchvision.transforms import ToTensor

    training_data = datasets.FashionMNIST(root=root, train=True, download=True, transform=ToTensor())
    test_data = datasets.FashionMNIST(root=root, train=False, download=True, transform=ToTensor())
    train_dataloader = DataLoader(dataset=training_data, batch_size=batch_size)
    test_dataloader = DataLoader(dataset=test_data, batch_size=batch_size)
    return train_dataloader, test_dataloader


def build_runner(train_dataloader, test_dataloader, work_dir='./work_dir', max_epochs=5):
    return Runner(
        model=NeuralNetwork(),
        work_dir=work_dir,
        train_dataloader=train_dataloader,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=1e-3)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        val_cfg=dict(fp16=True),
        val_dataloader=test_dataloader,
        val_evaluator=dict(metrics=FashionMnistMetric()))


def main(argv=None):
    parser = argparse.ArgumentParser(description='The seed FashionMNIST example')
    parser.add_argument('--epochs', type=int, default=5)
    parser.add_argument('--work-dir', default='./work_dir')
    args = parser.parse_args(argv)
    train_dataloader, test_dataloader = fashion_mnist_dataloaders()
    runner = build_runner(train_dataloader, test_dataloader, args.work_dir, args.epochs)
    runner.train()


if __name__ == '__main__':
    main()
