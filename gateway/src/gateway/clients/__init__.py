"""HTTP clients of the services the gateway fronts; each call forwards the caller's token."""
