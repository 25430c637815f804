"""`make bench-identity`: SCIM create and PATCH rates, sign-ins with production argon2id,
and the revocation latency, each beside a baseline measured in the same run.

Real processes (identity, access), real Kafka and FerretDB.
- SCIM: BENCH_SCIM_USERS users created through `/scim/v2/Users`, then one Entra-style PATCH
  each, by BENCH_CONCURRENCY concurrent clients. Baseline: raw single-document inserts
  into the same database at the same concurrency (each SCIM create needs several writes).
- Sign-in: BENCH_SIGNINS sign-ins over HTTP against production argon2id parameters.
  Baseline: argon2id verifications per second in one process with the same parameters
  (the ceiling: a sign-in is one verification plus the token work).
- Revocation: offboard through identity → the person's access token refused by another
  verifier (access), polled every 2 ms; tokens come from a real sign-in.
The last line is one JSON object of the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from pymongo import AsyncMongoClient

from bench._infra import bench_infra
from chorus_kit.auth import load_or_create_dev_key
from chorus_kit.events.identity import Role, RoleAssignment
from chorus_local.infra import free_port
from chorus_local.services import ServiceProcess, ServiceSpec
from identity.session_settings import SessionSettings

SCIM_USERS = int(os.environ.get("BENCH_SCIM_USERS", "300"))
SIGNINS = int(os.environ.get("BENCH_SIGNINS", "60"))
LEAVERS = int(os.environ.get("BENCH_LEAVERS", "60"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
PASSWORD = "correct horse battery staple"
SCIM = "application/scim+json"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def at_concurrency(n: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run `one(i)` for i < n with CONCURRENCY in flight; the rate per second."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            await one(queue.get_nowait())

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return n / (time.perf_counter() - began)


async def raw_insert_rate(mongo_uri: str, database: str) -> float:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri)
    collection = client[database]["bench_raw"]

    async def insert(i: int) -> None:
        await collection.insert_one({"_id": str(uuid.uuid4()), "n": i, "pad": "x" * 500})

    rate = await at_concurrency(SCIM_USERS, insert)
    await client.close()
    return rate


async def scim_rates(client: httpx.AsyncClient, identity: str, admin: str) -> tuple[float, float]:
    made = await client.post(
        f"{identity}/v1/provisioning-clients",
        json={"name": "bench", "unit_id": "company"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    made.raise_for_status()
    scim = {"Authorization": f"Bearer {made.json()['token']}", "Content-Type": SCIM}
    ids: dict[int, str] = {}

    async def create(i: int) -> None:
        response = await client.post(
            f"{identity}/scim/v2/Users",
            headers=scim,
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "userName": f"scim{i}@bench.example",
                "name": {"givenName": "Scim", "familyName": f"User {i}"},
                "emails": [{"type": "work", "value": f"scim{i}@bench.example", "primary": True}],
                "active": True,
                "externalId": f"ext-{i}",
                ENTERPRISE: {"employeeNumber": f"E{i}"},
            },
        )
        response.raise_for_status()
        ids[i] = response.json()["id"]

    async def patch(i: int) -> None:
        response = await client.patch(
            f"{identity}/scim/v2/Users/{ids[i]}",
            headers=scim,
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "Replace", "path": "title", "value": f"Title {i}"},
                    {"op": "Replace", "value": {"displayName": f"Scim User {i}"}},
                ],
            },
        )
        response.raise_for_status()

    create_rate = await at_concurrency(SCIM_USERS, create)
    patch_rate = await at_concurrency(SCIM_USERS, patch)
    return create_rate, patch_rate


def argon2_verify_rate() -> float:
    defaults = SessionSettings()
    hasher = PasswordHasher(
        time_cost=defaults.password_hash_time_cost,
        memory_cost=defaults.password_hash_memory_kib,
        parallelism=defaults.password_hash_parallelism,
    )
    stored = hasher.hash(PASSWORD)
    n = max(SIGNINS // 3, 10)
    began = time.perf_counter()
    for _ in range(n):
        hasher.verify(stored, PASSWORD)
    return n / (time.perf_counter() - began)


async def hire_with_password(
    client: httpx.AsyncClient, identity: str, admin: str, email: str
) -> str:
    auth = {"Authorization": f"Bearer {admin}"}
    person = await client.post(
        f"{identity}/v1/employees",
        headers=auth,
        json={"email": email, "given_name": "B", "family_name": "B", "unit_id": "company"},
    )
    person.raise_for_status()
    employee_id = str(person.json()["id"])
    password = await client.put(
        f"{identity}/v1/employees/{employee_id}/password", headers=auth, json={"password": PASSWORD}
    )
    password.raise_for_status()
    return employee_id


async def signin_rate(client: httpx.AsyncClient, identity: str, admin: str) -> float:
    people = [f"signer{i}@bench.example" for i in range(CONCURRENCY)]
    for email in people:
        await hire_with_password(client, identity, admin, email)

    async def sign_in(i: int) -> None:
        response = await client.post(
            f"{identity}/v1/sessions", json={"email": people[i % len(people)], "password": PASSWORD}
        )
        response.raise_for_status()

    return await at_concurrency(SIGNINS, sign_in)


async def revocation_latencies(
    client: httpx.AsyncClient, identity: str, access: str, admin: str
) -> list[float]:
    auth = {"Authorization": f"Bearer {admin}"}
    latencies = []
    for n in range(LEAVERS):
        email = f"leaver{n}@bench.example"
        person = await hire_with_password(client, identity, admin, email)
        signed_in = await client.post(
            f"{identity}/v1/sessions", json={"email": email, "password": PASSWORD}
        )
        signed_in.raise_for_status()
        theirs = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        probe = f"{access}/v1/employment/{person}"  # 403 (not their record to read) until revoked
        deadline = time.monotonic() + 10
        while (await client.get(probe, headers=theirs)).status_code == 401:
            if time.monotonic() > deadline:  # access may not know identity's new key yet
                raise RuntimeError("access never accepted the signed-in token")
            await asyncio.sleep(0.01)
        began = time.perf_counter()
        left = await client.post(
            f"{identity}/v1/employees/{person}/offboard", headers=auth, json={"reason": "bench"}
        )
        left.raise_for_status()
        while (await client.get(probe, headers=theirs)).status_code != 401:
            if time.perf_counter() - began > 10:
                raise RuntimeError("token still accepted after 10 s")
            await asyncio.sleep(0.002)
        latencies.append((time.perf_counter() - began) * 1000)
    return latencies


async def measure(identity: str, access: str, mongo_uri: str, database: str) -> dict[str, float]:
    key_file = Path(os.environ["CHORUS_DEV_SIGNING_KEY_FILE"])
    admin = load_or_create_dev_key(key_file).mint(
        "bench-admin", [RoleAssignment(role=Role.ADMIN, unit="company")]
    )
    async with httpx.AsyncClient(timeout=30) as client:
        raw = await raw_insert_rate(mongo_uri, database)
        create, patch = await scim_rates(client, identity, admin)
        verify = argon2_verify_rate()
        signins = await signin_rate(client, identity, admin)
        latencies = await revocation_latencies(client, identity, access, admin)
    return {
        "scim_users": SCIM_USERS,
        "concurrency": CONCURRENCY,
        "raw_db_inserts_per_s": round(raw, 1),
        "scim_create_per_s": round(create, 1),
        "scim_patch_per_s": round(patch, 1),
        "scim_create_over_raw_insert": round(create / raw, 3),
        "argon2_verify_per_s": round(verify, 1),
        "signin_per_s": round(signins, 1),
        "signin_over_argon2_verify": round(signins / verify, 3),
        "revocation_p50_ms": round(percentile(latencies, 50), 1),
        "revocation_p99_ms": round(percentile(latencies, 99), 1),
        "revocation_max_ms": round(max(latencies), 1),
    }


def main() -> None:
    with bench_infra() as (bootstrap, mongo_uri), tempfile.TemporaryDirectory() as tmp:
        run = f"r{os.getpid()}"
        key_file = Path(tmp) / "key.pem"
        load_or_create_dev_key(key_file)
        specs = {name: ServiceSpec(name, free_port()) for name in ("identity", "access")}
        env = {
            "CHORUS_KAFKA_BOOTSTRAP": bootstrap,
            "CHORUS_MONGODB_URI": mongo_uri,
            "CHORUS_TOPIC_PREFIX": f"{run}.",
            "CHORUS_DEV_SIGNING_KEY_FILE": str(key_file),
            "CHORUS_DEV_KEY_ENCRYPTION_KEY_FILE": str(Path(tmp) / "kek"),
            "CHORUS_JWKS_URL": f"http://127.0.0.1:{specs['identity'].port}/.well-known/jwks.json",
            "CHORUS_LOG_LEVEL": "WARNING",
        }
        os.environ["CHORUS_DEV_SIGNING_KEY_FILE"] = str(key_file)
        services = [
            ServiceProcess(specs[name], Path(tmp), {**env, "CHORUS_DATABASE": f"{run}_{name}"})
            for name in ("identity", "access")
        ]
        try:
            for service in services:
                service.start()
            identity, access = services
            figures = asyncio.run(measure(identity.url, access.url, mongo_uri, f"{run}_identity"))
        finally:
            for service in services:
                service.stop()
    print(
        f"raw inserts {figures['raw_db_inserts_per_s']}/s; SCIM create "
        f"{figures['scim_create_per_s']}/s ({figures['scim_create_over_raw_insert']}× raw), "
        f"SCIM PATCH {figures['scim_patch_per_s']}/s  [{SCIM_USERS} users, {CONCURRENCY} clients]"
    )
    print(
        f"argon2id verify {figures['argon2_verify_per_s']}/s in-process; sign-in "
        f"{figures['signin_per_s']}/s over HTTP ({figures['signin_over_argon2_verify']}×)"
    )
    print(
        f"offboard → token refused by access: p50 {figures['revocation_p50_ms']} ms, "
        f"p99 {figures['revocation_p99_ms']} ms, max {figures['revocation_max_ms']} ms "
        f"({LEAVERS} people)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
