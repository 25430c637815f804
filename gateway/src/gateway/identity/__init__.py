"""The identity half of the schema: people, org units, audit log, and their changes."""
