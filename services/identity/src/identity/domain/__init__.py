"""Identity's pure domain: employees and their lifecycle rules (no I/O)."""
