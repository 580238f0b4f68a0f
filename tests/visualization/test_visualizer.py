"""Visualizer + backends: scalars.json lines, the config file, real TensorBoard events, curves.png."""

import json
import time

import pytest
import torch

from kiln.errors import ConfigError
from kiln.registry import VISBACKENDS, VISUALIZERS
from kiln.visualization.curves import CurveRecorder, plot_curves, split_series
from kiln.visualization.vis_backend import LocalVisBackend, TensorboardVisBackend
from kiln.visualization.visualizer import Visualizer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_local_backend_writes_one_json_object_per_step(tmp_path):
    backend = LocalVisBackend(save_dir=tmp_path / "vis_data")
    backend.add_scalars({"loss": 1.5, "lr": 0.1, "acc": torch.tensor(0.5)}, step=10)
    backend.add_scalars({"loss": 0.5}, step=20, file_path="20250101_000000.json")
    backend.flush()  # lines are buffered (flushed at most once a second, at flush() and close())
    lines = (tmp_path / "vis_data" / "scalars.json").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"loss": 1.5, "lr": 0.1, "acc": 0.5, "step": 10}, {"loss": 0.5, "step": 20}]
    extra = (tmp_path / "vis_data" / "20250101_000000.json").read_text().splitlines()
    assert [json.loads(line) for line in extra] == [{"loss": 0.5, "step": 20}]
    with pytest.raises(ValueError, match="twice"):
        backend.add_scalars({"loss": 0.5}, step=30, file_path="scalars.json")


def test_local_backend_buffers_records_until_a_flush(tmp_path, monkeypatch):
    monkeypatch.setattr(LocalVisBackend, "FLUSH_SECONDS", 3600.0)  # the timer never fires here
    backend = LocalVisBackend(save_dir=tmp_path)
    path = tmp_path / "scalars.json"
    value = torch.tensor(1.0)
    backend.add_scalars({"loss": value}, step=1)
    value.fill_(9.0)  # the record holds the number logged, not the tensor
    backend.add_scalars({"loss": 0.5}, step=2)
    assert path.read_text() == ""  # buffered: no write syscall per log line
    backend.flush()
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"loss": 1.0, "step": 1}, {"loss": 0.5, "step": 2}]
    backend.add_scalars({"loss": 0.25}, step=3)
    backend.close()
    assert len(path.read_text().splitlines()) == 3


def test_local_backend_writes_a_lone_record_without_another_call(tmp_path, monkeypatch):
    monkeypatch.setattr(LocalVisBackend, "FLUSH_SECONDS", 0.05)
    backend = LocalVisBackend(save_dir=tmp_path)
    path = tmp_path / "scalars.json"
    backend.add_scalars({"loss": 1.0}, step=1)  # the last line of a slow run: nothing comes after it
    deadline = time.monotonic() + 30  # liveness bound only; the timer fires after 0.05 s
    while not path.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1]
    backend.close()


def test_local_backend_writes_config(tmp_path):
    backend = LocalVisBackend(save_dir=tmp_path)
    backend.add_config({"model": {"type": "ToyNet"}, "lr": 0.1})
    text = (tmp_path / "config.py").read_text()
    assert "ToyNet" in text and "'lr': 0.1" in text

    class FakeConfig:
        def dump(self, path):
            with open(path, "w") as f:
                f.write("dumped = True\n")

    backend.add_config(FakeConfig())
    assert (tmp_path / "config.py").read_text() == "dumped = True\n"


def test_backend_without_save_dir_says_how_to_fix():
    with pytest.raises(ValueError, match="save_dir is not set"):
        LocalVisBackend().add_scalars({"loss": 1.0}, step=1)


def test_tensorboard_events_are_readable_by_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    backend = TensorboardVisBackend(save_dir=tmp_path / "tb")
    for step in (10, 20, 30):
        backend.add_scalars({"loss": 1.0 / step, "lr": 0.1, "step": step}, step=step)
    backend.add_config({"lr": 0.1})
    backend.close()
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {"loss", "lr"}
    events = acc.Scalars("loss")
    assert [e.step for e in events] == [10, 20, 30]
    assert [e.value for e in events] == pytest.approx([0.1, 0.05, 1 / 30])


def test_visualizer_config_form_builds_both_backends(tmp_path):
    vis = VISUALIZERS.build(dict(
        type="Visualizer", name="cfg-form", save_dir=str(tmp_path),
        vis_backends=[dict(type="LocalVisBackend"), dict(type="TensorboardVisBackend")]))
    assert Visualizer.get_current_instance() is vis
    vis.add_config({"lr": 0.1})
    for step in range(1, 4):
        vis.add_scalars({"lr": 0.1, "loss": 2.0 / step, "iter": step, "epoch": 1}, step=step)
    vis.add_scalars({"accuracy": 80.0, "time": 0.1}, step=1)
    vis.close()
    scalars = (tmp_path / "vis_data" / "scalars.json").read_text().splitlines()
    assert len(scalars) == 4 and json.loads(scalars[-1]) == {"accuracy": 80.0, "time": 0.1, "step": 1}
    assert (tmp_path / "vis_data" / "config.py").exists()
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "vis_data").iterdir())
    png = (tmp_path / "curves.png").read_bytes()
    assert png.startswith(PNG_MAGIC)
    assert vis.get_backend("TensorboardVisBackend") is not None


