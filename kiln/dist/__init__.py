"""Distributed helpers: thin over ``torch.distributed``, and the identity in a single process.

Imported eagerly: ``torch.distributed`` is already loaded with ``torch``.
"""

from kiln.dist.utils import *  # noqa: F403
from kiln.dist.utils import __all__  # noqa: F401
