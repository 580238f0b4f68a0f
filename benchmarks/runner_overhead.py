"""Runner overhead: ``Runner.train()`` with the default hooks vs a hand-written loop.

300 iterations of a tiny MLP (32→64→4, batch 64, SGD) — small enough that any per-iteration
framework cost shows. Both run in this process, alternately, 5 times; medians are reported.
Steady state is timed from the end of iteration 50 to the end of the last iteration (a custom
hook stamps it; the hand loop stamps the same points). Start-up is the time from constructing
the ``Runner`` to the start of the first iteration (hand loop: model + optimizer + iterator).
The hand loop calls ``.item()`` on the loss every 10 iterations, as a logger would.

    python benchmarks/runner_overhead.py [--runs 5] [--iters 300] [--breakdown] [--interleaved]

Rows are timed in alternating order from run to run. ``ratio`` is the median kiln time over the
median hand-loop time; ``paired`` the median of each run's ratio to the hand loop of the same run.
On a shared VM both move by several percent between invocations: quote several.

``--breakdown`` adds kiln runs with one default hook removed (``-logger``: the row's saving is
the LoggerHook's cost), with none (``loop+step``: what the loop, ``train_step`` and the optim
wrapper add over the hand loop) and with none and the hand loop's body as the model's
``train_step`` (``loop only``: the Runner's loop and hook dispatch alone). Single rows are noisy
(a few µs); use ``--runs 11`` or more.

With ``--framework mmengine`` / ``lightning`` (run from a venv that has them, with
``PYTHONPATH`` pointing at kiln) it also times those frameworks on the same work.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

WARMUP = 50


def _device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


_DEVICE = _device()


def _no_sync() -> None:
    """The CPU has no queued work to wait for."""


# deliberate on a GPU: a timestamp must include queued work (resolved once: the interleaved
# measurement calls it twice per iteration, and its own cost must not count for either side)
_sync = torch.cuda.synchronize if torch.cuda.is_available() else _no_sync


def _data(iters: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(iters * 64, 32, generator=generator)
    return TensorDataset(x, torch.randint(0, 4, (iters * 64,), generator=generator))


def _mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 4))


# -- the hand-written loop -------------------------------------------------------------------
def hand_loop(dataset: TensorDataset, iters: int) -> tuple[float, float]:
    """Return (start-up seconds, steady-state seconds per iteration)."""
    start = time.perf_counter()
    device = _device()
    model = _mlp().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = DataLoader(dataset, batch_size=64)
    model.train()
    t_first = t_warm = None
    for i, (x, y) in enumerate(loader):
        if i == 0:
            t_first = time.perf_counter()
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if (i + 1) % 10 == 0:
            loss.item()  # deliberate sync, as a logger does every 10 iterations
        if i + 1 == WARMUP:
            _sync()
            t_warm = time.perf_counter()
    _sync()
    t_end = time.perf_counter()
    return t_first - start, (t_end - t_warm) / (iters - WARMUP)


def _engine(package: str, raw_step: bool = False):
    """``(Hook, Runner, MLP)`` of ``package`` ('kiln' or 'mmengine': the same API).

    ``raw_step``: the model's ``train_step`` is the hand loop's body (no data preprocessor, loss
    parsing or optim wrapper), so a run without default hooks times the Runner's loop and hook
    dispatch alone.
    """
    import importlib

    Hook = importlib.import_module(f"{package}.hooks").Hook
    BaseModel = importlib.import_module(f"{package}.model").BaseModel
    Runner = importlib.import_module(f"{package}.runner").Runner

    class MLP(BaseModel):
        def __init__(self):
            super().__init__()
            self.net = _mlp()
            self.steps = 0

        def forward(self, x, y, mode="tensor"):
            out = self.net(x)
            return {"loss": F.cross_entropy(out, y)} if mode == "loss" else out

    class RawStepMLP(MLP):
        def train_step(self, data, optim_wrapper):
            x, y = data
            x, y = x.to(_DEVICE), y.to(_DEVICE)
            loss = F.cross_entropy(self.net(x), y)
            loss.backward()
            optim_wrapper.optimizer.step()
            optim_wrapper.optimizer.zero_grad()
            self.steps += 1
            if self.steps % 10 == 0:
                loss.item()  # as the hand loop
            return {}

    return Hook, Runner, RawStepMLP if raw_step else MLP


class HandSteps:
    """The hand loop's iteration, one call at a time (for the interleaved measurement)."""

    def __init__(self, dataset: TensorDataset) -> None:
        self.device = _device()
        self.model = _mlp().to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01)
        self.batches = iter(DataLoader(dataset, batch_size=64))
        self.model.train()
        self.i = 0

    def step(self) -> None:
        x, y = next(self.batches)
        x, y = x.to(self.device), y.to(self.device)
        loss = F.cross_entropy(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        self.i += 1
        if self.i % 10 == 0:
            loss.item()  # deliberate sync, as a logger does every 10 iterations


def interleaved(package: str, dataset: TensorDataset, iters: int, work_dir: str,
                default_hooks: dict | None = None, raw_step: bool = False) -> tuple[float, float]:
    """``(engine, hand)`` steady-state seconds per iteration, timed iteration by iteration in turn.

    After each engine iteration (a LOWEST-priority hook, the last thing it runs) one hand-loop
    iteration runs: engine iteration i spans the end of hand iteration i-1 to the start of hand
    iteration i (data loading, hooks, train step and loop included). Both see the same machine
    state within a few milliseconds, so a machine that changes speed over seconds cannot favour
    either; each still runs its own code between its own torch steps.
    """
    Hook, Runner, MLP = _engine(package, raw_step)
    hand = HandSteps(dataset)
    stamps: list[tuple[float, float]] = []  # (start, end) of each hand iteration

    class Interleave(Hook):
        priority = "LOWEST"

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            # as little as possible here: what runs outside the two stamps counts for the engine
            _sync()
            t0 = time.perf_counter()
            hand.step()
            _sync()
            stamps.append((t0, time.perf_counter()))

    runner = Runner(
        model=MLP(), work_dir=work_dir, train_dataloader=DataLoader(dataset, batch_size=64),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=1), custom_hooks=[Interleave()], randomness=dict(seed=0),
        default_hooks=default_hooks)
    runner.train()
    steady = stamps[WARMUP - 1:]  # engine iteration i: end of hand iteration i-1 to start of hand i
    engine = sum(start - prev_end for (_, prev_end), (start, _) in zip(steady, steady[1:]))
    hand_time = sum(end - start for start, end in steady[1:])
    return engine / (len(steady) - 1), hand_time / (len(steady) - 1)


