"""Sign-ins per second with production argon2 parameters (for `make bench-identity`).

How to use it from another benchmark, against a running identity (default settings, i.e.
argon2id t=3, m=64 MiB, p=4; never set CHORUS_ALLOW_WEAK_PASSWORD_HASHING here):

    people = prepare_people(identity_url, admin_token, count=20)   # hire + set a password each
    rate = measure_signins(identity_url, people, seconds=10, concurrency=4)

Each sign-in is `POST /v1/sessions {email, password}` → 200 with an access and a refresh
token; passwords are set by an admin with `PUT /v1/employees/{id}/password {password}`.
Successful sign-ins never count against the failed-attempt limits, but attempts in flight
do (they are reserved before the check): keep `concurrency` below the per-address limit
(`CHORUS_SIGNIN_ADDRESS_FAILURES`, 20) or raise that limit for the run. Standalone:
`uv run python -m bench.signin` starts its own infrastructure and identity; the last line
is one JSON object (`signin_per_s`, ...).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench._infra import bench_infra
from chorus_kit.auth import load_or_create_dev_key
from chorus_kit.events.identity import Role, RoleAssignment
from chorus_local.infra import free_port
from chorus_local.services import ServiceProcess, ServiceSpec

PASSWORD = "bench passphrase, long enough"


def set_password(identity_url: str, admin_token: str, employee_id: str, password: str) -> None:
    httpx.put(
        f"{identity_url}/v1/employees/{employee_id}/password",
        json={"password": password},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30,
    ).raise_for_status()


def sign_in(client: httpx.Client, identity_url: str, email: str, password: str) -> str:
    """One sign-in; the access token."""
    response = client.post(
        f"{identity_url}/v1/sessions", json={"email": email, "password": password}
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def prepare_people(identity_url: str, admin_token: str, *, count: int) -> list[tuple[str, str]]:
    """Hire `count` people and give each a password: [(email, password)]."""
    people = []
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {admin_token}"}) as client:
        for n in range(count):
            email = f"signin{n}-{os.getpid()}@example.com"
            hired = client.post(
                f"{identity_url}/v1/employees",
                json={
                    "email": email,
                    "given_name": "Bench",
                    "family_name": str(n),
                    "unit_id": "company",
                },
            )
            hired.raise_for_status()
            set_password(identity_url, admin_token, hired.json()["id"], PASSWORD)
            people.append((email, PASSWORD))
    return people


def measure_signins(
    identity_url: str,
    people: list[tuple[str, str]],
    *,
    seconds: float = 10.0,
    concurrency: int = 4,
) -> dict[str, float]:
    """Sign in round-robin from `concurrency` threads for `seconds`: rate and latency."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(offset: int) -> None:
        with httpx.Client(timeout=30) as client:
            n = offset
            while time.monotonic() < deadline:
                email, password = people[n % len(people)]
                began = time.perf_counter()
                sign_in(client, identity_url, email, password)
                with lock:
                    latencies.append((time.perf_counter() - began) * 1000)
                n += concurrency

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "signin_per_s": round(len(latencies) / elapsed, 1),
        "signin_p50_ms": round(statistics.median(latencies), 1),
        "signin_max_ms": round(max(latencies), 1),
        "signins": len(latencies),
    }


def main() -> None:
    seconds = float(os.environ.get("BENCH_SECONDS", "10"))
    concurrency = int(os.environ.get("BENCH_CONCURRENCY", "4"))
    with bench_infra() as (bootstrap, mongo_uri), tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "key.pem"
        key = load_or_create_dev_key(key_file)
        run = f"s{os.getpid()}"
        identity = ServiceProcess(
            ServiceSpec("identity", free_port()),
            Path(tmp),
            {
                "CHORUS_KAFKA_BOOTSTRAP": bootstrap,
                "CHORUS_MONGODB_URI": mongo_uri,
                "CHORUS_TOPIC_PREFIX": f"{run}.",
                "CHORUS_DATABASE": f"{run}_identity",
                "CHORUS_DEV_SIGNING_KEY_FILE": str(key_file),
                "CHORUS_LOG_LEVEL": "WARNING",
            },
        )
        try:
            identity.start()
            admin = key.mint("bench-admin", [RoleAssignment(role=Role.ADMIN, unit="company")])
            people = prepare_people(identity.url, admin, count=2 * concurrency)
            figures = measure_signins(
                identity.url, people, seconds=seconds, concurrency=concurrency
            )
        finally:
            identity.stop()
    print(
        f"sign-ins (argon2id t=3 m=64MiB p=4): {figures['signin_per_s']}/s, "
        f"p50 {figures['signin_p50_ms']} ms, {concurrency} clients"
    )
    print(json.dumps({**figures, "concurrency": concurrency}))


if __name__ == "__main__":
    main()
