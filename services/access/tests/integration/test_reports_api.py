"""Reports against the real service: who had access at any time (JSON and CSV), and former
staff with access, whose alert fires once per distinct situation."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime

from chorus_kit.events.catalogue import PLATFORM_ALERT
from chorus_kit.events.identity import Role
from tests.support.api import offboard
from tests.support.kafka import read_topic
from tests.support.polling import eventually

ALERT = b"chorus.platform.alert.former_staff_with_access"


def report(company, token: str, **params) -> dict:
    answer = company.call("GET", "/v1/reports/access", token, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_who_had_access_when_and_csv(company) -> None:
    await company.units(("sub-a", "subsidiary", "company"), ("sub-b", "subsidiary", "company"))
    await company.hire(
        ("a1", "sub-a"), ("a2", "sub-a"), ("b1", "sub-b"), ("b2", "sub-b"), ("p", "company")
    )
    before = datetime.now(UTC).isoformat()
    a = company.register("report_a", "sub-a", ["a1", "a2"])["id"]
    b = company.register("report_b", "sub-b", ["b1", "b2"])["id"]
    on_a = company.grant(a, "p", "publisher", "a1")
    company.grant(b, "p", "viewer", "b1")
    while_granted = datetime.now(UTC).isoformat()
    revoked = company.call(
        "POST", f"/v1/grants/{on_a['id']}/revoke", company.token("a2"), json_body={"reason": "r"}
    )
    assert revoked.status_code == 200
    after = datetime.now(UTC).isoformat()
    p = company.staff["p"]

    auditor = company.token("auditor", (Role.AUDITOR, "company"))
    assert report(company, auditor, at=before)["items"] == []
    then = report(company, auditor, at=while_granted)["items"]
    assert {(r["account_id"], r["holder_id"], r["role"]) for r in then} >= {
        (a, p, "publisher"),
        (b, p, "viewer"),
    }
    assert len(then) == 6  # four owners and two grants
    now = report(company, auditor, at=after)["items"]
    assert (a, p) not in {(r["account_id"], r["holder_id"]) for r in now} and len(now) == 5
    default_now = report(company, auditor)["items"]
    assert [r["grant_id"] for r in default_now] == [r["grant_id"] for r in now]
    row = next(r for r in then if r["grant_id"] == on_a["id"])
    assert row["handle"] == "report_a" and row["network"] == "x"
    assert row["holder_email"].startswith("person") and row["holder_status"] == "active"

    # Scope: a unit filter, an auditor of one subsidiary, one outside their roles.
    only_a = report(company, auditor, at=while_granted, unit_id="sub-a")["items"]
    assert {r["account_id"] for r in only_a} == {a} and len(only_a) == 3
    auditor_b = company.token("auditor-b", (Role.AUDITOR, "sub-b"))
    assert {r["account_id"] for r in report(company, auditor_b, at=while_granted)["items"]} == {b}
    outside = company.call("GET", "/v1/reports/access", auditor_b, params={"unit_id": "sub-a"})
    assert (outside.status_code, outside.json()["code"]) == (403, "unit_out_of_scope")
    for who in (company.token("p"), company.token("a1")):  # staff and owners: not reports
        denied = company.call("GET", "/v1/reports/access", who)
        assert (denied.status_code, denied.json()["code"]) == (403, "not_auditor")
    # Bad input: a time without a zone, a time that is no time, an unknown parameter.
    for params in ({"at": "2026-01-01T00:00:00"}, {"at": "yesterday"}, {"colour": "red"}):
        bad = company.call("GET", "/v1/reports/access", auditor, params=params)
        assert (bad.status_code, bad.json()["code"]) == (422, "validation_failed")
    # Pages by grant id.
    first = report(company, auditor, at=while_granted, limit=4)
    rest = report(company, auditor, at=while_granted, limit=4, after=first["next_cursor"])
    assert len(first["items"]) == 4 and len(rest["items"]) == 2 and rest["next_cursor"] is None
    assert [r["grant_id"] for r in first["items"] + rest["items"]] == [r["grant_id"] for r in then]

    # CSV, by content negotiation or by its own path; every row, page size aside.
    as_csv = company.call(
        "GET",
        "/v1/reports/access",
        auditor,
        params={"at": while_granted, "limit": 2},
        headers={"Accept": "text/csv"},
    )
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["grant_id"] for r in rows] == [r["grant_id"] for r in then]
    assert rows[0].keys() >= {"account_id", "handle", "holder_id", "role", "granted_at"}
    by_path = company.call("GET", "/v1/reports/access.csv", auditor, params={"at": while_granted})
    assert by_path.status_code == 200 and by_path.text == as_csv.text
    assert company.call("GET", "/v1/reports/access.csv", company.token("p")).status_code == 403


async def test_former_staff_with_access_are_reported_and_alerted_once_per_situation(
    ns, mongo, make_company, fast_env
) -> None:
    # The leaver flow would end the leavers' grants at once; here it is held before it acts
    # (as if it lagged or failed), which is the situation the report and the alert are for.
    identity = ns.service("identity")
    await asyncio.to_thread(identity.start)
    access = ns.service("access", faults="offboarding.before_effects", **fast_env)
    await asyncio.to_thread(access.start)
    company = make_company(identity, access)
    await company.units(("sub-a", "subsidiary", "company"))
    await company.hire(("o1", "sub-a"), ("o2", "sub-a"), ("leaver", "sub-a"), ("later", "sub-a"))
    account = company.register("former", "sub-a", ["o1", "o2"])["id"]
    first_grant = company.grant(account, "leaver", "publisher", "o1")
    second_grant = company.grant(account, "later", "viewer", "o1")
    auditor = company.token("auditor", (Role.AUDITOR, "company"))
    path = "/v1/reports/former-staff-with-access"
    assert company.call("GET", path, auditor).json() == {
        "people": [],
        "open_grants": 0,
        "unacknowledged_connector_calls": 0,
    }
    leaver, later = company.staff["leaver"], company.staff["later"]
    alerts_topic = company.ns.topic(PLATFORM_ALERT.name)

    async def alerts() -> list[dict]:
        records = await read_topic(company.ns.infra.bootstrap, alerts_topic)
        return [json.loads(r.value) for r in records if dict(r.headers)["ce_type"] == ALERT]

    # Someone leaves (identity) while holding a grant: the list is not empty, the alert fires.
    assert offboard(company.identity.url, company.root, leaver).status_code == 200
    await company.known([leaver], status="offboarded")
    listed = company.call("GET", path, auditor).json()
    assert [p["person_id"] for p in listed["people"]] == [leaver]
    assert [g["id"] for g in listed["people"][0]["open_grants"]] == [first_grant["id"]]
    assert listed["open_grants"] == 1 and listed["people"][0]["employed_until"] is not None
    first = await eventually(alerts, lambda found: len(found) >= 1, what="the alert")
    assert first == [
        {"person_ids": [leaver], "open_grants": 1, "unacknowledged_connector_calls": 0}
    ]

    # A second leaver is a new situation: one more alert, and none repeated meanwhile (the
    # checker has run many times by then).
    assert offboard(company.identity.url, company.root, later).status_code == 200
    both = await eventually(alerts, lambda found: len(found) >= 2, what="a second alert")
    assert len(both) == 2 and sorted(both[1]["person_ids"]) == sorted([leaver, later])
    assert await company.db["alerts"].count_documents({}) == 2

    # Scope: an auditor of another unit sees nobody; staff may not read it.
    other = company.token("auditor-x", (Role.AUDITOR, "elsewhere"))
    assert company.call("GET", path, other).json()["people"] == []
    assert company.call("GET", path, company.token("o1")).status_code == 403

    # Revoking what they hold empties the list.
    for grant in (first_grant, second_grant):
        assert (
            company.call(
                "POST",
                f"/v1/grants/{grant['id']}/revoke",
                company.token("o2"),
                json_body={"reason": "left"},
            ).status_code
            == 200
        )
    assert company.call("GET", path, auditor).json()["people"] == []
