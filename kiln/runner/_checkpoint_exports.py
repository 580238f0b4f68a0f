"""``kiln.runner.save_checkpoint``/``load_checkpoint``: MMEngine users import them from the runner
package; they are :mod:`kiln.checkpoint`'s functions (one code path)."""

from kiln.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["save_checkpoint", "load_checkpoint"]
