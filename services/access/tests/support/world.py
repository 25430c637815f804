"""A small world for access's integration tests, built through the real APIs: people hired in
identity (and seen by access through Kafka), accounts registered, grants requested and
approved by an owner."""

from __future__ import annotations

import json
from typing import Any

import httpx

from chorus_kit.events.identity import Role
from tests.support.api import bearer, hire
from tests.support.kafka import read_topic
from tests.support.polling import eventually


class AccessWorld:
    def __init__(self, ns: Any, identity: Any, access_url: str) -> None:
        self.ns = ns
        self.identity = identity
        self.access_url = access_url
        self.people: dict[str, str] = {}
        self.admin = bearer(ns.token(Role.ADMIN, "company"))

    def url(self, path: str) -> str:
        return f"{self.access_url}{path}"

    def token(self, name: str, role: Role = Role.EMPLOYEE, unit: str = "company") -> dict[str, str]:
        return bearer(self.ns.token(role, unit, sub=self.people[name]))

    async def hire(self, *names: str) -> None:
        """Hire into the company and wait until access's employment view has them."""
        admin = self.ns.token(Role.ADMIN, "company")
        for name in names:
            answer = hire(self.identity.url, admin, f"{name}-{self.ns.id}")
            assert answer.status_code == 201, answer.text
            self.people[name] = answer.json()["id"]
        for name in names:
            await eventually(
                lambda n=name: _get(self.url(f"/v1/employment/{self.people[n]}"), self.admin),
                lambda r: r.status_code == 200 and r.json()["status"] == "active",
                what=f"{name} in access's employment view",
            )

    def register_account(self, handle: str, owners: list[str]) -> str:
        answer = httpx.post(
            self.url("/v1/accounts"),
            json={
                "network": "linkedin",
                "handle": handle,
                "unit_id": "company",
                "classification": "brand",
                "owners": [self.people[o] for o in owners],
            },
            headers=self.admin,
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def grant(self, account_id: str, holder: str, role: str, *, approver: str) -> str:
        asked = httpx.post(
            self.url("/v1/access-requests"),
            json={
                "account_id": account_id,
                "role": role,
                "justification": "campaign work",
                "duration_days": 10,
            },
            headers=self.token(holder),
            timeout=10,
        )
        assert asked.status_code == 201, asked.text
        approved = httpx.post(
            self.url(f"/v1/access-requests/{asked.json()['id']}/approve"),
            headers=self.token(approver),
            timeout=10,
        )
        assert approved.status_code == 200, approved.text
        return str(approved.json()["grant"]["id"])

    def owner_grant(self, account_id: str, owner: str) -> str:
        found = httpx.get(
            self.url("/v1/grants"),
            params={"account_id": account_id, "holder_id": self.people[owner]},
            headers=self.admin,
            timeout=10,
        )
        assert found.status_code == 200, found.text
        [grant] = [g for g in found.json()["items"] if g["role"] == "owner"]
        return str(grant["id"])


async def _get(url: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url, headers=headers)


async def events_of(ns: Any, topic: str, *types: str) -> list[tuple[str, dict[str, Any], str]]:
    """(type, data, event id) of every event of `types` on the topic now."""
    records = await read_topic(ns.infra.bootstrap, ns.topic(topic))
    found = []
    for record in records:
        headers = dict(record.headers or ())
        kind = headers["ce_type"].decode()
        if not types or kind in types:
            found.append((kind, json.loads(record.value), headers["ce_id"].decode()))
    return found
