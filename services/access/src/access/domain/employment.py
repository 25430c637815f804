"""Access's own view of who is employed, fed by identity's employee events.

Access never asks identity: it keeps what it needs (status, unit and its path, roles,
manager chain, names for reports) and a history of employment changes, so "was this person
employed at time T" is a query.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chorus_kit.events import Event
from chorus_kit.events.catalogue import (
    EMPLOYEE_HIRED,
    EMPLOYEE_MOVED,
    EMPLOYEE_OFFBOARDED,
    EMPLOYEE_REHIRED,
    EMPLOYEE_REINSTATED,
    EMPLOYEE_ROLE_CHANGED,
    EMPLOYEE_SUSPENDED,
    EMPLOYEE_UPDATED,
    event_type,
)
from chorus_kit.events.identity import (
    EmployeeHired,
    EmployeeOffboarded,
    EmployeeRehired,
    EmployeeSnapshot,
)


def _profile(snapshot: EmployeeSnapshot) -> dict[str, Any]:
    return {
        "email": snapshot.email,
        "given_name": snapshot.given_name,
        "family_name": snapshot.family_name,
        "unit_id": snapshot.unit_id,
        "unit_path": snapshot.unit_path,
        "roles": [r.model_dump(mode="json") for r in snapshot.roles],
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


def rehired_update(event: Event) -> dict[str, Any]:
    back = event.data_as(EmployeeRehired)
    return {
        "$set": {**_profile(back), "employed_since": back.start_date, "employed_until": None},
        "$push": {"history": _history_entry(event)},
    }


def offboarded_update(event: Event) -> dict[str, Any]:
    left = event.data_as(EmployeeOffboarded)
    return {
        "$set": {**_profile(left), "employed_until": left.offboarded_at},
        "$push": {"history": _history_entry(event)},
    }


def profile_update(event: Event) -> dict[str, Any]:
    """Suspended, reinstated, moved, role changed, updated: the new status, unit, roles."""
    snapshot = event.data_as(event_type(event.type).data_model)
    assert isinstance(snapshot, EmployeeSnapshot)
    return {
        "$set": _profile(snapshot),
        "$push": {"history": _history_entry(event)},
    }


VIEW_UPDATES: dict[str, Callable[[Event], dict[str, Any]]] = {
    EMPLOYEE_HIRED.type: hired_update,
    EMPLOYEE_REHIRED.type: rehired_update,
    EMPLOYEE_OFFBOARDED.type: offboarded_update,
    EMPLOYEE_SUSPENDED.type: profile_update,
    EMPLOYEE_REINSTATED.type: profile_update,
    EMPLOYEE_MOVED.type: profile_update,
    EMPLOYEE_ROLE_CHANGED.type: profile_update,
    EMPLOYEE_UPDATED.type: profile_update,
}


def view_update(event: Event) -> dict[str, Any]:
    return VIEW_UPDATES[event.type](event)
