"""The anonymous knowledge survey against the real service: at most one answer per person
even under concurrent submits, and nothing stored, logged or traced that ties an answer
to who gave it."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from chorus_kit.events.identity import Role
from tests.support.api import bearer, create_unit, hire
from tests.support.polling import eventually

QUESTIONS = [
    {"text": "May you share unreleased results?", "choices": ["yes", "no"]},
    {"text": "Who approves company posts?", "choices": ["anyone", "comms", "legal"]},
]


class FakeCollector:
    """An OTLP/HTTP trace collector on loopback: keeps every span the service exports."""

    def __init__(self) -> None:
        self.spans: list = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    for scope_spans in resource_spans.scope_spans:
                        collector.spans.extend(scope_spans.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def collector() -> Iterator[FakeCollector]:
    fake = FakeCollector()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def identity(ns, collector):
    service = ns.service(
        "identity",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    service.start()
    return service


def create_survey(url: str, token: str, **fields) -> httpx.Response:
    body = {"title": "Social media knowledge", "questions": QUESTIONS, **fields}
    return httpx.post(f"{url}/v1/surveys", json=body, headers=bearer(token), timeout=10)


def answer(url: str, token: str, survey_id: str, choices: list[int]) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/surveys/{survey_id}/responses",
        json={"choices": choices},
        headers=bearer(token),
        timeout=10,
    )


def _values(document: object) -> Iterator[object]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield key
            yield from _values(value)
    elif isinstance(document, list):
        for value in document:
            yield from _values(value)
    else:
        yield document


def _attributes(span) -> dict[str, str]:
    found = {}
    for attribute in span.attributes:
        kind = attribute.value.WhichOneof("value")
        found[attribute.key] = str(getattr(attribute.value, kind)) if kind else ""
    return found


async def test_answers_are_counted_once_and_cannot_be_tied_to_anyone(
    ns, identity, collector, mongo
) -> None:
    admin = ns.token(Role.ADMIN, "company")
    people = [hire(identity.url, admin, f"s{i}").json() for i in range(6)]
    tokens = {p["id"]: ns.token(Role.EMPLOYEE, "company", sub=p["id"]) for p in people}
    employee_ids = list(tokens)

    refused = create_survey(identity.url, tokens[employee_ids[0]])
    assert refused.status_code == 403
    created = create_survey(identity.url, admin)
    assert created.status_code == 201, created.text
    survey_id = created.json()["id"]

    # Five people answer, in an order unlike the one they were hired in.
    choices = {0: [1, 1], 1: [1, 2], 2: [0, 1], 3: [1, 1], 4: [1, 0]}
    for index in (3, 0, 4, 2, 1):
        response = answer(identity.url, tokens[employee_ids[index]], survey_id, choices[index])
        assert response.status_code == 204, response.text
    again = answer(identity.url, tokens[employee_ids[0]], survey_id, [0, 0])
    assert again.status_code == 409 and again.json()["code"] == "already_answered"
    bad = answer(identity.url, tokens[employee_ids[5]], survey_id, [7, 0])
    assert bad.status_code == 400 and bad.json()["code"] == "no_such_choice"

    # The sixth person submits eight times at once: exactly one counts.
    async with httpx.AsyncClient(timeout=10) as client:
        outcomes = await asyncio.gather(
            *(
                client.post(
                    f"{identity.url}/v1/surveys/{survey_id}/responses",
                    json={"choices": [0, 2]},
                    headers=bearer(tokens[employee_ids[5]]),
                )
                for _ in range(8)
            )
        )
    assert sorted(r.status_code for r in outcomes) == [204] + [409] * 7

    mine = httpx.get(
        f"{identity.url}/v1/surveys/{survey_id}", headers=bearer(tokens[employee_ids[5]])
    )
    assert mine.json()["answered_by_me"] is True
    progress = httpx.get(f"{identity.url}/v1/surveys/{survey_id}/progress", headers=bearer(admin))
    assert progress.json()["responses"] == 6
    early = httpx.get(f"{identity.url}/v1/surveys/{survey_id}/results", headers=bearer(admin))
    assert early.status_code == 409 and early.json()["code"] == "survey_open"

    # What is stored: one count document, markers without time, nothing else per person.
    database = mongo[ns.database("identity")]
    tallies = await database["survey_tallies"].find({}).to_list()
    assert len(tallies) == 1 and set(tallies[0]) == {"_id", "responses", "counts"}
    assert tallies[0]["responses"] == 6
    stored = list(_values(tallies[0]))
    assert not any(isinstance(v, dt.datetime) for v in stored)
    assert not any(str(v).find(e) >= 0 for v in stored for e in employee_ids)
    markers = await database["survey_participation"].find({}).to_list()
    assert len(markers) == 6
    for marker in markers:
        assert set(marker) == {"_id", "survey_id", "employee_id"}
        assert not any(isinstance(v, dt.datetime) for v in marker.values())
    # No other stored document names both this survey and someone who answered it.
    for name in await database.list_collection_names():
        if name == "survey_participation":
            continue
        for document in await database[name].find({}).to_list():
            text = repr(document)
            assert not (survey_id in text and any(e in text for e in employee_ids)), name

    # Closing shows the counts (the order people answered in leaves no trace in them).
    assert (
        httpx.post(
            f"{identity.url}/v1/surveys/{survey_id}/close", headers=bearer(tokens[employee_ids[0]])
        ).status_code
        == 403
    )
    closed = httpx.post(f"{identity.url}/v1/surveys/{survey_id}/close", headers=bearer(admin))
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    results = httpx.get(f"{identity.url}/v1/surveys/{survey_id}/results", headers=bearer(admin))
    assert results.status_code == 200
    body = results.json()
    assert body["responses"] == 6
    assert [c["count"] for c in body["questions"][0]["choices"]] == [2, 4]
    assert [c["count"] for c in body["questions"][1]["choices"]] == [1, 3, 2]
    employee_view = httpx.get(
        f"{identity.url}/v1/surveys/{survey_id}/results", headers=bearer(tokens[employee_ids[1]])
    )
    assert employee_view.status_code == 403

    # Traces: every answer request was traced, but no span of it touched the markers or the
    # counts, and no span anywhere carries who answered or what.
    def answer_spans():
        return [
            s
            for s in collector.spans
            if _attributes(s).get("http.route") == "/v1/surveys/{survey_id}/responses"
            and s.kind == s.SPAN_KIND_SERVER
        ]

    async def traced():
        return answer_spans()

    await eventually(traced, lambda found: len(found) == 5 + 1 + 1 + 8, what="answer spans")
    answer_traces = {s.trace_id for s in answer_spans()}
    # Database writes are traced as a rule (the survey's own creation is there) ...
    assert any(
        _attributes(s).get("db.mongodb.collection") == "surveys"
        and _attributes(s).get("db.statement") == "insert"
        for s in collector.spans
    )
    # ... but not those of an answer.
    for span in collector.spans:
        attributes = _attributes(span)
        collection = attributes.get("db.mongodb.collection") or attributes.get("db.collection.name")
        writes = attributes.get("db.statement") in ("insert", "update", "delete")
        touches_answers = collection in ("survey_participation", "survey_tallies")
        assert not (touches_answers and writes), span.name
        if span.trace_id in answer_traces:
            assert not touches_answers, span.name
            values = " ".join(attributes.values())
            assert not any(e in values for e in employee_ids), span.name
            assert "counts." not in values and "choices" not in values

    # Nor does the service log anything about it.
    log = identity.process.log_file.read_text()
    assert survey_id not in log and "responses" not in log


def test_results_stay_hidden_below_the_minimum_and_outside_ones_unit(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "subsidiary-a", kind="subsidiary")
    create_unit(identity.url, admin, "subsidiary-b", kind="subsidiary")
    people = [hire(identity.url, admin, f"a{i}", unit_id="subsidiary-a").json() for i in range(4)]
    outsider = hire(identity.url, admin, "b0", unit_id="subsidiary-b").json()
    admin_a = ns.token(Role.ADMIN, "subsidiary-a")
    assert create_survey(identity.url, admin_a, unit_id="subsidiary-b").status_code == 403
    assert create_survey(identity.url, admin_a, min_responses=2).status_code == 422
    created = create_survey(identity.url, admin_a, unit_id="subsidiary-a")
    assert created.status_code == 201
    survey_id = created.json()["id"]
    anyone = ns.token(Role.EMPLOYEE, "subsidiary-b")
    listed = httpx.get(f"{identity.url}/v1/surveys", headers=bearer(anyone))
    assert [s["id"] for s in listed.json()] == [survey_id]
    for person in people:
        token = ns.token(Role.EMPLOYEE, "subsidiary-a", sub=person["id"])
        assert answer(identity.url, token, survey_id, [0, 0]).status_code == 204
    elsewhere = answer(
        identity.url, ns.token(Role.EMPLOYEE, "subsidiary-b", sub=outsider["id"]), survey_id, [0, 0]
    )
    assert elsewhere.status_code == 403 and elsewhere.json()["code"] == "not_in_survey_unit"
    admin_b = ns.token(Role.ADMIN, "subsidiary-b")
    url = f"{identity.url}/v1/surveys/{survey_id}"
    assert httpx.post(f"{url}/close", headers=bearer(admin_b)).status_code == 403
    assert httpx.post(f"{url}/close", headers=bearer(admin_a)).status_code == 200
    assert httpx.post(f"{url}/close", headers=bearer(admin_a)).status_code == 409
    assert httpx.get(f"{url}/results", headers=bearer(admin_b)).status_code == 403
    hidden = httpx.get(f"{url}/results", headers=bearer(admin_a))
    assert hidden.status_code == 409 and hidden.json()["code"] == "too_few_responses"
    late = answer(identity.url, ns.token(Role.EMPLOYEE, "subsidiary-a", sub="x"), survey_id, [0, 0])
    assert late.status_code in (403, 409)
