"""convert/revert SyncBN: every BN swapped, state carried over exactly, bad implementation named."""

import pytest
import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.model import convert_sync_batchnorm, revert_sync_batchnorm


def _net():
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4),
                        nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, affine=False)))
    net.train()
    net[1](torch.randn(8, 4, 2, 2))  # non-trivial running stats
    net[1](torch.randn(8, 4, 2, 2))
    with torch.no_grad():
        net[1].weight.uniform_()
        net[1].bias.uniform_()
    return net


def test_round_trip_keeps_state_exactly():
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    weight = net[1].weight
    synced = convert_sync_batchnorm(net)
    assert isinstance(synced[1], nn.SyncBatchNorm) and isinstance(synced[2][1], nn.SyncBatchNorm)
    assert synced[1].weight is weight  # an optimizer built before the swap still owns it
    reverted = revert_sync_batchnorm(synced)
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in reverted.modules())
    after = reverted.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key
    assert after["1.num_batches_tracked"].item() == 2
    assert reverted[1].training


def test_reverted_bn_computes_like_the_original():
    net = _net().eval()
    x = torch.randn(2, 3, 2, 2)
    expected = net[1](net[0](x))
    reverted = revert_sync_batchnorm(convert_sync_batchnorm(net))
    assert torch.allclose(reverted[1](reverted[0](x)), expected)
    reverted[1](torch.randn(2, 4, 3))  # _BatchNormXd accepts any rank


def test_root_bn_is_replaced_and_returned():
    bn = nn.BatchNorm1d(3)
    assert isinstance(convert_sync_batchnorm(bn), nn.SyncBatchNorm)
    assert not isinstance(revert_sync_batchnorm(nn.SyncBatchNorm(3)), nn.SyncBatchNorm)


def test_unknown_implementation():
    with pytest.raises(ConfigError, match="sync_bn: expected 'torch' or 'mmcv', but got 'apex'"):
        convert_sync_batchnorm(nn.BatchNorm1d(2), implementation="apex")
