"""The URL download cache: keyed by the whole URL, payload checked before it is cached, hashes verified."""

import functools
import hashlib
import http.server
import os
import threading

import pytest
import torch

from kiln.checkpoint.download import download_checkpoint
from kiln.checkpoint.loading import load_checkpoint_file
from kiln.errors import CheckpointError


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root, hits
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_two_urls_with_the_same_file_name_are_two_cache_entries(server, tmp_path):
    base, root, hits = server
    for version in (1, 2):
        (root / f"v{version}").mkdir()
        torch.save({"w": torch.full((2,), float(version))}, root / f"v{version}" / "model.pth")
    cache = str(tmp_path / "cache")
    first = download_checkpoint(f"{base}/v1/model.pth", cache_dir=cache)
    second = download_checkpoint(f"{base}/v2/model.pth", cache_dir=cache)
    assert first != second
    assert torch.load(second, weights_only=True)["w"][0] == 2
    assert download_checkpoint(f"{base}/v1/model.pth", cache_dir=cache) == first
    assert hits == ["/v1/model.pth", "/v2/model.pth"]  # the third call came from the cache


def test_an_html_page_served_with_200_is_not_cached(server, tmp_path):
    base, root, hits = server
    (root / "model.pth").write_text("<html><body>Rate limit exceeded</body></html>")
    cache = tmp_path / "cache"
    with pytest.raises(CheckpointError, match=r"did not return a checkpoint .*'<html>.*Nothing was cached at "
                                              + str(cache)):
        download_checkpoint(f"{base}/model.pth", cache_dir=str(cache))
    assert os.listdir(cache) == []
    torch.save({"w": torch.ones(1)}, root / "model.pth")  # the server recovers: the next try works
    assert torch.load(download_checkpoint(f"{base}/model.pth", cache_dir=str(cache)), weights_only=True)["w"] == 1


def test_sha256_argument_and_hub_style_hash_prefix_are_verified(server, tmp_path):
    base, root, _ = server
    torch.save({"w": torch.ones(3)}, root / "a.pth")
    digest = hashlib.sha256((root / "a.pth").read_bytes()).hexdigest()
    cache = str(tmp_path / "cache")
    assert download_checkpoint(f"{base}/a.pth", cache_dir=cache, sha256=digest)
    os.rename(root / "a.pth", root / f"net-{digest[:8]}.pth")  # torch.hub's naming: verified too
    assert download_checkpoint(f"{base}/net-{digest[:8]}.pth", cache_dir=cache)
    os.rename(root / f"net-{digest[:8]}.pth", root / "net-deadbeef.pth")
    with pytest.raises(CheckpointError, match="does not match the expected deadbeef; nothing was cached at"):
        download_checkpoint(f"{base}/net-deadbeef.pth", cache_dir=cache)


def test_loading_a_url_goes_through_the_cache(server, tmp_path, monkeypatch):
    base, root, hits = server
    monkeypatch.setenv("KILN_HOME", str(tmp_path / "home"))
    torch.save({"state_dict": {"w": torch.ones(2)}}, root / "m.pth")
    assert load_checkpoint_file(f"{base}/m.pth", log=False)["state_dict"]["w"].sum() == 2
    assert load_checkpoint_file(f"{base}/m.pth", log=False)["state_dict"]["w"].sum() == 2
    assert hits == ["/m.pth"]
