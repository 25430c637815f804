"""HTTP helpers for sign-in tests: cheap argon2 (tests only), passwords, sign-in, refresh."""

from __future__ import annotations

import httpx

from tests.support.api import bearer

PASSWORD = "correct horse battery staple"

# argon2 below the production floor, which the service accepts only when told explicitly.
WEAK_HASHING = {
    "CHORUS_ALLOW_WEAK_PASSWORD_HASHING": "true",
    "CHORUS_PASSWORD_HASH_TIME_COST": "1",
    "CHORUS_PASSWORD_HASH_MEMORY_KIB": "1024",
    "CHORUS_PASSWORD_HASH_PARALLELISM": "1",
}


def set_password(url: str, admin: str, employee_id: str, password: str = PASSWORD):
    return httpx.put(
        f"{url}/v1/employees/{employee_id}/password",
        json={"password": password},
        headers=bearer(admin),
        timeout=10,
    )


def sign_in(url: str, email: str, password: str = PASSWORD, *, headers=None) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/sessions",
        json={"email": email, "password": password},
        headers=headers or {},
        timeout=10,
    )


def refresh(url: str, refresh_token: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/sessions/refresh", json={"refresh_token": refresh_token}, timeout=10
    )


def sign_out(url: str, refresh_token: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/sessions/sign-out", json={"refresh_token": refresh_token}, timeout=10
    )
