"""argon2id password hashing (argon2-cffi), off the event loop and with bounded memory.

Each hash takes `memory_cost` KiB (64 MiB in production) and a good fraction of a second
of CPU, so it runs on a small dedicated thread pool (argon2-cffi releases the GIL): the
event loop keeps serving, and at most `workers` hashes hold memory at once.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError
from prometheus_client import Counter
from pydantic import SecretStr

T = TypeVar("T")

# Labelled by what was checked, so anyone can see that an unknown account costs a full check.
PASSWORD_CHECKS = Counter(
    "chorus_identity_password_checks_total",
    "argon2id verifications run at sign-in",
    ["against"],  # stored_hash | dummy_hash
)


@dataclass(frozen=True)
class Argon2Parameters:
    time_cost: int
    memory_kib: int
    parallelism: int


class PasswordHasher:
    def __init__(self, parameters: Argon2Parameters, *, workers: int | None = None) -> None:
        self._argon2 = Argon2Hasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_kib,
            parallelism=parameters.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=workers or max(2, os.cpu_count() or 2), thread_name_prefix="argon2"
        )
        self._dummy_hash: str | None = None

    async def prepare(self) -> None:
        # Unknown accounts are checked against this, so they cost what a real check costs.
        self._dummy_hash = await self._run(self._argon2.hash, secrets.token_urlsafe(24))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def hash(self, password: SecretStr) -> str:
        return await self._run(self._argon2.hash, password.get_secret_value())

    async def verify(self, password_hash: str | None, password: SecretStr) -> bool:
        """True if `password` matches; with no hash (no such account) the same work, False."""
        if password_hash is None:
            if self._dummy_hash is None:
                await self.prepare()
            assert self._dummy_hash is not None
            await self._run(self._matches, self._dummy_hash, password.get_secret_value())
            PASSWORD_CHECKS.labels("dummy_hash").inc()
            return False
        matches = await self._run(self._matches, password_hash, password.get_secret_value())
        PASSWORD_CHECKS.labels("stored_hash").inc()
        return matches

    def needs_rehash(self, password_hash: str) -> bool:
        """The stored hash was made with other parameters than the configured ones."""
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)
