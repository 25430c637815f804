"""Helpers for access's tests (fake third parties on loopback)."""
