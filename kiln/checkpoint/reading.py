"""Read a kiln or MMEngine checkpoint file safely, with an actionable error when it is broken.

The one place resume, ``load_from`` and ``CheckpointHook`` (publishing) read whole checkpoints:
it goes through the shared loader (``torch.load(weights_only=True)``) with MMEngine's pickled
classes mapped to inert stand-ins, and a truncated or corrupt file names the previous
checkpoint to resume from instead.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any

from kiln.checkpoint.loading import load_checkpoint_file
from kiln.errors import CheckpointError

__all__ = ["read_checkpoint", "find_previous_checkpoint"]


def read_checkpoint(filename: str, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a kiln or MMEngine checkpoint safely (no arbitrary unpickling).

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        CheckpointError: It is truncated/corrupt; the message suggests the previous checkpoint
            in the same directory, if there is one.
    """
    try:
        checkpoint = load_checkpoint_file(filename, map_location)  # reads MMEngine files inertly too
    except CheckpointError as exc:
        previous = find_previous_checkpoint(filename)
        hint = (f" Resume from the previous checkpoint instead: {previous}" if previous
                else " No other checkpoint was found next to it.")
        raise CheckpointError(f"{exc}.{hint}") from exc
    return checkpoint


def find_previous_checkpoint(filename: str) -> str | None:
    """The newest other ``epoch_N.pth``/``iter_N.pth`` in the directory of ``filename``."""
    directory = os.path.dirname(os.path.abspath(os.fspath(filename)))
    own = os.path.abspath(os.fspath(filename))
    found = []
    for path in glob.glob(os.path.join(directory, "*.pth")):
        match = re.fullmatch(r"(epoch|iter)_(\d+)\.pth", os.path.basename(path))
        if match and os.path.abspath(path) != own:
            found.append((int(match.group(2)), os.path.getmtime(path), path))
    own_match = re.fullmatch(r"(?:epoch|iter)_(\d+)\.pth", os.path.basename(own))
    if own_match:  # prefer ones before the broken file
        earlier = [f for f in found if f[0] < int(own_match.group(1))]
        found = earlier or found
    return max(found)[2] if found else None
