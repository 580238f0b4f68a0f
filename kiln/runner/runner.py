"""``Runner``: MMEngine's training shell — model, data, loops, hooks and logging wired together.

The constructor is one ordered list of steps (see ``__init__``); training/validation/test pieces
are kept as configs and built when ``train()``/``val()``/``test()`` needs them. Environment set-up
lives in :mod:`kiln.runner.environment`, dataloader building in :mod:`kiln.dataset.dataloader`, the
config-group checks in :mod:`kiln.runner.config_checks`, component builders in
:mod:`kiln.runner.builders`, hook dispatch in
:mod:`kiln.runner.hook_list`, and checkpoint I/O in :mod:`kiln.runner.checkpointing`.

Example (the seeds' "15 minutes" tutorial):
    >>> runner = Runner(model=MMResNet50(), work_dir='./work_dir',
    ...                 train_dataloader=train_dataloader,
    ...                 optim_wrapper=dict(optimizer=dict(type=SGD, lr=0.001, momentum=0.9)),
    ...                 train_cfg=dict(by_epoch=True, max_epochs=5, val_interval=1),
    ...                 val_dataloader=val_dataloader, val_cfg=dict(),
    ...                 val_evaluator=dict(type=Accuracy))  # doctest: +SKIP
    >>> runner.train()  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from kiln.config import Config
from kiln.config.custom_imports import import_custom_modules
from kiln.dataset.dataloader import build_dataloader
from kiln.dist import get_rank, get_world_size, is_distributed, is_main_process
from kiln.errors import ConfigError
from kiln.hooks.hook import Hook
from kiln.logging import get_logger, print_log
from kiln.model.wrappers.utils import unwrap_model
from kiln.registry import LOOPS, RUNNERS, DefaultScope, build_from_cfg
from kiln.runner import builders, config_checks
from kiln.runner.environment import collect_env, set_random_seed, setup_env
from kiln.runner.errors import run_guard
from kiln.runner.hook_list import HookList, merge_default_hooks
from kiln.runner.loop_state import LoopState
from kiln.runner.loops import BaseLoop
from kiln.runner.preemption import NEVER, Preemption
from kiln.runner.safety import check_optimizer_numbers, check_train_data

__all__ = ["Runner"]


@RUNNERS.register_module()
class Runner:
    """Train, validate and test a model with MMEngine's constructor arguments.

    Args:
        model: A model (``BaseModel``-like: ``train_step``/``val_step``/``test_step``) or a
            ``MODELS`` config.
        work_dir: Root of this run's outputs (``work_dir/<timestamp>/`` holds log, vis data, config).
        train_dataloader, val_dataloader, test_dataloader: ``DataLoader``s or dataloader dicts.
        train_cfg: ``dict(by_epoch=True, max_epochs=..)``, ``dict(by_epoch=False, max_iters=..)``
            or a loop config with ``type``.
        val_cfg, test_cfg: ``ValLoop``/``TestLoop`` arguments (``fp16``) or a loop ``type``.
        auto_scale_lr: ``dict(enable=True, base_batch_size=N)`` scales the lr by the real batch.
        optim_wrapper: An ``OptimWrapper`` or its config.
        param_scheduler: Scheduler config(s) or built schedulers.
        val_evaluator, test_evaluator: An evaluator, a dict (with ``type`` or ``metrics``), or a list.
        default_hooks: Merged into the defaults by key; ``None`` removes a default.
        custom_hooks: Extra hooks (instances or configs, optional ``priority``).
        data_preprocessor: Put into a model config that lacks one.
        load_from: Checkpoint whose weights are loaded before running (skips ``init_weights``).
        resume: Resume from ``load_from`` or from ``work_dir/last_checkpoint``.
        launcher: ``'none'``, ``'pytorch'`` (torchrun), ``'slurm'`` (srun) or ``'mpi'``.
        env_cfg: ``cudnn_benchmark``, ``mp_cfg``, ``dist_cfg`` (backend, timeout in seconds),
            ``resource_limit``, ``preemption`` (``signals``, ``requeue``, ``check_interval``).
        log_processor: ``LogProcessor`` arguments.
        log_level: Console/file log level.
        visualizer: A visualizer or its config (default: local scalars file).
        default_scope: The registry scope plain ``type`` names are looked up in first (a
            downstream package's child registries, e.g. ``'mypkg'``); see ``kiln.registry``.
        randomness: ``dict(seed=None, deterministic=False, diff_rank_seed=False)``.
        experiment_name: Prefix of the experiment name (``{name}_{timestamp}``).
        cfg: The full config, logged and dumped as ``work_dir/<config file name>``.
    """

    def __init__(
        self,
        model: nn.Module | dict,
        work_dir: str,
        train_dataloader: Any = None,
        val_dataloader: Any = None,
        test_dataloader: Any = None,
        train_cfg: dict | None = None,
        val_cfg: dict | None = None,
        test_cfg: dict | None = None,
        auto_scale_lr: dict | None = None,
        optim_wrapper: Any = None,
        param_scheduler: Any = None,
        val_evaluator: Any = None,
        test_evaluator: Any = None,
        default_hooks: dict | None = None,
        custom_hooks: Sequence[Any] | None = None,
        data_preprocessor: dict | None = None,
        load_from: str | None = None,
        resume: bool = False,
        launcher: str = "none",
        env_cfg: dict | None = None,
        log_processor: dict | None = None,
        log_level: str | int = "INFO",
        visualizer: Any = None,
        default_scope: str = "kiln",
        randomness: dict | None = None,
        experiment_name: str | None = None,
        cfg: dict | None = None,
    ) -> None:
        # 1. validate the argument groups before doing anything with side effects
        config_checks.check_groups(locals())
        config_checks.check_loop_cfgs(train_cfg, val_cfg, test_cfg)
        env_cfg = config_checks.check_env_cfg(env_cfg)
        randomness = config_checks.check_randomness(randomness if randomness is not None else dict(seed=None))
        # 2. where outputs go; the config as given
        self._work_dir = osp.abspath(work_dir)
        os.makedirs(self._work_dir, exist_ok=True)
        self.cfg = Config(copy.deepcopy(dict(cfg)), filename=getattr(cfg, "filename", None)) if cfg else Config()
        # 3. train/val/test pieces are kept as configs and built when first needed
        self._train_dataloader, self._train_loop = train_dataloader, train_cfg
        self._progress: LoopState | None = None  # the built train loop's state (train_progress)
        self._val_dataloader, self._val_evaluator, self._val_loop = val_dataloader, val_evaluator, val_cfg
        self._test_dataloader, self._test_evaluator, self._test_loop = test_dataloader, test_evaluator, test_cfg
        self.optim_wrapper = optim_wrapper
        self.auto_scale_lr = auto_scale_lr
        self.param_schedulers = param_scheduler
        self._load_from, self._resume, self._has_loaded = load_from, bool(resume), False
        # 4. process environment (distributed init, flags) and the run's timestamp
        self._launcher = launcher
        self._timestamp = setup_env(env_cfg, launcher)
        self._preemption_cfg = dict(env_cfg or {}).get("preemption")
        Preemption(self._preemption_cfg, distributed=False)  # validated now; installed around train()
        self._rank, self._world_size, self._distributed = get_rank(), get_world_size(), is_distributed()
        # 5. randomness
        self._randomness_cfg = randomness
        self._deterministic = bool(randomness.get("deterministic", False))
        self._seed = set_random_seed(**randomness)
        # 6. names, log dir, logger, message hub, log processor, visualizer
        self._experiment_name = self._make_experiment_name(experiment_name)
        self.default_scope = (DefaultScope.get_instance(self._experiment_name, scope_name=default_scope)
                              if default_scope is not None else None)
        self._log_dir = osp.join(self._work_dir, self._timestamp)
        os.makedirs(self._log_dir, exist_ok=True)
        self.logger = get_logger(log_file=osp.join(self._log_dir, f"{self._timestamp}.log"),
                                 log_level=log_level)
        self.logger.info(collect_env(self._seed, launcher, self._deterministic))
        if self.cfg:
            self.logger.info(f"Config:\n{self.cfg.pretty_text}")
        self.message_hub = builders.build_message_hub(self._experiment_name)
        self.log_processor = builders.build_log_processor(log_processor, train_cfg)
        self.visualizer = builders.build_visualizer(visualizer, self._experiment_name, self._log_dir)
        # 7. model: built, moved to the device, wrapped for DDP when distributed
        self.model = self.wrap_model(self.cfg.get("model_wrapper_cfg"),
                                     self.build_model(model, data_preprocessor))
        # 8. hooks, and the order they run in
        self._hooks = HookList()
        self.register_default_hooks(default_hooks)
        self.register_custom_hooks(custom_hooks)
        self.logger.info(f"Hooks will be executed in the following order:\n{self._hooks.info()}")
        # 9. the config, next to the log
        self.dump_config()

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any]) -> Runner:
        """Build a runner from a full config (a dict or :class:`kiln.config.Config`)."""
        cfg = copy.deepcopy(cfg)
        import_custom_modules(cfg.get("custom_imports"))  # registers the project's own classes
        for key in ("model", "work_dir"):
            if key not in cfg:
                raise ConfigError(key, "Runner.from_cfg needs this key in the config")
        return cls(
            model=cfg["model"], work_dir=cfg["work_dir"],
            train_dataloader=cfg.get("train_dataloader"), val_dataloader=cfg.get("val_dataloader"),
            test_dataloader=cfg.get("test_dataloader"), train_cfg=cfg.get("train_cfg"),
            val_cfg=cfg.get("val_cfg"), test_cfg=cfg.get("test_cfg"),
            auto_scale_lr=cfg.get("auto_scale_lr"), optim_wrapper=cfg.get("optim_wrapper"),
            param_scheduler=cfg.get("param_scheduler"), val_evaluator=cfg.get("val_evaluator"),
            test_evaluator=cfg.get("test_evaluator"), default_hooks=cfg.get("default_hooks"),
            custom_hooks=cfg.get("custom_hooks"), data_preprocessor=cfg.get("data_preprocessor"),
            load_from=cfg.get("load_from"), resume=cfg.get("resume", False),
            launcher=cfg.get("launcher", "none"), env_cfg=cfg.get("env_cfg"),
            log_processor=cfg.get("log_processor"), log_level=cfg.get("log_level", "INFO"),
            visualizer=cfg.get("visualizer"), default_scope=cfg.get("default_scope", "kiln"),
            randomness=cfg.get("randomness"), experiment_name=cfg.get("experiment_name"), cfg=cfg,
        )

    # -- read-only facts about the run -------------------------------------------------------
    work_dir = property(lambda self: self._work_dir)
    log_dir = property(lambda self: self._log_dir)
    timestamp = property(lambda self: self._timestamp)
    experiment_name = property(lambda self: self._experiment_name)
    seed = property(lambda self: self._seed)
    deterministic = property(lambda self: self._deterministic)
    launcher = property(lambda self: self._launcher)
    rank = property(lambda self: self._rank)
    world_size = property(lambda self: self._world_size)
    distributed = property(lambda self: self._distributed)
    hooks = property(lambda self: self._hooks.hooks)
    load_from = property(lambda self: self._load_from)

    @property
    def model_name(self) -> str:
        cls = type(unwrap_model(self.model))
        # FSDP2's fully_shard swaps the class for a generated ``FSDP<Name>(FSDPModule, <Name>)``
        if cls.__name__.startswith("FSDP") and len(cls.__bases__) == 2 \
                and cls.__bases__[0].__name__ == "FSDPModule":
            cls = cls.__bases__[1]
        return cls.__name__

    @property
    def train_progress(self) -> Any:
        """The train loop's :class:`LoopState` (the one owner of progress; ``.epoch``, ``.iter``),
        or None while no train loop is built. Reading it never builds the loop (``train_loop``
        does). A user's loop that keeps no LoopState is returned itself (it has epoch/iter)."""
        if self._progress is not None:
            return self._progress
        return self._train_loop if isinstance(self._train_loop, BaseLoop) else None

    # ``epoch``/``iter`` are read by several hooks every iteration: one attribute hop to the loop
    # state once the loop is built, instead of train_loop -> loop.iter -> state.iter.
    @property
    def epoch(self) -> int:
        state = self._progress
        if state is not None:
            return state.epoch
        loop = self.train_loop
        return loop.epoch if loop is not None else 0

    @property
    def iter(self) -> int:
        state = self._progress
        if state is not None:
            return state.iter
        loop = self.train_loop
        return loop.iter if loop is not None else 0

    @property
    def max_epochs(self) -> int:
        loop = self._train_loop if self._progress is not None else self.train_loop
        return loop.max_epochs if loop is not None else 0

    @property
    def max_iters(self) -> int:
        loop = self._train_loop if self._progress is not None else self.train_loop
        return loop.max_iters if loop is not None else 0

    # -- loops (built on first access) ---------------------------------------------------------
    @property
    def train_loop(self) -> BaseLoop | None:
        if self._train_loop is not None and not isinstance(self._train_loop, BaseLoop):
            self._train_loop = self.build_train_loop(self._train_loop)
            self._adopt_progress(self._train_loop)
        return self._train_loop

    def _adopt_progress(self, loop: Any) -> None:
        state = getattr(loop, "state", None)  # a user's loop may count progress its own way
        self._progress = state if isinstance(state, LoopState) else None

    @property
    def val_loop(self) -> BaseLoop | None:
        if self._val_loop is not None and not isinstance(self._val_loop, BaseLoop):
            self._val_loop = self._build_eval_loop(self._val_loop, "val")
        return self._val_loop

    @property
    def test_loop(self) -> BaseLoop | None:
        if self._test_loop is not None and not isinstance(self._test_loop, BaseLoop):
            self._test_loop = self._build_eval_loop(self._test_loop, "test")
        return self._test_loop

    @property
    def train_dataloader(self) -> Any:
        loop = self.train_loop
        return loop.dataloader if loop is not None else None

    @property
    def val_dataloader(self) -> Any:
        loop = self.val_loop
        return loop.dataloader if loop is not None else None

    @property
    def test_dataloader(self) -> Any:
        loop = self.test_loop
        return loop.dataloader if loop is not None else None

    @property
    def val_evaluator(self) -> Any:
        return self.val_loop.evaluator if self.val_loop is not None else None

    @property
    def test_evaluator(self) -> Any:
        return self.test_loop.evaluator if self.test_loop is not None else None

    def build_train_loop(self, loop: Mapping[str, Any] | BaseLoop) -> BaseLoop:
        if isinstance(loop, BaseLoop):
            return loop
        cfg = config_checks.check_train_cfg(loop)
        return build_from_cfg(cfg, LOOPS, dict(runner=self, dataloader=self._train_dataloader),
                              path="train_cfg")

    def _build_eval_loop(self, loop: Mapping[str, Any] | BaseLoop, mode: str) -> BaseLoop:
        if isinstance(loop, BaseLoop):
            return loop
        if not isinstance(loop, Mapping):
            raise ConfigError(f"{mode}_cfg", f"expected a dict (e.g. dict() or dict(fp16=True)), "
                                             f"but got {type(loop).__name__}")
        cfg = dict(loop)
        cfg.setdefault("type", "ValLoop" if mode == "val" else "TestLoop")
        defaults = dict(runner=self, dataloader=getattr(self, f"_{mode}_dataloader"),
                        evaluator=getattr(self, f"_{mode}_evaluator"))
        return build_from_cfg(cfg, LOOPS, defaults, path=f"{mode}_cfg")

    # -- builders ------------------------------------------------------------------------------
    def build_dataloader(self, dataloader: Any, path: str = "dataloader") -> Any:
        return build_dataloader(dataloader, seed=self._seed,
                                diff_rank_seed=bool(self._randomness_cfg.get("diff_rank_seed", False)),
                                path=path)

    def build_evaluator(self, evaluator: Any) -> Any:
        return builders.build_evaluator(evaluator)

    def build_model(self, model: nn.Module | Mapping[str, Any],
                    data_preprocessor: Mapping[str, Any] | None = None) -> nn.Module:
        return builders.build_model(model, data_preprocessor, self.cfg.get("model_wrapper_cfg"),
                                    self._distributed)

    def wrap_model(self, model_wrapper_cfg: Mapping[str, Any] | None, model: nn.Module) -> nn.Module:
        return builders.wrap_model(model, model_wrapper_cfg, self._distributed, self.cfg, self.logger)

    def _make_experiment_name(self, name: str | None) -> str:
        if name is not None:
            return f"{name}_{self._timestamp}"
        if self.cfg.filename is not None:
            return f"{osp.splitext(osp.basename(self.cfg.filename))[0]}_{self._timestamp}"
        return self._timestamp

    # -- hooks ------------------------------------------------------------------------------------
    def register_hook(self, hook: Hook | Mapping[str, Any], priority: int | str | None = None) -> None:
        self._hooks.register(hook, priority)

    def register_default_hooks(self, hooks: Mapping[str, Any] | None = None) -> None:
        for name, hook in merge_default_hooks(hooks).items():
            self._hooks.register(hook, path=f"default_hooks.{name}")

    def register_custom_hooks(self, hooks: Sequence[Any] | None) -> None:
        for i, hook in enumerate(hooks or []):
            self._hooks.register(hook, path=f"custom_hooks[{i}]")

    def call_hook(self, fn_name: str, **kwargs: Any) -> None:
        """Call stage ``fn_name`` of every hook that overrides it, in priority order."""
        self._hooks.call(self, fn_name, **kwargs)

    def get_hooks_info(self) -> str:
        return self._hooks.info()

    # -- running ------------------------------------------------------------------------------------
    def train(self) -> nn.Module:
        """Train (validating as ``train_cfg`` says); returns the model."""
        model = unwrap_model(self.model)
        if not hasattr(model, "train_step"):
            raise TypeError(f"{type(model).__name__} has no train_step(data, optim_wrapper): "
                            "subclass kiln.model.BaseModel (or implement train_step)")
        if self._val_loop is not None and not hasattr(model, "val_step"):
            raise TypeError(f"{type(model).__name__} has no val_step(data), but validation is configured")
        if self._train_loop is None:
            raise RuntimeError("Runner.train() needs train_dataloader, train_cfg and optim_wrapper")
        with run_guard(self, "train"):
            train_loop = self.train_loop
            self._adopt_progress(train_loop)  # also a loop instance given as train_cfg
            check_train_data(train_loop.dataloader)  # an empty dataset fails before any weight changes
            check_optimizer_numbers(self.optim_wrapper)
            self.optim_wrapper = self.build_optim_wrapper(self.optim_wrapper)
            self.scale_lr(self.optim_wrapper, self.auto_scale_lr)
            if self.param_schedulers is not None:
                self.param_schedulers = self.build_param_scheduler(self.param_schedulers)
            self.val_loop  # noqa: B018 - build it now: bad val config fails before training starts
            self.call_hook("before_run")
            self._init_model_weights()
            self.load_or_resume()
            self.optim_wrapper.initialize_count_status(self.model, train_loop.iter, train_loop.max_iters)
            self._maybe_compile()
            preemption = Preemption(self._preemption_cfg)
            train_loop.preemption = preemption
            preemption.install(train_loop.iter, [train_loop.dataloader, self.val_dataloader])
            try:
                model = train_loop.run()
            finally:
                preemption.restore()
                train_loop.preemption = NEVER
            self.call_hook("after_run")
        return model

    def val(self) -> dict[str, Any]:
        """Run the validation loop once; returns the metrics."""
        return self._run_eval("val")

    def test(self) -> dict[str, Any]:
        """Run the test loop once; returns the metrics."""
        return self._run_eval("test")

    def _run_eval(self, mode: str) -> dict[str, Any]:
        loop = getattr(self, f"{mode}_loop")
        if loop is None:
            raise RuntimeError(f"Runner.{mode}() needs {mode}_dataloader, {mode}_cfg and "
                               f"{mode}_evaluator when the runner is built")
        with run_guard(self, mode):
            self.call_hook("before_run")
            self.load_or_resume()
            self._maybe_compile()
            metrics = loop.run()
            self.call_hook("after_run")
        return metrics

    def build_optim_wrapper(self, optim_wrapper: Any) -> Any:
        from kiln.optim import build_optim_wrapper

        return build_optim_wrapper(unwrap_model(self.model), optim_wrapper)

    def build_param_scheduler(self, schedulers: Any) -> Any:
        from kiln.optim import build_param_schedulers

        loop = self.train_loop
        return build_param_schedulers(schedulers, self.optim_wrapper,
                                      epoch_length=len(loop.dataloader),
                                      max_epochs=loop.max_epochs, max_iters=loop.max_iters)

    def scale_lr(self, optim_wrapper: Any, auto_scale_lr: Mapping[str, Any] | None = None) -> None:
        batch_size = self._world_size * (getattr(self.train_dataloader, "batch_size", None) or 1)
        builders.scale_lr(optim_wrapper, auto_scale_lr, batch_size, self.logger)

    def _checkpoint_to_load(self) -> str | None:
        if self._load_from is not None:
            return self._load_from
        if self._resume:
            if not hasattr(self, "_resume_source"):  # looked up once (init_weights and resume ask)
                from kiln.runner.checkpointing import find_resume_checkpoint

                self._resume_source = find_resume_checkpoint(self._work_dir)
            return self._resume_source
        return None

    def _init_model_weights(self) -> None:
        """``init_weights()`` unless weights are already there (MMEngine issue #1335)."""
        model = unwrap_model(self.model)
        if not hasattr(model, "init_weights"):
            return
        source = self._checkpoint_to_load()
        if source is not None:
            self.logger.info(f"Skipping init_weights(): the weights come from {source}")
            return
        if getattr(model, "is_init", False):
            self.logger.info(f"Skipping init_weights(): {type(model).__name__} is already initialized")
            return
        model.init_weights()
        if self._distributed:  # every rank starts from rank 0's weights
            for tensor in model.state_dict().values():
                torch.distributed.broadcast(tensor, src=0)

    def load_or_resume(self) -> None:
        """Load ``load_from`` or resume (once per runner)."""
        if self._has_loaded:
            return
        path = self._checkpoint_to_load()
        if self._resume:
            if path is None:
                print_log("Did not find last_checkpoint to be resumed.", logger="current")
            else:
                if self._load_from is None:
                    self.logger.info(f"Auto resumed from the latest checkpoint {path}.")
                self.resume(path)
        elif path is not None:
            self.load_checkpoint(path)
        self._has_loaded = True

    def _maybe_compile(self) -> None:
        compile_cfg = self.cfg.get("compile")
        if not compile_cfg:
            return
        from kiln.model.train_step import compile_steps

        compile_steps(self.model, compile_cfg)

    # -- checkpoints (delegated) ---------------------------------------------------------------------
    def save_checkpoint(self, out_dir: str, filename: str, file_client_args: Any = None,
                        save_optimizer: bool = True, save_param_scheduler: bool = True,
                        meta: dict | None = None, by_epoch: bool = True, backend_args: Any = None,
                        save_format: str = "pth", async_save: bool = False) -> Any:
        """Save the run's state atomically; returns the path written (None on ranks other than 0).

        ``save_format='dcp'`` writes a sharded directory on every rank; ``async_save`` returns a
        ``PendingSave`` at once and writes in the background (see ``kiln.runner.checkpointing``).
        """
        from kiln.runner import checkpointing

        return checkpointing.save_checkpoint(self, out_dir, filename, save_optimizer=save_optimizer,
                                             save_param_scheduler=save_param_scheduler, meta=meta,
                                             by_epoch=by_epoch, save_format=save_format,
                                             async_save=async_save)

    def load_checkpoint(self, filename: str, map_location: Any = "cpu", strict: bool = False,
                        revise_keys: list | None = None) -> dict:
        from kiln.runner import checkpointing

        kwargs = {} if revise_keys is None else dict(revise_keys=revise_keys)
        return checkpointing.load_checkpoint(self, filename, map_location=map_location,
                                             strict=strict, **kwargs)

    def resume(self, filename: str, resume_optimizer: bool = True, resume_param_scheduler: bool = True,
               map_location: Any = "default") -> None:
        from kiln.runner import checkpointing

        checkpointing.resume(self, filename, resume_optimizer=resume_optimizer,
                             resume_param_scheduler=resume_param_scheduler, map_location=map_location)

    def dump_config(self) -> None:
        """Write the config to ``work_dir`` (rank 0), named after its file or the timestamp."""
        if not self.cfg or not is_main_process():
            return
        name = osp.basename(self.cfg.filename) if self.cfg.filename else f"{self._timestamp}.py"
        self.cfg.dump(osp.join(self._work_dir, name))
