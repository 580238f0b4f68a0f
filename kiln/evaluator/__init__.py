"""Evaluation: ``BaseMetric`` (subclass it), ``Evaluator`` (runs metrics), ``collect_results``."""

from kiln._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "metric": ["BaseMetric"],
    "evaluator": ["Evaluator"],
    "collect": ["collect_results"],
    "dump_results": ["DumpResults"],
})
