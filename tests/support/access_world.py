"""Access behind the gateway, for the gateway's access tests: a real access process (and
the identity the gateway test stack already runs), a recording proxy in front of access,
and a gateway calling both through their proxies. Units, staff and accounts are made
through the services' own APIs, as the front ends' data would be."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from chorus_kit.events.identity import Role
from chorus_local.services import ServiceProcess
from tests.support.api import bearer, create_unit, hire
from tests.support.graphql import GraphQL
from tests.support.polling import eventually
from tests.support.proxy import RecordingProxy

FAST = {
    "CHORUS_SCHEDULER_INTERVAL_SECONDS": "0.3",
    "CHORUS_UNIT_TREE_CACHE_SECONDS": "0.2",
    "CHORUS_VAULT_TICK_SECONDS": "0.5",
}


@dataclass
class AccessWorld:
    stack: Any  # the gateway tests' Stack (identity, its proxy)
    access: ServiceProcess
    proxy: RecordingProxy  # in front of access
    gateway: ServiceProcess
    people: dict[str, str] = field(default_factory=dict)  # name -> employee id
    units: dict[str, str] = field(default_factory=dict)  # name -> unit id
    emails: dict[str, str] = field(default_factory=dict)  # name -> email
    accounts: dict[str, str] = field(default_factory=dict)  # handle -> account id
    hired: int = 0

    @property
    def gql(self) -> GraphQL:
        return GraphQL(self.gateway.url)

    @property
    def admin(self) -> str:
        return str(self.stack.token())

    def token(self, name: str, *roles: tuple[Role, str]) -> str:
        """A token for a named person, an employee of their unit unless roles are given."""
        person = self.people[name]
        return str(self.stack.tokens(person, *(roles or ((Role.EMPLOYEE, self.units[name]),))))

    def call(self, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
        """Access itself, not through the gateway (for setting the scene)."""
        return httpx.request(
            method, f"{self.access.url}{path}", json=body, headers=bearer(token), timeout=15
        )

    def unit(self, unit_id: str) -> None:
        response = create_unit(self.stack.identity.url, self.admin, unit_id)
        assert response.status_code in (201, 409), response.text

    async def hire(self, unit_id: str, *names: str) -> list[str]:
        """Hire people in identity; wait until access knows them as active staff."""
        for name in names:
            self.hired += 1
            response = hire(
                self.stack.identity.url, self.admin, f"{name}-{self.hired}", unit_id=unit_id
            )
            assert response.status_code == 201, response.text
            self.people[name] = response.json()["id"]
            self.emails[name] = response.json()["email"]
            self.units[name] = unit_id
        for name in names:
            await eventually(
                lambda name=name: asyncio.to_thread(  # type: ignore[misc]
                    self.call, "GET", f"/v1/employment/{self.people[name]}", self.admin
                ),
                lambda r: r.status_code == 200 and r.json()["status"] == "active",
                what=f"access knows {name}",
            )
        return [self.people[n] for n in names]

    async def register(self, handle: str, unit_id: str, owners: list[str]) -> dict[str, Any]:
        """An account registered in access directly (retried until access has learnt the
        unit from identity)."""
        body = {
            "network": "x",
            "handle": handle,
            "unit_id": unit_id,
            "classification": "brand",
            "owners": [self.people[o] for o in owners],
        }
        response = await eventually(
            lambda: asyncio.to_thread(self.call, "POST", "/v1/accounts", self.admin, body),
            lambda r: r.status_code == 201,
            what=f"account {handle} registered",
        )
        self.accounts[handle] = response.json()["id"]
        return dict(response.json())

    def grant(self, account_id: str, who: str, role: str, approver: str) -> dict[str, Any]:
        """`who` asks for `role` on the account; `approver` (an owner) approves."""
        asked = self.call(
            "POST",
            "/v1/access-requests",
            self.token(who),
            {"account_id": account_id, "role": role, "justification": "campaign"},
        )
        assert asked.status_code == 201, asked.text
        decided = self.call(
            "POST", f"/v1/access-requests/{asked.json()['id']}/approve", self.token(approver)
        )
        assert decided.status_code == 200, decided.text
        return dict(decided.json()["grant"])


@contextmanager
def access_world(stack: Any, **env: str) -> Iterator[AccessWorld]:
    """Start access beside the stack's identity, a proxy before it, and a gateway over both
    (`env`: more settings for access, e.g. shorter ticks)."""
    access = stack.process("access", **{**FAST, **env})
    access.start()
    proxy = RecordingProxy(access.url).start()
    try:
        gateway = stack.start_gateway(instance="access", CHORUS_ACCESS_URL=proxy.url)
        yield AccessWorld(stack=stack, access=access, proxy=proxy, gateway=gateway)
    finally:
        proxy.stop()
