"""Identity's signing keys in MongoDB (`signing_keys`), private halves sealed with AES-GCM.

The key-encryption key comes from the environment (`CHORUS_IDENTITY_KEY_ENCRYPTION_KEY`,
base64 of 32 bytes); outside production a random one is kept under var/dev. Every replica
reads the same ring, so all agree on the signing key (the rules: domain/signing_keys.py).
The ring is also the KeySource identity verifies its own tokens with, in-process.

Outside production the local dev key (the file `chorus token` and the tests mint with) is
published too, verify-only: dev tokens keep working, and nothing is ever signed with it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from chorus_kit.auth import SigningKey
from chorus_kit.errors import Unauthorized
from identity.domain import signing_keys as rules
from identity.domain.signing_keys import KeyRecord

log = logging.getLogger(__name__)

# An unknown kid makes the ring re-read the database, at most this often.
MIN_RELOAD_SECONDS = 1.0
JWKS_FRESH_SECONDS = 5.0


class KeyRingError(RuntimeError):
    """The ring cannot sign (e.g. its key cannot be unsealed with this key-encryption key)."""


def load_dev_key_encryption_key(path: Path) -> bytes:
    """A random key-encryption key kept in a local file (development and tests only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic and exclusive: two first starts agree on one key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = base64.b64decode(path.read_text().strip())
    if len(key) != 32:
        raise KeyRingError(f"{path} does not hold 32 bytes of base64")
    return key


@dataclass(frozen=True)
class _Loaded:
    record: KeyRecord
    sealed: bytes
    nonce: bytes


class KeyRing:
    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        *,
        key_encryption_key: bytes,
        rotation_period: timedelta,
        dev_key: SigningKey | None = None,
    ) -> None:
        self.collection = collection
        self._aead = AESGCM(key_encryption_key)
        self._period = rotation_period
        self._dev_key = dev_key
        self._loaded: dict[str, _Loaded] = {}
        self._private: dict[str, SigningKey] = {}
        self._verify_keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def prepare(self) -> None:
        await self.collection.create_index(
            [("active_from", ASCENDING)], unique=True, name="one_key_per_period"
        )
        async with self._lock:
            await self._reload()
        newest = max(self._loaded.values(), key=lambda k: k.record.active_from, default=None)
        if newest is not None:
            # A replica with another key-encryption key must not add keys the others
            # cannot unseal: it refuses to start before it creates anything.
            self._unseal(newest)
        await self.rotate()
        await self.signing_key()

    # --- signing --------------------------------------------------------------------------
    async def signing_key(self) -> SigningKey:
        now = datetime.now(UTC)
        if rules.keys_due(self._records(), now, self._period):
            await self.rotate()
        record = rules.signing_record(self._records(), now)
        if record is None:
            raise KeyRingError("no signing key is active")
        if record.kid not in self._private:
            self._private[record.kid] = self._unseal(self._loaded[record.kid])
        return self._private[record.kid]

    async def rotate(self) -> None:
        """Create the keys now due (if another replica did first, adopt theirs), then re-read."""
        async with self._lock:
            await self._reload()
            for active_from in rules.keys_due(self._records(), datetime.now(UTC), self._period):
                await self._create(active_from)
            await self._reload()
            for record in rules.prunable(self._records(), datetime.now(UTC)):
                await self.collection.delete_one({"_id": record.kid})
                log.info("signing key destroyed", extra={"kid": record.kid})

    async def run(self) -> None:
        """Background loop: rotate on time and learn keys other replicas created."""
        tick = min(max(self._period.total_seconds() / 8, 0.2), 60.0)
        while True:
            await asyncio.sleep(tick)
            try:
                await self.rotate()
            except Exception:  # the database away: the next tick tries again
                log.exception("signing key rotation failed this tick")

    # --- publishing and verifying ---------------------------------------------------------
    async def jwks(self) -> dict[str, Any]:
        """The published keys, as read at most JWKS_FRESH_SECONDS ago (another replica may
        have created one since this replica's last rotation tick)."""
        if time.monotonic() - self._loaded_at > JWKS_FRESH_SECONDS:
            async with self._lock:
                await self._reload()
        keys = [
            r.public_jwk for r in rules.published(self._records(), datetime.now(UTC), self._period)
        ]
        if self._dev_key is not None:
            keys.insert(0, self._dev_key.public_jwk())
        return {"keys": keys}

    async def key(self, kid: str) -> jwt.PyJWK:
        """KeySource for identity's own verifier: published keys only."""
        found = self._verify_key(kid)
        if found is None and time.monotonic() - self._loaded_at >= MIN_RELOAD_SECONDS:
            async with self._lock:
                await self._reload()
            found = self._verify_key(kid)
        if found is None:
            raise Unauthorized("token signed with an unknown key", code="unknown_key")
        return found

    def _verify_key(self, kid: str) -> jwt.PyJWK | None:
        if self._dev_key is not None and kid == self._dev_key.kid:
            return self._cached_jwk(self._dev_key.public_jwk())
        shown = rules.published(self._records(), datetime.now(UTC), self._period)
        record = next((r for r in shown if r.kid == kid), None)
        return self._cached_jwk(record.public_jwk) if record else None

    def _cached_jwk(self, jwk: dict[str, Any]) -> jwt.PyJWK:
        kid = str(jwk["kid"])
        if kid not in self._verify_keys:
            self._verify_keys[kid] = jwt.PyJWK(jwk)
        return self._verify_keys[kid]

    # --- storage --------------------------------------------------------------------------
    def _records(self) -> list[KeyRecord]:
        return [k.record for k in self._loaded.values()]

    async def _reload(self) -> None:
        documents = await self.collection.find({}).to_list()
        self._loaded = {
            d["_id"]: _Loaded(
                record=KeyRecord(
                    kid=d["_id"], active_from=d["active_from"], public_jwk=d["public_jwk"]
                ),
                sealed=bytes(d["sealed_private_key"]),
                nonce=bytes(d["nonce"]),
            )
            for d in documents
        }
        self._private = {k: v for k, v in self._private.items() if k in self._loaded}
        self._loaded_at = time.monotonic()

    async def _create(self, active_from: datetime) -> None:
        kid = f"{active_from:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
        key = SigningKey(kid=kid, private_key=ec.generate_private_key(ec.SECP256R1()))
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        nonce = secrets.token_bytes(12)
        document = {
            "_id": kid,
            "active_from": active_from,
            "public_jwk": key.public_jwk(),
            # The kid is bound in as associated data: a sealed key cannot be moved to another.
            "sealed_private_key": self._aead.encrypt(nonce, pem, kid.encode()),
            "nonce": nonce,
            "created_at": datetime.now(UTC),
        }
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            return  # another replica created this period's key first: theirs is the one
        log.info("signing key created", extra={"kid": kid, "active_from": active_from.isoformat()})

    def _unseal(self, loaded: _Loaded) -> SigningKey:
        kid = loaded.record.kid
        try:
            pem = self._aead.decrypt(loaded.nonce, loaded.sealed, kid.encode())
        except InvalidTag:
            raise KeyRingError(
                f"signing key {kid} cannot be unsealed: wrong CHORUS_IDENTITY_KEY_ENCRYPTION_KEY?"
            ) from None
        private_key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise KeyRingError(f"signing key {kid} is not an EC key")
        return SigningKey(kid=kid, private_key=private_key)
