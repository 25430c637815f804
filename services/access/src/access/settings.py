"""Access's settings (env vars `CHORUS_*`)."""

from __future__ import annotations

from chorus_kit.settings import ServiceSettings


class AccessSettings(ServiceSettings):
    service_name: str = "access"
    http_port: int = 8104
    root_unit: str = "company"
    consumer_group: str = "access"
