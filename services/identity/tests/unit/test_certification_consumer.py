"""Identity's own employee events applied to certification records in runs: one read of
the rules and the records per run, each employee's events in order, each at most once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chorus_kit.errors import Conflict, NotFound
from chorus_kit.events import Event
from chorus_kit.events.envelope import new_event
from chorus_kit.events.identity import EmployeeUpdated, EmploymentStatus
from identity.domain.certification import CertificationRecord
from identity.domain.model import Employee
from identity.domain.policies import Policy
from identity.engagement_handlers import EngagementHandlers

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class InMemoryCertifications:
    def __init__(self) -> None:
        self.rows: dict[str, CertificationRecord] = {}
        self.reads: list[str] = []  # "find:<id>" or "find_many"
        self.inserts: list[list[str]] = []  # the ids of each add_many
        self.created_meanwhile: dict[str, CertificationRecord] = {}  # by another writer

    async def find(self, employee_id: str) -> CertificationRecord | None:
        self.reads.append(f"find:{employee_id}")
        return self.rows.get(employee_id)

    async def find_many(self, employee_ids: Sequence[str]) -> dict[str, CertificationRecord]:
        self.reads.append("find_many")
        return {i: self.rows[i] for i in employee_ids if i in self.rows}

    async def add(self, record: CertificationRecord) -> None:
        if record.id in self.rows:
            raise Conflict("exists", code="concurrent_change")
        self.rows[record.id] = record

    async def add_many(self, records: Sequence[CertificationRecord]) -> set[str]:
        self.rows.update(self.created_meanwhile)
        self.inserts.append([r.id for r in records])
        new = {r.id: r for r in records if r.id not in self.rows}
        self.rows.update(new)
        return set(new)

    async def save(self, record: CertificationRecord, *, expected_sequence: int) -> None:
        if self.rows[record.id].sequence != expected_sequence:
            raise Conflict("changed", code="concurrent_change")
        self.rows[record.id] = record


class OnePolicy:
    def __init__(self) -> None:
        self.reads = 0

    async def get(self, policy_id: str = "") -> Policy:
        self.reads += 1
        return Policy()


class NoModules:
    async def all(self) -> list[Any]:
        return []


class Staff:
    def __init__(self, *ids: str) -> None:
        self.rows = {
            i: Employee(
                id=i,
                email=f"{i}@example.com",
                given_name="E",
                family_name=i,
                unit_id="company",
                manager_id=None,
                manager_chain=(),
                roles=(),
                status=EmploymentStatus.ACTIVE,
                start_date=NOW,
            )
            for i in ids
        }
        self.reads: list[str] = []  # "get:<id>" or "get_many:<ids>"

    async def get(self, employee_id: str) -> Employee:
        self.reads.append(f"get:{employee_id}")
        if employee_id not in self.rows:
            raise NotFound("no", code="employee_not_found")
        return self.rows[employee_id]

    async def get_many(self, employee_ids: Sequence[str]) -> list[Employee]:
        self.reads.append(f"get_many:{','.join(sorted(employee_ids))}")
        return [self.rows[i] for i in employee_ids if i in self.rows]


def updated(employee_id: str, sequence: int, title: str) -> Event:
    data = EmployeeUpdated(
        employee_id=employee_id,
        email=f"{employee_id}@example.com",
        given_name="E",
        family_name=employee_id,
        unit_id="company",
        unit_path=["company"],
        status=EmploymentStatus.ACTIVE,
        title=title,
        changed=["title"],
    )
    return new_event(
        "chorus.identity.employee.updated",
        source="/chorus/identity",
        subject=employee_id,
        sequence=sequence,
        data=data,
    )


def handlers_with(
    records: InMemoryCertifications, policy: OnePolicy, staff: Staff | None = None
) -> EngagementHandlers:
    unused: Any = None
    return EngagementHandlers(
        policies=policy,  # type: ignore[arg-type]
        modules=NoModules(),  # type: ignore[arg-type]
        certifications=records,
        surveys=unused,
        nominations=unused,
        employees=staff or Staff("ann", "bob"),  # type: ignore[arg-type]
        units=unused,
        events_written=lambda *_: None,
    )


async def test_a_run_reads_once_and_applies_each_employees_events_in_order() -> None:
    records, policy = InMemoryCertifications(), OnePolicy()
    handlers = handlers_with(records, policy)
    # ann has no record yet and two events in the run; bob has a record at sequence 1.
    await handlers.apply_employee_events([updated("bob", 1, "New")])
    bob = records.rows["bob"]
    records.reads.clear()
    policy.reads = 0
    run = [updated("ann", 2, "Analyst"), updated("bob", 2, "Lead"), updated("ann", 3, "Head")]

    await handlers.apply_employee_events(run)

    assert (records.rows["ann"].employee_sequence, records.rows["bob"].employee_sequence) == (3, 2)
    assert records.rows["bob"].sequence == bob.sequence
    # The run's read, then ann's second event reads the record her first one created.
    assert records.reads == ["find_many", "find:ann"]
    assert policy.reads == 2  # the run's rules, and those of ann's second event

    # Delivered again (or older): nothing changes, nothing is written.
    before = dict(records.rows)
    await handlers.apply_employee_events([updated("ann", 2, "Analyst"), updated("bob", 1, "x")])
    assert records.rows == before


async def test_a_run_of_employees_without_records_reads_the_directory_once() -> None:
    # A bulk of leavers whose records do not exist yet: each record starts from the
    # directory, read for the whole run, not employee by employee.
    records, policy, staff = InMemoryCertifications(), OnePolicy(), Staff("ann", "bob", "cy")
    handlers = handlers_with(records, policy, staff)

    await handlers.apply_employee_events([updated(e, 2, "Left") for e in ("ann", "bob", "cy")])

    assert staff.reads == ["get_many:ann,bob,cy"]
    assert records.inserts == [["ann", "bob", "cy"]]  # created together, not one by one
    assert {e: r.employee_sequence for e, r in records.rows.items()} == {
        "ann": 2,
        "bob": 2,
        "cy": 2,
    }
    # Those with a record are not looked up in the directory at all.
    staff.reads.clear()
    await handlers.apply_employee_events([updated("ann", 3, "Back")])
    assert staff.reads == []


async def test_a_record_created_meanwhile_is_read_and_changed_instead() -> None:
    records, policy, staff = InMemoryCertifications(), OnePolicy(), Staff("ann", "bob")
    handlers = handlers_with(records, policy, staff)
    await handlers.apply_employee_events([updated("bob", 1, "Old")])
    records.created_meanwhile = {"bob": records.rows.pop("bob")}  # back, by another writer
    records.reads.clear()

    await handlers.apply_employee_events([updated("ann", 2, "New"), updated("bob", 2, "Lead")])

    assert records.inserts[-1] == ["ann", "bob"]
    assert records.reads == ["find_many", "find:bob"]  # bob's record read, then changed
    assert (records.rows["ann"].employee_sequence, records.rows["bob"].employee_sequence) == (2, 2)


async def test_one_employee_failing_lets_the_others_finish_then_fails_the_run() -> None:
    records, policy = InMemoryCertifications(), OnePolicy()
    handlers = handlers_with(records, policy)
    run = [updated("nobody", 2, "Ghost"), updated("bob", 2, "Lead")]
    try:
        await handlers.apply_employee_events(run)
    except NotFound as failed:
        assert failed.code == "employee_not_found"
    else:
        raise AssertionError("the run should fail for the unknown employee")
    assert records.rows["bob"].employee_sequence == 2
    assert "nobody" not in records.rows
