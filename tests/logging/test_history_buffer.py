"""HistoryBuffer statistics (MMEngine's semantics), registering statistics, its state dict."""

import numpy as np
import pytest
import torch

from kiln.logging import HistoryBuffer, MessageHub


def test_statistics_over_windows():
    buf = HistoryBuffer([3.0, 1.0, 4.0, 1.0, 5.0], [1, 1, 2, 1, 1])
    values, counts = buf.data
    assert isinstance(values, np.ndarray) and values.tolist() == [3, 1, 4, 1, 5]
    assert buf.current() == 5.0
    assert buf.mean() == pytest.approx(14 / 6)  # sum(values) / sum(counts)
    assert buf.mean(2) == pytest.approx(6 / 2)
    assert buf.mean(0) == buf.mean()  # MMEngine's trap: 0 means all
    assert buf.max() == 5 and buf.max(4) == 5 and buf.min(3) == 1 and buf.min() == 1
    assert buf.statistics("mean", 3) == pytest.approx(10 / 4)
    assert buf.statistics("current") == 5.0
    with pytest.raises(ValueError, match="window_size"):
        buf.mean(-1)


def test_empty_history_raises():
    buf = HistoryBuffer()
    for method in (buf.current, buf.mean, buf.max, buf.min):
        with pytest.raises(ValueError, match="empty history"):
            method()


def test_register_statistics_is_class_wide_and_unique():
    name = "sum_of_counts_h2"

    def sum_of_counts_h2(self, window_size=None):
        return float(self.data[1][-window_size:].sum()) if window_size else float(self.data[1].sum())

    try:
        assert HistoryBuffer.register_statistics(sum_of_counts_h2) is sum_of_counts_h2
        buf = HistoryBuffer([1.0, 2.0, 3.0], [1, 2, 3])
        assert buf.statistics(name) == 6.0 and buf.statistics(name, window_size=2) == 5.0
        with pytest.raises(KeyError, match="already has a statistic"):
            HistoryBuffer.register_statistics(sum_of_counts_h2)
    finally:
        HistoryBuffer._statistics_methods.pop(name, None)
    assert set(HistoryBuffer._statistics_methods) >= {"mean", "current", "max", "min"}


def test_tensor_values_and_state_dict_round_trip():
    buf = HistoryBuffer(max_length=3)
    for v in (1.0, torch.tensor(2.0), np.float32(3.0), 4):
        buf.update(v)
    state = buf.state_dict()
    assert state == {"log_history": [2.0, 3.0, 4.0], "count_history": [1, 1, 1], "max_length": 3}
    again = HistoryBuffer(**state)
    assert again.data[0].tolist() == [2.0, 3.0, 4.0] and again.mean() == 3.0


def test_message_hub_state_dict_stays_plain():
    """kiln checkpoints hold the hub as plain python (weights_only loads): no HistoryBuffer objects."""
    hub = MessageHub("plain-state-h2")
    hub.update_scalar("train/loss", torch.tensor(0.5))
    state = hub.state_dict()
    assert state["log_scalars"]["train/loss"] == {"log_history": [0.5], "count_history": [1],
                                                  "max_length": 1_000_000}
    other = MessageHub("plain-state-h2-b")
    other.load_state_dict(state)
    assert isinstance(other.get_scalar("train/loss"), HistoryBuffer)


def test_old_import_path_is_the_same_class():
    from kiln.logging.message_hub import HistoryBuffer as Old

    assert Old is HistoryBuffer


def test_plain_value_after_pending_tensor_keeps_order():
    hub = MessageHub("order-h2")
    hub.update_scalar("k", torch.tensor(1.0))
    hub.update_scalar("k", 2.0)
    hub.update_scalar("k", torch.tensor(3.0))
    hub.update_scalar("k", 4)
    assert hub.get_scalar("k").data[0].tolist() == [1.0, 2.0, 3.0, 4.0]
