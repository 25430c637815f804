"""Envelope encryption of vault secrets.

Each secret version is sealed with its own fresh AES-256-GCM data key; the data key is
stored only wrapped by a key-encryption key (KEK). The KEK sits behind
`KeyEncryptionService`, which a cloud KMS can implement later (wrap/unwrap are calls there,
hence async); today's implementation is `LocalMasterKey`, a 32-byte master key from the
environment. Both layers authenticate the same associated data (account, secret, kind,
version), so a ciphertext or a wrapped key moved to another secret or version fails to open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from access.domain.vault import Sealed
from access.vault_settings import VaultSettings
from chorus_kit.errors import ChorusError

log = logging.getLogger(__name__)

ALGORITHM = "AES-256-GCM"
KEY_BYTES = 32
NONCE_BYTES = 12


class VaultKeyError(RuntimeError):
    """The master key is missing or malformed: the service must not start."""


class SecretUnreadable(ChorusError):
    """A stored secret failed authentication: tampered with, moved, or sealed under another
    key. Never says more (the caller learns nothing about the value or the keys)."""

    status = 500
    code = "secret_unreadable"


class KeyEncryptionService(Protocol):
    """Wraps and unwraps data keys; the KEK itself never leaves it (a KMS in the future)."""

    @property
    def key_id(self) -> str:
        """The KEK new data keys are wrapped with (stored beside each wrapped key)."""
        ...

    async def wrap(self, data_key: bytes, *, context: bytes) -> bytes: ...

    async def unwrap(self, wrapped: bytes, *, key_id: str, context: bytes) -> bytes: ...


class LocalMasterKey:
    """The KEK as 32 bytes in this process, wrapping with AES-256-GCM (nonce + ciphertext)."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise VaultKeyError("the vault master key must be 32 bytes")
        self._aead = AESGCM(master_key)
        # A name for the key that reveals nothing of it (a keyed hash, not the key's hash).
        fingerprint = hmac.new(master_key, b"chorus vault key id", hashlib.sha256).hexdigest()
        self._key_id = f"local:{fingerprint[:16]}"

    @property
    def key_id(self) -> str:
        return self._key_id

    async def wrap(self, data_key: bytes, *, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, context)

    async def unwrap(self, wrapped: bytes, *, key_id: str, context: bytes) -> bytes:
        if key_id != self._key_id:
            raise SecretUnreadable("the secret is sealed under another master key")
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)
        except InvalidTag:
            raise SecretUnreadable("the stored secret failed authentication") from None


class Envelope:
    """Seals and opens values: a new data key per call to `seal`."""

    def __init__(self, kek: KeyEncryptionService) -> None:
        self._kek = kek

    async def seal(self, plaintext: bytes, *, associated_data: bytes) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = nonce + AESGCM(data_key).encrypt(nonce, plaintext, associated_data)
        wrapped = await self._kek.wrap(data_key, context=associated_data)
        return Sealed(
            ciphertext=ciphertext, wrapped_key=wrapped, key_id=self._kek.key_id, algorithm=ALGORITHM
        )

    async def open(self, sealed: Sealed, *, associated_data: bytes) -> bytes:
        if sealed.algorithm != ALGORITHM:
            raise SecretUnreadable("the stored secret uses an unknown algorithm")
        data_key = await self._kek.unwrap(
            sealed.wrapped_key, key_id=sealed.key_id, context=associated_data
        )
        nonce, body = sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:]
        try:
            return AESGCM(data_key).decrypt(nonce, body, associated_data)
        except InvalidTag:
            raise SecretUnreadable("the stored secret failed authentication") from None


def decode_master_key(encoded: str) -> bytes:
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise VaultKeyError("CHORUS_ACCESS_VAULT_MASTER_KEY is not base64") from None
    if len(key) != KEY_BYTES:
        raise VaultKeyError("CHORUS_ACCESS_VAULT_MASTER_KEY must be base64 of 32 bytes")
    return key


def load_dev_master_key(path: Path) -> bytes:
    """A random master key kept in a local file (development and tests only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode())
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic and exclusive: two first starts agree on one key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return decode_master_key(path.read_text())


def key_encryption_service(settings: VaultSettings) -> KeyEncryptionService:
    """The KEK the settings name; production has no fallback (the settings refuse it)."""
    if settings.access_vault_master_key is not None:
        return LocalMasterKey(
            decode_master_key(settings.access_vault_master_key.get_secret_value())
        )
    if settings.environment.value == "production":
        raise VaultKeyError("CHORUS_ACCESS_VAULT_MASTER_KEY is required in production")
    log.warning(
        "the vault uses a development master key from %s", settings.dev_vault_master_key_file
    )
    return LocalMasterKey(load_dev_master_key(settings.dev_vault_master_key_file))
