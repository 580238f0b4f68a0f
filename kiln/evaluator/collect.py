"""``collect_results`` moved to :mod:`kiln.dist.collect` (one implementation; this name stays)."""

from kiln.dist.collect import collect_results, interleave, to_cpu

__all__ = ["collect_results", "to_cpu", "interleave"]
