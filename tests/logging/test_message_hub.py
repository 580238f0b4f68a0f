"""MessageHub / HistoryBuffer: smoothing, the ring bound, batched tensor conversion, non-finite loss."""

import math

import numpy as np
import pytest
import torch

from kiln.logging.message_hub import HistoryBuffer, MessageHub


def test_history_buffer_statistics_and_ring_bound():
    buf = HistoryBuffer(max_length=5)
    for v in range(1, 9):  # 1..8; only the last 5 (4..8) are kept
        buf.update(v)
    values, counts = buf.data
    assert values.tolist() == [4, 5, 6, 7, 8]
    assert counts.tolist() == [1] * 5
    assert buf.current() == 8
    assert buf.mean(2) == pytest.approx(7.5)
    assert buf.mean() == pytest.approx(6.0)
    assert buf.max(3) == 8 and buf.min(3) == 6
    assert buf.statistics("mean", 5) == pytest.approx(6.0)
    with pytest.raises(KeyError, match="not a statistic"):
        buf.statistics("median")


def test_history_buffer_mean_uses_counts():
    buf = HistoryBuffer()
    buf.update(6.0, count=3)  # MMEngine's semantics: sum(values) / sum(counts)
    buf.update(2.0, count=1)
    assert buf.mean() == pytest.approx(2.0)


