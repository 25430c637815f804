"""`make bench-gateway`: what the gateway costs on top of the calls it makes.

Real processes (identity, the gateway, and a hello-world app built with the gateway's
own server setup), real Kafka and FerretDB, one run:

- (B) `{ hello }` on the hello-world app: the server setup's own ceiling;
- (D) the backend calls G needs (identity's employee list and org units side by side,
  then access's grants of the 50 in one batch), made directly by a plain HTTP client;
- (G) the gateway query `G_QUERY`: 50 employees with their unit and grants (everyone
  owns one of the seeded accounts, so every row has a grant).

Each one's maximum rate comes from a closed loop (a fixed number of requests always in
flight); then G and D (and B, for scale) run open loop at half G's maximum — requests
start on a fixed schedule whatever the answers do, and latency counts from the scheduled
start, so a stall shows up instead of hiding. The last line is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench._infra import bench_infra
from chorus_kit.auth import load_or_create_dev_key
from chorus_kit.events.identity import Role, RoleAssignment
from chorus_local.infra import free_port
from chorus_local.services import ServiceProcess, ServiceSpec

UNIT = "dept-bench"
PAGE = 50
G_QUERY = """query Bench($unit: ID!) {
  employees(first: 50, unitId: $unit) {
    ... on EmployeeConnection {
      nodes { id email displayName title unit { id name } grants { id role accountId } }
    }
  }
}"""
B_QUERY = "{ hello }"
PEOPLE = int(os.environ.get("BENCH_PEOPLE", "200"))
MANAGERS = 10
OWNERS_PER_ACCOUNT = 20  # access takes at most 20 owners at registration
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
SATURATE_S = float(os.environ.get("BENCH_SATURATE_SECONDS", "6"))
STEADY_S = float(os.environ.get("BENCH_STEADY_SECONDS", "10"))
STEADY_REQUESTS = int(os.environ.get("BENCH_STEADY_REQUESTS", "1000"))
STEADY_MAX_S = float(os.environ.get("BENCH_STEADY_MAX_SECONDS", "90"))
MAX_OPEN_CONNECTIONS = 256


# --- a small keep-alive HTTP/1.1 client: the load generator must stay cheap ---------------------
class ServerClosed(Exception):
    """The server closed the connection before answering."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def request(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ServerClosed
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        chunked = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readline()).strip(), 16)
            if size == 0:
                await self.reader.readline()
                return status, b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()


class Pool:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._idle: list[Connection] = []

    async def request(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        reused = bool(self._idle)
        conn = self._idle.pop() if reused else await self._open()
        try:
            answer = await conn.request(head, body)
        except (ConnectionError, asyncio.IncompleteReadError, ServerClosed):
            conn.writer.close()
            if not reused:
                raise
            # The server closed an idle keep-alive connection: once more on a new one.
            conn = await self._open()
            answer = await conn.request(head, body)
        except BaseException:
            conn.writer.close()
            raise
        self._idle.append(conn)
        return answer

    async def _open(self) -> Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return Connection(reader, writer)

    def close(self) -> None:
        for conn in self._idle:
            conn.writer.close()


def _head(method: str, target: str, port: int, token: str, body: bytes, accept: str) -> bytes:
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Bearer {token}",
        f"Accept: {accept}",
    ]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


Request = Callable[[], Awaitable[None]]


def graphql_request(pool: Pool, token: str, query: str, variables: dict[str, str]) -> Request:
    body = json.dumps({"query": query, "variables": variables}).encode()
    head = _head("POST", "/graphql", pool.port, token, body, "application/graphql-response+json")

    async def send() -> None:
        status, answer = await pool.request(head, body)
        if status != 200 or b'"errors"' in answer:
            raise RuntimeError(f"gateway answered {status}: {answer[:300]!r}")

    return send


