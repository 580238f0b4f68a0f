"""Every dist helper is the identity (or the one-process answer) without a process group."""

import pytest
import torch

from kiln import dist


def test_rank_facts():
    assert dist.get_dist_info() == (0, 1)
    assert dist.get_rank() == 0 and dist.get_world_size() == 1
    assert dist.get_local_rank() == 0 and dist.get_local_size() == 1
    assert dist.is_main_process() and not dist.is_distributed()
    assert dist.get_backend() is None and dist.get_comm_device() == torch.device("cpu")
    dist.barrier()


def test_master_only_runs_on_rank_zero():
    calls = []

    @dist.master_only
    def f(x):
        calls.append(x)
        return x * 2

    assert f(3) == 6 and calls == [3] and f.__name__ == "f"


def test_collectives_are_identities():
    t = torch.tensor([1.0, 2.0])
    dist.all_reduce(t)
    dist.all_reduce(t, op="mean")
    dist.broadcast(t)
    assert t.tolist() == [1.0, 2.0]
    assert dist.all_gather(t)[0] is t and dist.gather(t)[0] is t
    objs = [{"a": 1}]
    dist.broadcast_object_list(objs)
    assert objs == [{"a": 1}]
    assert dist.all_gather_object("x") == ["x"] and dist.gather_object("x") == ["x"]
    assert dist.broadcast_object(5) == 5
    d = {"b": torch.ones(1)}
    dist.all_reduce_dict(d, op="mean")
    assert d["b"].item() == 1.0
    means = dist.all_reduce_mean([torch.ones(2, requires_grad=True)])
    assert not means[0].requires_grad


def test_bad_reduce_op_is_named():
    with pytest.raises(ValueError, match="reduce op should be one of .* but got 'average'"):
        dist.all_reduce(torch.ones(1), op="average")


def test_collect_results_truncates_and_checks_device():
    assert dist.collect_results([1, 2, 3], 2) == [1, 2]
    with pytest.raises(ValueError, match="'cpu' or 'gpu', but got 'npu'"):
        dist.collect_results([1], 1, device="npu")


def test_sync_random_seed_comes_from_torch_rng():
    torch.manual_seed(3)
    a = dist.sync_random_seed()
    torch.manual_seed(3)
    assert dist.sync_random_seed() == a and 0 <= a < 2**31


def test_local_group_is_required_only_when_asked_for():
    with pytest.raises(RuntimeError, match="init_local_group"):
        dist.get_local_group()


def test_get_data_device():
    assert dist.get_data_device([torch.ones(1), torch.zeros(1)]) == torch.device("cpu")
    assert dist.get_data_device({"a": torch.ones(1)}).type == "cpu"
    with pytest.raises(TypeError):
        dist.get_data_device(3)
