"""The seeds' Runner examples, run through the same code with offline stand-ins.

``examples/cifar10_resnet50.py`` (the 15-minute tutorial) and ``examples/fashion_mnist.py`` need
torchvision and the internet; here the tutorial's ``MMResNet50``/``Accuracy``/Runner set-up runs
with a small ResNet defined below on synthetic CIFAR-shaped data, and the FashionMNIST model,
metric and Runner set-up run on in-memory tensors.
"""

import importlib.util
import re
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"kiln_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = (nn.Sequential() if stride == 1 and cin == cout else
                         nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A ResNet with two stages of one basic block each (instead of torchvision's resnet50)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.layers = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2))
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class SyntheticCIFAR(Dataset):
    """CIFAR-shaped (3x32x32, 10 classes) images: a per-class pattern plus noise."""

    def __init__(self, n, seed):
        generator = torch.Generator().manual_seed(seed)
        patterns = torch.randn(10, 3, 32, 32, generator=torch.Generator().manual_seed(123))
        self.labels = torch.randint(0, 10, (n,), generator=generator)
        self.images = patterns[self.labels] + 0.5 * torch.randn(n, 3, 32, 32, generator=generator)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], int(self.labels[index])


def test_cifar10_tutorial_flow_end_to_end(tmp_path, capsys):
    example = _load("cifar10_resnet50")
    train_dataloader = DataLoader(batch_size=32, shuffle=True, dataset=SyntheticCIFAR(128, seed=0))
    val_dataloader = DataLoader(batch_size=32, shuffle=False, dataset=SyntheticCIFAR(64, seed=1))
    model = example.MMResNet50(resnet=SmallResNet())
    before = [p.detach().clone() for p in model.parameters()]
    runner = example.build_runner(model, train_dataloader, val_dataloader, work_dir=str(tmp_path), max_epochs=3)
    runner.train()
    out = capsys.readouterr().out
    accuracies = [float(v) for v in re.findall(r"Epoch\(val\) \[\d\]\[2/2\]    accuracy: ([\d.]+)", out)]
    assert len(accuracies) == 3 and all(0 <= a <= 100 for a in accuracies)
    assert len(re.findall(r"Epoch\(train\)\s+\[\d\]\[4/4\]  lr: 1.0000e-03", out)) == 3
    losses = runner.message_hub.get_scalar("train/loss").data[0]
    assert len(losses) == 12 and losses[-4:].mean() < losses[:4].mean()  # it learns the patterns
    assert any(not torch.equal(a, b.cpu()) for a, b in zip(before, runner.model.parameters()))
    assert (tmp_path / "epoch_3.pth").is_file()


def test_fashion_mnist_example_on_in_memory_tensors(tmp_path, capsys):
    example = _load("fashion_mnist")
    generator = torch.Generator().manual_seed(0)
    patterns = torch.rand(10, 1, 28, 28, generator=generator)

    def tensors(n):
        labels = torch.randint(0, 10, (n,), generator=generator)
        return TensorDataset((patterns[labels] + 0.1 * torch.rand(n, 1, 28, 28, generator=generator)).clamp(0, 1),
                             labels)

    train_dataloader = DataLoader(dataset=tensors(256), batch_size=64)
    test_dataloader = DataLoader(dataset=tensors(128), batch_size=64)
    runner = example.build_runner(train_dataloader, test_dataloader, work_dir=str(tmp_path), max_epochs=2)
    assert runner.val_loop.fp16 is True
    runner.train()
    out = capsys.readouterr().out
    lines = re.findall(r"Epoch\(val\) \[(\d)\]\[2/2\]    Accuracy: ([\d.]+)  Avg_loss: ([\d.]+)", out)
    assert [int(e) for e, _, _ in lines] == [1, 2]
    for _, accuracy, loss in lines:
        assert 0.0 <= float(accuracy) <= 1.0 and float(loss) > 0


def test_examples_need_torchvision_only_for_data():
    pytest.importorskip("torch")
    for name in ("cifar10_resnet50", "fashion_mnist"):
        _load(name)  # importing the example must not import torchvision
