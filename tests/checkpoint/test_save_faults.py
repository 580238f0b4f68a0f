"""A save killed midway (SIGKILL) or hitting a file-size limit never damages the previous checkpoint."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from kiln.checkpoint.saving import save_checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and rlimits")

_CHILD_KILLED = textwrap.dedent("""
    import sys, time, torch
    from kiln.checkpoint.saving import atomic_save

    def slow_writer(obj, path):
        torch.save(obj, path)            # the new file is fully written into the temp file ...
        with open(path, 'r+b') as f:     # ... and being rewritten when the process dies
            f.truncate(100)
        print('writing', flush=True)
        time.sleep(60)

    atomic_save({'v': torch.full((1000,), 2.0)}, sys.argv[1], writer=slow_writer)
""")

_CHILD_FSIZE = textwrap.dedent("""
    import resource, signal, sys, torch
    from kiln.checkpoint.saving import save_checkpoint
    from kiln.errors import CheckpointError

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # writes past the limit fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    try:
        save_checkpoint({'v': torch.zeros(1_000_000)}, sys.argv[1])   # 4 MB > the 200 kB limit
    except CheckpointError as exc:
        print('ERROR:', exc)
        sys.exit(3)
""")


def _previous(tmp_path):
    target = tmp_path / "epoch_1.pth"
    save_checkpoint({"v": torch.full((1000,), 1.0)}, target)
    last = tmp_path / "last_checkpoint"
    last.write_text(str(target))
    return target, last


def test_sigkill_mid_save_keeps_previous_checkpoint(tmp_path):
    target, last = _previous(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", _CHILD_KILLED, str(target)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        temps = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        assert temps, "the child writes into a temporary file next to the target"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    loaded = torch.load(target, weights_only=True)
    assert torch.equal(loaded["v"], torch.full((1000,), 1.0))
    assert last.read_text() == str(target)


def test_file_size_limit_gives_clear_error_and_keeps_previous(tmp_path):
    target, _ = _previous(tmp_path)
    result = subprocess.run([sys.executable, "-c", _CHILD_FSIZE, str(target)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert "could not save checkpoint" in result.stdout and str(target) in result.stdout
    assert sorted(os.listdir(tmp_path)) == ["epoch_1.pth", "epoch_1.pth.sha256", "last_checkpoint"], "temp file removed"
    assert torch.equal(torch.load(target, weights_only=True)["v"], torch.full((1000,), 1.0))
