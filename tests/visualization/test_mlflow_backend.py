"""MLflowVisBackend against a real local MLflow file store: scalars, params, tags, config, images."""

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow", reason="mlflow-skinny is an optional dependency (pip install mlflow-skinny)")

from mlflow.tracking import MlflowClient  # noqa: E402

from kiln.visualization import MLflowVisBackend, Visualizer  # noqa: E402


def test_scalars_params_tags_and_config_read_back(tmp_path):
    log_dir = tmp_path / "20250101_000000"
    log_dir.mkdir()
    (log_dir / "20250101_000000.log").write_text("a log line\n")
    backend = MLflowVisBackend(save_dir=log_dir / "vis_data", exp_name="toy", run_name="lr0.1",
                               tags=dict(team="kiln"), params=dict(lr=0.1))
    backend.add_config({"model": {"type": "ToyModel", "depth": 2}, "seed": 0})
    for step, loss in [(1, 1.0), (2, 0.5), (3, 0.25)]:
        backend.add_scalars({"loss": loss, "lr": 0.1, "step": step, "mode": "train"}, step=step)
    backend.add_scalar("accuracy", 80.0, step=1)
    backend.add_image("sample", np.zeros((4, 4, 3), dtype=np.uint8), step=2)
    uri, run_id = backend.tracking_uri, backend.run_id
    backend.close()
    assert uri.startswith("file:") and (log_dir / "vis_data" / "mlruns").is_dir()
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    assert run.info.run_name == "lr0.1" and run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "toy"
    assert run.data.tags["team"] == "kiln"
    assert run.data.params == {"lr": "0.1", "model.type": "ToyModel", "model.depth": "2", "seed": "0"}
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 0.5), (3, 0.25)]
    assert "step" not in run.data.metrics and "mode" not in run.data.metrics
    assert run.data.metrics["accuracy"] == 80.0
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert artifacts == {"config.py", "20250101_000000.log", "sample_2.png"}


def test_through_the_visualizer_config(tmp_path):
    vis = Visualizer(name="mlflow-vis-h2", save_dir=str(tmp_path),
                     vis_backends=[dict(type="MLflowVisBackend", exp_name="cfg")])
    vis.add_scalars({"loss": 2.0}, step=1)
    backend = vis.get_backend("MLflowVisBackend")
    uri, run_id = backend.tracking_uri, backend.run_id
    vis.close()
    assert str(tmp_path / "vis_data" / "mlruns") in uri
    history = MlflowClient(tracking_uri=uri).get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 2.0)]
