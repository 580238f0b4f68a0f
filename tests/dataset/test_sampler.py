import itertools

import pytest

import kiln.dataset.sampler as sampler_mod
from kiln.dataset.sampler import DefaultSampler, InfiniteSampler
from kiln.registry import DATA_SAMPLERS


def test_registered():
    assert DATA_SAMPLERS.get("DefaultSampler") is DefaultSampler
    assert DATA_SAMPLERS.get("InfiniteSampler") is InfiniteSampler


def test_order_depends_only_on_seed_and_epoch():
    a, b = DefaultSampler(range(50), seed=3), DefaultSampler(range(50), seed=3)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b)  # another object (another process) reproduces it
    first = list(a)
    a.set_epoch(3)
    assert list(a) != first and sorted(list(a)) == list(range(50))
    assert list(DefaultSampler(range(50), seed=4)) != list(DefaultSampler(range(50), seed=3))


def test_skip_is_one_shot_and_continues_the_same_order():
    s = DefaultSampler(range(20), seed=1)
    s.set_epoch(1)
    full = list(s)
    s.skip(7)
    assert list(s) == full[7:]
    assert list(s) == full


def test_state_dict_carries_the_seed_not_the_position():
    s = DefaultSampler(range(10), seed=None)  # a random seed: only the checkpoint can restore it
    s.set_epoch(4)
    other = DefaultSampler(range(10), seed=None)
    other.load_state_dict(s.state_dict())
    other.set_epoch(4)
    assert list(other) == list(s) and s.state_dict() == dict(seed=s.seed, shuffle=True)


def test_negative_position_rejected():
    with pytest.raises(ValueError, match="position must be >= 0"):
        DefaultSampler(range(3)).skip(-1)


def test_distributed_shards_are_disjoint_and_padded(monkeypatch):
    monkeypatch.setattr(sampler_mod, "get_world_size", lambda: 3)
    shards = []
    for rank in range(3):
        monkeypatch.setattr(sampler_mod, "get_rank", lambda r=rank: r)
        s = DefaultSampler(range(10), seed=0)
        assert len(s) == 4
        shards.append(list(s))
    flat = [i for shard in shards for i in shard]
    assert len(flat) == 12 and set(flat) == set(range(10))  # padded by repeating the order
    interleaved = [x for group in zip(*shards) for x in group]
    assert sorted(interleaved[:10]) == list(range(10))  # rank::world_size sharding


def test_no_round_up_uneven_shards(monkeypatch):
    monkeypatch.setattr(sampler_mod, "get_world_size", lambda: 3)
    monkeypatch.setattr(sampler_mod, "get_rank", lambda: 2)
    s = DefaultSampler(range(10), shuffle=False, round_up=False)
    assert list(s) == [2, 5, 8] and len(s) == 3


def test_infinite_sampler_passes_and_skip():
    s = InfiniteSampler(range(5), seed=2)
    stream = list(itertools.islice(iter(s), 17))
    assert sorted(stream[:5]) == list(range(5)) and sorted(stream[5:10]) == list(range(5))
    assert stream[:5] != stream[5:10]  # each pass is reshuffled
    s.skip(7)
    assert list(itertools.islice(iter(s), 10)) == stream[7:17]


def test_unshuffled_default_order():
    assert list(DefaultSampler(range(5), shuffle=False)) == [0, 1, 2, 3, 4]
