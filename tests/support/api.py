"""Small HTTP helpers for tests that drive real service processes."""

from __future__ import annotations

from typing import Any

import httpx

from chorus_kit.events.identity import Role


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def hire(identity_url: str, token: str, n: int | str, **fields: Any) -> httpx.Response:
    body = {
        "email": f"person{n}@example.com",
        "given_name": "Person",
        "family_name": f"Number {n}",
        "unit_id": "company",
        **fields,
    }
    return httpx.post(f"{identity_url}/v1/employees", json=body, headers=bearer(token), timeout=10)


def create_unit(
    identity_url: str,
    token: str,
    unit_id: str,
    *,
    kind: str = "department",
    parent_id: str = "company",
    name: str | None = None,
) -> httpx.Response:
    """An org unit (units must exist before anyone is hired into them)."""
    response = httpx.post(
        f"{identity_url}/v1/org-units",
        json={"id": unit_id, "name": name or unit_id, "kind": kind, "parent_id": parent_id},
        headers=bearer(token),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response


def offboard(identity_url: str, token: str, employee_id: str) -> httpx.Response:
    return httpx.post(
        f"{identity_url}/v1/employees/{employee_id}/offboard",
        json={"reason": "left the company"},
        headers=bearer(token),
        timeout=10,
    )


__all__ = ["Role", "bearer", "create_unit", "hire", "offboard"]
