"""BaseModel: preprocessor construction, the three steps, mode errors, device tracking."""

from unittest import mock

import pytest
import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.model import BaseDataPreprocessor, BaseModel, ImgDataPreprocessor
from kiln.optim import OptimWrapper


class Net(BaseModel):
    def __init__(self, data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor, init_cfg)
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode="tensor"):
        out = self.fc(inputs)
        if mode == "loss":
            return {"loss": ((out - labels) ** 2).mean(), "mae": (out - labels).abs().mean()}
        if mode == "predict":
            return [out]
        if mode == "tensor":
            return out
        self.check_mode(mode)


class Recorder(BaseDataPreprocessor):
    def forward(self, data, training=False):
        self.training_flags = getattr(self, "training_flags", []) + [training]
        return super().forward(data, training)


def test_preprocessor_none_dict_module_and_bad_type():
    assert type(Net().data_preprocessor) is BaseDataPreprocessor
    built = Net(dict(type="ImgDataPreprocessor", pad_size_divisor=2)).data_preprocessor
    assert isinstance(built, ImgDataPreprocessor) and built.pad_size_divisor == 2
    rec = Recorder()
    assert Net(rec).data_preprocessor is rec
    assert "data_preprocessor" in dict(Net().named_children())
    with pytest.raises(TypeError, match="data_preprocessor should be a dict, an nn.Module instance or None, but got list"):
        Net([1])
    with pytest.raises(ConfigError, match=r"data_preprocessor.type: 'ImgPreprocessor' is not registered"):
        Net(dict(type="ImgPreprocessor"))


def test_forward_is_abstract():
    class NoForward(BaseModel):
        pass

    with pytest.raises(TypeError, match="abstract"):
        NoForward()


def test_check_mode_lists_the_three_modes():
    with pytest.raises(ValueError, match=r"mode must be 'loss' .* 'predict' .* or 'tensor' .* but got 'train'"):
        Net()(torch.ones(1, 2), mode="train")


def test_train_step_updates_and_returns_detached_log_vars():
    net = Net(Recorder())
    opt = OptimWrapper(torch.optim.SGD(net.parameters(), lr=0.1))
    before = net.fc.weight.detach().clone()
    x, y = torch.ones(4, 2), torch.zeros(4, 1)
    log_vars = net.train_step({"inputs": x, "labels": y}, opt)
    assert list(log_vars) == ["loss", "mae"]
    assert all(not v.requires_grad for v in log_vars.values())
    assert not torch.equal(before, net.fc.weight)
    assert net.fc.weight.grad is None  # zero_grad ran
    net.train_step((x, y), opt)  # a tuple batch is unpacked positionally
    assert net.data_preprocessor.training_flags == [True, True]


def test_train_step_runs_forward_inside_optim_context():
    net = Net()
    opt = OptimWrapper(torch.optim.SGD(net.parameters(), lr=0.1))
    seen = []
    real = opt.optim_context

    def context(model):
        seen.append(model)
        return real(model)

    with mock.patch.object(opt, "optim_context", side_effect=context):
        net.train_step((torch.ones(1, 2), torch.zeros(1, 1)), opt)
    assert seen == [net]


def test_val_and_test_step_use_predict_mode_without_training_flag():
    net = Net(Recorder())
    for step in (net.val_step, net.test_step):
        out = step({"inputs": torch.ones(3, 2)})
        assert isinstance(out, list) and out[0].shape == (3, 1)
    assert net.data_preprocessor.training_flags == [False, False]


def test_loss_mode_must_return_a_dict():
    class Bad(Net):
        def forward(self, inputs, labels=None, mode="tensor"):
            return self.fc(inputs) if mode != "loss" else self.fc(inputs).sum()

    net = Bad()
    opt = OptimWrapper(torch.optim.SGD(net.parameters(), lr=0.1))
    with pytest.raises(TypeError, match=r"Bad.forward\(..., mode='loss'\) must return a dict of losses, but returned Tensor"):
        net.train_step((torch.ones(1, 2),), opt)


def test_predict_mode_returning_none_is_an_error():
    class OnlyLoss(Net):
        def forward(self, inputs, labels=None, mode="tensor"):
            if mode == "loss":
                return {"loss": self.fc(inputs).sum()}

    with pytest.raises(TypeError, match=r"OnlyLoss.forward\(..., mode='predict'\) returned None"):
        OnlyLoss().val_step((torch.ones(1, 2),))


def test_preprocessor_must_return_dict_list_or_tuple():
    class ToTensor(BaseDataPreprocessor):
        def forward(self, data, training=False):
            return data[0]

    with pytest.raises(TypeError, match="should return a list, tuple or dict .* but returned Tensor"):
        Net(ToTensor()).val_step((torch.ones(1, 2),))


def test_to_cpu_cuda_update_nested_preprocessors():
    inner = Net(Recorder())
    outer = Net()
    outer.inner = inner
    outer.to("meta")
    assert outer.data_preprocessor.device.type == "meta" and inner.data_preprocessor.device.type == "meta"
    assert outer.fc.weight.device.type == "meta"
    outer.to(torch.float64)  # dtype only: device unchanged
    assert inner.data_preprocessor.device.type == "meta"
    outer.to_empty(device="cpu").cpu()
    assert inner.data_preprocessor.device == torch.device("cpu")
    with mock.patch.object(nn.Module, "cuda", autospec=True, side_effect=lambda self, device=None: self):
        outer.cuda(1)
    assert inner.data_preprocessor.device == torch.device("cuda", 1)


def test_data_follows_the_model():
    net = Net().to("meta")
    out = net.data_preprocessor({"inputs": torch.ones(1, 2)})
    assert out["inputs"].device.type == "meta"


def test_run_forward_rejects_an_unknown_mode_before_calling_forward():
    net = Net()
    with mock.patch.object(Net, "forward") as forward:
        with pytest.raises(ValueError, match="but got 'los'"):
            net._run_forward({"inputs": torch.ones(1, 2)}, mode="los")
    forward.assert_not_called()


def test_train_step_forward_runs_under_the_amp_context():
    from kiln.optim import AmpOptimWrapper

    class Probe(Net):
        def forward(self, inputs, labels=None, mode="tensor"):
            out = self.fc(inputs)
            self.seen_dtype = out.dtype
            return super().forward(inputs, labels, mode)

    net = Probe()
    opt = AmpOptimWrapper(torch.optim.SGD(net.parameters(), lr=0.1), dtype="bfloat16")
    log_vars = net.train_step((torch.ones(2, 2), torch.zeros(2, 1)), opt)
    assert net.seen_dtype == torch.bfloat16
    assert net.fc.weight.dtype == torch.float32 and torch.isfinite(log_vars["loss"])
