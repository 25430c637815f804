"""Access's settings (env vars `CHORUS_*`)."""

from __future__ import annotations

from pydantic import Field, model_validator

from access.connector_settings import ConnectorSettings
from access.domain.accounts import DEFAULT_POLICIES, ClassificationPolicy
from access.review_settings import ReviewSettings
from access.vault_settings import VaultSettings
from chorus_kit.events.access import Classification
from chorus_kit.settings import ServiceSettings


class AccessSettings(ConnectorSettings, ReviewSettings, VaultSettings, ServiceSettings):
    service_name: str = "access"
    http_port: int = 8104
    root_unit: str = "company"
    consumer_group: str = "access"
    # Per classification: longest grant for non-owners, rotation after each check-out,
    # oldest a secret may get. JSON in CHORUS_ACCOUNT_POLICIES; classifications it leaves
    # out keep their defaults.
    account_policies: dict[Classification, ClassificationPolicy] = Field(
        default_factory=lambda: dict(DEFAULT_POLICIES)
    )
    # `grant.expiring` goes out this long before a grant ends.
    grant_expiring_lead_seconds: float = Field(default=3 * 86_400, gt=0)
    # How often every replica's scheduler looks for expiries (in memory: no database read
    # unless one is due): the worst-case lateness of an expiry made through this replica is
    # this interval plus one write.
    scheduler_interval_seconds: float = Field(default=5.0, gt=0)
    # How often the scheduler rescans `grants` (a whole-collection read on FerretDB v1) and
    # finishes what dead processes left half-done: the worst-case lateness of an expiry whose
    # replica died, and (plus `claim_stale_seconds`) of an effect whose claimer died.
    scheduler_resync_seconds: float = Field(default=300.0, gt=0)
    # A one-time effect claimed by a process that then died is finished by another after this.
    claim_stale_seconds: float = Field(default=30.0, gt=0)
    # How often the "former staff with access" check runs (it must always find nobody). It
    # reads every grant (a whole-collection scan on FerretDB v1): the worst-case time before
    # the alert is this plus `former_staff_alert_grace_seconds`.
    former_staff_check_seconds: float = Field(default=300.0, gt=0)
    # ... counting only people who left longer ago than this (the leaver flow's time to act).
    former_staff_alert_grace_seconds: float = Field(default=60.0, ge=0)
    unit_tree_cache_seconds: float = Field(default=1.0, ge=0)
    # The relay's sweep for events whose writer died before handing them over, and the
    # backlog gauge (each reads every outbox collection whole on FerretDB v1; a live
    # writer's events go out at once, and a restarted replica sweeps at start): the
    # worst-case delay of an event whose replica died while another keeps running.
    outbox_sweep_seconds: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _every_classification_has_a_policy(self) -> AccessSettings:
        object.__setattr__(self, "account_policies", {**DEFAULT_POLICIES, **self.account_policies})
        return self
