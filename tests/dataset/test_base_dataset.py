"""BaseDataset: annotation loading, metainfo merge, prefixes, lazy init, indices/subsets,
serialisation, filtering and the pipeline's refetch."""

import numpy as np
import pytest

from kiln.dataset import BaseDataset
from kiln.errors import ConfigError
from kiln.fileio import dump
from kiln.registry import DATASETS


def write_ann(path, n=6, metainfo=None):
    dump({"metainfo": metainfo or {"classes": ["cat", "dog"], "version": "file"},
          "data_list": [{"img_path": f"{i}.png", "label": i % 2} for i in range(n)]}, path)
    return path


class Toy(BaseDataset):
    METAINFO = {"classes": ["cat", "dog"], "palette": [(0, 0, 0)]}


@pytest.fixture
def ann(tmp_path):
    return write_ann(tmp_path / "ann.json")


def test_loads_annotations_and_joins_prefixes(ann, tmp_path):
    ds = Toy(ann_file="ann.json", data_root=str(tmp_path), data_prefix=dict(img_path="imgs"))
    assert len(ds) == 6
    info = ds.get_data_info(2)
    assert info == {"img_path": str(tmp_path / "imgs" / "2.png"), "label": 0, "sample_idx": 2}
    assert ds[-1]["sample_idx"] == 5                       # negative index normalised
    assert ds[0] == ds.get_data_info(0)                    # empty pipeline: the info itself


def test_metainfo_class_then_file_then_user(ann, tmp_path):
    (tmp_path / "names.txt").write_text("a\nb\n")
    ds = Toy(ann_file=str(ann), metainfo=dict(palette=[(1, 1, 1)], names=str(tmp_path / "names.txt"),
                                              tag="not-a-file"))
    meta = ds.metainfo
    assert meta["classes"] == ["cat", "dog"]               # class METAINFO kept over the file's
    assert meta["version"] == "file"                       # the file fills missing keys only
    assert meta["palette"] == [(1, 1, 1)]                  # user overrides class
    assert meta["names"] == ["a", "b"] and meta["tag"] == "not-a-file"
    meta["classes"].append("x")
    assert ds.metainfo["classes"] == ["cat", "dog"]        # a deep copy
    assert Toy.METAINFO == {"classes": ["cat", "dog"], "palette": [(0, 0, 0)]}
    with pytest.raises(TypeError, match="metainfo should be a Mapping"):
        Toy(ann_file=str(ann), metainfo=["classes"])


def test_lazy_init_defers_loading(ann, capsys):
    ds = Toy(ann_file=str(ann), lazy_init=True)
    assert not ds._fully_initialized and ds.data_list == [] and ds.data_bytes is None
    assert len(ds) == 6                                     # first use initialises (with a warning)
    assert "called before full_init()" in capsys.readouterr().out
    ds.full_init()                                          # idempotent
    assert len(ds) == 6
    missing = Toy(ann_file="does/not/exist.json", lazy_init=True)    # nothing read yet
    with pytest.raises(FileNotFoundError):
        missing.full_init()


@pytest.mark.parametrize("serialize", [True, False])
def test_serialization_and_subsets(ann, serialize):
    ds = Toy(ann_file=str(ann), serialize_data=serialize)
    if serialize:
        assert ds.data_list == [] and ds.data_bytes.dtype == np.uint8 and len(ds.data_address) == 6
    labels = lambda d: [d[i]["img_path"] for i in range(len(d))]  # noqa: E731
    assert labels(ds.get_subset(2)) == ["0.png", "1.png"]
    assert labels(ds.get_subset(-2)) == ["4.png", "5.png"]
    assert labels(ds.get_subset([5, 0, -1])) == ["5.png", "0.png", "5.png"]
    assert len(ds.get_subset(0)) == 0 and len(ds.get_subset(100)) == 6
    assert len(ds) == 6                                      # get_subset leaves the original alone
    ds.get_subset_([1, 3])
    assert labels(ds) == ["1.png", "3.png"] and ds.get_data_info(1)["sample_idx"] == 1
    with pytest.raises(TypeError, match="indices should be an int or a sequence of int"):
        ds.get_subset("1")
    with pytest.raises(IndexError, match="out of range"):
        ds.get_subset([7])


