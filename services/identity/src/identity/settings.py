"""Identity's settings (env vars `CHORUS_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from chorus_kit.settings import ServiceSettings
from identity.session_settings import SessionSettings


class IdentitySettings(ServiceSettings, SessionSettings):
    service_name: str = "identity"
    http_port: int = 8101
    root_unit: str = "company"
    root_unit_name: str = "Company"
    # How often the scheduler looks for offboardings whose time has come (worst-case lateness).
    scheduler_interval_seconds: float = 1.0
    # Each tick asks the in-memory directory; this often the database is asked instead (a
    # scan of `employees` on FerretDB v1). A schedule set or cancelled through one replica
    # reaches the others' directories only so, so it bounds the lateness of a schedule whose
    # replica went away.
    due_offboardings_rescan_seconds: float = Field(default=60.0, gt=0)
    # The relay's sweep for events whose writer died before handing them over, and the
    # backlog gauge: each reads every outbox collection whole on FerretDB v1, `employees`
    # included (at 5 s they competed with every bulk of writes). A live writer's events go
    # out at once and a restarted replica sweeps at start: this is the worst-case delay of
    # an event whose replica died while another keeps running.
    outbox_sweep_seconds: float = 30.0
    # Signing keys live in the key ring (session_settings.py). Outside production this dev
    # key (what `chorus token` and the tests mint with) is also trusted, verify-only.
    dev_signing_key_file: Path = Path("var/dev/jwt-signing-key.pem")
