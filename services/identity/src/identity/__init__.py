"""Identity: the staff directory, the joiner/mover/leaver lifecycle and tokens."""