# -- kiln and MMEngine (same API, so one function runs both) -------------------------------------
def engine_runner(package: str, dataset: TensorDataset, iters: int, work_dir: str,
                  default_hooks: dict | None = None, raw_step: bool = False) -> tuple[float, float]:
    """Time ``Runner.train()`` of ``package`` ('kiln' or 'mmengine') on the benchmark's work."""
    Hook, Runner, MLP = _engine(package, raw_step)

    stamps: dict[str, float] = {}

    class Stamp(Hook):
        """Its own cost counts for the engine: as few operations per iteration as the hand loop's checks."""

        priority = "LOWEST"
        done = 0

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if "first" not in stamps:
                stamps["first"] = time.perf_counter()

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.done += 1
            if self.done == WARMUP:
                _sync()
                stamps["warm"] = time.perf_counter()
            elif self.done == iters:
                _sync()
                stamps["end"] = time.perf_counter()

    start = time.perf_counter()
    runner = Runner(
        model=MLP(), work_dir=work_dir,
        train_dataloader=DataLoader(dataset, batch_size=64),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        custom_hooks=[Stamp()], randomness=dict(seed=0), default_hooks=default_hooks,
    )
    runner.train()
    return stamps["first"] - start, (stamps["end"] - stamps["warm"]) / (iters - WARMUP)


def kiln_runner(dataset: TensorDataset, iters: int, work_dir: str,
                default_hooks: dict | None = None, raw_step: bool = False) -> tuple[float, float]:
    return engine_runner("kiln", dataset, iters, work_dir, default_hooks, raw_step)


def mmengine_runner(dataset: TensorDataset, iters: int, work_dir: str) -> tuple[float, float]:
    return engine_runner("mmengine", dataset, iters, work_dir)


