"""Exceptions kiln raises for bad input, each naming where in the config the problem is."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config value is wrong. The message starts with its config path.

    Subclasses ``ValueError`` so code written against MMEngine's asserts/ValueErrors keeps working.

    Example:
        >>> str(ConfigError('init_cfg[0].override.name', "'conv9' is not a submodule of ToyNet"))
        "init_cfg[0].override.name: 'conv9' is not a submodule of ToyNet"
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read (missing, truncated, corrupt, unsafe) or does not fit."""


def add_origin(exc: BaseException, where: str) -> None:
    """Name where ``exc`` came from (``in hook CheckpointHook.after_train_iter``) as a note.

    The exception keeps its type (an ``except KeyError`` still catches it); Python prints the
    note under the message, and DataLoader workers forward it with the traceback text. Called
    only on the error path, so the normal path costs one ``try`` (free in Python 3.11+).
    """
    note = f"kiln: raised {where}"
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)
