"""A whole vault run, then a search for every secret written, in every form, everywhere it
must never be: the services' logs, every message on every topic of the run, every answer
but the check-outs themselves, the traces the service exported, and the raw database.

The trace collector is a small OTLP/HTTP server on loopback (a third party's role); the
service exports its spans there as it would to a real collector.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from bson.raw_bson import RawBSONDocument
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from chorus_kit.events.catalogue import VAULT
from chorus_kit.events.identity import Role
from tests.support.api import bearer, create_unit, hire
from tests.support.kafka import read_topic
from tests.support.polling import eventually

MASTER_KEY = base64.b64encode(os.urandom(32)).decode()


class TraceCollector:
    """Receives OTLP/HTTP trace exports and keeps their raw bodies."""

    def __init__(self) -> None:
        bodies: list[bytes] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.bodies = bodies
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def span_names(self) -> set[str]:
        names: set[str] = set()
        for body in list(self.bodies):
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    names |= {span.name for span in scope.spans}
        return names


@pytest.fixture
def collector() -> Iterator[TraceCollector]:
    collector = TraceCollector()
    collector.thread.start()
    yield collector
    collector.server.shutdown()


def encodings(value: str) -> list[bytes]:
    """The forms a leaked value could take: as is, base64 (both alphabets), hex."""
    raw = value.encode()
    b64 = base64.b64encode(raw)
    return [
        raw,
        b64,
        b64.rstrip(b"="),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        raw.hex().encode(),
        raw.hex().upper().encode(),
    ]


def found_in(blob: bytes, values: list[str]) -> list[str]:
    return [v for v in values if any(form in blob for form in encodings(v))]


async def all_topics_of(bootstrap: str, prefix: str) -> list[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return sorted(t for t in await consumer.topics() if t.startswith(prefix))
    finally:
        await consumer.stop()


async def test_no_secret_leaks_anywhere_in_a_whole_run(ns, mongo, collector) -> None:
    identity = ns.service("identity")
    identity.start()
    access = ns.service(
        "access",
        CHORUS_ACCESS_VAULT_MASTER_KEY=MASTER_KEY,
        CHORUS_VAULT_TICK_SECONDS="0.3",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    access.start()
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "dept-a")
    owner = hire(identity.url, admin, f"owner-{ns.id}", unit_id="dept-a").json()["id"]
    publisher = hire(identity.url, admin, f"pub-{ns.id}", unit_id="dept-a").json()["id"]

    database = mongo[ns.database("access")]
    as_owner = bearer(ns.token(Role.EMPLOYEE, "dept-a", sub=owner))
    as_publisher = bearer(ns.token(Role.EMPLOYEE, "dept-a", sub=publisher))
    auditor = bearer(ns.token(Role.AUDITOR, "company", sub="auditor-1"))

    # An executive account (rotation after every check-out) with a publisher, via the API.
    async def register() -> httpx.Response:
        return httpx.post(
            f"{access.url}/v1/accounts",
            json={
                "network": "x",
                "handle": f"exec-{ns.id}",
                "unit_id": "dept-a",
                "classification": "executive",
                "owners": [owner],
            },
            headers=bearer(admin),
            timeout=10,
        )

    registered = await eventually(register, lambda r: r.status_code == 201, what="registered")
    account = registered.json()["id"]
    asked = httpx.post(
        f"{access.url}/v1/access-requests",
        json={"account_id": account, "role": "publisher", "justification": "posting"},
        headers=as_publisher,
    )
    assert asked.status_code == 201, asked.text
    approved = httpx.post(
        f"{access.url}/v1/access-requests/{asked.json()['id']}/approve", headers=as_owner
    )
    assert approved.status_code == 200, approved.text
    base = f"{access.url}/v1/accounts/{account}/secrets"

    def token(label: str) -> str:
        return f"{label}-{secrets.token_urlsafe(18)}"

    written: list[str] = []
    answers: list[httpx.Response] = []  # every answer except the check-outs
    check_outs: list[httpx.Response] = []

    def call(method: str, url: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
        response = httpx.request(method, url, headers=headers, timeout=10, **kw)
        handed_out = url.endswith("/check-out") and response.status_code == 201
        (check_outs if handed_out else answers).append(response)
        return response

    # Record one secret of each kind, and a second password (a rotation).
    password, api_token = token("pw"), token("api")
    seed = base64.b32encode(os.urandom(20)).decode().rstrip("=")
    codes = [token("rc1"), token("rc2"), token("rc3")]
    password_2 = token("pw2")
    written += [password, api_token, seed, *codes, password_2]
    assert call("PUT", f"{base}/password", as_owner, json={"value": password}).status_code == 200
    assert call("PUT", f"{base}/api_token", as_owner, json={"value": api_token}).status_code == 200
    assert call("PUT", f"{base}/totp_seed", as_owner, json={"value": seed}).status_code == 200
    assert call("PUT", f"{base}/recovery_codes", as_owner, json={"codes": codes}).status_code == 200

    # Check out (each is flagged for rotation: the account's policy), check in, look around.
    out = call("POST", f"{base}/password/check-out", as_publisher, json={"minutes": 5})
    assert out.status_code == 201 and out.json()["secret"]["value"] == password
    lease = out.json()["lease"]["lease_id"]
    assert call("GET", f"{access.url}/v1/leases/{lease}", as_publisher).status_code == 200
    assert call("POST", f"{access.url}/v1/leases/{lease}/check-in", as_publisher).status_code == 200
    totp = call("POST", f"{base}/totp_seed/check-out", as_publisher)
    assert totp.status_code == 201 and len(totp.json()["secret"]["totp_code"]) == 6
    assert seed not in totp.text
    recovery = call("POST", f"{base}/recovery_codes/check-out", as_owner)
    assert recovery.json()["secret"]["codes"] == codes
    api = call("POST", f"{base}/api_token/check-out", as_publisher)
    assert api.json()["secret"]["value"] == api_token
    assert call("GET", base, as_owner).json()[1]["rotation_required"] is True
    assert call("PUT", f"{base}/password", as_owner, json={"value": password_2}).status_code == 200
    assert call("GET", f"{access.url}/v1/accounts/{account}/leases", auditor).status_code == 200

    # Bad requests carrying secrets: each refused with a code, none echoing what it was sent.
    extra, too_long, not_a_list, bad_seed, wrong_field, broken_json, refused, bad_minutes = (
        token(f"bad{i}") for i in range(8)
    )
    written += [extra, too_long, not_a_list, bad_seed, wrong_field, broken_json, refused]
    bad = [
        ("PUT", f"{base}/password", as_owner, {"json": {"value": extra, "note": extra}}),
        ("PUT", f"{base}/password", as_owner, {"json": {"value": too_long + "x" * 5000}}),
        ("PUT", f"{base}/recovery_codes", as_owner, {"json": {"codes": not_a_list}}),
        ("PUT", f"{base}/totp_seed", as_owner, {"json": {"value": f"!{bad_seed}!"}}),
        ("PUT", f"{base}/recovery_codes", as_owner, {"json": {"value": wrong_field}}),
        (
            "PUT",
            f"{base}/password",
            {**as_owner, "Content-Type": "application/json"},
            {"content": f'{{"value": "{broken_json}'},
        ),
        ("PUT", f"{base}/password", as_publisher, {"json": {"value": refused}}),
        ("POST", f"{base}/api_token/check-out", as_publisher, {"json": {"minutes": bad_minutes}}),
    ]
    for method, url, headers, kw in bad:
        response = call(method, url, headers, **kw)
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["code"], response.text

    # Everything has reached Kafka and the trace collector.
    await eventually(
        lambda: read_topic(ns.infra.bootstrap, ns.topic(VAULT.name)),
        lambda records: len(records) >= 14,  # 5 rotated, 4 out, 1 in, 4 flagged
        what="the run's vault events",
    )

    async def exported() -> set[str]:
        return collector.span_names()

    names = await eventually(
        exported,
        lambda n: any("check-out" in name for name in n) and any("check-in" in name for name in n),
        what="spans of the check-out and check-in requests",
    )
    assert any(name.startswith("PUT /v1/accounts/{account_id}/secrets") for name in names)

    # --- the search ------------------------------------------------------------------------
    leaks: list[str] = []
    for response in answers:
        blob = response.content + json.dumps(dict(response.headers)).encode()
        leaks += [f"answer {response.request.url.path}: {v}" for v in found_in(blob, written)]
    for service in (access, identity):
        log = service.process.log_file.read_bytes()
        assert log, f"{service.spec.name} wrote no log"
        leaks += [f"{service.spec.name} log: {v}" for v in found_in(log, written)]
    topics = await all_topics_of(ns.infra.bootstrap, ns.topic_prefix)
    assert ns.topic(VAULT.name) in topics
    messages = 0
    for topic in topics:
        for record in await read_topic(ns.infra.bootstrap, topic):
            messages += 1
            blob = (record.key or b"") + (record.value or b"")
            blob += b"".join(k.encode() + v for k, v in record.headers)
            leaks += [f"topic {topic}: {v}" for v in found_in(blob, written)]
    assert messages >= 30
    for body in collector.bodies:
        leaks += [f"trace export: {v}" for v in found_in(body, written)]
    raw = database.with_options(
        codec_options=database.codec_options.with_options(document_class=RawBSONDocument)
    )
    documents = 0
    for name in await database.list_collection_names():
        for document in await raw[name].find({}).to_list():
            documents += 1
            leaks += [f"database {name}: {v}" for v in found_in(document.raw, written)]
    assert documents >= 10
    assert leaks == []

    # And the check-outs did carry what they had to (so the search looked for real values).
    carried = b"".join(r.content for r in check_outs)
    assert found_in(carried, written) == sorted([password, api_token, *codes], key=written.index)
