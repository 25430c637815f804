"""The `chorus` developer CLI: the local platform, dev tokens, topics, contracts, DLQ replay."""
