"""``digit_version``: compare version strings as tuples (``digit_version(torch.__version__) >=
digit_version('2.1')``), with MMEngine's encoding of pre/post releases."""

from __future__ import annotations

import re

__all__ = ["digit_version"]

_VERSION = re.compile(
    r"^\s*v?(?P<release>\d+(?:\.\d+)*)"
    r"(?:[-_.]?(?P<pre>a|alpha|b|beta|rc|c|pre|preview)[-_.]?(?P<pre_n>\d*))?"
    r"(?:[-_.]?(?:post|rev|r)[-_.]?(?P<post>\d*)|-(?P<post_implicit>\d+))?"
    r"(?:[-_.]?(?P<dev>dev)[-_.]?(?P<dev_n>\d*))?"
    r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?\s*$", re.IGNORECASE)
_PRE = {"a": -3, "alpha": -3, "b": -2, "beta": -2, "rc": -1, "c": -1, "pre": -1, "preview": -1}


def digit_version(version_str: str, length: int = 4) -> tuple[int, ...]:
    """``version_str`` as ``length`` release numbers + 2 more: ``(-3|-2|-1, n)`` for a/b/rc,
    ``(-4, 0)`` for a dev release, ``(1, n)`` for a post release, ``(0, 0)`` for a final one.

    Example:
        >>> digit_version('1.13.0'), digit_version('2.1.0rc1')
        ((1, 13, 0, 0, 0, 0), (2, 1, 0, 0, -1, 1))
    """
    match = _VERSION.match(version_str)
    if match is None:
        raise ValueError(f"failed to parse version {version_str!r} (expected PEP 440, e.g. '2.1.0rc1')")
    release = [int(x) for x in match["release"].split(".")]
    if len(release) > length:
        raise ValueError(f"version {version_str!r} has more than length={length} release numbers")
    release += [0] * (length - len(release))
    if match["pre"]:
        release += [_PRE[match["pre"].lower()], int(match["pre_n"] or 0)]
    elif match["dev"]:
        release += [-4, 0]
    elif match["post"] is not None or match["post_implicit"]:
        release += [1, int(match["post"] or match["post_implicit"] or 0)]
    else:
        release += [0, 0]
    return tuple(release)
