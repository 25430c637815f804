"""Envelope encryption: round trips, and every tampering or mix-up refused."""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from access.adapters.vault_crypto import (
    Envelope,
    LocalMasterKey,
    SecretUnreadable,
    VaultKeyError,
    decode_master_key,
    key_encryption_service,
    load_dev_master_key,
)
from access.domain import vault
from access.vault_settings import VaultSettings
from chorus_kit.events.access import SecretKind

PLAINTEXT = b"correct horse battery staple"


def _aad(version: int = 1, account: str = "acct-1") -> bytes:
    return vault.associated_data(
        account_id=account,
        secret_id=vault.secret_id_for(account, SecretKind.PASSWORD),
        kind=SecretKind.PASSWORD,
        version=version,
    )


@pytest.fixture
def envelope() -> Envelope:
    return Envelope(LocalMasterKey(os.urandom(32)))


async def test_a_sealed_value_opens_with_its_associated_data(envelope: Envelope) -> None:
    sealed = await envelope.seal(PLAINTEXT, associated_data=_aad())
    assert PLAINTEXT not in sealed.ciphertext and PLAINTEXT not in sealed.wrapped_key
    assert base64.b64encode(PLAINTEXT) not in sealed.ciphertext
    assert await envelope.open(sealed, associated_data=_aad()) == PLAINTEXT


async def test_every_seal_uses_a_fresh_data_key_and_nonce(envelope: Envelope) -> None:
    one = await envelope.seal(PLAINTEXT, associated_data=_aad())
    two = await envelope.seal(PLAINTEXT, associated_data=_aad())
    assert one.ciphertext != two.ciphertext and one.wrapped_key != two.wrapped_key


async def test_a_tampered_ciphertext_or_wrapped_key_is_refused(envelope: Envelope) -> None:
    sealed = await envelope.seal(PLAINTEXT, associated_data=_aad())
    flipped = bytearray(sealed.ciphertext)
    flipped[-1] ^= 1
    with pytest.raises(SecretUnreadable):
        await envelope.open(replace(sealed, ciphertext=bytes(flipped)), associated_data=_aad())
    wrapped = bytearray(sealed.wrapped_key)
    wrapped[20] ^= 1
    with pytest.raises(SecretUnreadable):
        await envelope.open(replace(sealed, wrapped_key=bytes(wrapped)), associated_data=_aad())


async def test_a_ciphertext_moved_to_another_secret_or_version_is_refused(
    envelope: Envelope,
) -> None:
    sealed = await envelope.seal(PLAINTEXT, associated_data=_aad(version=1, account="acct-1"))
    for elsewhere in (_aad(version=2), _aad(account="acct-2")):
        with pytest.raises(SecretUnreadable):
            await envelope.open(sealed, associated_data=elsewhere)


async def test_swapped_ciphertexts_of_two_secrets_are_refused(envelope: Envelope) -> None:
    a = await envelope.seal(b"secret of a", associated_data=_aad(account="a"))
    b = await envelope.seal(b"secret of b", associated_data=_aad(account="b"))
    # b's ciphertext with a's wrapped key, stored under a: neither layer opens.
    with pytest.raises(SecretUnreadable):
        await envelope.open(replace(a, ciphertext=b.ciphertext), associated_data=_aad(account="a"))
    # b's whole sealed value stored under a.
    with pytest.raises(SecretUnreadable):
        await envelope.open(b, associated_data=_aad(account="a"))


async def test_another_master_key_cannot_open_it() -> None:
    sealed = await Envelope(LocalMasterKey(os.urandom(32))).seal(PLAINTEXT, associated_data=_aad())
    other = Envelope(LocalMasterKey(os.urandom(32)))
    with pytest.raises(SecretUnreadable):
        await other.open(sealed, associated_data=_aad())
    # Even if it claims to be the same key, the wrap does not open.
    impostor = LocalMasterKey(os.urandom(32))
    with pytest.raises(SecretUnreadable):
        await Envelope(impostor).open(
            replace(sealed, key_id=impostor.key_id), associated_data=_aad()
        )


def test_the_key_id_names_the_key_without_revealing_it() -> None:
    key = os.urandom(32)
    assert LocalMasterKey(key).key_id == LocalMasterKey(key).key_id
    assert LocalMasterKey(key).key_id != LocalMasterKey(os.urandom(32)).key_id
    assert key.hex()[:16] not in LocalMasterKey(key).key_id


def test_master_keys_must_be_base64_of_32_bytes() -> None:
    good = base64.b64encode(os.urandom(32)).decode()
    assert len(decode_master_key(good)) == 32
    for bad in ("not base64!!", base64.b64encode(os.urandom(16)).decode()):
        with pytest.raises(VaultKeyError) as refused:
            decode_master_key(bad)
        assert bad not in str(refused.value)


def test_production_refuses_to_start_without_a_master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHORUS_ACCESS_VAULT_MASTER_KEY", raising=False)
    monkeypatch.setenv("CHORUS_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="CHORUS_ACCESS_VAULT_MASTER_KEY"):
        _settings()


def test_the_environment_key_is_used_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    key = os.urandom(32)
    monkeypatch.setenv("CHORUS_ENVIRONMENT", "production")
    monkeypatch.setenv("CHORUS_ACCESS_VAULT_MASTER_KEY", base64.b64encode(key).decode())
    assert key_encryption_service(_settings()).key_id == LocalMasterKey(key).key_id


def test_outside_production_a_dev_key_is_made_once(tmp_path: Path) -> None:
    path = tmp_path / "dev" / "vault-key"
    first = load_dev_master_key(path)
    assert load_dev_master_key(path) == first and len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _settings() -> VaultSettings:
    class Settings(VaultSettings):
        model_config = {"env_prefix": "CHORUS_"}

    return Settings()
