"""detect_anomalous_params names every trainable parameter outside the loss graph."""

import torch
from torch import nn

from kiln.model import detect_anomalous_params


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.used = nn.Linear(2, 2)
        self.unused = nn.Linear(2, 2)
        self.frozen = nn.Linear(2, 2).requires_grad_(False)


def test_names_unused_parameters_and_logs_them(capsys):
    net = TwoHeads()
    loss = (net.used(torch.ones(1, 2)) + net.frozen(torch.ones(1, 2))).sum()
    names = detect_anomalous_params(loss, net)
    assert names == ["unused.weight", "unused.bias"]
    out = capsys.readouterr().out
    assert "unused.weight with shape torch.Size([2, 2]) is not in the computational graph" in out
    assert "used.weight with shape" not in out.replace("unused.weight", "")


def test_all_used_gives_nothing_even_after_backward():
    net = nn.Sequential(*[nn.Linear(2, 2) for _ in range(50)])  # deep: no recursion
    loss = net(torch.ones(1, 2)).sum()
    loss.backward()
    assert detect_anomalous_params(loss, net) == []


def test_leaf_loss():
    net = nn.Linear(1, 1)
    assert detect_anomalous_params(net.weight, net) == ["bias"]