def test_indices_argument_applies_after_loading(ann):
    ds = Toy(ann_file=str(ann), indices=[4, 1])
    assert [ds[i]["img_path"] for i in range(2)] == ["4.png", "1.png"]
    assert len(Toy(ann_file=str(ann), indices=3)) == 3


def test_filter_data_and_parse_data_info_overrides(ann):
    class OnlyDogs(Toy):
        def filter_data(self):
            return [d for d in self.data_list if d["label"] == self.filter_cfg["keep"]]

    class Doubled(Toy):
        def parse_data_info(self, raw):
            return [dict(raw, copy=0), dict(raw, copy=1)]

    assert len(OnlyDogs(ann_file=str(ann), filter_cfg=dict(keep=1))) == 3
    doubled = Doubled(ann_file=str(ann))
    assert len(doubled) == 12 and doubled[1]["copy"] == 1

    class Broken(Toy):
        def parse_data_info(self, raw):
            return "nope"

    with pytest.raises(TypeError, match="dict or a list of dicts"):
        Broken(ann_file=str(ann))


def test_bad_annotation_files(tmp_path):
    dump([1, 2], tmp_path / "list.json")
    with pytest.raises(TypeError, match="should be a dict"):
        Toy(ann_file=str(tmp_path / "list.json"))
    dump({"data_list": []}, tmp_path / "nometa.json")
    with pytest.raises(ValueError, match="data_list and metainfo"):
        Toy(ann_file=str(tmp_path / "nometa.json"))
    dump({"metainfo": {}, "data_list": [{"file": "x"}]}, tmp_path / "nokey.json")
    with pytest.raises(KeyError, match="data_prefix names 'img_path'"):
        Toy(ann_file=str(tmp_path / "nokey.json"))
    with pytest.raises(ConfigError, match="ann_file"):
        Toy()
    with pytest.raises(TypeError, match=r"data_prefix\['img_path'\] should be a string"):
        Toy(ann_file="x.json", data_prefix=dict(img_path=1), lazy_init=True)


def test_empty_annotation_list_serialises(tmp_path):
    ds = Toy(ann_file=str(write_ann(tmp_path / "empty.json", n=0)))
    assert len(ds) == 0


def test_pipeline_and_refetch(ann):
    drop_even = lambda d: None if d["sample_idx"] % 2 == 0 else d  # noqa: E731
    ds = Toy(ann_file=str(ann), pipeline=[drop_even, lambda d: dict(d, seen=True)])
    np.random.seed(0)
    for i in range(6):
        got = ds[i]
        assert got["sample_idx"] % 2 == 1 and got["seen"]           # dropped ones are refetched
    never = Toy(ann_file=str(ann), pipeline=[lambda d: None], max_refetch=3)
    with pytest.raises(RuntimeError, match="after 3 refetches"):
        never[0]
    test = Toy(ann_file=str(ann), pipeline=[drop_even], test_mode=True)
    assert test[1]["sample_idx"] == 1
    with pytest.raises(RuntimeError, match="test pipeline returned None for sample 0"):
        test[0]


def test_built_from_config_with_registered_transforms(ann):
    ds = DATASETS.build(dict(type="BaseDataset", ann_file=str(ann),
                             pipeline=[dict(type="Compose", transforms=[lambda d: d["label"]])]))
    assert [ds[i] for i in range(4)] == [0, 1, 0, 1]


def test_get_cat_ids_must_be_implemented(ann):
    with pytest.raises(NotImplementedError, match="get_cat_ids"):
        Toy(ann_file=str(ann)).get_cat_ids(0)


def test_uninitialised_access_warns_through_the_kiln_logger(ann, capsys):
    Toy(ann_file=str(ann), lazy_init=True).get_data_info(0)
    assert "get_data_info called before full_init()" in capsys.readouterr().out


def test_yaml_and_pickle_annotations(tmp_path):
    for name in ["ann.yaml", "ann.pkl"]:
        ds = Toy(ann_file=str(write_ann(tmp_path / name, n=2)))
        assert ds[1]["img_path"] == "1.png" and ds.metainfo["version"] == "file"
