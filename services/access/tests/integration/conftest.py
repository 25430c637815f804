"""A small company for access's integration tests: identity and access running as real
processes, org units and staff created through identity, learnt by access over Kafka."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from chorus_kit.events.identity import Role, RoleAssignment
from tests.support.api import bearer, create_unit, hire
from tests.support.kafka import read_topic
from tests.support.polling import eventually

# Fast schedules, so tests see expiries and alerts in seconds.
FAST = {
    "CHORUS_SCHEDULER_INTERVAL_SECONDS": "0.3",
    # Rescans (and the sweep of effects whose claimer died) every 2 s, not every 300 s.
    "CHORUS_SCHEDULER_RESYNC_SECONDS": "2",
    "CHORUS_FORMER_STAFF_CHECK_SECONDS": "0.5",
    "CHORUS_FORMER_STAFF_ALERT_GRACE_SECONDS": "0",
    "CHORUS_CLAIM_STALE_SECONDS": "3",
    "CHORUS_UNIT_TREE_CACHE_SECONDS": "0.2",
}


@dataclass
class Company:
    ns: Any
    mongo: Any
    identity: Any
    access: Any
    root: str  # an admin token over the whole company
    hired: int = 0
    staff: dict[str, str] = field(default_factory=dict)  # name -> employee id

    @property
    def db(self) -> Any:
        return self.mongo[self.ns.database("access")]

    async def units(self, *specs: tuple[str, str, str]) -> None:
        """Create (unit id, kind, parent) in identity and wait until access mirrors them."""
        for unit_id, kind, parent in specs:
            create_unit(self.identity.url, self.root, unit_id, kind=kind, parent_id=parent)
        wanted = {u for u, _, _ in specs}
        await eventually(
            lambda: self.db["org_units"].count_documents({"_id": {"$in": sorted(wanted)}}),
            lambda n: n == len(wanted),
            what=f"access mirrors units {sorted(wanted)}",
        )

    async def hire(self, *people: tuple[str, str]) -> list[str]:
        """Hire (name, unit) people in identity; wait until access knows them as active."""
        ids = []
        for name, unit in people:
            self.hired += 1
            response = hire(self.identity.url, self.root, f"{name}-{self.hired}", unit_id=unit)
            assert response.status_code == 201, response.text
            self.staff[name] = response.json()["id"]
            ids.append(self.staff[name])
        await self.known(ids)
        return ids

    async def known(self, ids: list[str], status: str = "active") -> None:
        await eventually(
            lambda: self.db["employment"].count_documents({"_id": {"$in": ids}, "status": status}),
            lambda n: n == len(ids),
            what=f"access knows {len(ids)} people as {status}",
        )

    def token(self, who: str, *roles: tuple[Role, str]) -> str:
        """A token for a named person (or any `sub`), with these org roles."""
        sub = self.staff.get(who, who)
        assigned = [RoleAssignment(role=r, unit=u) for r, u in roles] or [
            RoleAssignment(role=Role.EMPLOYEE, unit="company")
        ]
        return self.ns.signing_key().mint(sub, assigned)

    def call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.access.url}{path}",
            json=json_body,
            params=params,
            headers={**bearer(token), **(headers or {})},
            timeout=15,
        )

    async def fetch(self, method: str, path: str, token: str, **options: Any) -> Any:
        """`call`, for polling with `eventually`: the answer's JSON."""
        response = await asyncio.to_thread(self.call, method, path, token, **options)
        return response.json()

    def register(
        self, handle: str, unit: str, owners: list[str], classification: str = "brand"
    ) -> dict[str, Any]:
        response = self.call(
            "POST",
            "/v1/accounts",
            self.root,
            json_body={
                "network": "x",
                "handle": handle,
                "unit_id": unit,
                "classification": classification,
                "owners": [self.staff[o] for o in owners],
            },
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def grant(
        self, account_id: str, who: str, role: str, approver: str, **duration: int
    ) -> dict[str, Any]:
        """`who` asks for `role`; `approver` (an owner) approves; the grant made."""
        asked = self.call(
            "POST",
            "/v1/access-requests",
            self.token(who),
            json_body={
                "account_id": account_id,
                "role": role,
                "justification": "campaign",
                **duration,
            },
        )
        assert asked.status_code == 201, asked.text
        decided = self.call(
            "POST", f"/v1/access-requests/{asked.json()['id']}/approve", self.token(approver)
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["grant"] is not None
        return dict(decided.json()["grant"])

    async def events(self, topic: str) -> list[tuple[str, str, dict[str, Any], str]]:
        """(type, subject, data, event id) of everything on an access topic."""
        records = await read_topic(self.ns.infra.bootstrap, self.ns.topic(topic))
        found = []
        for record in records:
            headers = dict(record.headers)
            found.append(
                (
                    headers["ce_type"].decode(),
                    headers["ce_subject"].decode(),
                    json.loads(record.value),
                    headers["ce_id"].decode(),
                )
            )
        return found

    async def types_on(self, topic: str) -> Counter[str]:
        return Counter(t for t, _, _, _ in await self.events(topic))


async def _start(service: Any) -> None:
    await asyncio.to_thread(service.start)


@pytest.fixture
def fast_env() -> dict[str, str]:
    return dict(FAST)


@pytest.fixture
def make_company(ns, mongo):
    """A `Company` over services a test started itself (e.g. several access replicas)."""

    def make(identity: Any, access: Any) -> Company:
        return Company(ns=ns, mongo=mongo, identity=identity, access=access, root=ns.token())

    return make


@pytest.fixture
async def company(ns, mongo) -> Company:
    identity = ns.service("identity")
    await _start(identity)
    access = ns.service("access", **FAST)
    await _start(access)
    world = Company(ns=ns, mongo=mongo, identity=identity, access=access, root=ns.token())
    await eventually(
        lambda: world.db["org_units"].count_documents({"_id": "company"}),
        lambda n: n == 1,
        what="access mirrors the company unit",
    )
    return world
