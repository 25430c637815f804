"""`make bench-revocation`: how fast a leaver's token stops working in another service.

Real processes (identity, access), real Kafka and FerretDB. For each of N people: their
token reads from access (200); then the clock starts, identity is asked to offboard them,
and access is polled every 2 ms until it refuses the token (401 session_revoked). The
path is identity's outbox → relay → `chorus.identity.session.v1` → access's revocation
reader. For scale, the offboard request's own round trip is reported beside it. The last
line is one JSON object of the figures.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench._infra import bench_infra
from chorus_kit.auth import SigningKey, load_or_create_dev_key
from chorus_kit.events.identity import Role, RoleAssignment
from chorus_local.infra import free_port
from chorus_local.services import SERVICES, ServiceProcess, ServiceSpec

N = int(os.environ.get("BENCH_PEOPLE", "100"))
DEADLINE_S = 10.0


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    with bench_infra() as (bootstrap, mongo_uri), tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "key.pem"
        key = load_or_create_dev_key(key_file)
        run = f"r{os.getpid()}"
        specs = {s.name: ServiceSpec(s.name, free_port()) for s in SERVICES}
        env = {
            "CHORUS_KAFKA_BOOTSTRAP": bootstrap,
            "CHORUS_MONGODB_URI": mongo_uri,
            "CHORUS_TOPIC_PREFIX": f"{run}.",
            "CHORUS_DEV_SIGNING_KEY_FILE": str(key_file),
            "CHORUS_JWKS_URL": f"http://127.0.0.1:{specs['identity'].port}/.well-known/jwks.json",
            "CHORUS_LOG_LEVEL": "WARNING",
        }
        services = [
            ServiceProcess(specs[name], Path(tmp), {**env, "CHORUS_DATABASE": f"{run}_{name}"})
            for name in ("identity", "access")
        ]
        try:
            for service in services:
                service.start()
            identity, access = services
            admin = key.mint("bench-admin", [RoleAssignment(role=Role.ADMIN, unit="company")])
            latencies, requests = measure(identity.url, access.url, admin, key)
        finally:
            for service in services:
                service.stop()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    r50, r99 = percentile(requests, 50), percentile(requests, 99)
    print(f"offboard request round trip: p50 {r50:.1f} ms, p99 {r99:.1f} ms")
    print(
        f"offboard → token refused by access: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
        f"(max {max(latencies):.1f} ms, {N} people)"
    )
    print(
        json.dumps(
            {
                "people": N,
                "revocation_p50_ms": round(p50, 1),
                "revocation_p99_ms": round(p99, 1),
                "revocation_max_ms": round(max(latencies), 1),
                "offboard_request_p50_ms": round(r50, 1),
                "offboard_request_p99_ms": round(r99, 1),
            }
        )
    )


def measure(
    identity: str, access: str, admin: str, key: SigningKey
) -> tuple[list[float], list[float]]:
    latencies: list[float] = []
    requests: list[float] = []
    with httpx.Client(timeout=10) as client:
        auth = {"Authorization": f"Bearer {admin}"}
        for n in range(N):
            person = client.post(
                f"{identity}/v1/employees",
                headers=auth,
                json={
                    "email": f"leaver{n}@example.com",
                    "given_name": "Leaver",
                    "family_name": str(n),
                    "unit_id": "company",
                },
            ).json()["id"]
            token = key.mint(person, [RoleAssignment(role=Role.AUDITOR, unit="company")])
            theirs = {"Authorization": f"Bearer {token}"}
            record = f"{access}/v1/employment/{person}"
            deadline = time.monotonic() + DEADLINE_S
            while client.get(record, headers=theirs).status_code != 200:  # access knows them
                if time.monotonic() > deadline:
                    raise RuntimeError("access never saw the hire")
                time.sleep(0.01)
            began = time.perf_counter()
            client.post(
                f"{identity}/v1/employees/{person}/offboard", headers=auth, json={"reason": "bench"}
            ).raise_for_status()
            requests.append((time.perf_counter() - began) * 1000)
            while client.get(record, headers=theirs).status_code != 401:
                if time.perf_counter() - began > DEADLINE_S:
                    raise RuntimeError(f"token still accepted after {DEADLINE_S}s")
                time.sleep(0.002)
            latencies.append((time.perf_counter() - began) * 1000)
    return latencies, requests


if __name__ == "__main__":
    main()
