"""The leaver flow's edges: its handlers built for the composition root, and the consumer
that feeds them identity's `offboarded`, `suspended` and `moved` events.

Leavers have a consumer group of their own (`access-offboarding`), reading the employee
topic beside the mirror's group (`access`): a leaver's offboarding takes several round
trips to the database, and in the mirror's group every other employee event of the poll
would wait for it. This group applies *every* employee event to the employment mirror too,
in partition order (applying an event twice changes nothing), so the flow never judges
managers by a mirror that is behind the events it acts on. Every event, not only the
departures: the mirror applies an event only above the last sequence it holds, so a group
that wrote a `moved` (sequence 4) ahead of the other group's `reinstated` (3) would make
the mirror drop the reinstatement for good.
"""

from __future__ import annotations

from collections.abc import Sequence

from access.adapters.grant_store import GrantStore
from access.adapters.mongo_store import EmploymentView
from access.adapters.offboarding_store import OffboardingStore
from access.domain.employment import VIEW_UPDATES
from access.offboarding_handlers import (
    EventsWritten,
    LeaverVault,
    Mirrors,
    OffboardingHandlers,
    Ownerships,
)
from access.settings import AccessSettings
from chorus_kit.consumer import EventConsumer
from chorus_kit.events import Event
from chorus_kit.events.catalogue import CATALOGUE, EMPLOYEE
from chorus_kit.faults import FaultPoints
from chorus_kit.kafka import create_producer

SOURCE = "/chorus/access"


def build_offboarding(
    store: OffboardingStore,
    *,
    grants: GrantStore,
    ownerships: Ownerships,
    employment: EmploymentView,
    vault: LeaverVault,
    mirrors: Mirrors,
    events_written: EventsWritten,
    carrier_written: EventsWritten,
    faults: str,
    replica: str,
) -> OffboardingHandlers:
    return OffboardingHandlers(
        store=store,
        grants=grants,
        ownerships=ownerships,
        employment=employment,
        vault=vault,
        mirrors=mirrors,
        events_written=events_written,
        carrier_written=carrier_written,
        replica=replica,
        faults=FaultPoints(faults),
    )


def leaver_events_consumer(
    settings: AccessSettings, offboarding: OffboardingHandlers, mirrors: Mirrors
) -> EventConsumer:
    """Employee events in the `access-offboarding` group: leavers handled, every event
    applied to the mirror.

    Types the mirror does not keep are skipped by a handler that does nothing, not as
    ignored types: a run of them is then one offset commit, not one per message."""
    handlers = offboarding.event_handlers()
    others = [t.type for t in CATALOGUE.values() if t.topic is EMPLOYEE and t.type not in handlers]
    mirrored = {
        kind: mirrors.record_employment_changes if kind in VIEW_UPDATES else _not_mirrored
        for kind in others
    }
    return EventConsumer(
        bootstrap=settings.kafka_bootstrap,
        group=f"{settings.consumer_group}-offboarding",
        topics=[EMPLOYEE],
        handlers={},
        batch_handlers={**handlers, **mirrored},
        producer_factory=lambda: create_producer(
            settings.kafka_bootstrap, client_id="access-offboarding"
        ),
        source=SOURCE,
        topic_prefix=settings.topic_prefix,
        faults=FaultPoints(settings.faults),
    )


async def _not_mirrored(events: Sequence[Event]) -> None:
    """Employee events the mirror keeps nothing of."""


__all__ = ["build_offboarding", "leaver_events_consumer"]
