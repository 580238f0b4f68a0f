"""build_param_schedulers: the Runner's entry point (default end, conversion, config errors)."""

import pytest
import torch

from kiln.errors import ConfigError
from kiln.optim import INF, LinearLR, MultiStepLR, OptimWrapper, build_param_schedulers
from kiln.registry import PARAM_SCHEDULERS


def _wrapper(lr=0.1):
    return OptimWrapper(torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr, momentum=0.9))


def test_single_dict_and_list():
    wrapper = _wrapper()
    [single] = build_param_schedulers(dict(type="MultiStepLR", milestones=[2]), wrapper, max_epochs=5)
    assert isinstance(single, MultiStepLR) and single.by_epoch
    several = build_param_schedulers([dict(type="LinearLR", by_epoch=False, end=10),
                                      dict(type="MultiStepLR", milestones=[2])], _wrapper(), max_epochs=5)
    assert [type(s).__name__ for s in several] == ["LinearLR", "MultiStepLR"]
    assert build_param_schedulers(None, wrapper) == []


def test_default_end_is_max_epochs_or_max_iters():
    wrapper = _wrapper()
    by_epoch, by_iter = build_param_schedulers(
        [dict(type="CosineAnnealingLR"), dict(type="PolyLR", by_epoch=False)], wrapper, max_epochs=7, max_iters=70)
    assert by_epoch.end == 7 and by_epoch.T_max == 7
    assert by_iter.end == 70 and by_iter.total_iters == 69
    [explicit] = build_param_schedulers(dict(type="StepLR", step_size=1, end=3), _wrapper(), max_epochs=7)
    assert explicit.end == 3
    [unbounded] = build_param_schedulers(dict(type="StepLR", step_size=1), _wrapper())
    assert unbounded.end == INF


def test_convert_to_iter_based_uses_epoch_length():
    [s] = build_param_schedulers(dict(type="MultiStepLR", milestones=[1, 3], convert_to_iter_based=True),
                                 _wrapper(), epoch_length=8, max_epochs=4)
    assert (s.by_epoch, s.begin, s.end, s.milestones) == (False, 0, 32, {8: 1, 24: 1})


def test_built_schedulers_are_kept_and_classes_accepted():
    wrapper = _wrapper()
    built = LinearLR(wrapper, end=3, by_epoch=False)
    out = build_param_schedulers([built, dict(type=MultiStepLR, milestones=[1])], wrapper, max_epochs=2)
    assert out[0] is built and isinstance(out[1], MultiStepLR)


def test_every_scheduler_is_registered():
    names = {"ConstantLR", "LinearLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "PolyLR",
             "OneCycleLR", "ConstantMomentum", "LinearMomentum", "StepMomentum", "MultiStepMomentum",
             "ExponentialMomentum", "CosineAnnealingMomentum", "PolyMomentum", "LinearParamScheduler",
             "CosineAnnealingParamScheduler"}
    assert names <= set(PARAM_SCHEDULERS.module_dict)


def test_generic_form_schedules_any_key():
    wrapper = OptimWrapper(torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], weight_decay=0.1))
    [s] = build_param_schedulers(dict(type="LinearParamScheduler", param_name="weight_decay", start_factor=0.5,
                                      by_epoch=False), wrapper, max_iters=3)
    assert wrapper.param_groups[0]["weight_decay"] == pytest.approx(0.05)
    s.step()
    s.step()
    assert wrapper.param_groups[0]["weight_decay"] == pytest.approx(0.1)


def test_verbose_logs_changes(capsys):
    build_param_schedulers(dict(type="ConstantLR", factor=0.5, verbose=True), _wrapper(), max_epochs=3)
    assert "Adjusting parameter value of group 0 to 5.0000e-02." in capsys.readouterr().out


@pytest.mark.parametrize("cfg, kwargs, message", [
    ([dict(type="LinearLR"), dict(type="CosineLR")], {},
     r"^param_scheduler\[1\].type: 'CosineLR' is not registered .*did you mean"),
    (dict(milestones=[1]), {}, r"^param_scheduler\[0\]: missing the key 'type'"),
    (dict(type="MultiStepLR", milestone=[1]), {},
     r"^param_scheduler\[0\]: MultiStepLR got unexpected argument\(s\) 'milestone' \(did you mean 'milestones'\?\)"),
    (dict(type="StepLR"), {}, r"^param_scheduler\[0\]: StepLR is missing required argument\(s\): step_size"),
    (dict(type="OneCycleLR"), {}, r"^param_scheduler\[0\]: OneCycleLR is missing required argument\(s\): eta_max"),
    (dict(type="LinearLR", begin=5, end=5), {}, r"^param_scheduler\[0\].end: must be greater than begin"),
    (dict(type="LinearLR", begin=-1), {}, r"^param_scheduler\[0\].begin: expected a non-negative int"),
    (dict(type="LinearLR", start_factor=2.0), {}, r"^param_scheduler\[0\].start_factor: expected a number in \(0"),
    (dict(type="StepLR", step_size=0), {}, r"^param_scheduler\[0\].step_size: expected a positive int"),
    (dict(type="MultiStepLR", milestones=3), {}, r"^param_scheduler\[0\].milestones: expected a list"),
    (dict(type="CosineAnnealingLR"), {"max_epochs": None}, r"^param_scheduler\[0\].T_max: give T_max or a finite end"),
    (dict(type="CosineAnnealingLR", eta_min=0, eta_min_ratio=0.1), {}, r"^param_scheduler\[0\].eta_min_ratio"),
    (dict(type="OneCycleLR", eta_max=[1, 2]), {}, r"^param_scheduler\[0\].eta_max: expected one value per param group"),
    (dict(type="OneCycleLR", eta_max=1.0, anneal_strategy="exp"), {}, r"^param_scheduler\[0\].anneal_strategy"),
    (dict(type="LinearLR", by_epoch=False, convert_to_iter_based=True), {},
     r"^param_scheduler\[0\].convert_to_iter_based: only by_epoch=True"),
    (dict(type="LinearLR", convert_to_iter_based=True), {"epoch_length": None},
     r"^param_scheduler\[0\].convert_to_iter_based: needs the epoch length"),
    (dict(type="LinearLR", last_step=3), {}, r"^param_scheduler\[0\].last_step: last_step=3 needs 'initial_lr'"),
    (dict(type="LinearParamScheduler", param_name="dampening_x"), {},
     r"^param_scheduler\[0\].type: LinearParamScheduler schedules 'dampening_x'"),
    ("LinearLR", {}, r"^param_scheduler: expected a dict, a list"),
    ([3], {}, r"^param_scheduler\[0\]: expected a dict with 'type'"),
])
def test_config_errors_name_the_entry(cfg, kwargs, message):
    args = dict(epoch_length=4, max_epochs=3, max_iters=12)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        build_param_schedulers(cfg, _wrapper(), **args)
