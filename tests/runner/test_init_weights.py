"""train() calls init_weights() — but never over weights that are already there (MMEngine #1335)."""

import torch


def _counting(model_cls):
    class Counting(model_cls):
        calls = 0

        def init_weights(self):
            type(self).calls += 1
            with torch.no_grad():
                self.fc.weight.fill_(0.5)
            super().init_weights()

    return Counting


def test_train_calls_init_weights(make_runner, toy_model_cls):
    model = _counting(toy_model_cls)()
    make_runner(model=model, train_cfg=dict(by_epoch=True, max_epochs=1)).train()
    assert type(model).calls == 1


def test_val_and_test_do_not_init(make_runner, toy_model_cls):
    model = _counting(toy_model_cls)()
    make_runner(model=model).val()
    assert type(model).calls == 0


def test_model_marked_initialized_is_left_alone(make_runner, toy_model_cls):
    model = _counting(toy_model_cls)()
    model.is_init = True
    weight = model.fc.weight.detach().clone()
    runner = make_runner(model=model, optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.0)),
                         train_cfg=dict(by_epoch=True, max_epochs=1))
    runner.train()
    assert type(model).calls == 0
    assert torch.equal(runner.model.fc.weight, weight)


def test_load_from_skips_init_and_loads(make_runner, toy_model_cls, tmp_path):
    source = toy_model_cls()
    with torch.no_grad():
        source.fc.weight.fill_(3.0)
    path = tmp_path / "pretrained.pth"
    torch.save({"state_dict": source.state_dict()}, path)
    model = _counting(toy_model_cls)()
    runner = make_runner(model=model, load_from=str(path), optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.0)),
                         train_cfg=dict(by_epoch=True, max_epochs=1))
    runner.train()
    assert type(model).calls == 0
    assert torch.equal(runner.model.fc.weight, torch.full((2, 4), 3.0))
