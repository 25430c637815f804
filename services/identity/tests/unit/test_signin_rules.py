"""Sign-in rules, pure: passwords, refresh rotation and refusals, throttling, client address,
PKCE, and the signing-key ring's choices."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from chorus_kit.errors import ChorusError
from identity.domain import signing_keys as ring
from identity.domain.sessions import (
    ROOT_PARENT,
    Attempt,
    AttemptLimit,
    AttemptScope,
    PasswordPolicy,
    RefreshLifetimes,
    RefreshRefusal,
    account_key,
    burst_bucket,
    client_address,
    hash_refresh_token,
    new_pkce_verifier,
    pkce_challenge,
    refresh_refusal,
    retry_after_seconds,
    rotate,
    start_family,
    throttled_for,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LIFETIMES = RefreshLifetimes(token=timedelta(days=30), session=timedelta(days=90))


# --- passwords ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short-pass1", "at least 12"),
        ("a" * 20, "repeats one character"),
        ("ada.lovelace@example.com", "contains the email"),
        ("my-ADA.LOVELACE-password", "contains the email"),
        ("x" * 200 + "y" * 100, "at most 256"),
    ],
)
def test_password_policy_refuses_weak_passwords_without_echoing_them(password, why) -> None:
    with pytest.raises(ChorusError) as refused:
        PasswordPolicy(min_length=12).check(password, email="ada.lovelace@example.com")
    assert refused.value.code == "weak_password"
    assert why in refused.value.detail and password not in refused.value.detail


def test_password_policy_accepts_a_long_passphrase() -> None:
    PasswordPolicy(min_length=12).check("correct horse battery", email="ada@example.com")


# --- refresh tokens -----------------------------------------------------------------------
def test_a_family_starts_with_a_root_token_and_rotation_chains_children() -> None:
    secret, first = start_family("p1", now=NOW, lifetimes=LIFETIMES)
    assert first.token_hash == hash_refresh_token(secret) and secret not in first.token_hash
    assert first.parent == ROOT_PARENT + first.family_id
    assert first.expires_at == NOW + timedelta(days=30)
    later = NOW + timedelta(days=10)
    child_secret, child = rotate(first, now=later, lifetimes=LIFETIMES)
    assert child_secret != secret and child.parent == first.token_hash
    assert (child.family_id, child.person_id) == (first.family_id, "p1")
    assert child.family_started_at == NOW and child.expires_at == later + timedelta(days=30)


def test_rotation_never_extends_a_session_beyond_its_maximum() -> None:
    _, first = start_family("p1", now=NOW, lifetimes=LIFETIMES)
    _, late = rotate(first, now=NOW + timedelta(days=80), lifetimes=LIFETIMES)
    assert late.expires_at == NOW + timedelta(days=90)


def test_secrets_are_high_entropy_and_unique() -> None:
    secrets = {start_family("p", now=NOW, lifetimes=LIFETIMES)[0] for _ in range(200)}
    assert len(secrets) == 200 and all(len(s) >= 43 for s in secrets)


def test_refresh_refusals_in_order_of_precedence() -> None:
    _, token = start_family("p1", now=NOW, lifetimes=LIFETIMES)

    def refusal(**kw):
        args = {"now": NOW, "family_revoked": False, "person_sessions_revoked": False} | kw
        return refresh_refusal(token, **args)

    assert refusal() is None
    assert (
        refresh_refusal(None, now=NOW, family_revoked=False, person_sessions_revoked=False)
        is RefreshRefusal.UNKNOWN
    )
    assert refusal(now=token.expires_at) is RefreshRefusal.EXPIRED
    assert refusal(family_revoked=True) is RefreshRefusal.FAMILY_REVOKED
    assert refusal(person_sessions_revoked=True) is RefreshRefusal.PERSON_REVOKED


# --- failed attempts ----------------------------------------------------------------------
LIMIT = AttemptLimit(AttemptScope.ACCOUNT, 5, timedelta(minutes=15))


def test_below_the_limit_nobody_waits() -> None:
    four = [Attempt(at=NOW - timedelta(minutes=m)) for m in range(4)]
    assert throttled_for(four, limit=LIMIT, now=NOW) is None


def test_at_the_limit_the_wait_lasts_until_the_oldest_failure_leaves_the_window() -> None:
    failures = [Attempt(at=NOW - timedelta(minutes=m)) for m in (1, 2, 3, 4, 10)]
    assert throttled_for(failures, limit=LIMIT, now=NOW) == timedelta(minutes=5)
    six = [*failures, Attempt(at=NOW - timedelta(minutes=12))]  # the 5th most recent frees it
    assert throttled_for(six, limit=LIMIT, now=NOW) == timedelta(minutes=5)


def test_failures_outside_the_window_do_not_count() -> None:
    old = [Attempt(at=NOW - timedelta(minutes=16)) for _ in range(10)]
    assert throttled_for(old, limit=LIMIT, now=NOW) is None


def test_attempts_in_flight_count_but_only_ask_for_a_short_wait() -> None:
    in_flight = [Attempt(at=NOW, pending=True) for _ in range(5)]
    assert throttled_for(in_flight, limit=LIMIT, now=NOW) == timedelta(seconds=1)
    # a request that died long ago leaves a pending attempt that stops counting
    stale = [Attempt(at=NOW - timedelta(minutes=1), pending=True) for _ in range(5)]
    assert throttled_for(stale, limit=LIMIT, now=NOW) is None


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert retry_after_seconds(timedelta(seconds=0.2)) == 1
    assert retry_after_seconds(timedelta(seconds=61.5)) == 62


def test_bursts_are_bucketed_by_window() -> None:
    window = timedelta(minutes=15)
    assert burst_bucket(NOW, window) == burst_bucket(NOW + timedelta(minutes=14), window)
    assert burst_bucket(NOW + timedelta(minutes=15), window) == burst_bucket(NOW, window) + 1


def test_account_keys_are_case_insensitive_and_do_not_hold_the_typed_text() -> None:
    assert account_key("Ada@Example.com ") == account_key("ada@example.com")
    assert "ada" not in account_key("ada@example.com")


# --- client address -----------------------------------------------------------------------
TRUSTED = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")]


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_address("198.51.100.7", ["203.0.113.1"], TRUSTED) == "198.51.100.7"
    assert client_address("127.0.0.1", ["203.0.113.1"], []) == "127.0.0.1"


def test_behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() -> None:
    forwarded = ["203.0.113.66, 198.51.100.9", "10.1.2.3"]  # spoofed, client, inner proxy
    assert client_address("10.0.0.5", forwarded, TRUSTED) == "198.51.100.9"


def test_all_hops_trusted_gives_the_left_most() -> None:
    assert client_address("127.0.0.1", ["10.0.0.9, 10.0.0.8"], TRUSTED) == "10.0.0.9"
    assert client_address("127.0.0.1", [], TRUSTED) == "127.0.0.1"


def test_a_malformed_hop_stops_at_the_last_trusted_one() -> None:
    assert client_address("127.0.0.1", ["203.0.113.1, bogus"], TRUSTED) == "127.0.0.1"


def test_ports_brackets_and_mapped_addresses_are_understood() -> None:
    assert client_address("127.0.0.1", ["[2001:db8::1]:443"], TRUSTED) == "2001:db8::1"
    assert client_address("127.0.0.1", ["192.0.2.1:8080"], TRUSTED) == "192.0.2.1"
    assert client_address("::ffff:10.0.0.1", ["192.0.2.1"], TRUSTED) == "192.0.2.1"


# --- PKCE ---------------------------------------------------------------------------------
def test_pkce_challenge_is_rfc_7636_s256() -> None:
    # RFC 7636 appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    fresh = new_pkce_verifier()
    assert 43 <= len(fresh) <= 128
    digest = base64.urlsafe_b64encode(hashlib.sha256(fresh.encode()).digest()).rstrip(b"=")
    assert pkce_challenge(fresh) == digest.decode()


# --- signing keys -------------------------------------------------------------------------
PERIOD = timedelta(hours=24)


def key(kid: str, active_from: datetime) -> ring.KeyRecord:
    return ring.KeyRecord(kid=kid, active_from=active_from, public_jwk={"kid": kid})


def test_an_empty_ring_needs_this_periods_key() -> None:
    assert ring.keys_due([], NOW, PERIOD) == [datetime(2026, 11, 23, tzinfo=UTC)]
    assert ring.signing_record([], NOW) is None


def test_the_newest_active_key_signs_and_a_future_one_does_not() -> None:
    today = key("today", datetime(2026, 11, 23, tzinfo=UTC))
    yesterday = key("yesterday", datetime(2026, 11, 22, tzinfo=UTC))
    tomorrow = key("tomorrow", datetime(2026, 11, 24, tzinfo=UTC))
    assert ring.signing_record([yesterday, tomorrow, today], NOW) == today


def test_the_next_key_is_due_only_within_its_lead_time() -> None:
    today = key("today", datetime(2026, 11, 23, tzinfo=UTC))
    assert ring.keys_due([today], NOW, PERIOD) == []
    just_before = datetime(2026, 11, 23, 23, 55, tzinfo=UTC)
    assert ring.keys_due([today], just_before, PERIOD) == [datetime(2026, 11, 24, tzinfo=UTC)]


def test_published_keys_include_the_next_and_retired_ones_within_retention() -> None:
    old = key("old", datetime(2026, 11, 21, tzinfo=UTC))
    previous = key("previous", datetime(2026, 11, 22, tzinfo=UTC))
    today = key("today", datetime(2026, 11, 23, tzinfo=UTC))
    tomorrow = key("tomorrow", datetime(2026, 11, 24, tzinfo=UTC))
    keys = [old, previous, today, tomorrow]
    shortly_after_midnight = datetime(2026, 11, 23, 0, 10, tzinfo=UTC)
    assert [k.kid for k in ring.published(keys, shortly_after_midnight, PERIOD)] == [
        "previous",  # retired 10 min ago: its tokens may still be alive
        "today",
    ]
    late = datetime(2026, 11, 23, 23, 55, tzinfo=UTC)
    assert [k.kid for k in ring.published(keys, late, PERIOD)] == ["today", "tomorrow"]
    assert [k.kid for k in ring.prunable(keys, late)] == ["old", "previous"]


def test_retention_covers_the_longest_token_life() -> None:
    assert ring.RETENTION >= timedelta(minutes=15)
    previous = key("previous", datetime(2026, 11, 22, tzinfo=UTC))
    today = key("today", datetime(2026, 11, 23, tzinfo=UTC))
    at_expiry_of_last_token = datetime(2026, 11, 23, 0, 15, tzinfo=UTC)
    assert "previous" in [
        k.kid for k in ring.published([previous, today], at_expiry_of_last_token, PERIOD)
    ]


def test_period_starts_are_whole_milliseconds_even_for_odd_periods() -> None:
    odd = timedelta(seconds=3.6)
    start = ring.period_start(NOW + timedelta(seconds=5), odd)
    assert start.microsecond % 1000 == 0 and start <= NOW + timedelta(seconds=5)
    assert ring.period_start(start, odd) == start