def direct_calls(pool: Pool, access: Pool, token: str) -> Request:
    """What G needs, by hand, as the gateway makes the calls: identity's page and org tree
    side by side, then access's grants of the page's people in one batch."""
    port = pool.port
    listing = _head(
        "GET",
        "/v1/employees?" + urlencode({"limit": PAGE, "unit_id": UNIT}),
        port,
        token,
        b"",
        "*/*",
    )
    units = _head("GET", "/v1/org-units", port, token, b"", "*/*")

    async def send() -> None:
        (status, page), (tree_status, tree) = await asyncio.gather(
            pool.request(listing), pool.request(units)
        )
        if status != 200 or tree_status != 200 or not json.loads(tree):
            raise RuntimeError(f"identity answered {status}, {tree_status}")
        items = json.loads(page)["items"]
        body = json.dumps({"holder_ids": [e["id"] for e in items], "active_only": True}).encode()
        batch = _head("POST", "/v1/grants/by-holders", access.port, token, body, "*/*")
        batch_status, answer = await access.request(batch, body)
        if batch_status != 200 or len(json.loads(answer)["groups"]) != len(items):
            raise RuntimeError("access answered badly")

    return send


# --- measuring ---------------------------------------------------------------------------------
async def saturate(send: Request, *, seconds: float = SATURATE_S) -> float:
    """Closed loop: CONCURRENCY requests always in flight; answers per second."""
    done = 0
    stop = time.perf_counter() + seconds
    await asyncio.gather(*(send() for _ in range(CONCURRENCY)))  # warm connections

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await send()
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return done / (time.perf_counter() - began)


async def steady(send: Request, rate: float) -> list[float]:
    """Open loop: request i starts at i/rate whatever happened before; latency in ms from
    the scheduled start (so waiting for a free connection counts too). At least
    STEADY_REQUESTS requests, so that a p99 is more than the slowest of a few."""
    latencies: list[float] = []
    total = max(int(rate * STEADY_S), min(STEADY_REQUESTS, int(rate * STEADY_MAX_S)))
    in_flight = asyncio.Semaphore(MAX_OPEN_CONNECTIONS)
    began = time.perf_counter()

    async def one(scheduled: float) -> None:
        async with in_flight:
            await send()
        latencies.append((time.perf_counter() - scheduled) * 1000)

    tasks = []
    for i in range(total):
        scheduled = began + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    return latencies


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# --- the run ------------------------------------------------------------------------------------
def seed(identity: str, access: str, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    staff: list[str] = []
    with httpx.Client(base_url=identity, headers=auth, timeout=30) as client:
        unit = {"id": UNIT, "name": "Bench", "kind": "department", "parent_id": "company"}
        client.post("/v1/org-units", json=unit).raise_for_status()
        managers = []
        for n in range(MANAGERS):
            hired = client.post(
                "/v1/employees",
                json={
                    "email": f"manager{n}@bench.example.com",
                    "given_name": "Manager",
                    "family_name": f"M{n}",
                    "unit_id": UNIT,
                    "title": "Manager",
                },
            )
            hired.raise_for_status()
            managers.append(hired.json()["id"])
        staff.extend(managers)
        for n in range(PEOPLE):
            person = client.post(
                "/v1/employees",
                json={
                    "email": f"person{n}@bench.example.com",
                    "given_name": "Person",
                    "family_name": f"P{n}",
                    "unit_id": UNIT,
                    "manager_id": managers[n % MANAGERS],
                    "title": "Engineer",
                },
            )
            person.raise_for_status()
            staff.append(person.json()["id"])
    seed_accounts(access, auth, staff)


def seed_accounts(access: str, auth: dict[str, str], staff: list[str]) -> None:
    """Accounts owned by everyone (an owner grant each), once access has learnt the unit
    and the people from identity's events."""
    with httpx.Client(base_url=access, headers=auth, timeout=30) as client:
        for index in range(0, len(staff), OWNERS_PER_ACCOUNT):
            body = {
                "network": "x",
                "handle": f"bench-{index}",
                "unit_id": UNIT,
                "classification": "brand",
                "owners": staff[index : index + OWNERS_PER_ACCOUNT],
            }
            deadline = time.monotonic() + 60
            while (answer := client.post("/v1/accounts", json=body)).status_code != 201:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"access refused the bench accounts: {answer.text[:300]}")
                time.sleep(0.2)  # access is still reading identity's events


