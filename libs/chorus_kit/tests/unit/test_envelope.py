"""The CloudEvents envelope: round trips, and every way a message can be refused."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chorus_kit.events import Event, MalformedEvent, UnknownEventType, new_event
from chorus_kit.events.catalogue import published_schema
from chorus_kit.events.contracts import render_schemas
from chorus_kit.events.identity import EmployeeHired, EmploymentStatus


def hired_event(sequence: int = 1) -> Event:
    return new_event(
        "chorus.identity.employee.hired",
        source="/chorus/identity",
        subject="emp-1",
        sequence=sequence,
        data=EmployeeHired(
            employee_id="emp-1",
            email="ada@example.com",
            given_name="Ada",
            family_name="Lovelace",
            unit_id="company",
            status=EmploymentStatus.ACTIVE,
            start_date=datetime(2026, 1, 5, tzinfo=UTC),
        ),
    )


def test_kafka_round_trip_keeps_every_attribute() -> None:
    event = hired_event(sequence=3)
    key, value, headers = event.to_kafka()
    header_map = dict(headers)
    assert key == b"emp-1"
    assert header_map["ce_specversion"] == b"1.0"
    assert header_map["ce_id"] == event.id.encode()
    assert header_map["ce_sequence"] == b"3"
    assert header_map["content-type"] == b"application/json"
    parsed = Event.from_kafka(key, value, headers)
    assert parsed.id == event.id
    assert parsed.sequence == 3
    assert parsed.subject == "emp-1"
    assert parsed.data == event.data
    assert parsed.time == event.time


def test_data_validated_on_the_way_in_is_not_validated_again() -> None:
    key, value, headers = hired_event().to_kafka()
    parsed = Event.from_kafka(key, value, headers)
    first = parsed.data_as(EmployeeHired)
    assert first.employee_id == "emp-1"
    assert parsed.data_as(EmployeeHired) is first  # the model validated by from_kafka
    # Another model, or an event not read from Kafka, is validated from `data`.
    assert hired_event().data_as(EmployeeHired) == first
    assert parsed == replace(parsed, validated=None)  # not part of the event's identity


def test_outbox_round_trip() -> None:
    event = hired_event()
    assert Event.from_document(event.to_document()) == event


def _message(**header_overrides: bytes | None) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    key, value, headers = hired_event().to_kafka()
    header_map = dict(headers)
    for name, override in header_overrides.items():
        if override is None:
            header_map.pop(name, None)
        else:
            header_map[name] = override
    return key, value, list(header_map.items())


@pytest.mark.parametrize("content_type", [b"application/json", b"application/json; charset=utf-8"])
def test_data_written_by_any_json_encoder_is_read(content_type: bytes) -> None:
    # Another producer's encoder: spaces, escapes, keys in another order.
    key, value, headers = _message(**{"content-type": content_type})
    rewritten = json.dumps(json.loads(value), indent=2, ensure_ascii=True, sort_keys=True)
    parsed = Event.from_kafka(key, rewritten.encode(), headers)
    assert parsed.data == json.loads(value)
    assert parsed.data_as(EmployeeHired).email == "ada@example.com"


def test_json_that_only_the_standard_library_reads_still_reaches_validation() -> None:
    # NaN is not JSON; the SDK's reader accepts it (orjson does not), and the model then
    # refuses the field rather than the message being taken for text.
    key, value, headers = _message()
    data = json.loads(value)
    data["given_name"] = float("nan")
    with pytest.raises(MalformedEvent) as caught:
        Event.from_kafka(key, json.dumps(data).encode(), headers)
    assert caught.value.reason == "schema-violation"
    assert "given_name" in caught.value.detail


def test_data_only_the_sdk_can_write_is_written_by_it() -> None:
    # orjson refuses keys that are not strings; the SDK's encoder turns them into strings.
    event = replace(hired_event(), data={**hired_event().data, 7: "seven"})
    _, value, _ = event.to_kafka()
    assert json.loads(value)["7"] == "seven"


def test_bad_json_is_unparseable() -> None:
    key, _, headers = _message()
    with pytest.raises(MalformedEvent) as caught:
        Event.from_kafka(key, b"{not json", headers)
    assert caught.value.reason == "unparseable"


def test_missing_id_is_unparseable() -> None:
    key, value, headers = _message(ce_id=None)
    with pytest.raises(MalformedEvent) as caught:
        Event.from_kafka(key, value, headers)
    assert caught.value.reason == "unparseable"


def test_unknown_type_is_refused() -> None:
    key, value, headers = _message(ce_type=b"chorus.identity.employee.teleported")
    with pytest.raises(UnknownEventType):
        Event.from_kafka(key, value, headers)


def test_schema_violation_names_the_field_not_the_value() -> None:
    key, value, headers = _message()
    data = json.loads(value)
    data["email"] = 42
    data["secret_note"] = "hunter2"
    with pytest.raises(MalformedEvent) as caught:
        Event.from_kafka(key, json.dumps(data).encode(), headers)
    assert caught.value.reason == "schema-violation"
    assert "email" in caught.value.detail
    assert "hunter2" not in caught.value.detail


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"2026-12-07T15:28:40.330515Z", datetime(2026, 12, 7, 15, 28, 40, 330515, tzinfo=UTC)),
        (b"2026-12-07T17:28:40+02:00", datetime(2026, 12, 7, 15, 28, 40, tzinfo=UTC)),
        # Forms the standard library does not read are read by the SDK.
        (b"2026-12-07t15:28:40z", datetime(2026, 12, 7, 15, 28, 40, tzinfo=UTC)),
    ],
)
def test_time_in_each_rfc3339_form(header: bytes, expected: datetime) -> None:
    parsed = Event.from_kafka(*_message(ce_time=header))
    assert parsed.time == expected
    assert parsed.time.utcoffset() is not None


@pytest.mark.parametrize("header", [b"2026-12-07T15:28:40", b"yesterday", b"\xff"])
def test_time_without_offset_or_unreadable_is_unparseable(header: bytes) -> None:
    with pytest.raises(MalformedEvent) as caught:
        Event.from_kafka(*_message(ce_time=header))
    assert caught.value.reason == "unparseable"


def test_key_must_match_subject() -> None:
    _, value, headers = _message()
    with pytest.raises(MalformedEvent):
        Event.from_kafka(b"someone-else", value, headers)


def test_committed_schemas_match_the_models() -> None:
    for name, text in render_schemas().items():
        assert published_schema(name.removesuffix(".json")) == json.loads(text), (
            f"{name} is stale: run `make contracts`"
        )


def test_new_event_refuses_data_of_another_type() -> None:
    with pytest.raises(TypeError):
        new_event(
            "chorus.identity.employee.offboarded",
            source="/x",
            subject="s",
            sequence=1,
            data=EmployeeHired.model_validate(hired_event().data),
        )
