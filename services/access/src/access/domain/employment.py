"""Access's own view of who is employed, fed by identity's employee events.

Access never asks identity: it keeps what it needs (status, unit, manager chain) and a
history of employment changes, so "was this person employed at time T" is a query.
"""

from __future__ import annotations

from typing import Any

from chorus_kit.events import Event
from chorus_kit.events.identity import EmployeeHired, EmployeeOffboarded, EmployeeSnapshot


def _profile(snapshot: EmployeeSnapshot) -> dict[str, Any]:
    return {
        "email": snapshot.email,
        "unit_id": snapshot.unit_id,
        "manager_id": snapshot.manager_id,
        "manager_chain": snapshot.manager_chain,
        "status": snapshot.status.value,
    }


def _history_entry(event: Event) -> dict[str, Any]:
    return {"event_id": event.id, "type": event.type, "sequence": event.sequence, "at": event.time}


def hired_update(event: Event) -> dict[str, Any]:
    hired = event.data_as(EmployeeHired)
    return {
        "$set": {**_profile(hired), "employed_since": hired.start_date, "employed_until": None},
        "$push": {"history": _history_entry(event)},
    }


def offboarded_update(event: Event) -> dict[str, Any]:
    left = event.data_as(EmployeeOffboarded)
    return {
        "$set": {**_profile(left), "employed_until": left.offboarded_at},
        "$push": {"history": _history_entry(event)},
    }
