"""collect_results helpers in one process: interleaving rank parts, trimming, moving to CPU."""

from collections import OrderedDict, namedtuple

import torch

from kiln.evaluator.collect import collect_results, interleave, to_cpu


def test_interleave_restores_sampler_order_and_drops_padding():
    # DistributedSampler-style sharding of 7 samples over 3 ranks, padded to 9 with 0 and 1.
    parts = [[0, 3, 6], [1, 4, 0], [2, 5, 1]]
    assert interleave(parts, 7) == list(range(7))


def test_interleave_uneven_parts_keeps_none_results():
    assert interleave([[None, 2], [1]], 5) == [None, 1, 2]


def test_single_process_collect_truncates():
    assert collect_results([1, 2, 3], 2) == [1, 2]


def test_to_cpu_recurses():
    Pair = namedtuple("Pair", "a b")
    obj = {"x": [torch.ones(1), (torch.zeros(1), 3)], "p": Pair(torch.ones(1), "s"),
           "o": OrderedDict(t=torch.ones(1))}
    out = to_cpu(obj)
    assert isinstance(out["p"], Pair) and isinstance(out["o"], OrderedDict)
    assert out["x"][1][1] == 3 and out["x"][0].device.type == "cpu"
