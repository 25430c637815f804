"""Access's live events: an offboarding completed (what was revoked, handed over, flagged).

More follow with access's API: grant expiring, an access request waiting for me, an
account below two owners, a review due.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from chorus_kit.events.access import OffboardingCompleted
from chorus_kit.events.catalogue import event_type
from chorus_kit.events.envelope import Event
from gateway.clients.backend import BackendProblem, BackendUnavailable
from gateway.context import Info
from gateway.identity.types import Employee, load_employee
from gateway.permissions import may_see_offboarding
from gateway.streams import live_events

OFFBOARDING_COMPLETED = event_type("chorus.access.offboarding.completed")


@strawberry.type
class OwnershipHandover:
    account_id: strawberry.ID
    from_id: strawberry.ID
    to_id: strawberry.ID | None = strawberry.field(
        description="none: nobody eligible, an alert was raised"
    )


@strawberry.type(description="Everything access did for one leaver (or mover).")
class OffboardingCompletion:
    offboarding_id: strawberry.ID
    person_id: strawberry.ID
    trigger: str = strawberry.field(description="offboarded, suspended or moved")
    grants_revoked: list[strawberry.ID]
    leases_ended: list[strawberry.ID]
    secrets_flagged: list[strawberry.ID]
    ownership: list[OwnershipHandover]
    connector_calls: int
    completed_at: datetime

    @strawberry.field(description="The person (if you may see them).")
    async def person(self, info: Info) -> Employee | None:
        return await load_employee(info, self.person_id)

    @classmethod
    def of(cls, done: OffboardingCompleted) -> OffboardingCompletion:
        return cls(
            offboarding_id=strawberry.ID(done.offboarding_id),
            person_id=strawberry.ID(done.person_id),
            trigger=done.trigger,
            grants_revoked=[strawberry.ID(g) for g in done.grants_revoked],
            leases_ended=[strawberry.ID(x) for x in done.leases_ended],
            secrets_flagged=[strawberry.ID(s) for s in done.secrets_flagged],
            ownership=[
                OwnershipHandover(
                    account_id=strawberry.ID(h.account_id),
                    from_id=strawberry.ID(h.from_id),
                    to_id=strawberry.ID(h.to_id) if h.to_id else None,
                )
                for h in done.ownership
            ],
            connector_calls=done.connector_calls,
            completed_at=done.completed_at,
        )


async def _unit_path(info: Info, person_id: str) -> list[str] | None:
    """The leaver's unit and its ancestors: from the employee events this replica saw,
    else from identity (with the subscriber's token: what they may not read, they miss)."""
    known = info.context.services.hub.unit_path_of(person_id)
    if known is not None:
        return list(known)
    try:
        raw = await info.context.identity.employee.load(person_id)
    except (BackendUnavailable, BackendProblem):
        return None
    return list(raw.get("unit_path") or [raw["unit_id"]]) if raw else None


@strawberry.type
class AccessSubscription:
    @strawberry.subscription(
        description="Offboardings completed by access for people in units you administer "
        "or audit, from now on."
    )
    async def offboarding_completed(
        self, info: Info
    ) -> AsyncGenerator[OffboardingCompletion, None]:
        async for event in live_events(info.context, {OFFBOARDING_COMPLETED.type}):
            done = _completion(event)
            path = await _unit_path(info, done.person_id)
            if path is not None and may_see_offboarding(info.context.viewer, unit_path=path):
                yield OffboardingCompletion.of(done)


def _completion(event: Event) -> OffboardingCompleted:
    return event.data_as(OffboardingCompleted)
