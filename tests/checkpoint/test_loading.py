"""Checkpoint loading: weights_only safety, corrupt files, key mismatch reports, prefixes, http."""

import functools
import http.server
import os
import threading

import pytest
import torch
import torch.nn as nn

from kiln.checkpoint import load_checkpoint, load_checkpoint_file, load_state_dict
from kiln.errors import CheckpointError
from kiln.logging import close_log_file, get_logger
from kiln.model import BaseModule


@pytest.fixture(autouse=True)
def _console_logger(monkeypatch, tmp_path):
    close_log_file()
    get_logger(log_level="INFO")
    monkeypatch.setenv("KILN_HOME", str(tmp_path / "kiln_home"))


class Net(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(1, 2, 1)
        self.bn = nn.BatchNorm2d(2)
        self.head = nn.Linear(2, 3)


def filled(value: float) -> Net:
    net = Net()
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
    return net


class Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil.pth"
    torch.save({"state_dict": filled(1).state_dict(), "meta": Payload(str(marker))}, ckpt)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint_file(ckpt)
    message = str(info.value)
    assert str(ckpt) in message and "weights_only=False" in message
    assert "dict(type='Pretrained', checkpoint=..., weights_only=False)" in message
    assert "arbitrary code" in message and "GLOBAL io.open" in message
    assert not marker.exists()
    net = Net([dict(type="Pretrained", checkpoint=str(ckpt))])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"^init_cfg\[0\].checkpoint: refused to load"):
        net.init_weights()
    assert not marker.exists()
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())


def test_opting_in_loads_trusted_pickles(tmp_path):
    ckpt = tmp_path / "trusted.pth"
    torch.save({"state_dict": filled(2).state_dict(), "meta": Payload(str(tmp_path / "made"))}, ckpt)
    net = Net([dict(type="Pretrained", checkpoint=str(ckpt), weights_only=False)])
    net.init_weights()
    assert torch.all(net.head.weight == 2)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_checkpoint_file(tmp_path / "nope.pth")


@pytest.mark.parametrize("content", [b"", b"garbage bytes", "truncated"])
def test_corrupt_or_truncated_file(tmp_path, content):
    ckpt = tmp_path / "bad.pth"
    if content == "truncated":
        torch.save(filled(1).state_dict(), ckpt)
        content = ckpt.read_bytes()[:100]
    ckpt.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"bad.pth' cannot be read \(truncated or corrupt file\?\)"):
        load_checkpoint_file(ckpt)


def test_non_dict_checkpoint(tmp_path):
    ckpt = tmp_path / "t.pth"
    torch.save(torch.zeros(2), ckpt)
    with pytest.raises(CheckpointError, match="holds a Tensor, expected a dict"):
        load_checkpoint_file(ckpt)


def test_load_state_dict_reports_every_problem_in_one_pass():
    net = Net()
    source = filled(5).state_dict()
    source.pop("conv.bias")
    source.pop("bn.num_batches_tracked")  # old checkpoints lack it: not reported
    source["extra.weight"] = torch.zeros(1)
    source["head.weight"] = torch.zeros(4, 2)
    report = load_state_dict(net, source)
    assert report.missing == ["conv.bias"]
    assert report.unexpected == ["extra.weight"]
    assert report.mismatched == [("head.weight", (4, 2), (3, 2))]
    assert torch.all(net.conv.weight == 5) and torch.all(net.head.bias == 5)
    assert not torch.all(net.head.weight == 0)
    table = report.table()
    assert table.startswith("The model and loaded state dict do not match exactly\n")
    assert "conv.bias" in table and "missing in checkpoint" in table
    assert "extra.weight" in table and "unexpected (not in model)" in table
    assert "head.weight" in table and "shape mismatch" in table and "(4, 2)" in table and "(3, 2)" in table


