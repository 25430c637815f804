"""Access's adapters: the Mongo store."""
