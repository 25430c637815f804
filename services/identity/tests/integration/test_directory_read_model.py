"""The in-memory staff directory: it answers like the database, and each replica's stays
current with the writes of the others (through identity's employee topic)."""

from __future__ import annotations

import httpx

from chorus_kit.events.identity import EmploymentStatus, Role
from identity.adapters.mongo_store import EmployeeStore
from identity.domain.commands import EmployeeFilter
from identity.domain.directory import EmployeeDirectory
from tests.support.api import bearer, create_unit, hire, offboard
from tests.support.polling import eventually


async def _ids(url: str, token: str, **params: str) -> list[str]:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(f"{url}/v1/employees", headers=bearer(token), params=params)
    assert answer.status_code == 200, answer.text
    return [e["id"] for e in answer.json()["items"]]


async def test_directory_answers_every_filter_like_the_database(ns, mongo) -> None:
    identity = ns.service("identity")
    identity.start()
    admin = ns.token(Role.ADMIN, "company")
    for unit in ("dept-a", "dept-b"):
        assert create_unit(identity.url, admin, unit).status_code == 201
    boss = hire(identity.url, admin, "boss", family_name="Ãlvarez").json()
    people = [
        hire(
            identity.url,
            admin,
            n,
            unit_id="dept-a" if n % 2 else "dept-b",
            manager_id=boss["id"] if n % 3 else None,
            family_name=f"{'Zeta' if n % 4 else 'alpha'} {n}",
        ).json()
        for n in range(12)
    ]
    offboard(identity.url, admin, people[5]["id"])

    store = EmployeeStore(mongo[ns.database("identity")])
    directory = EmployeeDirectory()
    for employee in await store.every_employee():
        directory.put(employee)
    cases = [
        (EmployeeFilter(), None, None),
        (EmployeeFilter(status=EmploymentStatus.OFFBOARDED), None, None),
        (EmployeeFilter(status=EmploymentStatus.ACTIVE, q="zeta"), None, None),
        (EmployeeFilter(q="ALPHA"), None, None),
        (EmployeeFilter(q="person1"), None, None),
        (EmployeeFilter(q="ã"), None, None),
        (EmployeeFilter(manager_id=boss["id"]), {"dept-a"}, None),
        (EmployeeFilter(), {"dept-b"}, people[1]["id"]),
        (EmployeeFilter(), set(), people[2]["id"]),
    ]
    for criteria, units, also_id in cases:
        for after in (None, people[3]["id"], sorted(p["id"] for p in people)[6]):
            for limit in (1, 4, 100):
                expected = await store.search(
                    criteria, units=units, also_id=also_id, after=after, limit=limit
                )
                got = directory.search(
                    criteria, units=units, also_id=also_id, after=after, limit=limit
                )
                assert [e.id for e in got] == [e.id for e in expected], (criteria, units, after)
    reports = sorted(e.id for e in await store.reporting_to([boss["id"]]))
    assert sorted(e.id for e in directory.reporting_to([boss["id"]])) == reports and reports


async def test_each_replica_lists_what_another_wrote(ns) -> None:
    one = ns.service("identity", instance="one")
    two = ns.service("identity", instance="two")
    one.start()
    two.start()
    admin = ns.token(Role.ADMIN, "company")
    assert create_unit(one.url, admin, "dept-x").status_code == 201
    before = hire(one.url, admin, "early", unit_id="dept-x").json()
    # the other replica's directory loaded (or not yet: then it reads the database)
    await eventually(
        lambda: _ids(two.url, admin, unit_id="dept-x"),
        lambda ids: ids == [before["id"]],
        timeout=30,
        what="replica two listing the first hire",
    )
    later = hire(one.url, admin, "later", unit_id="dept-x").json()
    # the writer lists its own write at once
    assert later["id"] in await _ids(one.url, admin, unit_id="dept-x")
    await eventually(
        lambda: _ids(two.url, admin, unit_id="dept-x"),
        lambda ids: later["id"] in ids,
        timeout=30,
        what="replica two listing a hire made through replica one",
    )
    offboard(one.url, admin, later["id"])
    await eventually(
        lambda: _ids(two.url, admin, unit_id="dept-x", status="offboarded"),
        lambda ids: ids == [later["id"]],
        timeout=30,
        what="replica two seeing an offboarding made through replica one",
    )

    async def statuses_at_two() -> list[str]:
        async with httpx.AsyncClient(timeout=10) as client:
            batch = await client.post(
                f"{two.url}/v1/employees/batch-get",
                json={"ids": [later["id"]]},
                headers=bearer(admin),
            )
        return [e["status"] for e in batch.json()["employees"]]

    # (replica two's org tree, which decides what the caller may read, may lag up to
    # OrgUnitStore.TREE_TTL_SECONDS behind the unit's creation)
    await eventually(
        statuses_at_two,
        lambda statuses: statuses == ["offboarded"],
        timeout=30,
        what="replica two's batch lookup answering from its directory",
    )