def test_visualizer_rejects_bad_backend_and_duplicate_names(tmp_path):
    with pytest.raises(ConfigError, match=r"vis_backends\[0\]"):
        Visualizer(name="bad", save_dir=tmp_path, vis_backends=[dict(type="LocalBackend")])
    with pytest.raises(ConfigError, match="named 'LocalVisBackend'"):
        Visualizer(name="dup", save_dir=tmp_path,
                   vis_backends=[dict(type="LocalVisBackend"), dict(type="LocalVisBackend")])
    with pytest.raises(ConfigError, match="colour"):
        VISUALIZERS.build(dict(type="Visualizer", name="kw", save_dir=tmp_path, colour="red"))


def test_visualizer_without_scalars_writes_no_curves(tmp_path):
    vis = Visualizer(name="empty", save_dir=tmp_path, vis_backends=[dict(type="LocalVisBackend")])
    vis.close()
    assert not (tmp_path / "curves.png").exists()


def test_split_series_separates_train_losses_from_eval_metrics():
    records = [(10, {"lr": 0.1, "loss": 2.0, "loss_cls": 1.0, "time": 0.1, "iter": 10, "epoch": 1}),
               (20, {"lr": 0.1, "loss": 1.0, "loss_cls": 0.5, "acc": 3.0, "iter": 20, "epoch": 1}),
               (1, {"accuracy": 80.0, "data_time": 0.1, "time": 0.2, "step": 1}),
               (2, {"accuracy": 90.0, "val_loss": 0.3})]
    losses, metrics = split_series(records)
    assert losses == {"loss": ([10, 20], [2.0, 1.0]), "loss_cls": ([10, 20], [1.0, 0.5])}
    assert metrics == {"accuracy": ([1, 2], [80.0, 90.0]), "val_loss": ([2], [0.3])}


def test_plot_curves_writes_png_or_nothing(tmp_path):
    assert plot_curves([(1, {"lr": 0.1, "time": 1.0})], tmp_path / "none.png") is None
    path = plot_curves([(1, {"loss": 1.0, "iter": 1}), (2, {"loss": 0.5, "iter": 2})],
                       tmp_path / "sub" / "c.png")
    assert open(path, "rb").read(8) == PNG_MAGIC


def test_backends_registered():
    assert VISBACKENDS.get("LocalVisBackend") is LocalVisBackend
    assert VISBACKENDS.get("TensorboardVisBackend") is TensorboardVisBackend


def test_curve_recorder_thins_long_series():
    recorder = CurveRecorder(max_points=100)
    for step in range(1, 1001):
        recorder.add(step, {"loss": float(step), "iter": step})
    xs, ys = recorder.losses["loss"]
    assert 50 <= len(xs) <= 100
    assert xs[0] == 1 and xs == sorted(xs) and ys == [float(x) for x in xs]


def test_get_instance_reuses_by_name_but_not_across_log_dirs(tmp_path):
    a = Visualizer.get_instance("same-second", save_dir=str(tmp_path / "a"))
    assert Visualizer.get_instance("same-second") is a
    assert Visualizer.get_instance("same-second", save_dir=str(tmp_path / "a")) is a
    b = Visualizer.get_instance("same-second", save_dir=str(tmp_path / "b"))
    assert b is not a and b.save_dir == str(tmp_path / "b")
    assert Visualizer.get_current_instance() is b


def test_add_image_set_image_and_add_datasample(tmp_path):
    import numpy as np

    vis = Visualizer(name="images-h2", save_dir=str(tmp_path), vis_backends=[dict(type="LocalVisBackend")])
    assert vis.get_image() is None
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    vis.set_image(torch.from_numpy(image).permute(2, 0, 1))  # CHW in, HWC uint8 out
    assert np.array_equal(vis.get_image(), image)
    vis.add_image("direct", image, step=1)
    vis.add_datasample("sample", image, step=2)
    folder = tmp_path / "vis_data" / "vis_image"
    assert sorted(p.name for p in folder.iterdir()) == ["direct_1.png", "sample_2.png"]
    assert (folder / "direct_1.png").read_bytes().startswith(PNG_MAGIC)


def test_instances_follow_manager_mixin(tmp_path):
    first = Visualizer.get_instance("mixin-h2", save_dir=str(tmp_path / "a"))
    later = Visualizer(name="mixin-h2-later", save_dir=str(tmp_path / "b"))  # built = registered
    assert Visualizer.get_current_instance() is later
    assert Visualizer.get_instance("mixin-h2") is first  # fetching does not make it current
    assert Visualizer.get_current_instance() is later
    assert Visualizer.check_instance_created("mixin-h2") and first.instance_name == "mixin-h2"


def test_local_backend_refuses_an_unencodable_value_in_the_call(tmp_path):
    backend = LocalVisBackend(save_dir=tmp_path)
    with pytest.raises(TypeError, match="not JSON serializable"):
        backend.add_scalars({"loss": 1.0, "bad": object()}, step=1)
    backend.add_scalars({"loss": 1.0, "tags": "a"}, step=2)
    backend.close()
    assert [json.loads(line)["step"] for line in (tmp_path / "scalars.json").read_text().splitlines()] == [2]
