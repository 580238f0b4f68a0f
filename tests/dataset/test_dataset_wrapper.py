"""ConcatDataset, RepeatDataset, ClassBalancedDataset: lengths, index mapping, metainfo, lazy init."""

import math

import pytest

from kiln.dataset import BaseDataset, ClassBalancedDataset, ConcatDataset, RepeatDataset
from kiln.fileio import dump
from kiln.registry import DATASETS


class Cats(BaseDataset):
    METAINFO = {"classes": ["a", "b", "c"]}

    def get_cat_ids(self, idx):
        return self.get_data_info(idx)["cats"]


def ann(path, cats, metainfo=None, tag="x"):
    dump({"metainfo": metainfo or {}, "data_list": [
        {"img_path": f"{tag}{i}", "cats": c} for i, c in enumerate(cats)]}, path)
    return str(path)


@pytest.fixture
def two(tmp_path):
    first = Cats(ann_file=ann(tmp_path / "a.json", [[0]] * 3, tag="a"))
    second = Cats(ann_file=ann(tmp_path / "b.json", [[1]] * 2, tag="b"))
    return first, second


def paths(ds):
    return [ds[i]["img_path"] for i in range(len(ds))]


def test_concat_lengths_and_indexing(two, tmp_path):
    concat = ConcatDataset([two[0], two[1]])
    assert len(concat) == 5 and paths(concat) == ["a0", "a1", "a2", "b0", "b1"]
    assert concat[-1]["img_path"] == "b1" and concat.get_data_info(3)["sample_idx"] == 0
    assert concat.get_cat_ids(4) == [1] and concat.metainfo == {"classes": ["a", "b", "c"]}
    with pytest.raises(IndexError, match="out of range"):
        concat[5]
    with pytest.raises(IndexError, match="out of range"):
        concat[-6]


def test_concat_builds_configs_and_checks_metainfo(two, tmp_path):
    cfg = dict(type=Cats, ann_file=ann(tmp_path / "c.json", [[2]], tag="c"))
    assert paths(ConcatDataset([two[0], cfg])) == ["a0", "a1", "a2", "c0"]
    other = Cats(ann_file=ann(tmp_path / "d.json", [[0]]), metainfo=dict(classes=["z"]))
    with pytest.raises(ValueError, match=r"metainfo\['classes'\] of dataset 1 .* differs"):
        ConcatDataset([two[0], other])
    assert len(ConcatDataset([two[0], other], ignore_keys="classes")) == 4
    extra = Cats(ann_file=ann(tmp_path / "e.json", [[0]]), metainfo=dict(more=1))
    with pytest.raises(ValueError, match="'more' is missing from dataset 0"):
        ConcatDataset([two[0], extra])
    typed = Cats(ann_file=ann(tmp_path / "f.json", [[0]]), metainfo=dict(classes=("a", "b", "c")))
    with pytest.raises(TypeError, match="is a tuple, but dataset 0's is a list"):
        ConcatDataset([two[0], typed])
    with pytest.raises(TypeError, match=r"datasets\[1\]: expected a BaseDataset"):
        ConcatDataset([two[0], [1, 2]])
    with pytest.raises(TypeError, match="ignore_keys"):
        ConcatDataset([two[0]], ignore_keys=1)


def test_repeat(two):
    rep = RepeatDataset(two[1], times=3)
    assert len(rep) == 6 and paths(rep) == ["b0", "b1"] * 3
    assert rep[-1]["img_path"] == "b1" and rep.metainfo == two[1].metainfo
    with pytest.raises(ValueError, match="positive int"):
        RepeatDataset(two[1], times=0)


def test_class_balanced_repeat_factors(tmp_path):
    # category 0 in every image, 1 in half, 2 in one of four
    cats = [[0], [0, 1], [0, 1, 2], [0]]
    ds = Cats(ann_file=ann(tmp_path / "cb.json", cats))
    balanced = ClassBalancedDataset(ds, oversample_thr=0.5)
    factors = [1.0, 1.0, math.sqrt(0.5 / 0.25), 1.0]         # r(0)=1, r(1)=1, r(2)=sqrt(2)
    expected = [i for i, f in enumerate(factors) for _ in range(math.ceil(f))]
    assert balanced.repeat_indices == expected == [0, 1, 2, 2, 3]
    assert len(balanced) == 5 and [balanced[i]["sample_idx"] for i in range(5)] == expected
    no_cats = Cats(ann_file=ann(tmp_path / "none.json", [[], [1]]))
    # an image without categories keeps factor 1; f(1) = 1/2 -> r(1) = sqrt(2) -> twice
    assert ClassBalancedDataset(no_cats, oversample_thr=1.0).repeat_indices == [0, 1, 1]


def test_lazy_init_wrappers(tmp_path, capsys):
    cfg = dict(type=Cats, ann_file=ann(tmp_path / "l.json", [[0]] * 2), lazy_init=True)
    for wrapper in (ConcatDataset([cfg], lazy_init=True), RepeatDataset(cfg, 2, lazy_init=True),
                    ClassBalancedDataset(cfg, 0.1, lazy_init=True)):
        assert not wrapper._fully_initialized
        inner = wrapper.datasets[0] if isinstance(wrapper, ConcatDataset) else wrapper.dataset
        assert not inner._fully_initialized                  # nothing loaded yet
        wrapper.full_init()
        assert inner._fully_initialized and len(wrapper) in (2, 4)
    lazy = RepeatDataset(cfg, 2, lazy_init=True)
    assert len(lazy) == 4 and "called before full_init()" in capsys.readouterr().out


def test_lazy_datasets_metainfo_from_file_is_checked_after_init(tmp_path):
    a = dict(type=BaseDataset, ann_file=ann(tmp_path / "m1.json", [[0]], metainfo={"k": 1}), lazy_init=True)
    b = dict(type=BaseDataset, ann_file=ann(tmp_path / "m2.json", [[0]], metainfo={"k": 2}), lazy_init=True)
    concat = ConcatDataset([a, b], lazy_init=True)
    with pytest.raises(ValueError, match=r"metainfo\['k'\] of dataset 1 \(2\) differs"):
        concat.full_init()


def test_nesting_and_registry(two):
    nested = RepeatDataset(ConcatDataset([two[0], two[1]]), times=2)
    assert len(nested) == 10 and nested[7]["img_path"] == "a2"
    built = DATASETS.build(dict(type="RepeatDataset", times=2, dataset=dict(
        type="ConcatDataset", datasets=[two[0], two[1]])))
    assert len(built) == 10


@pytest.mark.parametrize("make", [
    lambda d: ConcatDataset([d]), lambda d: RepeatDataset(d, 2), lambda d: ClassBalancedDataset(d, 0.1)])
def test_wrappers_refuse_subsets(two, make):
    wrapper = make(two[0])
    with pytest.raises(NotImplementedError, match="take the subset of the wrapped dataset first"):
        wrapper.get_subset(1)
    with pytest.raises(NotImplementedError):
        wrapper.get_subset_(1)