def lightning_trainer(dataset: TensorDataset, iters: int, work_dir: str) -> tuple[float, float]:
    import lightning as L

    stamps: dict[str, float] = {}

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _mlp()

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = F.cross_entropy(self.net(x), y)
            self.log("loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    class Stamp(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.global_step == 0 and "first" not in stamps:
                stamps["first"] = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if batch_idx + 1 == WARMUP:
                _sync()
                stamps["warm"] = time.perf_counter()
            elif batch_idx + 1 == iters:
                _sync()
                stamps["end"] = time.perf_counter()

    start = time.perf_counter()
    trainer = L.Trainer(max_epochs=1, default_root_dir=work_dir, callbacks=[Stamp()], log_every_n_steps=10,
                        enable_progress_bar=False, enable_model_summary=False, logger=False,
                        accelerator="auto", devices=1)
    trainer.fit(Module(), DataLoader(dataset, batch_size=64))
    return stamps["first"] - start, (stamps["end"] - stamps["warm"]) / (iters - WARMUP)


FRAMEWORKS = {"kiln": kiln_runner, "mmengine": mmengine_runner, "lightning": lightning_trainer}

# --breakdown: kiln with one default hook removed (the saving is that hook's cost), and with
# none of them ("loop + train_step": the loop, the model's train_step and the optim wrapper).
_DEFAULT_HOOK_NAMES = ("runtime_info", "timer", "logger", "param_scheduler", "checkpoint", "sampler_seed")
BREAKDOWN = {f"-{name}": {name: None} for name in _DEFAULT_HOOK_NAMES}
BREAKDOWN["loop+step"] = {name: None for name in _DEFAULT_HOOK_NAMES}
# ... and with the hand loop's body as train_step: the Runner's loop and hook dispatch alone
BREAKDOWN["loop only"] = {name: None for name in _DEFAULT_HOOK_NAMES}
RAW_STEP = {"loop only"}


def _breakdown_runner(name: str):
    return lambda dataset, iters, work_dir: kiln_runner(dataset, iters, work_dir, dict(BREAKDOWN[name]),
                                                        name in RAW_STEP)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1: a tiny MLP gains nothing from more, and "
                             "timings on a shared machine stay stable)")
    parser.add_argument("--framework", action="append", choices=sorted(FRAMEWORKS),
                        help="frameworks to time against the hand loop (default: kiln, plus "
                             "mmengine/lightning when importable)")
    parser.add_argument("--interleaved", action="store_true",
                        help="also time kiln (and MMEngine) iteration by iteration in turn with the "
                             "hand loop in one run: the ratio least moved by a machine whose speed "
                             "drifts")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time kiln without each default hook, and with none of them "
                             "(per-component cost = kiln minus that row)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.framework or ["kiln"] + [n for n in ("mmengine", "lightning") if _importable(n)]
    runners = dict(FRAMEWORKS)
    if args.breakdown:
        if "kiln" not in names:
            names.insert(0, "kiln")
        names += list(BREAKDOWN)
        runners.update({name: _breakdown_runner(name) for name in BREAKDOWN})
    dataset = _data(args.iters)
    inter: dict[str, list[tuple[float, float]]] = (
        {n: [] for n in ("kiln", "mmengine") if n in names} if args.interleaved else {})
    if args.interleaved and args.breakdown:  # the per-hook costs, measured the steady way
        inter.update({f"kiln {name}": [] for name in BREAKDOWN})
    results: dict[str, list[tuple[float, float]]] = {"hand loop": [], **{n: [] for n in names}}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs + 1):  # run 0 warms up imports and allocator; not counted
            order = ["hand loop", *names]
            # alternate the order (ABBA...): a machine that slows down or speeds up during the
            # benchmark then penalises every row alike instead of the rows timed last
            for name in order if run % 2 else order[::-1]:
                torch.manual_seed(0)
                sink = io.StringIO()
                with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                    if name == "hand loop":
                        result = hand_loop(dataset, args.iters)
                    else:
                        result = runners[name](dataset, args.iters, f"{tmp}/{name}_{run}")
                if run > 0:
                    results[name].append(result)
            for name in inter:
                package, _, part = name.partition(" ")
                torch.manual_seed(0)
                sink = io.StringIO()
                with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                    result = interleaved(package, dataset, args.iters, f"{tmp}/inter_{part.replace(' ', '_')}_{run}",
                                         dict(BREAKDOWN[part]) if part else None, part in RAW_STEP)
                if run > 0:
                    inter[name].append(result)

    base_startup = statistics.median(r[0] for r in results["hand loop"])
    base_iter = statistics.median(r[1] for r in results["hand loop"])
    print(f"runner overhead: tiny MLP 32-64-4, batch 64, SGD, {args.iters} iterations, "
          f"{args.runs} runs (medians), device {_device()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'':<17} {'steady µs/iter':>15} {'ratio':>7} {'paired':>7} {'start-up ms':>12}")
    print(f"{'hand loop':<17} {base_iter * 1e6:>15.1f} {1.0:>7.3f} {1.0:>7.3f} {base_startup * 1e3:>12.1f}")
    kiln_iter = statistics.median(r[1] for r in results["kiln"]) if "kiln" in results else None
    for name in names:
        startup = statistics.median(r[0] for r in results[name])
        per_iter = statistics.median(r[1] for r in results[name])
        # the median of each run's ratio to the hand loop timed next to it (less drift-prone)
        paired = statistics.median(r[1] / h[1] for r, h in zip(results[name], results["hand loop"]))
        line = (f"{name:<17} {per_iter * 1e6:>15.1f} {per_iter / base_iter:>7.3f} {paired:>7.3f} "
                f"{startup * 1e3:>12.1f}")
        if name in BREAKDOWN and kiln_iter is not None:
            line += f"   kiln minus this: {(kiln_iter - per_iter) * 1e6:+.1f} µs/iter"
        print(line)
    kiln_extra = (statistics.median(e - h for e, h in inter["kiln"]) if "kiln" in inter else None)
    for name, pairs in inter.items():
        ratios = sorted(engine / hand for engine, hand in pairs)
        extra = statistics.median(e - h for e, h in pairs)
        line = (f"{name + ' ⇄ hand':<17} {statistics.median(e for e, _ in pairs) * 1e6:>15.1f} "
                f"{statistics.median(ratios):>7.3f}   (interleaved; runs {ratios[0]:.3f}–{ratios[-1]:.3f}, "
                f"{extra * 1e6:+.1f} µs/iter over the hand loop")
        if name.startswith("kiln ") and kiln_extra is not None:
            line += f"; kiln minus this: {(kiln_extra - extra) * 1e6:+.1f}"
        print(line + ")")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
