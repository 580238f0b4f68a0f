"""``MLflowVisBackend``: scalars, config, images and the run's log files to an MLflow run.

``mlflow`` (``mlflow-skinny`` is enough) is imported when the first value is written. By default
the run goes to a local file store, ``<save_dir>/mlruns`` (``tracking_uri='file:...'``): nothing
needs a server, and ``mlflow ui --backend-store-uri <save_dir>/mlruns`` shows it. Everything goes
through an explicit ``MlflowClient`` and run id, never mlflow's process-global active run, so two
runs in one process do not write into each other.

Example:
    >>> visualizer = dict(type='Visualizer', vis_backends=[
    ...     dict(type='MLflowVisBackend', exp_name='toy', run_name='lr0.1', tags=dict(team='a'))])
"""

from __future__ import annotations

import numbers
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from kiln.registry import VISBACKENDS
from kiln.visualization.vis_backend import BaseVisBackend, _to_number, config_text, to_hwc_uint8

__all__ = ["MLflowVisBackend"]

_MAX_PARAM_CHARS = 500  # MLflow's smallest documented param-value limit across stores


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{'a': {'b': 1}}`` → ``{'a.b': '1'}``: MLflow params are flat strings."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = str(value)[:_MAX_PARAM_CHARS]
    return out


@VISBACKENDS.register_module()
class MLflowVisBackend(BaseVisBackend):
    """Log to an MLflow run (a local file store under ``save_dir`` unless ``tracking_uri`` is given).

    Args:
        save_dir: Directory of the file store (``<save_dir>/mlruns``).
        exp_name: Experiment name (created if missing; default ``'Default'``).
        run_name: Run name.
        tags: Run tags.
        params: Extra run params (logged with the config's flattened keys).
        tracking_uri: Where runs go (``file:...``, ``http://...``, ``sqlite:///...``).
        artifact_suffix: At close, files of the log dir (``save_dir``'s parent) ending with one
            of these are logged as artifacts.
    """

    def __init__(self, save_dir: str | os.PathLike | None = None, exp_name: str | None = None,
                 run_name: str | None = None, tags: dict | None = None, params: dict | None = None,
                 tracking_uri: str | None = None,
                 artifact_suffix: Sequence[str] | str = (".json", ".log", ".py", "yaml")) -> None:
        super().__init__(save_dir)
        self._exp_name = exp_name or "Default"
        self._run_name = run_name
        self._tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self._params = dict(params or {})
        self._tracking_uri = tracking_uri
        self._artifact_suffix = (artifact_suffix,) if isinstance(artifact_suffix, str) else tuple(artifact_suffix)
        self._client = None
        self._run_id: str | None = None

    @property
    def experiment(self):
        """The ``MlflowClient`` (the run is created on first use)."""
        if self._client is None:
            self._start()
        return self._client

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri or "file:" + os.path.join(os.path.abspath(self._ensure_dir()), "mlruns")

    def _start(self) -> None:
        uri = self.tracking_uri
        if uri.startswith("file:"):
            # MLflow >= 3.7 refuses its file store unless this is set; the local store under
            # save_dir is this backend's documented default, so opt in (a user's value wins).
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as exc:
            raise ImportError("MLflowVisBackend needs mlflow: pip install mlflow-skinny "
                              "(or mlflow)") from exc
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(self._exp_name)
        exp_id = experiment.experiment_id if experiment is not None else client.create_experiment(self._exp_name)
        run = client.create_run(exp_id, run_name=self._run_name, tags=self._tags)
        self._client, self._run_id = client, run.info.run_id
        if self._params:
            self._log_params(_flatten(self._params))

    def _log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):  # log_batch takes at most 100 params per call
            self.experiment.log_batch(self._run_id, params=items[i:i + 100])

    def add_config(self, config: Any, **kwargs: Any) -> None:
        """The config's flattened keys as params, its text as the artifact ``config.py``."""
        to_dict = getattr(config, "to_dict", None)
        as_dict = to_dict() if callable(to_dict) else config
        client = self.experiment
        if isinstance(as_dict, Mapping):
            known = set(_flatten(self._params))
            self._log_params({k: v for k, v in _flatten(as_dict).items() if k not in known})
        client.log_text(self._run_id, config_text(config), "config.py")

    def add_scalar(self, name: str, value: Any, step: int = 0, **kwargs: Any) -> None:
        self.add_scalars({name: value}, step)

    def add_scalars(self, scalar_dict: dict[str, Any], step: int = 0,
                    file_path: str | None = None, **kwargs: Any) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, int(step))
                   for key, value in ((k, _to_number(v)) for k, v in scalar_dict.items())
                   if key != "step" and isinstance(value, numbers.Number)]
        if metrics:
            self.experiment.log_batch(self._run_id, metrics=metrics)

    def add_image(self, name: str, image: Any, step: int = 0, **kwargs: Any) -> None:
        self.experiment.log_image(self._run_id, to_hwc_uint8(image), f"{name}_{step}.png")

    def close(self) -> None:
        """Log the run's files (``artifact_suffix``) and end the run."""
        if self._client is None:
            return
        log_dir = os.path.dirname(os.path.abspath(self._save_dir)) if self._save_dir else None
        if log_dir and os.path.isdir(log_dir):
            for name in sorted(os.listdir(log_dir)):
                path = os.path.join(log_dir, name)
                if os.path.isfile(path) and name.endswith(self._artifact_suffix):
                    self._client.log_artifact(self._run_id, path)
        self._client.set_terminated(self._run_id)
        self._client = None