async def measure(ports: dict[str, int], token: str) -> dict[str, float]:
    pools = {name: Pool("127.0.0.1", port) for name, port in ports.items()}
    b = graphql_request(pools["hello"], token, B_QUERY, {})
    g = graphql_request(pools["gateway"], token, G_QUERY, {"unit": UNIT})
    d = direct_calls(pools["identity"], pools["access"], token)
    try:
        for send in (b, g, d):  # warm up: caches, connections, the JIT-less interpreter
            await saturate(send, seconds=1.5)
        b_rps = await saturate(b)
        print(f"(B) hello world, closed loop x{CONCURRENCY}: {b_rps:.0f} rps", flush=True)
        d_rps = await saturate(d)
        print(f"(D) direct backend calls, closed loop x{CONCURRENCY}: {d_rps:.0f} rps", flush=True)
        g_rps = await saturate(g)
        print(f"(G) gateway query, closed loop x{CONCURRENCY}: {g_rps:.0f} rps", flush=True)
        rate = 0.5 * g_rps
        figures: dict[str, float] = {
            "b_rps": round(b_rps, 1),
            "d_rps": round(d_rps, 1),
            "g_rps": round(g_rps, 1),
            "g_over_b": round(g_rps / b_rps, 3),
            "g_over_d": round(g_rps / d_rps, 3),
            "steady_rate_rps": round(rate, 1),
        }
        for name, send in (("g", g), ("d", d), ("b", b)):
            latencies = await steady(send, rate)
            p50, p99 = pct(latencies, 50), pct(latencies, 99)
            figures[f"{name}_p50_ms"] = round(p50, 1)
            figures[f"{name}_p99_ms"] = round(p99, 1)
            print(
                f"({name.upper()}) open loop at {rate:.1f} rps: "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(latencies)} requests)",
                flush=True,
            )
        return figures
    finally:
        for pool in pools.values():
            pool.close()


def main() -> None:
    with bench_infra() as (bootstrap, mongo_uri), tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "key.pem"
        key = load_or_create_dev_key(key_file)
        run = f"g{os.getpid()}"
        identity_port = free_port()
        access_port = free_port()
        env = {
            "CHORUS_KAFKA_BOOTSTRAP": bootstrap,
            "CHORUS_MONGODB_URI": mongo_uri,
            "CHORUS_TOPIC_PREFIX": f"{run}.",
            "CHORUS_DEV_SIGNING_KEY_FILE": str(key_file),
            "CHORUS_JWKS_URL": f"http://127.0.0.1:{identity_port}/.well-known/jwks.json",
            "CHORUS_IDENTITY_URL": f"http://127.0.0.1:{identity_port}",
            "CHORUS_ACCESS_URL": f"http://127.0.0.1:{access_port}",
            "CHORUS_LOG_LEVEL": "WARNING",
            # Measure throughput, not the deadline: a backend saturated by the closed loop
            # must not turn G's answers into partial ones.
            "CHORUS_BACKEND_TIMEOUT_SECONDS": "10",
            # One bench user sends everything: no budget may hold it back.
            "CHORUS_COST_BUDGET_CAPACITY": "1000000000",
            "CHORUS_COST_BUDGET_PER_SECOND": "1000000000",
        }
        specs = {
            "identity": ServiceSpec("identity", identity_port),
            "access": ServiceSpec("access", access_port),
            "gateway": ServiceSpec("gateway", free_port()),
            "hello": ServiceSpec("bench.gateway_hello", free_port()),
        }
        services = {
            name: ServiceProcess(spec, Path(tmp), {**env, "CHORUS_DATABASE": f"{run}_{name}"})
            for name, spec in specs.items()
        }
        try:
            for service in services.values():
                service.start()
            admin = key.mint("bench-admin", [RoleAssignment(role=Role.ADMIN, unit="company")])
            seed(services["identity"].url, services["access"].url, admin)
            print(
                f"# seeded {PEOPLE} people and {MANAGERS} managers in {UNIT}, each owning "
                "an account",
                flush=True,
            )
            figures = asyncio.run(measure({n: s.spec.port for n, s in services.items()}, admin))
        finally:
            for service in services.values():
                service.stop()
    figures["g_over_b_target_met"] = figures["g_over_b"] >= 0.3
    figures["g_p99_target_met"] = figures["g_p99_ms"] <= figures["d_p99_ms"] + 15
    print(
        f"G/B = {figures['g_over_b']:.2f} (target >= 0.3); "
        f"p99 G {figures['g_p99_ms']:.1f} ms vs D {figures['d_p99_ms']:.1f} ms + 15 (target)"
    )
    print(json.dumps({"query": "50 employees with their unit and grants", **figures}))


if __name__ == "__main__":
    main()
