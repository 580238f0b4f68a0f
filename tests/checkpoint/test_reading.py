"""Finding checkpoints in a work_dir: files and complete DCP directories."""


def test_checkpoints_found_include_complete_dcp_directories(tmp_path):
    import os
    import time

    from kiln.checkpoint.reading import find_checkpoints, find_previous_checkpoint

    for i, name in enumerate(["epoch_1.pth", "epoch_2", "epoch_3", ".epoch_4.partial", "epoch_5", "notes.pth"]):
        path = tmp_path / name
        if name.endswith(".pth"):
            path.write_bytes(b"x")
        else:
            path.mkdir()
            if name != "epoch_5":  # epoch_5 has no .metadata: not a complete DCP checkpoint
                (path / ".metadata").write_bytes(b"m")
        os.utime(path, (time.time() + i, time.time() + i))
    names = [os.path.basename(p) for p in find_checkpoints(str(tmp_path))]
    assert names == ["epoch_3", "epoch_2", "epoch_1.pth"]
    assert find_previous_checkpoint(str(tmp_path / "epoch_3")) == str(tmp_path / "epoch_2")
    assert find_previous_checkpoint(str(tmp_path / "epoch_2.pth")) == str(tmp_path / "epoch_1.pth")
