"""kiln.runner (exports filled in by its owner)."""
