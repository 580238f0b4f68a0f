"""kiln's version (its own bottom-layer module, as ``mmengine/version.py``: reading it imports nothing)."""

__version__ = "0.1.0"
