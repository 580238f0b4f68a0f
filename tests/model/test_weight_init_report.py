"""The init report: exact attribution, where it is printed, and that it costs no per-parameter sync."""

import re

import pytest
import torch
import torch.nn as nn

from kiln.logging import close_log_file, get_logger
from kiln.model import BaseModule

UNTOUCHED = "The value is the same before and after calling `init_weights` of Net"


@pytest.fixture(autouse=True)
def _console_logger():
    close_log_file()
    get_logger(log_level="INFO")
    yield
    close_log_file()


class DataWriter(nn.Module):
    """Writes one parameter through ``.data`` (no version bump) and leaves a NaN one alone."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.zeros(3))
        self.nan = nn.Parameter(torch.full((2,), float("nan")))

    def init_weights(self):
        self.a.data.fill_(1)


class Net(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(1, 2, 1)
        self.norm = nn.LayerNorm(2)
        self.writer = DataWriter()


CFG = [dict(type="Constant", val=0, layer="Conv2d"),
       dict(type="Constant", val=0, bias=0, layer="Conv2d", override=dict(name="conv", type="Constant", val=0))]


def records(out: str) -> list[str]:
    return re.split(r"^\d\d/\d\d \d\d:\d\d:\d\d - kiln - ", out, flags=re.M)[1:]


def test_console_gets_one_record_per_parameter(capsys):
    net = Net(CFG)
    net.init_weights()
    got = records(capsys.readouterr().out)
    assert got == [
        "INFO - \nconv.weight - torch.Size([2, 1, 1, 1]): \nConstantInit: val=0, bias=0 \n\n",
        "INFO - \nconv.bias - torch.Size([2]): \nConstantInit: val=0, bias=0 \n\n",
        f"INFO - \nnorm.weight - torch.Size([2]): \n{UNTOUCHED} \n\n",
        f"INFO - \nnorm.bias - torch.Size([2]): \n{UNTOUCHED} \n\n",
        "INFO - \nwriter.a - torch.Size([3]): \nInitialized by user-defined `init_weights` in DataWriter \n\n",
        f"INFO - \nwriter.nan - torch.Size([2]): \n{UNTOUCHED} \n\n",
    ]


def test_last_writer_wins_even_when_the_value_is_unchanged():
    net = Net([dict(type="Constant", val=1, layer="Conv2d"),
               dict(type="Constant", val=1, layer="LayerNorm", override=dict(name="conv", type="Normal"))])
    net.init_weights()
    params = net.init_report().params
    assert params["conv.weight"] == "NormalInit: mean=0, std=1, bias=0"
    assert params["conv.bias"] == "NormalInit: mean=0, std=1, bias=0"  # 0 -> 0, still its write
    assert params["norm.weight"] == "ConstantInit: val=1, bias=0"


def test_init_report_data_and_summary():
    net = Net(CFG)
    with pytest.raises(RuntimeError, match="init_weights\\(\\) has not been called"):
        net.init_report()
    net.init_weights()
    report = net.init_report()
    assert list(report.params) == [n for n, _ in net.named_parameters()]
    assert report.untouched == 3
    assert report.counts == {"ConstantInit": 2, "user-defined `init_weights` in DataWriter": 1}
    assert report.summary() == ("init_weights of Net: 6 parameters; set 2 by ConstantInit, "
                                "1 by user-defined `init_weights` in DataWriter; 3 untouched")
    assert report.shapes["conv.weight"] == torch.Size([2, 1, 1, 1])


def test_with_a_log_file_the_table_goes_to_the_file_and_one_line_to_the_console(tmp_path, capsys):
    log = tmp_path / "run.log"
    get_logger(log_file=log)
    Net(CFG).init_weights()
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    assert out.rstrip().endswith(f"INFO - init_weights of Net: 6 parameters; set 2 by ConstantInit, "
                                 f"1 by user-defined `init_weights` in DataWriter; 3 untouched "
                                 f"(per-parameter table in {log})")
    text = log.read_text()
    assert "Name of parameter - Initialization information\n" in text
    assert "\nconv.weight - torch.Size([2, 1, 1, 1]): \nConstantInit: val=0, bias=0 \n" in text
    assert f"\nwriter.nan - torch.Size([2]): \n{UNTOUCHED} \n" in text


def test_only_rank_zero_prints(monkeypatch, capsys):
    monkeypatch.setattr("kiln.dist.get_rank", lambda: 1)
    net = Net(CFG)
    net.init_weights()
    assert capsys.readouterr().out == ""
    assert net.init_report().untouched == 3  # the data exists on every rank


def test_shared_parameters_appear_once():
    class Tied(BaseModule):
        def __init__(self):
            super().__init__(dict(type="Constant", val=2, layer="Linear"))
            self.a = nn.Linear(2, 2)
            self.b = nn.Linear(2, 2)
            self.b.weight = self.a.weight

    net = Tied()
    net.init_weights()
    assert list(net.init_report().params) == ["a.weight", "a.bias", "b.bias"]


class SyncCounter:
    """Counts device->host reads (the calls that synchronize a GPU)."""

    def __init__(self, monkeypatch):
        self.calls = 0
        for name in ("item", "tolist", "cpu", "numpy", "__bool__"):
            original = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._wrap(original))

    def _wrap(self, original):
        def counted(tensor, *args, **kwargs):
            self.calls += 1
            return original(tensor, *args, **kwargs)
        return counted


def test_config_only_init_reads_nothing_back_from_the_device(monkeypatch):
    class Deep(BaseModule):
        def __init__(self):
            super().__init__([dict(type="TruncNormal", layer="Linear", std=0.02),
                              dict(type="Constant", layer="LayerNorm", val=1, bias=0)])
            self.blocks = nn.ModuleList(nn.TransformerEncoderLayer(8, 2, 16) for _ in range(3))

    net = Deep()
    counter = SyncCounter(monkeypatch)
    for m in net.modules():  # the same init as a plain loop: torch's own reads, if any
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02, a=-2, b=2)
            nn.init.constant_(m.bias, 0)
        if isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    plain_calls, counter.calls = counter.calls, 0
    net.init_weights()
    assert counter.calls == plain_calls  # validation + report tracking add none
    assert net.init_report().untouched == 6  # each attention's raw in_proj_weight and in_proj_bias


def test_user_code_costs_one_batched_read_per_child(monkeypatch):
    class Two(BaseModule):
        def __init__(self):
            super().__init__()
            self.w1 = DataWriter()
            self.w2 = DataWriter()

    net = Two()
    counter = SyncCounter(monkeypatch)
    net.init_weights()
    assert counter.calls == 2


def test_user_registered_initializer_writing_through_data_is_attributed():
    from kiln.model import BaseInit
    from kiln.registry import WEIGHT_INITIALIZERS

    @WEIGHT_INITIALIZERS.register_module(name="TestDataFives", force=True)
    class DataFives(BaseInit):
        def __call__(self, module):
            module.conv.weight.data.fill_(5)  # no version bump: caught by the value check

        def _get_init_info(self):
            return "DataFives: five"

    net = Net([dict(type="TestDataFives")])
    net.init_weights()
    params = net.init_report().params
    assert torch.all(net.conv.weight == 5)
    assert params["conv.weight"] == "DataFives: five"
    assert params["conv.bias"] == UNTOUCHED


def test_update_init_info_outside_init_weights_does_nothing():
    from kiln.model import update_init_info

    net = Net()
    update_init_info(net, "anything")  # no tracking in progress: a no-op, not an error
    with pytest.raises(RuntimeError):
        net.init_report()
