"""Revocation connectors' pure rules: call identity, the signed body, back-off, giving up,
retrying, URLs and who may do what."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from access.domain import connectors as rules
from access.domain.connectors import (
    AccountFacts,
    CallStatus,
    ConnectorAction,
    DeliveryOutcome,
    RetryPolicy,
)
from access.domain.org_view import MirroredUnit, UnitTree
from chorus_kit.auth import Principal
from chorus_kit.errors import ChorusError, Conflict, Forbidden
from chorus_kit.events.identity import Role, RoleAssignment, SocialNetwork, UnitKind

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
ACCOUNT = AccountFacts(
    id="acct-1", unit_id="dept-a", network=SocialNetwork.LINKEDIN, handle="chorus", owners=("o1",)
)
TREE = UnitTree(
    [
        MirroredUnit("dept-a", "company", UnitKind.DEPARTMENT),
        MirroredUnit("dept-b", "company", UnitKind.DEPARTMENT),
    ],
    root_id="company",
)
POLICY = RetryPolicy(
    first_delay=timedelta(seconds=2),
    max_delay=timedelta(seconds=60),
    max_attempts=4,
    max_age=timedelta(hours=1),
)


def _person(sub: str, *roles: tuple[Role, str]) -> Principal:
    return Principal(
        sub=sub,
        roles=tuple(RoleAssignment(role=r, unit=u) for r, u in roles),
        issued_at=NOW,
        token_id="t",
    )


def _call(**changes: object) -> rules.ConnectorCall:
    call = rules.revoke_call(
        ACCOUNT, grant_id="g1", holder_id="p1", role="publisher", reason="left", requested_at=NOW
    )
    return replace(call, **changes)  # type: ignore[arg-type]


# --- which call, once --------------------------------------------------------------------------
def test_a_call_is_named_by_account_action_subject_and_reason() -> None:
    first = _call()
    again = rules.revoke_call(
        ACCOUNT, grant_id="g1", holder_id="p1", role="publisher", reason="left", requested_at=NOW
    )
    assert first.id == again.id  # a redelivered event computes the same call
    other_reason = rules.revoke_call(
        ACCOUNT, grant_id="g1", holder_id="p1", role="publisher", reason="expired", requested_at=NOW
    )
    assert other_reason.id != first.id
    rotation = rules.rotate_call(
        ACCOUNT,
        secret_id="s1",
        secret_kind="password",
        version=3,
        person_id="p1",
        reason="holder_left",
        requested_at=NOW,
    )
    next_version = replace(
        rotation,
        id=rules.call_id_for(ACCOUNT.id, ConnectorAction.ROTATE_CREDENTIAL, "s1@v4", "holder_left"),
    )
    assert rotation.id != next_version.id  # a later rotation of the same secret is its own call
    assert rotation.action is ConnectorAction.ROTATE_CREDENTIAL and rotation.grant_id is None


def test_the_body_is_the_same_bytes_every_time_and_says_what_to_do() -> None:
    call = _call()
    assert call.body() == _call().body()
    payload = json.loads(call.body())
    assert payload == {
        "call_id": call.id,
        "account_id": "acct-1",
        "network": "linkedin",
        "handle": "chorus",
        "action": "revoke_access",
        "person_id": "p1",
        "grant_id": "g1",
        "secret_id": None,
        "role": "publisher",
        "secret_kind": None,
        "reason": "left",
        "requested_at": NOW.isoformat(),
    }


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = _call().body()
    headers = rules.request_headers("call-1", "chc_secret", timestamp=1_700_000_000, body=body)
    expected = hmac.new(b"chc_secret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers[rules.SIGNATURE_HEADER] == f"t=1700000000,v1={expected}"
    assert headers[rules.CALL_ID_HEADER] == "call-1"
    other = rules.signature("chc_secret", timestamp=1_700_000_000, body=body + b" ")
    assert other != headers[rules.SIGNATURE_HEADER]


def test_signing_secrets_are_fresh_and_recognisable() -> None:
    one, two = rules.new_signing_secret(), rules.new_signing_secret()
    assert one != two and one.startswith("chc_") and len(one) > 40


# --- delivery ---------------------------------------------------------------------------------
def test_back_off_doubles_with_jitter_up_to_the_cap() -> None:
    assert POLICY.delay_after(1, 0.0) == timedelta(seconds=1)
    assert POLICY.delay_after(1, 0.999) < timedelta(seconds=2)
    assert POLICY.delay_after(3, 0.0) == timedelta(seconds=4)
    assert POLICY.delay_after(30, 0.0) == timedelta(seconds=30)
    assert POLICY.delay_after(30, 0.999) <= timedelta(seconds=60)


def test_a_2xx_acknowledges_and_anything_else_schedules_the_next_attempt() -> None:
    call = _call()
    done = rules.attempted(
        call, attempt=1, outcome=DeliveryOutcome(204), now=NOW, policy=POLICY, jitter=0.0
    )
    assert done.status is CallStatus.ACKNOWLEDGED and done.acknowledged_at == NOW
    assert done.next_attempt_at is None and not done.pending_events
    later = NOW + timedelta(seconds=5)
    busy = rules.attempted(
        call, attempt=1, outcome=DeliveryOutcome(503), now=later, policy=POLICY, jitter=0.0
    )
    assert busy.status is CallStatus.PENDING and busy.attempts == 1
    assert busy.next_attempt_at == later + timedelta(seconds=1)
    assert busy.last_error == "HTTP 503" and busy.last_status_code == 503
    down = rules.attempted(
        busy,
        attempt=2,
        outcome=DeliveryOutcome(None, "connect error"),
        now=later,
        policy=POLICY,
        jitter=0.0,
    )
    assert down.next_attempt_at == later + timedelta(seconds=2)
    assert down.last_error == "connect error"


def test_it_gives_up_after_the_attempts_or_the_age_and_alerts_in_the_same_write() -> None:
    tired = _call(attempts=3)
    failed = rules.attempted(
        tired, attempt=4, outcome=DeliveryOutcome(500), now=NOW, policy=POLICY, jitter=0.5
    )
    assert failed.status is CallStatus.FAILED and failed.failed_at == NOW
    [alert] = failed.pending_events
    assert alert.type == rules.CALL_FAILED
    assert alert.data["attempts"] == 4 and alert.data["last_error"] == "HTTP 500"
    assert failed.sequence == 1 and alert.subject == failed.id
    old = rules.attempted(
        _call(),
        attempt=1,
        outcome=DeliveryOutcome(503),
        now=NOW + timedelta(hours=1),
        policy=POLICY,
        jitter=0.5,
    )
    assert old.status is CallStatus.FAILED


def test_only_a_pending_call_is_attempted() -> None:
    with pytest.raises(Conflict):
        rules.attempted(
            _call(status=CallStatus.ACKNOWLEDGED),
            attempt=2,
            outcome=DeliveryOutcome(200),
            now=NOW,
            policy=POLICY,
            jitter=0.0,
        )


def test_a_retry_brings_a_failed_call_back_with_a_fresh_budget_and_an_audit_entry() -> None:
    failed = rules.attempted(
        _call(attempts=3),
        attempt=4,
        outcome=DeliveryOutcome(500),
        now=NOW,
        policy=POLICY,
        jitter=0.0,
    )
    stored = replace(failed, pending_events=())
    later = NOW + timedelta(hours=2)
    again = rules.retried(stored, by="admin-1", now=later)
    assert again.status is CallStatus.PENDING and again.next_attempt_at == later
    assert again.attempts_counted == 0 and again.attempts == 4
    [audit] = again.pending_events
    assert audit.type == "chorus.access.audit.recorded"
    assert audit.data["action"] == "connector_call.retried" and audit.data["actor"] == "admin-1"
    # One more failure does not give up at once: the budget counts from the retry.
    busy = rules.attempted(
        replace(again, pending_events=()),
        attempt=5,
        outcome=DeliveryOutcome(503),
        now=later,
        policy=POLICY,
        jitter=0.0,
    )
    assert busy.status is CallStatus.PENDING
    with pytest.raises(Conflict):
        rules.retried(busy, by="admin-1", now=later)


# --- configuration and authorisation ------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "https_only", "code"),
    [
        ("ftp://example.com/hook", False, "connector_url_invalid"),
        ("/relative/hook", False, "connector_url_invalid"),
        ("https://user:pw@example.com/hook", False, "connector_url_invalid"),
        ("http://example.com/hook", True, "connector_url_not_https"),
    ],
)
def test_connector_urls_are_absolute_http_without_credentials(
    url: str, https_only: bool, code: str
) -> None:
    with pytest.raises(ChorusError) as refused:
        rules.check_url(url, require_https=https_only)
    assert refused.value.code == code
    assert url not in refused.value.detail  # never echoed (it may carry a credential)


def test_good_urls_pass() -> None:
    assert rules.check_url(" http://127.0.0.1:9999/hook ", require_https=False) == (
        "http://127.0.0.1:9999/hook"
    )
    assert rules.check_url("https://ops.example.com/x", require_https=True)


def test_owners_and_admins_over_the_unit_configure_and_retry_auditors_only_read() -> None:
    owners = ("o1",)
    rules.require_may_configure(_person("o1"), owners=owners, unit_id="dept-a", tree=TREE)
    rules.require_may_configure(
        _person("a1", (Role.ADMIN, "dept-a")), owners=owners, unit_id="dept-a", tree=TREE
    )
    rules.require_may_configure(
        _person("a0", (Role.ADMIN, "company")), owners=owners, unit_id="dept-a", tree=TREE
    )
    for stranger in (
        _person("a2", (Role.ADMIN, "dept-b")),
        _person("e1", (Role.EMPLOYEE, "dept-a")),
        _person("au", (Role.AUDITOR, "dept-a")),
    ):
        with pytest.raises(Forbidden):
            rules.require_may_configure(stranger, owners=owners, unit_id="dept-a", tree=TREE)
        with pytest.raises(Forbidden):
            rules.require_may_retry(stranger, owners=owners, unit_id="dept-a", tree=TREE)
    auditor = _person("au", (Role.AUDITOR, "dept-a"))
    assert rules.may_read_calls(auditor, owners=owners, unit_id="dept-a", tree=TREE)
    assert not rules.may_read_calls(
        _person("au", (Role.AUDITOR, "dept-b")), owners=owners, unit_id="dept-a", tree=TREE
    )


def test_the_list_of_calls_is_scoped_to_owned_accounts_and_covered_units() -> None:
    everything = rules.call_scope(
        _person("a0", (Role.ADMIN, "company")), TREE, owned_accounts=set()
    )
    assert everything.sees_everything
    unit = rules.call_scope(_person("au", (Role.AUDITOR, "dept-a")), TREE, owned_accounts=set())
    assert unit.reader_units == {"dept-a"}
    owner = rules.call_scope(_person("o1", (Role.EMPLOYEE, "dept-a")), TREE, owned_accounts={"x"})
    assert owner.owned_accounts == {"x"} and owner.reader_units == set()
    with pytest.raises(Forbidden):
        rules.call_scope(_person("e1", (Role.EMPLOYEE, "dept-a")), TREE, owned_accounts=set())
