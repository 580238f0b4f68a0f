"""Which initializer last WROTE each parameter during ``init_weights()``, and where that is reported.

MMEngine infers the writer from a change of each parameter's mean, which costs one device sync
per parameter per level and misattributes writes that keep the mean (e.g. a bias re-filled
with 0). kiln reads each tensor's version counter instead: a host-side integer that every
in-place write bumps, so attribution is exact and free. Code that writes through ``.data``
(which does not bump it) is caught by one batched value comparison per user-defined step.

Example:
    >>> report = model.init_report()  # doctest: +SKIP
    >>> report.params['conv1.weight']  # doctest: +SKIP
    'KaimingInit: a=0, mode=fan_out, nonlinearity=relu, distribution =normal, bias=0'
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
import torch.nn as nn

__all__ = ["InitReport", "InitTracker", "active_tracker", "dump_report"]

_ACTIVE: ContextVar[InitTracker | None] = ContextVar("kiln_init_tracker", default=None)
USER_DEFINED = "Initialized by user-defined `init_weights` in {}"


def active_tracker() -> InitTracker | None:
    """The tracker of the ``init_weights()`` call in progress, or None outside one."""
    return _ACTIVE.get()


@dataclass
class InitReport:
    """The init report as data.

    Attributes:
        model: Class name of the module ``init_weights()`` was called on.
        params: Parameter name → description of what initialized it, in ``named_parameters()`` order.
        shapes: Parameter name → shape.
        untouched_text: The description of parameters nothing wrote.
    """

    model: str
    params: dict[str, str] = field(default_factory=dict)
    shapes: dict[str, torch.Size] = field(default_factory=dict)
    untouched_text: str = ""

    @property
    def untouched(self) -> int:
        """How many parameters no initializer and no user code wrote."""
        return sum(desc == self.untouched_text for desc in self.params.values())

    @property
    def counts(self) -> dict[str, int]:
        """Initializer (short label) → number of parameters it set last, first-seen order."""
        counts: dict[str, int] = {}
        for desc in self.params.values():
            if desc != self.untouched_text:
                label = _label(desc)
                counts[label] = counts.get(label, 0) + 1
        return counts

    def summary(self) -> str:
        """One line: how many parameters each initializer set and how many nothing touched."""
        parts = ", ".join(f"{n} by {label}" for label, n in self.counts.items()) or "none"
        return (f"init_weights of {self.model}: {len(self.params)} parameters; set {parts}; "
                f"{self.untouched} untouched")

    def blocks(self) -> Iterator[str]:
        """MMEngine's per-parameter text blocks: ``\\n{name} - {shape}: \\n{description} \\n``."""
        for name, desc in self.params.items():
            yield f"\n{name} - {self.shapes[name]}: \n{desc} \n"


def _label(desc: str) -> str:
    if desc.startswith("Initialized by user-defined"):
        return desc[len("Initialized by "):]
    return desc.split(":", 1)[0].split(",", 1)[0]


class InitTracker:
    """Bookkeeping for one top-level ``init_weights()`` call (see the module docstring)."""

    def __init__(self, top: nn.Module) -> None:
        self.top = top
        self.untouched = f"The value is the same before and after calling `init_weights` of {type(top).__name__}"
        self._named = list(top.named_parameters())
        self._info = {id(p): self.untouched for _, p in self._named}
        self._version = {id(p): p._version for _, p in self._named}
        self._alive: list[torch.Tensor] = [p for _, p in self._named]  # ids stay unique while tracked
        self.plans: dict[int, list] = {}
        self.names = {id(m): name for name, m in top.named_modules()}
        self.untrusted = False
        self.initialized: list[nn.Module] = []

    @contextlib.contextmanager
    def active(self) -> Iterator[InitTracker]:
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def attribute(self, module: nn.Module, info: str) -> None:
        """Give ``info`` to every parameter of ``module`` whose version moved since last recorded."""
        for p in module.parameters():
            key, version = id(p), p._version  # host-side counter: no device sync
            if self._version.get(key) != version:
                if key not in self._version:
                    self._alive.append(p)
                self._version[key] = version
                self._info[key] = info

    @contextlib.contextmanager
    def watch(self, module: nn.Module, info: str) -> Iterator[None]:
        """Attribute writes made by user code in the block, including writes through ``.data``."""
        before = [(p, p._version, p.detach().clone()) for p in module.parameters()]
        yield
        self.attribute(module, info)
        quiet = [(p, old) for p, version, old in before if p._version == version]
        for p in _changed(quiet):
            self._info[id(p)] = info

    def report(self) -> InitReport:
        out = InitReport(type(self.top).__name__, untouched_text=self.untouched)
        for name, p in self.top.named_parameters():
            out.params[name] = self._info.get(id(p), self.untouched)
            out.shapes[name] = p.shape
        return out


def _changed(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    """Parameters whose value differs from the saved copy: one batched comparison per device."""
    by_device: dict[torch.device, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for p, old in pairs:
        by_device.setdefault(p.device, []).append((p, old))
    changed = []
    for device, group in by_device.items():
        flags = torch.stack([_differs(p.detach(), old, device) for p, old in group])
        # Deliberate sync: ONE device->host copy per device for the whole group.
        for (p, _), flag in zip(group, flags.tolist()):
            if flag:
                changed.append(p)
    return changed


def _differs(new: torch.Tensor, old: torch.Tensor, device: torch.device) -> torch.Tensor:
    if new.shape != old.shape or new.dtype != old.dtype:
        return torch.ones((), dtype=torch.bool, device=device)
    ne = new != old
    if new.is_floating_point() or new.is_complex():
        ne &= ~(new.isnan() & old.isnan())  # torch.empty may hold NaNs: NaN == NaN for us
    return ne.any()


def dump_report(report: InitReport) -> None:
    """Print the report (rank 0 only): per-parameter blocks on the console when there is no log
    file; otherwise the full table into the log file and one summary line on the console."""
    from kiln.dist import get_rank
    from kiln.logging import get_logger, log_file_path
    from kiln.logging.logger import flush_log_file

    if get_rank() != 0:
        return
    logger = get_logger()
    path = log_file_path()
    if path is None:
        for block in report.blocks():
            logger.info(block)
        return
    text = "Name of parameter - Initialization information\n" + "".join(report.blocks())
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                if handler.stream is None:
                    handler.stream = handler._open()
                handler.stream.write(text)
            finally:
                handler.release()
    flush_log_file()  # the table is on disk when the console line pointing at it appears
    logger.info(f"{report.summary()} (per-parameter table in {path})")
