"""The demo organisation `make up` seeds: a group, two subsidiaries, their departments, ~200
people with roles, 15 social accounts with owners, grants and vault entries, a policy and
training modules. Everything goes through the services' public APIs (as an HR system and
the comms team would), so it exercises the same rules and emits the same events.

Seeding runs once: a second `make up` finds the demo's marker unit and leaves things be.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from chorus_kit.auth import SigningKey
from chorus_kit.events.identity import Role, RoleAssignment

DEMO_ADMIN_EMAIL = "admin@acme.example"
DEMO_PASSWORD = "chorus-demo-password"
MARKER_UNIT = "acme-eu"

SUBSIDIARIES = {"acme-eu": "Acme Europe", "acme-us": "Acme Americas"}
DEPARTMENTS = ("comms", "marketing", "people", "engineering", "sales")
GIVEN = (
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Linus",
    "Margaret",
    "Tim",
    "Hedy",
    "Dennis",
    "Barbara",
    "Ken",
    "Radia",
    "Guido",
    "Frances",
    "John",
    "Sophie",
    "Edsger",
    "Anita",
)
FAMILY = ("Lovelace", "Hopper", "Turing", "Johnson", "Torvalds", "Hamilton", "Berners-Lee",
          "Lamarr", "Ritchie", "Liskov", "Thompson", "Perlman", "van Rossum", "Allen",
          "McCarthy", "Wilson", "Dijkstra", "Borg")  # fmt: skip
# (network, handle, unit, classification, purpose)
ACCOUNTS = (
    ("linkedin", "acme-group", "company", "brand", "Group news and employer brand"),
    ("x", "acmegroup", "company", "brand", "Group announcements"),
    ("instagram", "acme", "company", "brand", "Brand stories"),
    ("youtube", "acmegroup", "company", "brand", "Product films"),
    ("x", "acme_ceo", "company", "executive", "The CEO's account"),
    ("linkedin", "acme-europe", "acme-eu", "regional", "Europe news"),
    ("x", "acme_eu", "acme-eu", "regional", "Europe announcements"),
    ("facebook", "acme.europe", "acme-eu", "regional", "Europe community"),
    ("tiktok", "acme.eu", "acme-eu-marketing", "regional", "Campaigns"),
    ("linkedin", "acme-eu-careers", "acme-eu-people", "recruiting", "Hiring in Europe"),
    ("linkedin", "acme-americas", "acme-us", "regional", "Americas news"),
    ("x", "acme_us", "acme-us", "regional", "Americas announcements"),
    ("instagram", "acme.us", "acme-us-marketing", "regional", "Campaigns"),
    ("facebook", "acme.careers.us", "acme-us-people", "recruiting", "Hiring in the Americas"),
    ("linkedin", "acme-us-engineering", "acme-us-engineering", "recruiting", "Engineering jobs"),
)


@dataclass
class DemoOrg:
    people: dict[str, dict[str, Any]] = field(default_factory=dict)  # email → employee
    by_unit: dict[str, list[str]] = field(default_factory=dict)  # unit → employee ids


class Seeder:
    def __init__(self, identity: str, access: str, key: SigningKey, say: Callable[[str], None]):
        self.identity = identity
        self.access = access
        self.key = key
        self.say = say
        self.http = httpx.Client(timeout=30)
        self.admin = self._token("demo-seeder", Role.ADMIN, "company")

    def _token(self, sub: str, role: Role, unit: str) -> dict[str, str]:
        token = self.key.mint(sub, [RoleAssignment(role=role, unit=unit)])
        return {"Authorization": f"Bearer {token}"}

    def _call(self, method: str, url: str, headers: dict[str, str], **kwargs: Any) -> Any:
        response = self.http.request(method, url, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {url} → {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    def already_seeded(self) -> bool:
        url = f"{self.identity}/v1/org-units/{MARKER_UNIT}"
        return self.http.get(url, headers=self.admin).status_code == 200

    def seed(self) -> None:
        org = DemoOrg()
        self._units()
        self._people(org)
        self._programme()
        self._wait_for_access(org)
        self._accounts(org)

    def _units(self) -> None:
        units = f"{self.identity}/v1/org-units"
        self._call("PATCH", f"{units}/company", self.admin, json={"name": "Acme Group"})
        self._unit("group-comms", "Group communications", "department", "company")
        for sub, name in SUBSIDIARIES.items():
            self._unit(sub, name, "subsidiary", "company")
            for dept in DEPARTMENTS:
                self._unit(f"{sub}-{dept}", f"{name} {dept}", "department", sub)

    def _unit(self, unit_id: str, name: str, kind: str, parent: str) -> None:
        body = {"id": unit_id, "name": name, "kind": kind, "parent_id": parent}
        self._call("POST", f"{self.identity}/v1/org-units", self.admin, json=body)

    def _hire(
        self,
        org: DemoOrg,
        n: int,
        unit: str,
        manager: str | None,
        roles: list[tuple[Role, str]],
        email: str | None = None,
        title: str | None = None,
    ) -> str:
        given, family = GIVEN[n % len(GIVEN)], FAMILY[(n // len(GIVEN)) % len(FAMILY)]
        email = email or f"{given}.{family}.{n}".lower().replace(" ", "") + "@acme.example"
        body: dict[str, Any] = {
            "email": email,
            "given_name": given,
            "family_name": family,
            "unit_id": unit,
            "manager_id": manager,
            "title": title,
            "roles": [{"role": r.value, "unit": u} for r, u in roles],
            "social_handles": {"linkedin": f"{given}-{family}-{n}".lower().replace(" ", "")},
        }
        person = self._call("POST", f"{self.identity}/v1/employees", self.admin, json=body)
        org.people[email] = person
        org.by_unit.setdefault(unit, []).append(person["id"])
        return str(person["id"])

    def _people(self, org: DemoOrg) -> None:
        everyone = [(Role.EMPLOYEE, "company")]
        ceo = self._hire(
            org,
            0,
            "company",
            None,
            [*everyone, (Role.ADMIN, "company")],
            email=DEMO_ADMIN_EMAIL,
            title="Chief executive",
        )
        self._call(
            "PUT",
            f"{self.identity}/v1/employees/{ceo}/password",
            self.admin,
            json={"password": DEMO_PASSWORD},
        )
        n = 1
        group_comms = self._hire(
            org, n, "group-comms", ceo, [*everyone, (Role.COMMS, "company")], title="Head of comms"
        )
        self._hire(org, 2, "group-comms", group_comms, [*everyone, (Role.ANALYST, "company")])
        self._hire(org, 3, "company", ceo, [*everyone, (Role.AUDITOR, "company")], title="Auditor")
        n = 4
        for sub in SUBSIDIARIES:
            head = self._hire(
                org, n, sub, ceo, [*everyone, (Role.ADMIN, sub)], title="Managing director"
            )
            n += 1
            for dept in DEPARTMENTS:
                unit = f"{sub}-{dept}"
                lead_roles = [*everyone]
                if dept == "comms":
                    lead_roles.append((Role.COMMS, sub))
                if dept == "people":
                    lead_roles.append((Role.ADMIN, unit))
                lead = self._hire(org, n, unit, head, lead_roles, title=f"Head of {dept}")
                n += 1
                for _ in range(18):
                    self._hire(org, n, unit, lead, everyone)
                    n += 1
        self.say(f"demo: {len(org.people)} people hired")

    def _programme(self) -> None:
        policy = {
            "title": "Social media policy",
            "body_markdown": "Speak for yourself, protect what is confidential, be kind.",
            "grace_period_days": 14,
        }
        self._call("POST", f"{self.identity}/v1/policies", self.admin, json=policy)
        for title, roles in (
            ("Posting for the company", ["comms"]),
            ("Staying safe", ["employee"]),
        ):
            module = {"title": title, "required_for_roles": roles, "pass_score": 70}
            self._call("POST", f"{self.identity}/v1/training/modules", self.admin, json=module)

    def _wait_for_access(self, org: DemoOrg) -> None:
        last = list(org.people.values())[-1]["id"]
        deadline = time.monotonic() + 120
        while (
            self.http.get(f"{self.access}/v1/employment/{last}", headers=self.admin).status_code
            != 200
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("access did not learn of the demo staff within 120 s")
            time.sleep(0.5)

    def _accounts(self, org: DemoOrg) -> None:
        for index, (network, handle, unit, classification, purpose) in enumerate(ACCOUNTS):
            staff = self._staff_within(org, unit)
            owners, publishers = staff[:2], staff[2:5]
            body = {
                "network": network,
                "handle": handle,
                "unit_id": unit,
                "classification": classification,
                "purpose": purpose,
                "owners": owners,
            }
            account = self._call("POST", f"{self.access}/v1/accounts", self.admin, json=body)
            account_id = account.get("account_id") or account["id"]
            if index % 5 == 4:
                # One account in five is left with a single owner: the coverage alert in action.
                self._call(
                    "DELETE",
                    f"{self.access}/v1/accounts/{account_id}/owners/{owners[1]}",
                    self.admin,
                )
            owner = self._token(owners[0], Role.EMPLOYEE, "company")
            self._call(
                "PUT",
                f"{self.access}/v1/accounts/{account_id}/secrets/password",
                owner,
                json={"value": f"demo-{handle}-password"},
            )
            for person in publishers:
                theirs = self._token(person, Role.EMPLOYEE, "company")
                request = self._call(
                    "POST",
                    f"{self.access}/v1/access-requests",
                    theirs,
                    json={"account_id": account_id, "role": "publisher", "justification": "demo"},
                )
                request_id = request.get("request_id") or request["id"]
                self._call(
                    "POST", f"{self.access}/v1/access-requests/{request_id}/approve", owner, json={}
                )
        self.say(f"demo: {len(ACCOUNTS)} social accounts with owners, grants and vault entries")

    @staticmethod
    def _staff_within(org: DemoOrg, unit: str) -> list[str]:
        """People of `unit` and the units below it (unit ids nest by prefix in the demo)."""
        found = [p for u, ids in org.by_unit.items() if u.startswith(unit) for p in ids]
        if unit == "company":  # the group's own accounts: group comms and the executives
            found = org.by_unit.get("group-comms", []) + org.by_unit.get("company", [])
        return found


def seed_demo(identity: str, access: str, key: SigningKey, say: Callable[[str], None]) -> bool:
    """Seed the demo organisation unless it is there already; True if it seeded now."""
    seeder = Seeder(identity, access, key, say)
    if seeder.already_seeded():
        return False
    seeder.seed()
    return True
