"""Access's use cases, one module per area; `access.handlers` is where they are wired to
the events and schedules that call them."""
