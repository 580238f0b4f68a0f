"""The one train step: BaseModel and wrappers share it; ``compile=True`` compiles all three steps."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kiln.hooks import Hook
from kiln.model import BaseModel
from kiln.model.train_step import compile_steps, train_step
from kiln.optim import OptimWrapper


class Net(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x, y=None, mode="tensor"):
        out = self.fc(x)
        if mode == "loss":
            return {"loss": F.cross_entropy(out, y)}
        return [out] if mode == "predict" else out


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 4, generator=g), torch.randint(0, 3, (8,), generator=g)


def test_forward_goes_through_the_wrapper_and_losses_through_the_model():
    calls = []

    class Through(nn.Module):  # stands for DDP: its forward must run (its hooks fire)
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, *args, **kwargs):
            calls.append(kwargs["mode"])
            return self.module(*args, **kwargs)

    torch.manual_seed(0)
    net, ref = Net(), Net()
    ref.load_state_dict(net.state_dict())
    wrapped = train_step(net, _batch(), OptimWrapper(torch.optim.SGD(net.parameters(), lr=0.1)), Through(net))
    plain = ref.train_step(_batch(), OptimWrapper(torch.optim.SGD(ref.parameters(), lr=0.1)))
    assert calls == ["loss"] and torch.equal(wrapped["loss"], plain["loss"])
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), ref.parameters()))


def _can_compile():
    try:
        torch.compile(lambda t: t * 2, backend="aot_eager")(torch.ones(2))
        return ""
    except Exception as exc:  # pragma: no cover - depends on the torch build
        return f"torch.compile does not work on this CPU build: {exc}"


@pytest.mark.skipif(bool(_can_compile()), reason=_can_compile() or "compiles")
def test_compile_true_compiles_train_val_and_test_steps(tmp_path):
    from kiln.runner import Runner

    class Losses(Hook):
        def __init__(self):
            self.losses = []

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.losses.append(float(outputs["loss"]))

    def run(compile_cfg, name):
        from kiln.evaluator import BaseMetric

        class Count(BaseMetric):
            def process(self, data_batch, data_samples):
                self.results.append(len(data_samples[0]))

            def compute_metrics(self, results):
                return {"seen": sum(results)}

        torch.manual_seed(0)
        x, y = _batch()
        log = Losses()
        runner = Runner(model=Net(), work_dir=str(tmp_path / name), randomness=dict(seed=0),
                        train_dataloader=dict(dataset=list(zip(x, y)), batch_size=4,
                                              collate_fn=dict(type="default_collate")),
                        val_dataloader=dict(dataset=list(zip(x, y)), batch_size=4,
                                            collate_fn=dict(type="default_collate")),
                        val_evaluator=dict(type=Count), val_cfg=dict(),
                        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)),
                        train_cfg=dict(by_epoch=True, max_epochs=2), custom_hooks=[log],
                        default_hooks=dict(checkpoint=None), cfg=dict(compile=compile_cfg))
        runner.train()
        return runner, log.losses

    compiled, losses = run(dict(backend="aot_eager"), "compiled")
    _, eager_losses = run(False, "eager")
    model = compiled.model
    assert all(hasattr(getattr(model, name), "_torchdynamo_orig_callable")
               for name in ("train_step", "val_step", "test_step"))
    assert losses == pytest.approx(eager_losses, abs=1e-6)


def test_compile_steps_compiles_once():
    net = Net()
    compile_steps(net, dict(backend="eager"))
    first = net.train_step
    compile_steps(net, True)
    assert net.train_step is first