def test_strict_raises_before_loading_anything():
    net = Net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    source = filled(5).state_dict()
    source["extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="extra"):
        load_state_dict(net, source, strict=True)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert load_state_dict(net, filled(6).state_dict(), strict=True).ok


def test_load_checkpoint_unwraps_revises_and_returns_everything(tmp_path, capsys):
    ckpt = tmp_path / "ddp.pth"
    state = {f"module.{k}": v for k, v in filled(3).state_dict().items()}
    torch.save({"meta": {"epoch": 4}, "state_dict": state}, ckpt)
    net = Net()
    out = load_checkpoint(net, ckpt)
    assert out["meta"] == {"epoch": 4}
    assert torch.all(net.bn.weight == 3)
    assert f"INFO - local loads checkpoint from path: {ckpt}" in capsys.readouterr().out
    nested = tmp_path / "nested.pth"
    torch.save({"model": {"state_dict": filled(4).state_dict()}}, nested)
    load_checkpoint(net, nested)
    assert torch.all(net.bn.weight == 4)


def test_mismatch_warning_table_is_logged(tmp_path, capsys):
    ckpt = tmp_path / "part.pth"
    torch.save({k: v for k, v in filled(3).state_dict().items() if k != "head.bias"}, ckpt)
    load_checkpoint(Net(), ckpt)
    out = capsys.readouterr().out
    assert "WARNING - The model and loaded state dict do not match exactly" in out
    assert "head.bias" in out


def test_pretrained_with_prefix(tmp_path, capsys):
    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = filled(7)

    ckpt = tmp_path / "w.pth"
    torch.save({"state_dict": Wrapper().state_dict()}, ckpt)
    net = Net([dict(type="Pretrained", checkpoint=str(ckpt), prefix="backbone")])
    net.init_weights()
    assert torch.all(net.head.weight == 7)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(f"INFO - load backbone in model from: {ckpt}")
    assert lines[1].endswith(f"INFO - local loads checkpoint from path: {ckpt}")


def test_load_checkpoint_prefix_missing(tmp_path):
    ckpt = tmp_path / "c.pth"
    torch.save(filled(1).state_dict(), ckpt)
    with pytest.raises(CheckpointError, match="prefix 'neck' is not in the checkpoint"):
        load_checkpoint(Net(), ckpt, prefix="neck")


@pytest.fixture
def http_dir(tmp_path):
    """Serve ``tmp_path/www`` on 127.0.0.1 (free port) from a thread; yields (base_url, dir, hits)."""
    root = tmp_path / "www"
    root.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root, hits
    server.shutdown()
    server.server_close()
    thread.join()


def test_pretrained_from_http_url_is_downloaded_once(http_dir, tmp_path, capsys):
    base, root, hits = http_dir
    torch.save(filled(8).state_dict(), root / "net.pth")
    url = f"{base}/net.pth"
    net = Net([dict(type="Pretrained", checkpoint=url)])
    net.init_weights()
    assert torch.all(net.head.weight == 8)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(f"INFO - load model from: {url}")
    assert lines[1].endswith(f"INFO - http loads checkpoint from path: {url}")
    cache = tmp_path / "kiln_home" / "checkpoints"
    assert [n.split("-", 1)[1] for n in os.listdir(cache)] == ["net.pth"]  # no leftover temporary file
    Net([dict(type="Pretrained", checkpoint=url)]).init_weights()
    assert hits == ["/net.pth"]


def test_unreachable_url_fails_before_any_weight_changes(http_dir, tmp_path):
    base, _, _ = http_dir
    net = Net([dict(type="Constant", val=1, layer="Linear"),
               dict(type="Pretrained", checkpoint=f"{base}/missing.pth")])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"^init_cfg\[1\].checkpoint: cannot download checkpoint .*404"):
        net.init_weights()
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    cache = tmp_path / "kiln_home" / "checkpoints"
    assert not cache.exists() or os.listdir(cache) == []


def test_download_with_progress_bar_into_the_default_cache(http_dir, tmp_path):
    from kiln.checkpoint import download_checkpoint
    from kiln.checkpoint.download import checkpoint_cache_dir

    base, root, hits = http_dir
    (root / "blob.pth").write_bytes(b"PK" + b"x" * 2_999_998)  # starts like a zip (torch.save) file
    path = download_checkpoint(f"{base}/blob.pth", progress=True)
    assert os.path.dirname(path) == checkpoint_cache_dir() and path.endswith("-blob.pth")
    assert checkpoint_cache_dir() == str(tmp_path / "kiln_home" / "checkpoints")
    assert os.path.getsize(path) == 3_000_000
    assert download_checkpoint(f"{base}/blob.pth") == path and hits == ["/blob.pth"]


def test_url_without_a_file_name_is_refused():
    from kiln.checkpoint import download_checkpoint

    with pytest.raises(CheckpointError, match="cannot derive a file name"):
        download_checkpoint("http://127.0.0.1:9/")
