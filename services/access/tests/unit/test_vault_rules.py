"""The vault's pure rules: TOTP codes, what a check-out hands out, leases, rotation triggers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from access.domain import vault
from access.domain.vault import (
    Lease,
    LeaseStatus,
    Sealed,
    Secret,
    TotpAlgorithm,
    TotpParameters,
)
from chorus_kit.errors import ChorusError, Conflict
from chorus_kit.events.access import SecretKind

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
SEALED = Sealed(ciphertext=b"c", wrapped_key=b"w", key_id="k", algorithm="AES-256-GCM")


def _secret(kind: SecretKind = SecretKind.PASSWORD, *, at: datetime = NOW) -> Secret:
    return vault.record_version(
        None,
        account_id="acct-1",
        account_unit_id="dept-x",
        kind=kind,
        sealed=SEALED,
        totp=TotpParameters(),
        by="owner-1",
        now=at,
    )


def _stored(aggregate: Secret) -> Secret:
    """As the store would give it back: events handed to the relay."""
    from dataclasses import replace

    return replace(aggregate, pending_events=())


# --- TOTP (RFC 6238 appendix B: the published test vectors, 8 digits) ------------------------
RFC_SEEDS = {
    TotpAlgorithm.SHA1: b"12345678901234567890",
    TotpAlgorithm.SHA256: b"12345678901234567890123456789012",
    TotpAlgorithm.SHA512: b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("unix_time", "sha1", "sha256", "sha512"), RFC_VECTORS)
def test_totp_codes_match_rfc_6238_vectors(
    unix_time: int, sha1: str, sha256: str, sha512: str
) -> None:
    at = datetime.fromtimestamp(unix_time, UTC)
    for algorithm, expected in zip(TotpAlgorithm, (sha1, sha256, sha512), strict=True):
        parameters = TotpParameters(digits=8, period_seconds=30, algorithm=algorithm)
        assert vault.totp_code(RFC_SEEDS[algorithm], at, parameters) == expected


def test_a_totp_check_out_hands_out_the_current_code_never_the_seed() -> None:
    seed = base64.b32encode(RFC_SEEDS[TotpAlgorithm.SHA1]).decode()
    secret = _secret(SecretKind.TOTP_SEED)
    at = datetime.fromtimestamp(59, UTC)
    given = vault.handout(secret, seed.encode(), at)
    assert given.totp_code == "287082"  # the RFC's 8-digit code, to 6 digits
    assert given.value is None and given.codes is None
    assert given.code_valid_until == datetime.fromtimestamp(60, UTC)
    assert seed not in repr(given)


def test_totp_seeds_are_normalised_and_checked_without_echoing_them() -> None:
    spaced = "gezd gnbv-gy3t qojq gezd gnbv gy3t qojq"
    assert vault.encode_value(SecretKind.TOTP_SEED, value=spaced, codes=None) == (
        b"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    )
    for bad in ("not base32 at all!", "GEZDGNBV"):  # invalid; too short (40 bits)
        with pytest.raises(ChorusError) as refused:
            vault.encode_value(SecretKind.TOTP_SEED, value=bad, codes=None)
        assert refused.value.code == "invalid_totp_seed"
        assert bad not in refused.value.detail


def test_values_are_checked_by_kind() -> None:
    assert vault.encode_value(SecretKind.PASSWORD, value="hunter2!", codes=None) == b"hunter2!"
    codes = vault.encode_value(SecretKind.RECOVERY_CODES, value=None, codes=["a-1", "b-2"])
    assert json.loads(codes) == ["a-1", "b-2"]
    with pytest.raises(ChorusError, match="codes"):
        vault.encode_value(SecretKind.RECOVERY_CODES, value="a-1", codes=None)
    with pytest.raises(ChorusError, match="value"):
        vault.encode_value(SecretKind.API_TOKEN, value=None, codes=["x"])
    with pytest.raises(ChorusError) as too_long:
        vault.encode_value(SecretKind.PASSWORD, value="x" * 5000, codes=None)
    assert "xxx" not in too_long.value.detail


def test_check_outs_hand_out_passwords_tokens_and_codes() -> None:
    password = vault.handout(_secret(SecretKind.PASSWORD), b"pw", NOW)
    assert password.value == "pw" and password.totp_code is None
    codes = vault.handout(_secret(SecretKind.RECOVERY_CODES), b'["a","b"]', NOW)
    assert codes.codes == ("a", "b") and codes.value is None


# --- associated data ----------------------------------------------------------------------------
def test_associated_data_differs_for_every_account_secret_kind_and_version() -> None:
    base = dict(account_id="a", secret_id="a:password", kind=SecretKind.PASSWORD, version=1)
    variants = [
        base,
        {**base, "account_id": "b"},
        {**base, "secret_id": "b:password"},
        {**base, "kind": SecretKind.API_TOKEN},
        {**base, "version": 2},
    ]
    assert len({vault.associated_data(**v) for v in variants}) == len(variants)  # type: ignore[arg-type]


# --- leases -------------------------------------------------------------------------------------
def test_lease_lifetimes_default_to_15_minutes_and_stay_within_1_to_60() -> None:
    assert vault.lease_lifetime(None) == timedelta(minutes=15)
    assert vault.lease_lifetime(60) == timedelta(minutes=60)
    assert vault.lease_lifetime(1) == timedelta(minutes=1)
    for minutes in (0, 61, -5):
        with pytest.raises(ChorusError) as refused:
            vault.lease_lifetime(minutes)
        assert refused.value.code == "lease_duration_out_of_range"


def test_viewers_may_not_check_out() -> None:
    from chorus_kit.events.access import AccountRole

    assert AccountRole.VIEWER not in vault.CHECK_OUT_ROLES
    assert vault.CHECK_OUT_ROLES[0] is AccountRole.OWNER  # a check-out names the owner grant


def _lease(**overrides: object) -> Lease:
    lease = vault.check_out(
        _stored(_secret()),
        holder_id="pub-1",
        lifetime=timedelta(minutes=15),
        rotate_after=False,
        now=NOW,
    )
    from dataclasses import replace

    return replace(lease, pending_events=(), **overrides)  # type: ignore[arg-type]


def test_a_check_out_opens_a_lease_on_the_current_version_and_says_so() -> None:
    secret = _stored(_secret())
    lease = vault.check_out(
        secret, holder_id="pub-1", lifetime=timedelta(minutes=20), rotate_after=True, now=NOW
    )
    assert lease.status is LeaseStatus.OPEN
    assert lease.expires_at == NOW + timedelta(minutes=20)
    assert lease.version == 1 and lease.rotation_flag_pending
    [event] = lease.pending_events
    assert event.type == vault.CHECKED_OUT and event.subject == lease.id and event.sequence == 1
    assert event.data["holder_id"] == "pub-1" and event.data["secret_id"] == secret.id


def test_a_lease_ends_once_and_is_overdue_only_while_open() -> None:
    lease = _lease()
    assert not lease.is_overdue(NOW + timedelta(minutes=14))
    assert lease.is_overdue(NOW + timedelta(minutes=15))
    ended = vault.end_lease(lease, because="expired", by="system", now=NOW + timedelta(minutes=15))
    assert ended.status is LeaseStatus.ENDED and not ended.is_overdue(NOW + timedelta(hours=1))
    [event] = ended.pending_events
    assert event.type == vault.CHECKED_IN and event.data["ended_because"] == "expired"
    assert event.sequence == lease.sequence + 1
    with pytest.raises(Conflict) as twice:
        vault.end_lease(ended, because="returned", by="pub-1", now=NOW)
    assert twice.value.code == "lease_ended"


# --- rotation -----------------------------------------------------------------------------------
def test_a_rotation_flag_is_raised_once_per_trigger() -> None:
    secret = _stored(_secret())
    key = vault.flag_key(reason="offboarded", person_id="p-1", cause_id="off-1")
    flagged = vault.flag_rotation(secret, reason="offboarded", person_id="p-1", key=key, now=NOW)
    assert flagged.rotation_required
    [event] = flagged.pending_events
    assert event.type == vault.ROTATION_REQUIRED
    assert event.data["person_id"] == "p-1" and event.data["version"] == 1
    again = vault.flag_rotation(
        _stored(flagged), reason="offboarded", person_id="p-1", key=key, now=NOW
    )
    assert again.pending_events == () and len(again.rotation_flags) == 1
    other = vault.flag_key(reason="offboarded", person_id="p-2", cause_id="off-2")
    second = vault.flag_rotation(
        _stored(flagged), reason="offboarded", person_id="p-2", key=other, now=NOW
    )
    assert len(second.rotation_flags) == 2


def test_a_new_version_clears_the_flags_and_keeps_the_old_versions() -> None:
    secret = _stored(_secret())
    key = vault.flag_key(reason="checked_out", person_id="p-1", cause_id="lease-1")
    flagged = _stored(
        vault.flag_rotation(secret, reason="checked_out", person_id="p-1", key=key, now=NOW)
    )
    rotated = vault.record_version(
        flagged,
        account_id="acct-1",
        account_unit_id="dept-x",
        kind=SecretKind.PASSWORD,
        sealed=SEALED,
        totp=None,
        by="owner-2",
        now=NOW + timedelta(days=1),
    )
    assert not rotated.rotation_required
    assert [v.number for v in rotated.versions] == [1, 2]
    assert rotated.current.created_by == "owner-2"
    [event] = rotated.pending_events
    assert event.type == vault.ROTATED and event.data["version"] == 2
    # The same trigger does not flag the new version again.
    again = vault.flag_rotation(
        _stored(rotated), reason="checked_out", person_id="p-1", key=key, now=NOW
    )
    assert not again.rotation_required


def test_the_maximum_age_counts_from_the_current_version() -> None:
    secret = _stored(_secret(at=NOW - timedelta(days=30)))
    assert not vault.past_max_age(secret, max_age_days=31, now=NOW)
    assert vault.past_max_age(secret, max_age_days=30, now=NOW)
    assert not vault.past_max_age(secret, max_age_days=None, now=NOW)
    assert not vault.past_max_age(secret, max_age_days=0, now=NOW)
    assert vault.max_age_key(secret) != vault.max_age_key(
        vault.record_version(
            secret,
            account_id="acct-1",
            account_unit_id="dept-x",
            kind=SecretKind.PASSWORD,
            sealed=SEALED,
            totp=None,
            by="o",
            now=NOW,
        )
    )


def test_no_event_of_the_vault_carries_a_value() -> None:
    secret = _secret(SecretKind.PASSWORD)
    lease = vault.check_out(
        _stored(secret), holder_id="h", lifetime=timedelta(minutes=5), rotate_after=False, now=NOW
    )
    for event in (*secret.pending_events, *lease.pending_events):
        assert set(event.data) & {"value", "ciphertext", "wrapped_key", "codes", "seed"} == set()
