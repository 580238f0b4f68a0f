"""kiln.evaluator (exports filled in by its owner)."""
