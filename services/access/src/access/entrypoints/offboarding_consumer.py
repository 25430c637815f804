"""The leaver flow's edges: its handlers built for the composition root, and the consumer
that feeds them identity's `offboarded`, `suspended` and `moved` events.

Leavers have a consumer group of their own (`access-offboarding`), reading the employee
topic beside the mirror's group (`access`): a leaver's offboarding takes several round
trips to the database, and in the mirror's group every other employee event of the poll
would wait for it. The handler applies each event to the employment mirror itself before
acting on it (applying an event twice changes nothing), so the flow never judges managers
by a mirror that is behind the events it acts on.
"""

from __future__ import annotations

from collections.abc import Sequence

from access.adapters.grant_store import GrantStore
from access.adapters.mongo_store import EmploymentView
from access.adapters.offboarding_store import OffboardingStore
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
        replica=replica,
        faults=FaultPoints(faults),
    )


def leaver_events_consumer(
    settings: AccessSettings, offboarding: OffboardingHandlers
) -> EventConsumer:
    """Employee events in the `access-offboarding` group: leavers handled, the rest skipped.

    The others are skipped by a handler that does nothing, not as ignored types: a run of
    them is then one offset commit, not one per message, and a leaver behind a run of
    profile updates waits for one round trip to the broker, not dozens."""
    handlers = offboarding.event_handlers()
    others = [t.type for t in CATALOGUE.values() if t.topic is EMPLOYEE and t.type not in handlers]
    return EventConsumer(
        bootstrap=settings.kafka_bootstrap,
        group=f"{settings.consumer_group}-offboarding",
        topics=[EMPLOYEE],
        handlers={},
        batch_handlers={**handlers, **dict.fromkeys(others, _not_a_departure)},
        producer_factory=lambda: create_producer(
            settings.kafka_bootstrap, client_id="access-offboarding"
        ),
        source=SOURCE,
        topic_prefix=settings.topic_prefix,
        faults=FaultPoints(settings.faults),
    )


async def _not_a_departure(events: Sequence[Event]) -> None:
    """Hires, updates, role changes ...: the mirror's group applies them."""


__all__ = ["build_offboarding", "leaver_events_consumer"]
