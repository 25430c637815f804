"""Identity's adapters: the Mongo store (with its outbox)."""
