"""paramwise_cfg: per-parameter lr / weight decay from multipliers and custom keys."""

import pytest
import torch
from torch import nn

from kiln.errors import ConfigError
from kiln.optim import build_optim_wrapper

LR, WD = 0.1, 1e-3


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3, groups=4))
        self.neck = nn.LayerNorm(4)
        self.head = nn.Linear(4, 2)
        self.scale = nn.Parameter(torch.ones(4))


def _groups(model, paramwise_cfg, optimizer=None):
    cfg = dict(optimizer=optimizer or dict(type="SGD", lr=LR, weight_decay=WD, momentum=0.9),
               paramwise_cfg=paramwise_cfg)
    wrapper = build_optim_wrapper(model, cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(g["params"][0])]: g for g in wrapper.optimizer.param_groups}, wrapper


def test_one_group_per_parameter_with_base_values():
    model = Net()
    groups, wrapper = _groups(model, dict(bias_decay_mult=1.0))
    assert list(groups) == [n for n, _ in model.named_parameters()]
    assert all(g["lr"] == LR and g["weight_decay"] == WD for g in groups.values())
    assert wrapper.get_lr()["base_lr"] == [LR]  # several groups: a base group is logged


def test_norm_bias_dwconv_and_flat_multipliers():
    groups, _ = _groups(Net(), dict(norm_decay_mult=0.0, bias_decay_mult=0.5, bias_lr_mult=2.0,
                                    dwconv_decay_mult=0.1, flat_decay_mult=0.3))
    # norm layers: no decay, their bias keeps the base lr
    for name in ["backbone.1.weight", "backbone.1.bias", "neck.weight", "neck.bias"]:
        assert groups[name]["weight_decay"] == 0.0
    assert groups["backbone.1.bias"]["lr"] == LR and groups["neck.bias"]["lr"] == LR
    # other biases
    for name in ["backbone.0.bias", "head.bias"]:
        assert groups[name]["lr"] == pytest.approx(LR * 2.0)
        assert groups[name]["weight_decay"] == pytest.approx(WD * 0.5)
    assert groups["backbone.2.bias"]["lr"] == pytest.approx(LR * 2.0)
    assert groups["backbone.2.weight"]["weight_decay"] == pytest.approx(WD * 0.1)  # depthwise conv
    assert groups["scale"]["weight_decay"] == pytest.approx(WD * 0.3)  # 1-d, not a bias or norm
    assert groups["backbone.0.weight"]["weight_decay"] == WD and groups["head.weight"]["lr"] == LR


def test_custom_keys_longest_match_wins_over_multipliers():
    groups, _ = _groups(Net(), dict(norm_decay_mult=0.0, custom_keys={
        "backbone": dict(lr_mult=0.1), "backbone.1": dict(lr_mult=0.5, decay_mult=2.0), "head": dict(decay_mult=0.0)}))
    assert groups["backbone.0.weight"]["lr"] == pytest.approx(LR * 0.1)
    assert groups["backbone.0.weight"]["weight_decay"] == WD
    assert groups["backbone.1.weight"]["lr"] == pytest.approx(LR * 0.5)
    assert groups["backbone.1.weight"]["weight_decay"] == pytest.approx(WD * 2.0)  # custom key beats norm mult
    assert groups["head.bias"]["weight_decay"] == 0.0 and groups["head.bias"]["lr"] == LR
    assert groups["neck.weight"]["weight_decay"] == 0.0  # no key: the norm multiplier applies


def test_paramwise_effect_on_training():
    """A zero lr_mult freezes the matching parameters in practice."""
    model = Net()
    _, wrapper = _groups(model, dict(custom_keys={"backbone": dict(lr_mult=0.0)}))
    frozen = model.backbone[0].weight.detach().clone()
    head = model.head.weight.detach().clone()
    out = model.head(model.neck(model.backbone(torch.randn(2, 3, 7, 7)).mean((2, 3))))
    wrapper.update_params(out.pow(2).sum() + model.scale.sum())
    assert torch.equal(frozen, model.backbone[0].weight)
    assert not torch.equal(head, model.head.weight)


def test_default_weight_decay_of_the_optimizer_is_the_base():
    """AdamW's default weight_decay (0.01) is multiplied when the config does not set one."""
    groups, _ = _groups(Net(), dict(norm_decay_mult=0.0), optimizer=dict(type="AdamW", lr=LR))
    assert groups["neck.weight"]["weight_decay"] == 0.0
    assert groups["head.weight"]["weight_decay"] == pytest.approx(0.01)


def test_frozen_parameters_keep_base_values():
    model = Net()
    model.head.weight.requires_grad_(False)
    groups, _ = _groups(model, dict(custom_keys={"head": dict(lr_mult=0.0)}))
    assert groups["head.weight"]["lr"] == LR and groups["head.bias"]["lr"] == 0.0


def test_shared_parameters_need_bypass_duplicate(capsys):
    model = Net()
    model.tied = nn.Linear(4, 2)
    model.tied.weight = model.head.weight
    with pytest.raises(ConfigError, match="optim_wrapper.paramwise_cfg: parameter 'tied.weight' is shared"):
        _groups(model, dict(bias_lr_mult=1.0))
    wrapper = build_optim_wrapper(model, dict(optimizer=dict(type="SGD", lr=LR),
                                              paramwise_cfg=dict(bypass_duplicate=True)))
    assert "tied.weight is duplicate" in capsys.readouterr().out
    assert sum(len(g["params"]) for g in wrapper.optimizer.param_groups) == len(list(model.parameters()))


@pytest.mark.parametrize("paramwise_cfg, message", [
    (dict(custom_keys={"backbon3": dict(lr_mult=0.1)}),
     r"^optim_wrapper.paramwise_cfg.custom_keys\['backbon3'\]: matches no parameter name of Net"),
    (dict(custom_keys={"head": 0.1}), r"^optim_wrapper.paramwise_cfg.custom_keys\['head'\]: expected a dict"),
    (dict(custom_keys={"head": dict(lr=0.1)}), r"^optim_wrapper.paramwise_cfg.custom_keys\['head'\]: unknown key"),
    (dict(custom_keys=["head"]), r"^optim_wrapper.paramwise_cfg.custom_keys: expected a dict"),
    (dict(norm_decay=0.0), r"^optim_wrapper.paramwise_cfg: unknown key\(s\) \['norm_decay'\]"),
    (dict(bias_lr_mult="2"), r"^optim_wrapper.paramwise_cfg.bias_lr_mult: expected a number"),
    ([("bias_lr_mult", 2)], r"^optim_wrapper.paramwise_cfg: expected a dict"),
])
def test_bad_paramwise_cfg(paramwise_cfg, message):
    with pytest.raises(ConfigError, match=message):
        _groups(Net(), paramwise_cfg)
