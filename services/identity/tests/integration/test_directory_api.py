"""Listing, searching and batch lookups, each showing only what the caller may read."""

from __future__ import annotations

import httpx
import pytest

from chorus_kit.events.identity import Role
from tests.support.api import bearer, create_unit, hire, offboard


@pytest.fixture
def directory(ns):
    identity = ns.service("identity")
    identity.start()
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "dept-a")
    create_unit(identity.url, admin, "dept-b")
    people = {
        "a": [hire(identity.url, admin, f"a{n}", unit_id="dept-a").json() for n in range(7)],
        "b": [
            hire(identity.url, admin, f"b{n}", unit_id="dept-b", family_name=f"Zeta{n}").json()
            for n in range(3)
        ],
    }
    offboard(identity.url, admin, people["a"][0]["id"])
    return identity, admin, people


def list_all(url: str, token: str, **params: object) -> list[dict[str, object]]:
    items, cursor = [], None
    while True:
        page = httpx.get(
            f"{url}/v1/employees",
            headers=bearer(token),
            params={**params, **({"after": cursor} if cursor else {})},
        )
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def test_pages_cover_everyone_once_in_a_stable_order(ns, directory) -> None:
    identity, admin, people = directory
    listed = list_all(identity.url, admin, limit=4)
    ids = [e["id"] for e in listed]
    assert sorted(ids) == ids and len(ids) == len(set(ids)) == 10
    first = httpx.get(f"{identity.url}/v1/employees", headers=bearer(admin), params={"limit": 4})
    assert len(first.json()["items"]) == 4 and first.json()["next_cursor"]


def test_filters(ns, directory) -> None:
    identity, admin, people = directory
    assert len(list_all(identity.url, admin, unit_id="dept-b")) == 3
    assert len(list_all(identity.url, admin, status="offboarded")) == 1
    assert {e["family_name"] for e in list_all(identity.url, admin, q="zeta")} == {
        "Zeta0",
        "Zeta1",
        "Zeta2",
    }
    assert [e["email"] for e in list_all(identity.url, admin, q="persona3")] == [
        "persona3@example.com"
    ]


def test_each_caller_sees_only_what_they_may_read(ns, directory) -> None:
    identity, _, people = directory
    auditor_b = ns.token(Role.AUDITOR, "dept-b")
    assert {e["unit_id"] for e in list_all(identity.url, auditor_b)} == {"dept-b"}
    someone = people["a"][3]
    own = ns.token(Role.EMPLOYEE, "dept-a", sub=someone["id"])
    assert [e["id"] for e in list_all(identity.url, own)] == [someone["id"]]
    comms = ns.token(Role.COMMS, "company")
    assert list_all(identity.url, comms) == []


def test_batch_lookup_answers_in_one_request_without_disclosing(ns, directory) -> None:
    identity, admin, people = directory
    wanted = [people["a"][1]["id"], people["b"][0]["id"], "no-such-id", people["a"][1]["id"]]
    answer = httpx.post(
        f"{identity.url}/v1/employees/batch-get", json={"ids": wanted}, headers=bearer(admin)
    ).json()
    assert {e["id"] for e in answer["employees"]} == {people["a"][1]["id"], people["b"][0]["id"]}
    assert answer["not_found"] == ["no-such-id"]
    auditor_b = ns.token(Role.AUDITOR, "dept-b")
    limited = httpx.post(
        f"{identity.url}/v1/employees/batch-get", json={"ids": wanted}, headers=bearer(auditor_b)
    ).json()
    assert [e["id"] for e in limited["employees"]] == [people["b"][0]["id"]]
    assert set(limited["not_found"]) == {people["a"][1]["id"], "no-such-id"}


def test_bad_paging_input_is_a_4xx(ns, directory) -> None:
    identity, admin, _ = directory
    url = f"{identity.url}/v1/employees"
    assert httpx.get(url, headers=bearer(admin), params={"limit": 101}).status_code == 422
    bad = httpx.get(url, headers=bearer(admin), params={"after": "%%%"})
    assert bad.status_code == 400 and bad.json()["code"] == "bad_cursor"
    assert httpx.get(url, headers=bearer(admin), params={"status": "retired"}).status_code == 422
    too_many = httpx.post(
        f"{url}/batch-get", json={"ids": [str(n) for n in range(101)]}, headers=bearer(admin)
    )
    assert too_many.status_code == 422
