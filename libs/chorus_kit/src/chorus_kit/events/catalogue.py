"""The topic and event catalogue of DESIGN.md as code: every topic, every event type, its schema.

Topic names are logical (`chorus.identity.employee.v1`); a deployment may prefix them
(`CHORUS_TOPIC_PREFIX`) so that test runs sharing one broker never see each other.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel

from chorus_kit.events import access, audit, identity, platform, policy


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    description: str
    compacted: bool = False
    # Event types DESIGN.md lists for this topic that no issue has built yet (docs only).
    planned: tuple[str, ...] = ()

    def physical(self, prefix: str) -> str:
        return f"{prefix}{self.name}"

    def dlq(self, prefix: str, group: str) -> str:
        return f"{self.physical(prefix)}.{group}.dlq"


@dataclass(frozen=True)
class EventType:
    type: str
    topic: Topic
    data_model: builtins.type[BaseModel]
    description: str = field(default="")

    @property
    def schema_file(self) -> str:
        return f"{self.type}.json"

    def json_schema(self) -> dict[str, Any]:
        """The schema integrators get: the data model's, with an id naming the type."""
        schema = self.data_model.model_json_schema()
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:chorus:event:{self.type}",
            "description": self.description or (self.data_model.__doc__ or "").strip(),
            **{k: v for k, v in schema.items() if k != "description"},
        }


class UnknownEventType(LookupError):
    pass


# --- topics -------------------------------------------------------------------------------
EMPLOYEE = Topic(
    "chorus.identity.employee.v1",
    6,
    "Staff lifecycle: joiners, movers, leavers. Key = employee id.",
)
ORG_UNIT = Topic(
    "chorus.identity.org_unit.v1",
    3,
    "The org tree: company, subsidiaries, departments. Key = unit id.",
)
POLICY = Topic(
    "chorus.identity.policy.v1",
    3,
    "Social media policy, acknowledgements, certification, opinion leaders.",
)
SESSION = Topic(
    "chorus.identity.session.v1",
    3,
    "Session revocations, compacted, key = person; every verifier reads it from the start.",
    compacted=True,
)
IDENTITY_AUDIT = Topic("chorus.identity.audit.v1", 3, "Privileged actions, for SIEMs.")
ACCOUNT = Topic(
    "chorus.access.account.v1",
    3,
    "Company social accounts and their owners.",
)
GRANT = Topic(
    "chorus.access.grant.v1",
    6,
    "Access requests and time-bound grants.",
)
VAULT = Topic(
    "chorus.access.vault.v1",
    3,
    "Credential check-out/in and rotation (never a secret).",
)
OFFBOARDING = Topic(
    "chorus.access.offboarding.v1",
    3,
    "Completed offboardings: what was revoked, handed over, flagged.",
)
REVIEW = Topic(
    "chorus.access.review.v1",
    3,
    "Periodic access reviews.",
)
ACCESS_AUDIT = Topic("chorus.access.audit.v1", 3, "Access's privileged actions, for SIEMs.")
PLATFORM_ALERT = Topic(
    "chorus.platform.alert.v1",
    1,
    "Alerts raised by the plumbing itself (a message parked on a dead-letter topic).",
)

TOPICS: tuple[Topic, ...] = (
    EMPLOYEE,
    ORG_UNIT,
    POLICY,
    SESSION,
    IDENTITY_AUDIT,
    ACCOUNT,
    GRANT,
    VAULT,
    OFFBOARDING,
    REVIEW,
    ACCESS_AUDIT,
    PLATFORM_ALERT,
)

