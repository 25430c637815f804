"""`make bench-leaver`: how fast access offboards someone, alone and 10,000 at once.

Real processes (identity, access), real Kafka and FerretDB.
- Latency: BENCH_EMPLOYEES (1,000) people created through SCIM, each holding
  BENCH_GRANTS_EACH (5) grants; a fixed background of BENCH_BACKGROUND_PER_S (50)
  `employee.updated` events per second, for people who stay, is put on identity's employee
  topic (access applies each to its mirror; they queue with the leavers' events). Not
  through identity's API: identity handles fewer than 50 profile updates per second on this
  machine, and its queue would be what is timed. BENCH_LEAVERS of them are then
  deactivated through SCIM (`PATCH active=false`), BENCH_LEAVE_PER_S per second; the clock
  runs from the request to the offboarding's `offboarding.completed` read back from
  `chorus.access.offboarding.v1`. Timed twice: with
  access's default settings (`p50_ms`, `p99_ms`), then, after a restart, with its periodic
  vault and review ticks every 60 s instead of every 5 s (BULK_ENV: `*_reads_spaced`).
- Bulk: BENCH_BULK (10,000) people at once. Their `employee.offboarded` events are put on
  identity's employee topic directly (identity's own offboarding rate is bench-identity's
  business), and the clock runs from the first to the last completion read back.
- Setup shortcut, said here and in the output: the grants (5 per person: 5,000, then 50,000)
  and the accounts they are on are written straight into access's database in the shape
  access stores them (with their `grant_holdings` entries), because making 50,000 grants
  through requests and approvals would take far longer than the run. The bulk's people
  enter access's employment view the same way, and identity's employees collection, as
  offboarded, through identity's own store (identity's consumers of the bulk's events then
  find them).
- The bulk runs with BULK_ENV too (said in the output).
- Writes: the access process counts every write command and the documents it touched
  (`chorus_db_written_documents_total` on its /metrics); the bulk's figure is the
  difference across it. Raw rate: single-document updates by `_id`, 16 in flight, on a
  5,000-document collection of the same database server, in the same run.
- CPU: what each process (access, identity, FerretDB, Kafka) spent from the first bulk
  event sent until its writes settled, from /proc (`bulk_cpu_s`, and per leaver).
The machine is shared: other work on it moves these figures. The same code took 59.0 and
67.3 s forty minutes apart, every process spending 14-17% more CPU in the slower run: when
the machine slows, all CPU figures rise alike, and a change to one process shows as a
change in its share. The last line is one JSON object of the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient

from bench._infra import bench_infra, cpu_seconds
from chorus_kit.auth import load_or_create_dev_key
from chorus_kit.events import new_event
from chorus_kit.events.catalogue import EMPLOYEE, OFFBOARDING
from chorus_kit.events.identity import (
    EmployeeOffboarded,
    EmployeeUpdated,
    EmploymentStatus,
    Role,
    RoleAssignment,
)
from chorus_kit.kafka import create_producer
from chorus_local.infra import free_port
from chorus_local.services import ServiceProcess, ServiceSpec
from identity.adapters.mongo_store import EmployeeStore
from identity.domain.model import Employee

EMPLOYEES = int(os.environ.get("BENCH_EMPLOYEES", "1000"))
GRANTS_EACH = int(os.environ.get("BENCH_GRANTS_EACH", "5"))
LEAVERS = int(os.environ.get("BENCH_LEAVERS", "100"))
LEAVE_PER_S = float(os.environ.get("BENCH_LEAVE_PER_S", "1"))
BACKGROUND_PER_S = float(os.environ.get("BENCH_BACKGROUND_PER_S", "50"))
BULK = int(os.environ.get("BENCH_BULK", "10000"))
ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "100"))
CONCURRENCY = 8
SCIM = "application/scim+json"
COMPLETION_DEADLINE_S = float(os.environ.get("BENCH_DEADLINE_S", "1800"))
# For the second timed group and the bulk, access restarts with its periodic
# whole-collection reads spaced out: on FerretDB v1 each one reads every document of its
# collection. Since the leaver rework most are spaced or in memory by default (outbox sweep
# 300 s, former-staff check 300 s, expiry scheduler in memory with a rescan every 300 s),
# so what this still changes is the vault and review ticks (5 s → 60 s).
BULK_ENV = {
    "CHORUS_VAULT_TICK_SECONDS": "60",
    "CHORUS_REVIEW_TICK_SECONDS": "60",
}


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class Completions:
    """Reads `chorus.access.offboarding.v1` from the start; when each person's completion
    arrived (perf_counter), and how many completions each person got."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.seen_at: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self._changed = asyncio.Event()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=2000)
                now = time.perf_counter()
                for records in batches.values():
                    for record in records:
                        person = json.loads(record.value)["person_id"]
                        self.seen_at.setdefault(person, now)
                        self.count[person] = self.count.get(person, 0) + 1
                if batches:
                    self._changed.set()
        finally:
            await consumer.stop()

    async def wait_for(
        self, people: set[str], deadline_s: float, *, progress: bool = False
    ) -> None:
        until = time.monotonic() + deadline_s
        told = time.monotonic()
        while not people <= self.seen_at.keys():
            if progress and time.monotonic() - told > 15:
                done = len(people & self.seen_at.keys())
                print(f"# {done} of {len(people)} completed", flush=True)
                told = time.monotonic()
            if time.monotonic() > until:
                missing = len(people - self.seen_at.keys())
                raise RuntimeError(f"{missing} offboardings not completed in {deadline_s}s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=1)
            except TimeoutError:
                pass


# --- setup ---------------------------------------------------------------------------------
async def scim_create(
    client: httpx.AsyncClient, identity: str, scim: dict[str, str], n: int
) -> list[str]:
    ids: list[str] = [""] * n
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            response = await client.post(
                f"{identity}/scim/v2/Users",
                headers=scim,
                json={
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": f"leaver{i}@bench.example",
                    "name": {"givenName": "Bench", "familyName": f"Person {i}"},
                    "emails": [{"type": "work", "value": f"leaver{i}@bench.example"}],
                    "active": True,
                },
            )
            response.raise_for_status()
            ids[i] = response.json()["id"]

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return ids


def account_document(
    n: int, owners: list[str], run: str, now: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    account_id = f"{run}-account-{n}"
    ownerships: list[dict[str, Any]] = [
        {"person_id": p, "grant_id": f"{account_id}-owner-{p}", "since": now} for p in owners
    ]
    account: dict[str, Any] = {
        "_id": account_id,
        "network": "x",
        "handle": f"bench{n}",
        "handle_key": f"x:{run.lower()}bench{n}",
        "url": None,
        "unit_id": "company",
        "purpose": "bench",
        "classification": "brand",
        "status": "active",
        "owners": owners,
        "ownerships": ownerships,
        "coverage_low": False,
        "max_grant_days": 90,
        "rotate_after_checkout": False,
        "secret_max_age_days": 90,
        "registered_at": now,
        "registered_by": "bench",
        "updated_at": now,
        "connector": None,
        "owner_sync": {},
        "owner_sync_pending": False,
        "outbox": {},
        "outbox_pending": False,
        "sequence": 1,
    }
    grants = [
        grant_document(str(o["grant_id"]), account_id, str(o["person_id"]), "owner", now)
        for o in ownerships
    ]
    return account, grants


def grant_document(
    grant_id: str, account_id: str, holder: str, role: str, now: datetime
) -> dict[str, Any]:
    """A grant as access stores it once granted (its granted event and audit entry sent)."""
    return {
        "_id": grant_id,
        "account_id": account_id,
        "account_unit_id": "company",
        "holder_id": holder,
        "role": role,
        "granted_at": now,
        "granted_by": "bench",
        "expires_at": None if role == "owner" else now + timedelta(days=60),
        "revoked_at": None,
        "revoked_by": None,
        "revoke_reason": None,
        "offboarding_id": None,
        "request_id": None,
        "expiring_sent": False,
        "outbox": {},
        "outbox_pending": False,
        "sequence": 2,
    }


async def seed_grants(
    database: Any, people: list[str], account_ids: list[str], now: datetime
) -> None:
    """GRANTS_EACH publisher/viewer grants per person on distinct accounts, with holdings."""
    grants, holdings = [], []
    for person in people:
        held = {}
        for account_id in random.sample(account_ids, GRANTS_EACH):
            grant_id = str(uuid.uuid4())
            grants.append(
                grant_document(
                    grant_id, account_id, person, random.choice(["publisher", "viewer"]), now
                )
            )
            held[grant_id] = account_id
        holdings.append({"_id": person, "grants": held})
    for start in range(0, len(grants), 1000):
        await database["grants"].insert_many(grants[start : start + 1000], ordered=False)
    for start in range(0, len(holdings), 1000):
        await database["grant_holdings"].insert_many(holdings[start : start + 1000], ordered=False)


async def seed_accounts(database: Any, owners: list[str], run: str, now: datetime) -> list[str]:
    accounts, owner_grants = [], []
    for n in range(ACCOUNTS):
        account, grants = account_document(n, random.sample(owners, 2), run, now)
        accounts.append(account)
        owner_grants += grants
    await database["accounts"].insert_many(accounts)
    await database["grants"].insert_many(owner_grants)
    by_owner: dict[str, dict[str, str]] = {}
    for grant in owner_grants:
        by_owner.setdefault(grant["holder_id"], {})[grant["_id"]] = grant["account_id"]
    await database["grant_holdings"].insert_many(
        [{"_id": o, "grants": g} for o, g in by_owner.items()]
    )
    return [a["_id"] for a in accounts]


async def wait_known(database: Any, ids: list[str], status: str = "active") -> None:
    until = time.monotonic() + 300
    while True:
        known = 0
        for start in range(0, len(ids), 500):
            known += await database["employment"].count_documents(
                {"_id": {"$in": ids[start : start + 500]}, "status": status}
            )
        if known == len(ids):
            return
        if time.monotonic() > until:
            raise RuntimeError(f"access knows {known} of {len(ids)} people")
        await asyncio.sleep(0.5)


# --- the phases ----------------------------------------------------------------------------
async def background_updates(
    bootstrap: str, topic: str, people: dict[str, int], stop: asyncio.Event
) -> int:
    """BACKGROUND_PER_S `employee.updated` events per second on identity's employee topic
    until `stop`, at a fixed rate, each one access applies (a sequence above the last)."""
    producer = create_producer(bootstrap, client_id="bench-background")
    await producer.start()
    subjects = list(people)
    sent = 0
    began = time.perf_counter()
    try:
        while not stop.is_set():
            person = subjects[sent % len(subjects)]
            number = people[person]
            sequence = 1_000 + sent  # above anything identity numbered for them
            event = new_event(
                "chorus.identity.employee.updated",
                source="/chorus/identity",
                subject=person,
                sequence=sequence,
                data=EmployeeUpdated(
                    employee_id=person,
                    email=f"leaver{number}@bench.example",
                    given_name="Bench",
                    family_name=f"Person {number}",
                    unit_id="company",
                    unit_path=["company"],
                    roles=[RoleAssignment(role=Role.EMPLOYEE, unit="company")],
                    status=EmploymentStatus.ACTIVE,
                    title=f"Title {sent}",
                    changed=["title"],
                ),
            )
            key, value, headers = event.to_kafka()
            await producer.send(topic, key=key, value=value, headers=headers)
            sent += 1
            await asyncio.sleep(max(began + sent / BACKGROUND_PER_S - time.perf_counter(), 0))
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def latencies(
    client: httpx.AsyncClient,
    identity: str,
    scim: dict[str, str],
    leavers: list[str],
    completions: Completions,
) -> list[float]:
    started: dict[str, float] = {}

    async def deactivate(person: str) -> None:
        started[person] = time.perf_counter()
        response = await client.patch(
            f"{identity}/scim/v2/Users/{person}",
            headers=scim,
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            },
        )
        response.raise_for_status()

    tasks = []
    began = time.perf_counter()
    for n, person in enumerate(leavers):
        tasks.append(asyncio.create_task(deactivate(person)))
        await asyncio.sleep(max(began + (n + 1) / LEAVE_PER_S - time.perf_counter(), 0))
    await asyncio.gather(*tasks)
    await completions.wait_for(set(leavers), COMPLETION_DEADLINE_S)
    measured = {p: (completions.seen_at[p] - started[p]) * 1000 for p in leavers}
    if len(leavers) > 1:
        slowest = sorted(leavers, key=measured.__getitem__, reverse=True)[:5]
        told = ", ".join(f"{measured[p]:.0f} ms at +{started[p] - began:.0f} s" for p in slowest)
        print(f"# slowest: {told}", flush=True)
    return [measured[p] for p in leavers]


async def metric_total(client: httpx.AsyncClient, access: str, name: str) -> float:
    text = (await client.get(f"{access}/metrics")).text
    return sum(float(v) for v in re.findall(rf"^{name}\{{[^}}]*\}} ([0-9.e+]+)$", text, re.M))


def identity_leaver(person: str, chain: list[str], now: datetime) -> Employee:
    """Someone identity has offboarded, its events already published (the bulk's events)."""
    return Employee(
        id=person,
        email=f"{person}@bench.example",
        given_name="Bulk",
        family_name=person[-6:],
        unit_id="company",
        unit_path=("company",),
        manager_id=chain[0],
        manager_chain=tuple(chain),
        roles=(RoleAssignment(role=Role.EMPLOYEE, unit="company"),),
        status=EmploymentStatus.OFFBOARDED,
        start_date=now - timedelta(days=365),
        offboarded_at=now,
        offboard_reason="bulk offboarding (bench)",
    )


async def bulk(
    client: httpx.AsyncClient,
    access: str,
    database: Any,
    identity_database: Any,
    bootstrap: str,
    prefix: str,
    managers: list[str],
    account_ids: list[str],
    completions: Completions,
    pids: dict[str, int],
) -> tuple[float, float, float, dict[str, float]]:
    """(seconds, documents written, write commands, CPU seconds per process) for BULK
    leavers at once."""
    now = datetime.now(UTC)
    people = [f"bulk-{uuid.uuid4()}" for _ in range(BULK)]
    chain = managers[:2]
    views = [
        {
            "_id": p,
            "email": f"{p}@bench.example",
            "given_name": "Bulk",
            "family_name": p[-6:],
            "unit_id": "company",
            "unit_path": ["company"],
            "roles": [{"role": "employee", "unit": "company"}],
            "manager_id": chain[0],
            "manager_chain": chain,
            "status": "active",
            "employed_since": now,
            "employed_until": None,
            "history": [],
            "last_sequence": 1,
        }
        for p in people
    ]
    for start in range(0, len(views), 1000):
        await database["employment"].insert_many(views[start : start + 1000])
    await seed_grants(database, people, account_ids, now)
    # Identity knows them too (through its own store), so its consumers of the bulk's events
    # (certification records) do the work a real bulk gives them, not retries and dead
    # letters for strangers.
    employees = EmployeeStore(identity_database)
    for start in range(0, len(people), 200):
        await asyncio.gather(
            *(employees.add(identity_leaver(p, chain, now)) for p in people[start : start + 200])
        )
    events = [
        new_event(
            "chorus.identity.employee.offboarded",
            source="/chorus/identity",
            subject=p,
            sequence=2,
            data=EmployeeOffboarded(
                employee_id=p,
                email=f"{p}@bench.example",
                given_name="Bulk",
                family_name=p[-6:],
                unit_id="company",
                unit_path=["company"],
                manager_id=chain[0],
                manager_chain=chain,
                roles=[RoleAssignment(role=Role.EMPLOYEE, unit="company")],
                status=EmploymentStatus.OFFBOARDED,
                offboarded_at=now,
                reason="bulk offboarding (bench)",
            ),
        )
        for p in people
    ]
    documents_before = await metric_total(client, access, "chorus_db_written_documents_total")
    commands_before = await metric_total(client, access, "chorus_db_write_commands_total")
    producer = create_producer(bootstrap, client_id="bench-bulk")
    await producer.start()
    cpu_before = cpu_seconds(pids)
    began = time.perf_counter()
    try:
        futures = []
        for event in events:
            key, value, headers = event.to_kafka()
            futures.append(
                await producer.send(
                    f"{prefix}{EMPLOYEE.name}", key=key, value=value, headers=headers
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    await completions.wait_for(set(people), COMPLETION_DEADLINE_S, progress=True)
    seconds = max(completions.seen_at[p] for p in people) - began
    # Where the time went: completions per 5 s since the first event was sent.
    per_slot = [0] * (int(seconds // 5) + 1)
    for p in people:
        per_slot[int((completions.seen_at[p] - began) // 5)] += 1
    print(f"# completions per 5 s: {per_slot}", flush=True)
    # Writes still under way when the last completion arrived (the relay clearing sent
    # events, the audit log's consumer) belong to the bulk too: let them settle.
    settled = await settle(client, access)
    documents = settled - documents_before
    commands = (
        await metric_total(client, access, "chorus_db_write_commands_total") - commands_before
    )
    cpu_after = cpu_seconds(pids)
    # What each process spent on the bulk, settling writes included. On a shared machine
    # whose speed drifts, runs compared by CPU per leaver agree where their seconds do not.
    cpu = {n: round(cpu_after[n] - cpu_before[n], 1) for n in cpu_after if n in cpu_before}
    spent = (f"{n} {v:.1f} s ({1000 * v / len(people):.2f} ms/leaver)" for n, v in cpu.items())
    print(f"# CPU over the bulk: {', '.join(spent)}", flush=True)
    return seconds, documents, commands, cpu


async def settle(client: httpx.AsyncClient, access: str) -> float:
    """The written-documents counter once it stopped moving for 3 s."""
    last, still_since = -1.0, time.monotonic()
    while True:
        now = await metric_total(client, access, "chorus_db_written_documents_total")
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since > 3:
            return now
        await asyncio.sleep(0.5)


async def raw_update_rate(mongo_uri: str, database: str) -> float:
    """Single-document updates by `_id`, 16 in flight, on a 5,000-document collection."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri)
    collection = client[database]["bench_raw"]
    ids = [str(uuid.uuid4()) for _ in range(5000)]
    await collection.insert_many([{"_id": i, "n": 0, "pad": "x" * 500} for i in ids])
    gate = asyncio.Semaphore(16)
    sample = random.sample(ids, 2000)

    async def update(i: str) -> None:
        async with gate:
            await collection.update_one({"_id": i}, {"$set": {"n": 1, "at": datetime.now(UTC)}})

    began = time.perf_counter()
    await asyncio.gather(*(update(i) for i in sample))
    rate = len(sample) / (time.perf_counter() - began)
    await client.close()
    return rate


async def measure(
    identity: str,
    access_process: ServiceProcess,
    bootstrap: str,
    mongo_uri: str,
    run: str,
    pids: dict[str, int],
    identity_pid: int,
) -> dict[str, Any]:
    key_file = Path(os.environ["CHORUS_DEV_SIGNING_KEY_FILE"])
    admin = load_or_create_dev_key(key_file).mint(
        "bench-admin", [RoleAssignment(role=Role.ADMIN, unit="company")]
    )
    access = access_process.url
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    database = mongo[f"{run}_access"]
    completions = Completions(bootstrap, f"{run}.{OFFBOARDING.name}")
    watcher = asyncio.create_task(completions.run())
    async with httpx.AsyncClient(timeout=60) as client:
        made = await client.post(
            f"{identity}/v1/provisioning-clients",
            json={"name": "bench", "unit_id": "company"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        made.raise_for_status()
        scim = {"Authorization": f"Bearer {made.json()['token']}", "Content-Type": SCIM}
        staff = await scim_create(client, identity, scim, EMPLOYEES)
        await wait_known(database, staff)
        print(f"# {EMPLOYEES} people created through SCIM; access knows them", flush=True)
        # The last 50 stay (account owners, the bulk's managers); two groups of LEAVERS leave
        # (once with access's default settings, once with BULK_ENV); the background's
        # profile updates go to everyone else, one person at a time.
        stayers = staff[-50:]
        # Two groups of LEAVERS are timed, each after one untimed warm-up leaver (access's
        # consumer groups settle after a start: the first event may wait for a rebalance).
        warm_ups = staff[2 * LEAVERS : 2 * LEAVERS + 2]
        leavers, leavers_again = staff[:LEAVERS], staff[LEAVERS : 2 * LEAVERS]
        subjects = {p: n for n, p in enumerate(staff) if 2 * LEAVERS + 2 <= n < len(staff) - 50}
        now = datetime.now(UTC)
        account_ids = await seed_accounts(database, stayers, run, now)
        await seed_grants(database, staff[:-50], account_ids, now)
        print(f"# seeded {GRANTS_EACH} grants each into access's database", flush=True)

        async def timed(group: list[str], settings: str, warm_up: str) -> list[float]:
            await latencies(client, identity, scim, [warm_up], completions)
            stop = asyncio.Event()
            background = asyncio.create_task(
                background_updates(bootstrap, f"{run}.{EMPLOYEE.name}", subjects, stop)
            )
            try:
                measured = await latencies(client, identity, scim, group, completions)
            finally:
                stop.set()
                sent = await background
            print(
                f"# {settings}: SCIM deactivation → offboarding.completed "
                f"p50 {percentile(measured, 50):.1f} ms, p99 {percentile(measured, 99):.1f} ms, "
                f"max {max(measured):.1f} ms ({len(measured)} leavers, {sent} background updates)",
                flush=True,
            )
            return measured

        measured = await timed(leavers, "access's default settings", warm_ups[0])
        await asyncio.to_thread(access_process.stop)
        access_process.env.update(BULK_ENV)
        await asyncio.to_thread(access_process.start)
        print(f"# access restarted with {BULK_ENV}", flush=True)
        spaced = await timed(leavers_again, "vault and review ticks every 60 s", warm_ups[1])
        bulk_s, documents, commands, cpu = await bulk(
            client,
            access,
            database,
            mongo[f"{run}_identity"],
            bootstrap,
            f"{run}.",
            stayers,
            account_ids,
            completions,
            {**pids, "identity": identity_pid, "access": access_process.process.pid() or 0},
        )
        raw = await raw_update_rate(mongo_uri, f"{run}_raw")
        doubled = sum(1 for c in completions.count.values() if c > 1)
    watcher.cancel()
    await mongo.close()
    return {
        "employees": EMPLOYEES,
        "grants_each": GRANTS_EACH,
        "leavers_timed": len(measured),
        "background_per_s": BACKGROUND_PER_S,
        "p50_ms": round(percentile(measured, 50), 1),
        "p99_ms": round(percentile(measured, 99), 1),
        "max_ms": round(max(measured), 1),
        "p50_ms_reads_spaced": round(percentile(spaced, 50), 1),
        "p99_ms_reads_spaced": round(percentile(spaced, 99), 1),
        "bulk_people": BULK,
        # Scaled linearly when BENCH_BULK is below 10,000 (said by `bulk_scaled_from`).
        "bulk_10k_s": round(bulk_s * 10_000 / BULK, 1),
        "bulk_scaled_from": None if BULK == 10_000 else BULK,
        "bulk_s": round(bulk_s, 1),
        "bulk_writes": int(documents),
        "bulk_write_commands": int(commands),
        "raw_db_writes_per_s": round(raw, 1),
        "completions_seen_twice": doubled,
        # CPU seconds each process spent on the bulk (from /proc), and per leaver in ms.
        "bulk_cpu_s": cpu,
        "bulk_cpu_ms_per_leaver": {n: round(1000 * v / BULK, 2) for n, v in cpu.items()},
    }


def main() -> None:
    pids: dict[str, int] = {}
    with bench_infra(pids) as (bootstrap, mongo_uri), tempfile.TemporaryDirectory() as tmp:
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
            figures = asyncio.run(
                measure(
                    identity.url,
                    access,
                    bootstrap,
                    mongo_uri,
                    run,
                    pids,
                    identity.process.pid() or 0,
                )
            )
        finally:
            for service in services:
                service.stop()
    print(
        "setup: grants and accounts written straight into access's database (and the bulk's "
        "people into its employment view and, as offboarded, into identity's store); the bulk's "
        "offboarded events put on identity's topic; "
        "access restarted for the bulk with its vault and review ticks every 60 s"
    )
    print(
        f"SCIM deactivation → offboarding.completed: p50 {figures['p50_ms']} ms, "
        f"p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms ({figures['leavers_timed']} "
        f"of {EMPLOYEES} people, {GRANTS_EACH} grants each, "
        f"{BACKGROUND_PER_S:.0f} other events/s); "
        f"with vault and review ticks every 60 s: p50 {figures['p50_ms_reads_spaced']} ms, "
        f"p99 {figures['p99_ms_reads_spaced']} ms"
    )
    scaled = f" (scaled to 10,000: {figures['bulk_10k_s']} s)" if BULK != 10_000 else ""
    print(
        f"bulk offboarding of {BULK}: {figures['bulk_s']} s{scaled}, "
        f"{figures['bulk_writes']} documents written in {figures['bulk_write_commands']} "
        "write commands; raw single-document "
        f"updates {figures['raw_db_writes_per_s']}/s (shared, noisy machine)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
