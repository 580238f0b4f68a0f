"""Each saved checkpoint's sha256 is computed while it streams to disk and checked when it is loaded:
one flipped byte is an error naming the file and the previous good checkpoint, never silent."""

import errno
import hashlib

import pytest
import torch

from kiln.checkpoint.reading import read_checkpoint, verify_digest
from kiln.checkpoint.saving import digest_path, save_checkpoint
from kiln.errors import CheckpointError


def _flip_byte(path, offset=None):
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_the_sidecar_holds_the_sha256_of_the_file_written(tmp_path):
    path = tmp_path / "iter_4.pth"
    save_checkpoint({"state_dict": {"w": torch.randn(1000)}}, path)
    recorded, name = (tmp_path / "iter_4.pth.sha256").read_text().split()
    assert recorded == hashlib.sha256(path.read_bytes()).hexdigest() and name == "iter_4.pth"
    assert verify_digest(str(path)) is True


def test_the_digest_is_computed_while_writing_not_by_reading_back(tmp_path, monkeypatch):
    import builtins

    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda file, mode="r", *a, **k: opened.append((str(file), mode))
                        or real_open(file, mode, *a, **k))
    save_checkpoint({"w": torch.ones(10)}, tmp_path / "a.pth")
    assert not [f for f, mode in opened if f.endswith("a.pth") and "r" in mode and "+" not in mode]


def test_a_flipped_byte_is_an_error_naming_the_file_and_the_previous_checkpoint(tmp_path):
    for it in (4, 8):
        save_checkpoint({"state_dict": {"w": torch.full((4000,), float(it))}}, tmp_path / f"iter_{it}.pth")
    data = (tmp_path / "iter_8.pth").read_bytes()
    weights_at = data.index(torch.full((4,), 8.0).numpy().tobytes())
    _flip_byte(tmp_path / "iter_8.pth", offset=weights_at + 2)  # a weight: torch.load would not notice
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(str(tmp_path / "iter_8.pth"))
    message = str(info.value)
    assert f"checkpoint '{tmp_path / 'iter_8.pth'}' is truncated or corrupt: its sha256" in message
    assert f"Resume from the previous checkpoint instead: {tmp_path / 'iter_4.pth'}" in message
    # the opt-out for huge files
    loaded = read_checkpoint(str(tmp_path / "iter_8.pth"), verify=False)
    assert not torch.equal(loaded["state_dict"]["w"], torch.full((4000,), 8.0))


def test_a_file_without_sidecar_loads_unverified(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "mmengine.pth")
    assert verify_digest(str(tmp_path / "mmengine.pth")) is False
    assert read_checkpoint(str(tmp_path / "mmengine.pth"))["w"].sum() == 2


def test_an_overwritten_checkpoint_gets_a_fresh_digest(tmp_path):
    path = tmp_path / "iter_1.pth"
    save_checkpoint({"w": torch.ones(2)}, path)
    save_checkpoint({"w": torch.zeros(2)}, path)
    assert verify_digest(str(path)) and read_checkpoint(str(path))["w"].sum() == 0


def test_disk_full_says_enospc_how_much_and_that_the_previous_file_is_intact(tmp_path, monkeypatch):
    path = tmp_path / "iter_1.pth"
    save_checkpoint({"w": torch.ones(4)}, path)

    def full_disk(obj, f, *args, **kwargs):
        f.write(b"PK partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError) as info:
        save_checkpoint({"w": torch.zeros(2**20)}, path)  # 4 MiB of float32
    message = str(info.value)
    assert f"could not save checkpoint {path}: No space left on device (ENOSPC)" in message
    assert "needs about 4.0 MiB" in message and "the previous file (if any) is intact" in message
    assert "max_keep_ckpts=N needs room for N+1 checkpoints" in message
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iter_1.pth", "iter_1.pth.sha256"]
    assert read_checkpoint(str(path))["w"].sum() == 4
    assert digest_path(path) == str(path) + ".sha256"
