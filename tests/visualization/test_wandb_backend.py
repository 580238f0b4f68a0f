"""WandbVisBackend in wandb's offline mode: the run lands in save_dir and its records read back."""

import glob
import json
import os
import struct

import numpy as np
import pytest

wandb = pytest.importorskip("wandb", reason="wandb is an optional dependency (pip install wandb)")

from kiln.visualization import Visualizer, WandbVisBackend  # noqa: E402

_BLOCK = 32768


def _records(path):
    """The protobuf records of a ``run-*.wandb`` file (a 7-byte header, then a LevelDB-style log)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = open(path, "rb").read()
    assert data[:4] == b":W&B"
    pos, chunks = 7, b""
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        chunks += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST
            record = pb.Record()
            record.ParseFromString(chunks)
            chunks = b""
            yield record


def _read(run_dir, kind):
    """The ``history`` (or ``config``) records of an offline run, as dicts."""
    wandb.teardown()  # wandb's core process writes the file asynchronously; this waits for it
    path = glob.glob(os.path.join(run_dir, "run-*.wandb"))[0]
    rows = []
    for record in _records(path):
        if record.WhichOneof("record_type") == kind:
            items = record.history.item if kind == "history" else record.config.update
            rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items})
    return rows


def _history(run_dir):
    return [{k: v for k, v in row.items() if not k.startswith("_")} for row in _read(run_dir, "history")]


@pytest.fixture(autouse=True)
def _quiet_wandb(monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")  # no stdout capture thread in tests


def test_offline_run_in_save_dir_with_scalars_and_config(tmp_path):
    backend = WandbVisBackend(save_dir=tmp_path, init_kwargs=dict(project="kiln-test", name="toy"))
    backend.add_config({"model": {"type": "ToyModel"}, "lr": 0.1})
    backend.add_scalars({"loss": 1.0, "lr": 0.1, "mode": "train"}, step=1)
    backend.add_scalars({"loss": 0.5, "lr": 0.1}, step=2)
    backend.add_scalar("accuracy", 80.0, step=1)
    backend.add_image("sample", np.zeros((4, 4, 3), dtype=np.uint8), step=2)
    run = backend.experiment
    assert run.settings.mode == "offline"
    backend.close()
    run_dirs = glob.glob(str(tmp_path / "wandb" / "offline-run-*"))
    assert len(run_dirs) == 1
    scalars = _history(run_dirs[0])
    assert scalars[:3] == [{"loss": 1.0, "lr": 0.1, "step": 1}, {"loss": 0.5, "lr": 0.1, "step": 2},
                           {"accuracy": 80.0, "step": 1}]
    image = scalars[3]
    assert image["step"] == 2 and image["sample/_type"] == "image-file"
    assert (image["sample/width"], image["sample/height"]) == (4, 4)
    assert os.path.isfile(os.path.join(run_dirs[0], "files", image["sample/path"]))
    config = {k: v for row in _read(run_dirs[0], "config") for k, v in row.items()}
    assert config["model"] == {"type": "ToyModel"} and config["lr"] == 0.1


def test_init_kwargs_override_mode_and_errors(tmp_path):
    backend = WandbVisBackend(save_dir=tmp_path, init_kwargs=dict(mode="disabled"))
    backend.add_scalars({"loss": 1.0}, step=1)  # disabled: nothing written, nothing raised
    backend.close()
    assert not glob.glob(str(tmp_path / "wandb" / "offline-run-*"))
    from kiln.errors import ConfigError

    with pytest.raises(ConfigError, match="watch_kwargs"):
        WandbVisBackend(save_dir=tmp_path, watch_kwargs=dict(log="all"))


def test_missing_wandb_names_the_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb":
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    with pytest.raises(ImportError, match="pip install wandb"):
        WandbVisBackend(save_dir=tmp_path).add_scalars({"loss": 1.0})


def test_through_the_visualizer_config(tmp_path):
    vis = Visualizer(name="wandb-vis-h2", save_dir=str(tmp_path), vis_backends=[dict(type="WandbVisBackend")])
    vis.add_scalars({"loss": 2.0}, step=5)
    vis.close()
    run_dirs = glob.glob(str(tmp_path / "vis_data" / "wandb" / "offline-run-*"))
    assert len(run_dirs) == 1
    assert _history(run_dirs[0]) == [{"loss": 2.0, "step": 5}]
