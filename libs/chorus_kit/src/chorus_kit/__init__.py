"""Chorus shared library: event contracts and the plumbing every service imports (never run)."""
