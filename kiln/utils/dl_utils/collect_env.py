"""``collect_env()``: the versions and hardware a bug report (or a run's log) should state."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import torch

from kiln.version import __version__

__all__ = ["collect_env"]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _gcc() -> str:
    try:
        return subprocess.check_output(["gcc", "--version"], text=True, stderr=subprocess.DEVNULL,
                                       timeout=10).splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "n/a"


def collect_env() -> OrderedDict[str, str]:
    """An ordered ``{name: value}`` of the environment, in MMEngine's order (``sys.platform``
    first, ``PyTorch``/``TorchVision``/``OpenCV`` then the engine's version last)."""
    env: OrderedDict[str, str] = OrderedDict()
    env["sys.platform"] = sys.platform
    env["Python"] = sys.version.replace("\n", "")
    cuda = torch.cuda.is_available()
    env["CUDA available"] = str(cuda)
    env["numpy_random_seed"] = str(np.random.get_state()[1][0])
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        env["MPS available"] = "True"
    if cuda:
        names: dict[str, list[str]] = {}
        for i in range(torch.cuda.device_count()):
            names.setdefault(torch.cuda.get_device_name(i), []).append(str(i))
        for name, ids in names.items():
            env["GPU " + ",".join(ids)] = name
        env["CUDA (torch built with)"] = str(torch.version.cuda)
    env["GCC"] = _gcc()
    env["PyTorch"] = torch.__version__
    env["PyTorch compiling details"] = torch.__config__.show()
    env["NumPy"] = np.__version__
    for label, dist in (("TorchVision", "torchvision"), ("OpenCV", "opencv-python")):
        version = _version(dist)
        if version is not None:
            env[label] = version
    env["kiln"] = __version__
    env["Platform"] = platform.platform()
    return env