# --- event types ----------------------------------------------------------------------------
EMPLOYEE_HIRED = EventType("chorus.identity.employee.hired", EMPLOYEE, identity.EmployeeHired)
EMPLOYEE_OFFBOARDED = EventType(
    "chorus.identity.employee.offboarded", EMPLOYEE, identity.EmployeeOffboarded
)
EMPLOYEE_SUSPENDED = EventType(
    "chorus.identity.employee.suspended", EMPLOYEE, identity.EmployeeSuspended
)
EMPLOYEE_REINSTATED = EventType(
    "chorus.identity.employee.reinstated", EMPLOYEE, identity.EmployeeReinstated
)
EMPLOYEE_MOVED = EventType("chorus.identity.employee.moved", EMPLOYEE, identity.EmployeeMoved)
EMPLOYEE_ROLE_CHANGED = EventType(
    "chorus.identity.employee.role_changed", EMPLOYEE, identity.EmployeeRoleChanged
)
EMPLOYEE_REHIRED = EventType("chorus.identity.employee.rehired", EMPLOYEE, identity.EmployeeRehired)
EMPLOYEE_UPDATED = EventType("chorus.identity.employee.updated", EMPLOYEE, identity.EmployeeUpdated)
ORG_UNIT_CREATED = EventType("chorus.identity.org_unit.created", ORG_UNIT, identity.OrgUnitCreated)
ORG_UNIT_RENAMED = EventType("chorus.identity.org_unit.renamed", ORG_UNIT, identity.OrgUnitRenamed)
ORG_UNIT_MOVED = EventType("chorus.identity.org_unit.moved", ORG_UNIT, identity.OrgUnitMoved)
ORG_UNIT_CLOSED = EventType("chorus.identity.org_unit.closed", ORG_UNIT, identity.OrgUnitClosed)
SESSIONS_REVOKED = EventType("chorus.identity.session.revoked", SESSION, identity.SessionsRevoked)
POLICY_PUBLISHED = EventType("chorus.identity.policy.published", POLICY, policy.PolicyPublished)
POLICY_ACKNOWLEDGED = EventType(
    "chorus.identity.policy.acknowledged", POLICY, policy.PolicyAcknowledged
)
CERTIFICATION_CHANGED = EventType(
    "chorus.identity.policy.certification_changed", POLICY, policy.CertificationChanged
)
OPINION_LEADER_IDENTIFIED = EventType(
    "chorus.identity.policy.opinion_leader_identified", POLICY, policy.OpinionLeaderIdentified
)
IDENTITY_AUDIT_RECORDED = EventType(
    "chorus.identity.audit.recorded", IDENTITY_AUDIT, audit.AuditRecorded
)
ACCESS_EVENTS = (
    EventType("chorus.access.account.registered", ACCOUNT, access.AccountRegistered),
    EventType("chorus.access.account.updated", ACCOUNT, access.AccountUpdated),
    EventType("chorus.access.account.owner_added", ACCOUNT, access.OwnerAdded),
    EventType("chorus.access.account.owner_removed", ACCOUNT, access.OwnerRemoved),
    EventType("chorus.access.account.coverage_low", ACCOUNT, access.CoverageLow),
    EventType("chorus.access.grant.requested", GRANT, access.AccessRequested),
    EventType("chorus.access.grant.approved", GRANT, access.AccessRequestDecided),
    EventType("chorus.access.grant.denied", GRANT, access.AccessRequestDecided),
    EventType("chorus.access.grant.granted", GRANT, access.GrantGranted),
    EventType("chorus.access.grant.expiring", GRANT, access.GrantExpiring),
    EventType("chorus.access.grant.revoked", GRANT, access.GrantRevoked),
    EventType("chorus.access.grant.expired", GRANT, access.GrantExpired),
    EventType("chorus.access.vault.checked_out", VAULT, access.SecretCheckedOut),
    EventType("chorus.access.vault.checked_in", VAULT, access.SecretCheckedIn),
    EventType("chorus.access.vault.rotation_required", VAULT, access.RotationRequired),
    EventType("chorus.access.vault.rotated", VAULT, access.SecretRotated),
    EventType("chorus.access.offboarding.completed", OFFBOARDING, access.OffboardingCompleted),
    EventType("chorus.access.review.started", REVIEW, access.ReviewStarted),
    EventType("chorus.access.review.reminder_due", REVIEW, access.ReviewReminderDue),
    EventType("chorus.access.review.decided", REVIEW, access.ReviewDecided),
    EventType("chorus.access.review.closed", REVIEW, access.ReviewClosed),
    EventType("chorus.access.audit.recorded", ACCESS_AUDIT, audit.AuditRecorded),
    EventType(
        "chorus.platform.alert.former_staff_with_access",
        PLATFORM_ALERT,
        access.FormerStaffWithAccess,
    ),
    EventType(
        "chorus.platform.alert.connector_call_failed",
        PLATFORM_ALERT,
        access.ConnectorCallFailed,
    ),
)
MESSAGE_DEAD_LETTERED = EventType(
    "chorus.platform.alert.dead_lettered", PLATFORM_ALERT, platform.MessageDeadLettered
)

CATALOGUE: dict[str, EventType] = {
    e.type: e
    for e in (
        EMPLOYEE_HIRED,
        EMPLOYEE_OFFBOARDED,
        EMPLOYEE_SUSPENDED,
        EMPLOYEE_REINSTATED,
        EMPLOYEE_MOVED,
        EMPLOYEE_ROLE_CHANGED,
        EMPLOYEE_REHIRED,
        EMPLOYEE_UPDATED,
        ORG_UNIT_CREATED,
        ORG_UNIT_RENAMED,
        ORG_UNIT_MOVED,
        ORG_UNIT_CLOSED,
        SESSIONS_REVOKED,
        POLICY_PUBLISHED,
        POLICY_ACKNOWLEDGED,
        CERTIFICATION_CHANGED,
        OPINION_LEADER_IDENTIFIED,
        IDENTITY_AUDIT_RECORDED,
        MESSAGE_DEAD_LETTERED,
        *ACCESS_EVENTS,
    )
}


def event_type(name: str) -> EventType:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UnknownEventType(name) from None


def topics(*names: str) -> list[Topic]:
    by_name = {t.name: t for t in TOPICS}
    return [by_name[n] for n in names]


@cache
def published_schema(type_name: str) -> dict[str, Any]:
    """The committed JSON Schema of an event type (what integrators validate against)."""
    text = resources.files("chorus_kit.events").joinpath("schemas", f"{type_name}.json")
    return dict(json.loads(text.read_text(encoding="utf-8")))
