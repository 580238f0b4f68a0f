"""The Visualizer: fans logged scalars and the config out to its backends, and draws curves.png.

Config form as in MMEngine::

    visualizer=dict(type='Visualizer',
                    vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])

The Runner adds ``name`` and ``save_dir=<log_dir>``; each backend writes under
``<log_dir>/vis_data``. Only rank 0 writes. ``add_image`` sends an image to every backend (a PNG
with ``LocalVisBackend``); ``set_image``/``get_image`` hold the image being worked on. MMEngine's
matplotlib drawing primitives (``draw_bboxes``, ``draw_texts``, ...) are not part of kiln.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from kiln.dist import is_main_process, master_only
from kiln.errors import ConfigError
from kiln.logging import print_log
from kiln.registry import VISBACKENDS, VISUALIZERS
from kiln.utils.manager import ManagerMixin
from kiln.visualization.curves import CurveRecorder, plot_curves
from kiln.visualization.vis_backend import BaseVisBackend, to_hwc_uint8

__all__ = ["Visualizer"]


@VISUALIZERS.register_module()
class Visualizer(ManagerMixin):
    """Send scalars/config/images to every backend; at ``close()`` write ``<save_dir>/curves.png``.

    A visualizer registers itself when built (it becomes ``get_current_instance()``), so one built
    from a config is the one hooks find.

    Args:
        name: Instance name (``Visualizer.get_instance(name)``).
        image: The initial image of ``get_image()`` (an ``(H, W, 3)`` array).
        vis_backends: Backend configs (``dict(type='LocalVisBackend')``) or instances.
        save_dir: The run's log dir; backends get ``<save_dir>/vis_data`` unless they set their own.
        plot_curves: Draw ``curves.png`` at close.
        fig_save_cfg, fig_show_cfg: MMEngine's matplotlib figure options; accepted for config
            compatibility, unused (kiln does not draw on figures).
    """

    def __init__(self, name: str = "visualizer", image: Any = None,
                 vis_backends: Sequence[dict | BaseVisBackend] | dict | None = None,
                 save_dir: str | os.PathLike | None = None, plot_curves: bool = True,
                 fig_save_cfg: dict | None = None, fig_show_cfg: dict | None = None) -> None:
        super().__init__(name)
        self._image = None if image is None else to_hwc_uint8(image)
        self._save_dir = os.fspath(save_dir) if save_dir is not None else None
        self._plot_curves = plot_curves
        self._dataset_meta: dict | None = None
        self._curves = CurveRecorder()
        self._backends: dict[str, BaseVisBackend] = {}
        if isinstance(vis_backends, (dict, BaseVisBackend)):
            vis_backends = [vis_backends]
        for i, cfg in enumerate(vis_backends or []):
            self._add_backend(cfg, f"visualizer.vis_backends[{i}]")
        self._register_instance()

    def _add_backend(self, cfg: dict | BaseVisBackend, path: str) -> None:
        if isinstance(cfg, BaseVisBackend):
            backend, name = cfg, type(cfg).__name__
        elif isinstance(cfg, dict):
            cfg = dict(cfg)
            name = cfg.pop("name", None)
            if cfg.get("save_dir") is None and self._save_dir is not None:
                cfg["save_dir"] = os.path.join(self._save_dir, "vis_data")
            backend = VISBACKENDS.build(cfg, path=path)
            name = name or type(backend).__name__
        else:
            raise ConfigError(path, f"expected a backend config dict or instance, got {type(cfg).__name__}")
        if name in self._backends:
            raise ConfigError(path, f"two backends are named {name!r}; give one a distinct 'name'")
        self._backends[name] = backend

    # -- instances (ManagerMixin) ------------------------------------------------------------
    @classmethod
    def get_instance(cls, name: str, **kwargs: Any) -> Visualizer:
        """The visualizer called ``name`` (created with ``kwargs`` on first use).

        Unlike MMEngine, a second run that reuses the name (two runners started in the same
        second) but writes elsewhere (another ``save_dir``) gets a new visualizer instead of the
        first run's: it replaces the old one under that name and becomes current.
        """
        existing = cls._instance_dict.get(name)
        save_dir = kwargs.get("save_dir")
        if existing is None or (save_dir is not None and os.fspath(save_dir) != existing.save_dir):
            return cls(name=name, **kwargs)  # registers itself (replacing a moved one)
        return existing

    @classmethod
    def get_current_instance(cls) -> Visualizer:
        """The most recently created visualizer (one named ``visualizer`` if none exists yet)."""
        if not cls._instance_dict:
            return cls.get_instance("visualizer")
        return super().get_current_instance()

    # -- properties --------------------------------------------------------------------------
    @property
    def dataset_meta(self) -> dict | None:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict | None) -> None:
        self._dataset_meta = meta

    @property
    def save_dir(self) -> str | None:
        return self._save_dir

    def get_backend(self, name: str) -> BaseVisBackend | None:
        return self._backends.get(name)

    # -- writing -----------------------------------------------------------------------------
    @master_only
    def add_config(self, config: Any, **kwargs: Any) -> None:
        for backend in self._backends.values():
            backend.add_config(config, **kwargs)

    # -- images ------------------------------------------------------------------------------
    def set_image(self, image: Any) -> None:
        """Hold ``image`` (``(H, W, 3)`` RGB, uint8 or float in [0, 1]) as the current image."""
        self._image = to_hwc_uint8(image)

    def get_image(self) -> Any:
        """The current image as an ``(H, W, C)`` uint8 array (None before ``set_image``)."""
        return self._image

    @master_only
    def add_image(self, name: str, image: Any, step: int = 0) -> None:
        """Send ``image`` to every backend (``LocalVisBackend``: ``vis_image/<name>_<step>.png``)."""
        image = to_hwc_uint8(image)
        for backend in self._backends.values():
            backend.add_image(name, image, step)

    def add_datasample(self, name: str, image: Any, data_sample: Any = None, pred_sample: Any = None,
                       draw_gt: bool = True, draw_pred: bool = True, show: bool = False,
                       wait_time: float = 0, step: int = 0, **kwargs: Any) -> None:
        """Show one sample: the base class adds the image as is.

        Task visualizers (a detector drawing boxes) override this, as in MMEngine; the
        ``NaiveVisualizationHook`` calls it for each test sample.
        """
        self.set_image(image)
        self.add_image(name, self.get_image(), step)

    @master_only
    def add_scalar(self, name: str, value: Any, step: int = 0, **kwargs: Any) -> None:
        self._curves.add(step, {name: value})
        for backend in self._backends.values():
            backend.add_scalar(name, value, step, **kwargs)

    @master_only
    def add_scalars(self, scalar_dict: dict[str, Any], step: int = 0, file_path: str | None = None,
                    **kwargs: Any) -> None:
        """Write one step's values to every backend (called by LoggerHook at log intervals)."""
        self._curves.add(step, scalar_dict)
        for backend in self._backends.values():
            backend.add_scalars(scalar_dict, step, file_path=file_path, **kwargs)

    def flush(self) -> None:
        """Write what the backends buffered (LoggerHook: at epoch ends; ``close`` does it too)."""
        for backend in self._backends.values():
            backend.flush()

    def close(self) -> None:
        """Close the backends and draw ``<save_dir>/curves.png`` (rank 0, once per run)."""
        for backend in self._backends.values():
            backend.close()
        if self._plot_curves and self._save_dir is not None and self._curves and is_main_process():
            path = plot_curves(self._curves, os.path.join(self._save_dir, "curves.png"),
                               title=self.instance_name)
            if path is not None:
                print_log(f"Loss and metric curves are saved to {path}", logger="current")
        self._curves = CurveRecorder()
