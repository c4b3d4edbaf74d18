"""Talking to Iterable: what its answers mean, its budgets, the HTTP client, spooling bodies to disk."""
