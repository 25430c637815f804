"""Access's edges: the HTTP API and the Kafka consumer."""
