"""Event contracts: the topic and event catalogue, the CloudEvents envelope, JSON Schemas."""

from chorus_kit.events.catalogue import (
    CATALOGUE,
    EventType,
    Topic,
    UnknownEventType,
    event_type,
    topics,
)
from chorus_kit.events.envelope import Event, MalformedEvent, new_event

__all__ = [
    "CATALOGUE",
    "Event",
    "EventType",
    "MalformedEvent",
    "Topic",
    "UnknownEventType",
    "event_type",
    "new_event",
    "topics",
]
