"""InstanceData: one length for every data field, indexing by int/slice/list/tensor, cat."""

import numpy as np
import pytest
import torch

from kiln.structures import BaseDataElement, InstanceData


class Boxes:
    """A custom per-instance type with ``__getitem__`` and ``cat``, like mmdet's boxes."""

    def __init__(self, rows):
        self.rows = list(rows)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, item):
        return Boxes(self.rows[item])

    @classmethod
    def cat(cls, parts):
        return cls([r for p in parts for r in p.rows])


def make():
    inst = InstanceData(metainfo=dict(img_shape=(8, 8)))
    inst.scores = torch.tensor([0.9, 0.2, 0.6, 0.4])
    inst.labels = np.array([3, 1, 4, 1])
    inst.names = ["a", "b", "c", "d"]
    inst.boxes = Boxes([10, 20, 30, 40])
    return inst


def test_length_is_checked_for_data_not_metainfo():
    inst = make()
    assert len(inst) == 4 and len(InstanceData()) == 0
    with pytest.raises(ValueError, match="length of values 3 is not consistent .* 4"):
        inst.bad = [1, 2, 3]
    with pytest.raises(TypeError, match="must have a length"):
        inst.bad = 5
    inst.set_metainfo(dict(anything=[1, 2, 3]))      # metainfo is unchecked
    inst["via_item"] = torch.zeros(4)
    assert "via_item" in inst.keys()


def test_int_index_gives_a_length_one_element():
    inst = make()
    first, last = inst[0], inst[-1]
    assert len(first) == 1 and first.names == ["a"] and first.scores.shape == (1,)
    assert last.names == ["d"] and last.boxes.rows == [40] and last.metainfo == inst.metainfo
    with pytest.raises(IndexError, match="out of range"):
        inst[4]
    with pytest.raises(IndexError, match="out of range"):
        inst[-5]
    assert inst["names"] == inst.names


def test_slice_list_and_long_tensor_indexing():
    inst = make()
    assert inst[1:3].names == ["b", "c"] and inst[1:3].labels.tolist() == [1, 4]
    picked = inst[[2, 0]]
    assert picked.names == ["c", "a"] and picked.scores.tolist() == pytest.approx([0.6, 0.9])
    assert picked.boxes.rows == [30, 10]
    assert inst[np.array([3], dtype=np.int32)].names == ["d"]
    assert inst[torch.tensor([1, 1])].names == ["b", "b"]


def test_bool_tensor_indexing_filters_every_field():
    inst = make()
    kept = inst[inst.scores > 0.5]
    assert kept.names == ["a", "c"] and kept.labels.tolist() == [3, 4] and kept.boxes.rows == [10, 30]
    assert len(inst[torch.zeros(4, dtype=torch.bool)]) == 0
    with pytest.raises(ValueError, match="does not match the InstanceData length"):
        inst[torch.tensor([True, False])]
    with pytest.raises(ValueError, match="1-D"):
        inst[torch.ones(2, 2, dtype=torch.bool)]


def test_tensor_index_on_a_field_without_cat_is_a_clear_error():
    inst = InstanceData(scores=torch.ones(1))
    with pytest.raises(TypeError, match="must have a length"):
        inst.obj = BaseDataElement()
    inst2 = InstanceData()
    inst2.things = {"k": 1}  # a dict is sized but has no cat
    with pytest.raises(TypeError, match="no `cat`"):
        inst2[torch.tensor([0])]
    with pytest.raises(TypeError, match="cannot be indexed by"):
        inst[1.5]


def test_cat_concatenates_every_field_type():
    a, b = make(), make()[1:3]
    both = InstanceData.cat([a, b])
    assert len(both) == 6 and both.names == ["a", "b", "c", "d", "b", "c"]
    assert both.labels.tolist() == [3, 1, 4, 1, 1, 4] and both.boxes.rows == [10, 20, 30, 40, 20, 30]
    assert torch.equal(both.scores, torch.cat([a.scores, b.scores]))
    assert both.metainfo == a.metainfo
    assert InstanceData.cat([a]) is a


def test_cat_rejects_mismatched_fields_and_empty_lists():
    a, b = make(), make()
    del b.names
    with pytest.raises(ValueError, match="same fields"):
        InstanceData.cat([a, b])
    with pytest.raises(ValueError, match="at least one"):
        InstanceData.cat([])


def test_conversions_keep_lengths():
    inst = make()
    assert len(inst.numpy()) == 4 and isinstance(inst.numpy().scores, np.ndarray)
    assert inst.clone().names is inst.names