@pytest.mark.parametrize("device", [
    "cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))])
def test_tensor_scalars_are_converted_when_first_read(monkeypatch, device):
    hub = MessageHub(f"batch-test-{device}")
    calls = {"item": 0, "tolist": 0}
    item, tolist = torch.Tensor.item, torch.Tensor.tolist

    def counting_item(self):
        calls["item"] += 1
        return item(self)

    def counting_tolist(self):
        calls["tolist"] += 1
        return tolist(self)

    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    monkeypatch.setattr(torch.Tensor, "tolist", counting_tolist)
    for i in range(10):
        hub.update_info("iter", i)
        hub.update_scalar("train/loss", torch.tensor(float(i), requires_grad=True, device=device) * 1)
        hub.update_scalar("train/acc", torch.tensor(i * 2.0, device=device))
    assert calls == {"item": 0, "tolist": 0}
    assert hub.get_scalar("train/loss").mean(10) == pytest.approx(4.5)
    assert hub.get_scalar("train/acc").current() == 18.0
    # an accelerator: both keys, all 20 values in ONE device->host copy; the CPU: plain reads
    assert calls == ({"item": 20, "tolist": 0} if device == "cpu" else {"item": 0, "tolist": 1})


def test_update_scalar_rejects_non_scalar_tensor():
    with pytest.raises(ValueError, match="train/loss.*one element"):
        MessageHub("shape-test").update_scalar("train/loss", torch.ones(3))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_names_key_value_and_iteration(bad):
    hub = MessageHub("nan-test")
    for i in range(6):
        hub.update_info("iter", i)
        hub.update_scalar("train/loss_cls", torch.tensor(bad if i == 3 else 1.0))
    with pytest.raises(FloatingPointError) as err:
        hub.flush()
    msg = str(err.value)
    assert "'train/loss_cls'" in msg and str(bad) in msg and "iteration 4 (runner.iter=3)" in msg


def test_non_finite_non_loss_key_is_only_logged():
    hub = MessageHub("nan-ok")
    hub.update_scalar("train/grad_scale", torch.tensor(float("inf")))
    assert math.isinf(hub.get_scalar("train/grad_scale").current())


def test_pending_tensors_are_bounded(monkeypatch):
    import kiln.logging.history_buffer as mh

    monkeypatch.setattr(mh, "_MAX_PENDING", 8)
    hub = MessageHub("bounded")
    for i in range(20):
        hub.update_scalar("train/loss", torch.tensor(float(i)))
    assert len(hub._pending.items) < 8
    assert len(hub.get_scalar("train/loss")) == 20


def test_state_dict_is_plain_and_loads_with_weights_only(tmp_path):
    hub = MessageHub("state")
    hub.update_scalar("train/loss", torch.tensor(0.5))
    hub.update_scalar("train/lr", 0.1)
    hub.update_info("epoch", 3)
    hub.update_info("dataset_meta", {"classes": ("a", "b")})
    hub.update_info("not_saved", object())
    hub.update_info("not_resumed", 1, resumed=False)
    path = tmp_path / "hub.pth"
    torch.save(hub.state_dict(), path)
    state = torch.load(path, weights_only=True)
    assert state["log_scalars"]["train/loss"]["log_history"] == [0.5]
    assert state["runtime_info"]["epoch"] == 3
    assert "not_saved" not in state["runtime_info"] and "not_resumed" not in state["runtime_info"]

    other = MessageHub("state-copy")
    other.load_state_dict(state)
    assert other.get_scalar("train/loss").current() == 0.5
    assert other.get_info("epoch") == 3
    other.update_scalar("train/loss", torch.tensor(1.5))
    assert other.get_scalar("train/loss").mean() == pytest.approx(1.0)


def test_instances():
    a = MessageHub.get_instance("run-a")
    assert MessageHub.get_current_instance() is a
    b = MessageHub.get_instance("run-b")
    assert MessageHub.get_current_instance() is b
    # MMEngine's semantics: current = most recently CREATED; fetching an older one keeps it
    assert MessageHub.get_instance("run-a") is a and MessageHub.get_current_instance() is b
    assert MessageHub.check_instance_created("run-b")


def test_get_scalar_missing_key_names_what_exists():
    hub = MessageHub("missing")
    hub.update_scalar("train/loss", 1.0)
    with pytest.raises(KeyError, match="train/loss"):
        hub.get_scalar("val/acc")


def test_update_scalars_with_counts():
    hub = MessageHub("dicts")
    hub.update_scalars({"a": 1.0, "b": {"value": 4.0, "count": 2}})
    assert hub.get_scalar("b").mean() == 2.0
    with pytest.raises(KeyError, match="'value'"):
        hub.update_scalars({"c": {"count": 1}})


def test_new_instance_replaces_a_same_named_hub():
    old = MessageHub.get_instance("same-name")
    old.update_scalar("train/loss", 1.0)
    new = MessageHub.new_instance("same-name")
    assert new is not old and "train/loss" not in new.log_scalars
    assert MessageHub.get_instance("same-name") is new and MessageHub.get_current_instance() is new


def test_values_logged_for_later_are_filed_in_order_before_any_read():
    hub = MessageHub("later-order")
    for i in range(3):
        hub.update_info("iter", i)
        hub.update_scalars_later({"lr": [0.1 * (i + 1), 9.0]}, "train/", first_of_each=True)
        hub.update_scalars_later({"loss": torch.tensor(float(i)), "acc": torch.tensor(i * 2)}, "train/")
    hub.update_scalar("train/loss", 10.0)  # a direct write of the same key goes after them
    assert hub.get_scalar("train/lr").data[0].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert hub.get_scalar("train/loss").data[0].tolist() == [0.0, 1.0, 2.0, 10.0]
    assert hub.get_scalar("train/acc").current() == 4  # integer tensors stay ints
    assert set(hub.state_dict()["log_scalars"]) == {"train/lr", "train/loss", "train/acc"}


def test_a_later_mapping_is_copied_and_a_non_finite_loss_names_its_iteration():
    hub = MessageHub("later-nan")
    outputs = {"loss": torch.tensor(1.0)}
    hub.update_info("iter", 0)
    hub.update_scalars_later(outputs, "train/")
    outputs["loss"] = torch.tensor(5.0)  # the caller reuses its dict: the logged value stays
    hub.update_info("iter", 1)
    hub.update_scalars_later({"loss": torch.tensor(float("nan"))}, "train/")
    with pytest.raises(FloatingPointError, match=r"'train/loss' = nan at iteration 2"):
        hub.flush()
    assert hub.get_scalar("train/loss").data[0].tolist()[0] == 1.0


def test_mixed_values_for_later_fall_back_to_one_update_each():
    hub = MessageHub("later-mixed")
    hub.update_scalars_later({"x": 1}, "val/")
    hub.update_scalars_later({"x": torch.tensor(2.5)}, "val/")
    hub.update_scalars_later({"x": np.float32(3.0)}, "val/")
    assert hub.get_scalar("val/x").data[0].tolist() == [1.0, 2.5, 3.0]
    with pytest.raises(TypeError, match="get_lr"):
        hub.update_scalars_later({"lr": 0.1}, "train/", first_of_each=True)
        hub.flush()


def test_a_key_logged_later_in_two_layouts_keeps_its_order():
    hub = MessageHub("later-layouts")
    hub.update_scalars_later({"loss": torch.tensor(1.0)}, "train/")
    hub.update_scalars_later({"loss": torch.tensor(2.0), "aux": torch.tensor(7.0)}, "train/")  # a new layout
    hub.update_scalars_later({"loss": torch.tensor(3.0)}, "train/")
    hub.update_scalars_later({"loss": 4.0}, "val/")  # another prefix: its own key
    assert hub.get_scalar("train/loss").data[0].tolist() == [1.0, 2.0, 3.0]
    assert hub.get_scalar("train/aux").data[0].tolist() == [7.0]
    assert hub.get_scalar("val/loss").current() == 4.0


def test_tensors_logged_later_with_several_elements_are_refused_by_key():
    hub = MessageHub("later-shapes")
    hub.update_scalars_later({"loss": torch.tensor(1.0)}, "train/")
    hub.update_scalars_later({"loss": torch.ones(2)}, "train/")  # cannot be stacked into one column
    with pytest.raises(ValueError, match="train/loss: a logged tensor must hold one element"):
        hub.flush()
