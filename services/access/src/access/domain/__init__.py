"""Access's pure domain (no I/O)."""
