"""``WandbVisBackend``: scalars, config and images to Weights & Biases — offline unless asked.

``wandb`` is imported when the first value is written (it is an optional dependency). The run is
started with ``mode='offline'`` and ``dir=save_dir``, so nothing leaves the machine and the run
lands in ``<save_dir>/wandb/offline-run-*``; ``wandb sync`` uploads it later. Pass
``init_kwargs=dict(mode='online', project=...)`` to log live.

Example:
    >>> visualizer = dict(type='Visualizer', vis_backends=[
    ...     dict(type='WandbVisBackend', init_kwargs=dict(project='toy'))])
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from typing import Any

from kiln.errors import ConfigError
from kiln.registry import VISBACKENDS
from kiln.visualization.vis_backend import BaseVisBackend, _to_number, config_text, to_hwc_uint8

__all__ = ["WandbVisBackend"]


def _config_dict(config: Any) -> dict[str, Any]:
    to_dict = getattr(config, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return dict(config) if isinstance(config, Mapping) else {"config": config_text(config)}


@VISBACKENDS.register_module()
class WandbVisBackend(BaseVisBackend):
    """Log to a wandb run (``mode='offline'``, ``dir=save_dir`` unless ``init_kwargs`` say otherwise).

    Scalars are logged without wandb's own ``step`` (it must increase, and kiln logs validation at
    epochs next to training at iterations, as MMEngine does); each record carries kiln's
    ``step`` as a value instead, usable with ``define_metric_cfg``.

    Args:
        save_dir: Directory of the offline run.
        init_kwargs: Extra ``wandb.init`` arguments (``project``, ``name``, ``mode``, ...).
        define_metric_cfg: ``{metric: summary}`` (e.g. ``{'val/accuracy': 'max'}``) or a list of
            ``wandb.define_metric`` argument dicts.
        commit: ``commit=`` of each ``wandb.log`` call.
        log_code_name: Save the code directory as an artifact of this name (``run.log_code``).
        watch_kwargs: Not supported (kiln's visualizer has no ``add_graph``); must be None.
    """

    def __init__(self, save_dir: str | os.PathLike | None = None, init_kwargs: dict | None = None,
                 define_metric_cfg: dict | list | None = None, commit: bool | None = True,
                 log_code_name: str | None = None, watch_kwargs: dict | None = None) -> None:
        super().__init__(save_dir)
        if init_kwargs is not None and not isinstance(init_kwargs, Mapping):
            raise ConfigError("visualizer.vis_backends.init_kwargs",
                              f"expected a dict of wandb.init arguments, got {type(init_kwargs).__name__}")
        if watch_kwargs is not None:
            raise ConfigError("visualizer.vis_backends.watch_kwargs",
                              "wandb.watch is not supported by kiln's WandbVisBackend; remove it")
        self._init_kwargs = dict(init_kwargs or {})
        self._define_metric_cfg = define_metric_cfg
        self._commit = commit
        self._log_code_name = log_code_name
        self._run = None
        self._wandb = None

    @property
    def experiment(self):
        """The wandb run (started on first use)."""
        if self._run is None:
            self._run = self._start()
        return self._run

    def _start(self):
        try:
            import wandb
        except ImportError as exc:
            raise ImportError("WandbVisBackend needs the 'wandb' package: pip install wandb") from exc
        self._wandb = wandb
        kwargs = {"mode": "offline", "dir": self._ensure_dir(), **self._init_kwargs}
        run = wandb.init(**kwargs)
        cfg = self._define_metric_cfg
        if isinstance(cfg, Mapping):
            for metric, summary in cfg.items():
                run.define_metric(metric, summary=summary)
        elif isinstance(cfg, (list, tuple)):
            for item in cfg:
                run.define_metric(**item)
        if self._log_code_name is not None:
            run.log_code(name=self._log_code_name)
        return run

    def add_config(self, config: Any, **kwargs: Any) -> None:
        self.experiment.config.update(_config_dict(config), allow_val_change=True)

    def add_scalar(self, name: str, value: Any, step: int = 0, **kwargs: Any) -> None:
        self.add_scalars({name: value}, step)

    def add_scalars(self, scalar_dict: dict[str, Any], step: int = 0,
                    file_path: str | None = None, **kwargs: Any) -> None:
        record = {k: v for k, v in ((k, _to_number(v)) for k, v in scalar_dict.items())
                  if isinstance(v, numbers.Number)}
        record.setdefault("step", step)
        self.experiment.log(record, commit=self._commit)

    def add_image(self, name: str, image: Any, step: int = 0, **kwargs: Any) -> None:
        run = self.experiment
        run.log({name: self._wandb.Image(to_hwc_uint8(image)), "step": step}, commit=self._commit)

    def close(self) -> None:
        if self._run is not None:
            self._run.finish()
            self._run = None
