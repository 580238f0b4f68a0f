"""kiln.optim (exports filled in by its owner)."""
