"""Identity's edges: the HTTP API."""
