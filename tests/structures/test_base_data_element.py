"""BaseDataElement: metainfo vs data fields, access, copies, device/type conversion."""

import numpy as np
import pytest
import torch

from kiln.structures import BaseDataElement, InstanceData


def make():
    return BaseDataElement(metainfo=dict(img_shape=(4, 6), path="a.png"),
                           score=torch.tensor([0.5, 1.5]), label=np.array([1, 2]), name="x")


def test_metainfo_and_data_are_disjoint_sets():
    el = make()
    assert sorted(el.metainfo_keys()) == ["img_shape", "path"]
    assert sorted(el.keys()) == ["label", "name", "score"]
    assert sorted(el.all_keys()) == ["img_shape", "label", "name", "path", "score"]
    assert el.metainfo == {"img_shape": (4, 6), "path": "a.png"}
    el.extra = 3                                  # plain assignment makes a data field
    assert "extra" in el.keys() and "extra" not in el.metainfo_keys()
    with pytest.raises(AttributeError, match="already a metainfo field"):
        el.path = "b.png"
    with pytest.raises(AttributeError, match="already a data field"):
        el.set_metainfo(dict(score=1))


def test_set_metainfo_deep_copies_and_set_field_checks_type():
    meta = dict(sizes=[1, 2])
    el = BaseDataElement(metainfo=meta)
    meta["sizes"].append(3)
    assert el.sizes == [1, 2]
    el.set_field(torch.ones(1), "t", dtype=torch.Tensor)
    with pytest.raises(TypeError, match="t2 must be of type"):
        el.set_field([1], "t2", dtype=torch.Tensor)
    with pytest.raises(TypeError, match="metainfo must be a dict"):
        el.set_metainfo([("a", 1)])


def test_private_field_sets_are_immutable():
    el = make()
    with pytest.raises(AttributeError, match="immutable"):
        el._data_fields = set()
    with pytest.raises(AttributeError, match="immutable"):
        del el._metainfo_fields


def test_contains_get_pop_delete():
    el = make()
    assert "path" in el and "score" in el and "nope" not in el
    assert el.get("nope", 7) == 7 and el.get("name") == "x"
    assert el.pop("name") == "x" and "name" not in el
    assert el.pop("name", None) is None
    with pytest.raises(KeyError, match="not contained in metainfo or data"):
        el.pop("name")
    del el["path"]
    assert "path" not in el.metainfo_keys()
    del el.score
    assert sorted(el.keys()) == ["label"]


def test_values_items_and_update():
    el = make()
    assert dict(el.items())["name"] == "x" and len(el.values()) == 3
    assert dict(el.metainfo_items()) == el.metainfo
    other = BaseDataElement(metainfo=dict(path="b.png"), name="y", new=1)
    el.update(other)
    assert el.path == "b.png" and el.name == "y" and el.new == 1


def test_new_and_clone_share_data_but_copy_metainfo():
    el = make()
    same = el.new()
    assert same.score is el.score and same.metainfo == el.metainfo
    replaced = el.new(metainfo=dict(k=1), score=torch.zeros(1))
    assert replaced.metainfo == {"k": 1} and replaced.keys() == ["score"]
    clone = el.clone()
    assert type(clone) is BaseDataElement and clone.score is el.score   # tensors shared (as MMEngine)
    clone.set_metainfo(dict(path="c.png"))
    assert el.path == "a.png"


def test_conversions_return_new_elements_and_keep_non_tensors():
    el = make()
    el.nested = InstanceData(v=torch.ones(2, requires_grad=True))
    as_np = el.numpy()
    assert isinstance(as_np.score, np.ndarray) and isinstance(as_np.nested.v, np.ndarray)
    assert as_np.name == "x" and isinstance(el.score, torch.Tensor)    # original untouched
    back = as_np.to_tensor()
    assert isinstance(back.label, torch.Tensor) and back.label.tolist() == [1, 2]
    assert el.detach().nested.v.requires_grad is False
    moved = el.to(torch.float64)
    assert moved.score.dtype == torch.float64 and moved.metainfo == el.metainfo
    assert el.cpu().score.device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_moves_tensors_only():
    el = make().cuda()
    assert el.score.is_cuda and isinstance(el.label, np.ndarray)


def test_to_dict_and_repr():
    el = make()
    el.inner = BaseDataElement(metainfo=dict(m=1), d=2)
    out = el.to_dict()
    assert out["inner"] == {"m": 1, "d": 2} and out["path"] == "a.png"
    text = repr(el)
    assert "META INFORMATION" in text and "DATA FIELDS" in text and "path: 'a.png'" in text


def test_property_backed_fields_list_under_their_public_name():
    class Sample(BaseDataElement):
        @property
        def gt(self):
            return self._gt

        @gt.setter
        def gt(self, value):
            self.set_field(value, "_gt", dtype=InstanceData)

    sample = Sample()
    sample.gt = InstanceData(x=[1])
    assert sample.keys() == ["gt"] and sample.gt.x == [1]
    with pytest.raises(TypeError):
        sample.gt = [1]
