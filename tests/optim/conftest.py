"""Tiny models and data shared by the optim tests."""

import pytest
import torch
from torch import nn


class TinyNet(nn.Module):
    """Linear → BatchNorm-free MLP, deterministic and cheap."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


@pytest.fixture
def tiny_net() -> TinyNet:
    return TinyNet()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """10 samples: divisible by 2 and 5, not by 3 or 4 (partial accumulation windows)."""
    return torch.randn(10, 4), torch.randn(10, 2)
