"""Access's REST API, one method per route the schema uses (answers stay plain JSON).

The vault's check-out answer holds a secret: it passes through here as a value in memory
and nowhere else (no log line, no cache, no span carries a body).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gateway.clients.backend import BackendClient

Json = dict[str, Any]

BATCH_MAX = 500  # access's batch lookups take at most 500 keys


def _seg(value: str) -> str:
    """An id as one path segment (an id holding `/` must not reach another route)."""
    return quote(value, safe="")


def _wanted(params: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (str(v).lower() if isinstance(v, bool) else v)
        for k, v in params.items()
        if v is not None
    }


class AccessClient:
    def __init__(self, backend: BackendClient) -> None:
        self.backend = backend

    async def _call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        return await self.backend.call(
            method, path, token=token, json=body, params=_wanted(params or {})
        )

    # --- accounts ----------------------------------------------------------------------------
    async def list_accounts(self, token: str, **params: Any) -> Json:
        result: Json = await self._call("GET", "/v1/accounts", token, params=params)
        return result

    async def batch_get_accounts(self, token: str, ids: list[str]) -> Json:
        result: Json = await self._call("POST", "/v1/accounts/batch-get", token, body={"ids": ids})
        return result

    async def get_account(self, token: str, account_id: str) -> Json:
        result: Json = await self._call("GET", f"/v1/accounts/{_seg(account_id)}", token)
        return result

    async def register_account(self, token: str, body: Json) -> Json:
        result: Json = await self._call("POST", "/v1/accounts", token, body=body)
        return result

    async def add_owner(self, token: str, account_id: str, person_id: str) -> Json:
        result: Json = await self._call(
            "POST",
            f"/v1/accounts/{_seg(account_id)}/owners",
            token,
            body={"person_id": person_id},
        )
        return result

    async def remove_owner(
        self, token: str, account_id: str, person_id: str, reason: str | None
    ) -> Json:
        result: Json = await self._call(
            "DELETE",
            f"/v1/accounts/{_seg(account_id)}/owners/{_seg(person_id)}",
            token,
            params={"reason": reason},
        )
        return result

    # --- requests and grants -----------------------------------------------------------------
    async def request_access(self, token: str, body: Json) -> Json:
        result: Json = await self._call("POST", "/v1/access-requests", token, body=body)
        return result

    async def list_requests(self, token: str, **params: Any) -> Json:
        result: Json = await self._call("GET", "/v1/access-requests", token, params=params)
        return result

    async def get_request(self, token: str, request_id: str) -> Json:
        result: Json = await self._call("GET", f"/v1/access-requests/{_seg(request_id)}", token)
        return result

    async def decide_request(
        self, token: str, request_id: str, verdict: str, reason: str | None
    ) -> Json:
        """`verdict` is `approve` or `deny`; the answer is `{request, grant}`."""
        body = {"reason": reason} if reason is not None else None
        result: Json = await self._call(
            "POST", f"/v1/access-requests/{_seg(request_id)}/{verdict}", token, body=body
        )
        return result

    async def list_grants(self, token: str, **params: Any) -> Json:
        result: Json = await self._call("GET", "/v1/grants", token, params=params)
        return result

    async def grants_by_holders(
        self, token: str, holder_ids: list[str], *, active_only: bool
    ) -> Json:
        result: Json = await self._call(
            "POST",
            "/v1/grants/by-holders",
            token,
            body={"holder_ids": holder_ids, "active_only": active_only},
        )
        return result

    async def grants_by_accounts(
        self, token: str, account_ids: list[str], *, active_only: bool
    ) -> Json:
        result: Json = await self._call(
            "POST",
            "/v1/grants/by-accounts",
            token,
            body={"account_ids": account_ids, "active_only": active_only},
        )
        return result

    async def get_grant(self, token: str, grant_id: str) -> Json:
        result: Json = await self._call("GET", f"/v1/grants/{_seg(grant_id)}", token)
        return result

    async def revoke_grant(self, token: str, grant_id: str, reason: str) -> Json:
        result: Json = await self._call(
            "POST", f"/v1/grants/{_seg(grant_id)}/revoke", token, body={"reason": reason}
        )
        return result

    # --- the vault ---------------------------------------------------------------------------
    async def check_out(self, token: str, account_id: str, kind: str, minutes: int | None) -> Json:
        body = {"minutes": minutes} if minutes is not None else None
        result: Json = await self._call(
            "POST",
            f"/v1/accounts/{_seg(account_id)}/secrets/{_seg(kind)}/check-out",
            token,
            body=body,
        )
        return result

    async def check_in(self, token: str, lease_id: str) -> Json:
        result: Json = await self._call("POST", f"/v1/leases/{_seg(lease_id)}/check-in", token)
        return result

    async def get_lease(self, token: str, lease_id: str) -> Json:
        result: Json = await self._call("GET", f"/v1/leases/{_seg(lease_id)}", token)
        return result

    async def record_secret(self, token: str, account_id: str, kind: str, body: Json) -> Json:
        result: Json = await self._call(
            "PUT", f"/v1/accounts/{_seg(account_id)}/secrets/{_seg(kind)}", token, body=body
        )
        return result

    async def lease_history(self, token: str, account_id: str, **params: Any) -> Json:
        result: Json = await self._call(
            "GET", f"/v1/accounts/{_seg(account_id)}/leases", token, params=params
        )
        return result

    async def leases_by_holders(
        self, token: str, holder_ids: list[str], *, status: str | None, limit: int
    ) -> Json:
        result: Json = await self._call(
            "POST",
            "/v1/leases/by-holders",
            token,
            body=_wanted({"holder_ids": holder_ids, "status": status, "limit": limit}),
        )
        return result

    # --- reviews -----------------------------------------------------------------------------
    async def review_items_by_reviews(
        self, token: str, review_ids: list[str], *, mine: bool, pending: bool, limit: int
    ) -> Json:
        result: Json = await self._call(
            "POST",
            "/v1/access-reviews/items/by-reviews",
            token,
            body={"review_ids": review_ids, "mine": mine, "pending": pending, "limit": limit},
        )
        return result

    async def start_review(self, token: str, body: Json) -> Json:
        result: Json = await self._call("POST", "/v1/access-reviews", token, body=body)
        return result

    async def list_reviews(self, token: str, **params: Any) -> Json:
        result: Json = await self._call("GET", "/v1/access-reviews", token, params=params)
        return result

    async def get_review(self, token: str, review_id: str) -> Json:
        result: Json = await self._call("GET", f"/v1/access-reviews/{_seg(review_id)}", token)
        return result

    async def review_items(self, token: str, review_id: str, **params: Any) -> Json:
        result: Json = await self._call(
            "GET", f"/v1/access-reviews/{_seg(review_id)}/items", token, params=params
        )
        return result

    async def decide_review_item(
        self, token: str, review_id: str, grant_id: str, body: Json
    ) -> Json:
        result: Json = await self._call(
            "POST",
            f"/v1/access-reviews/{_seg(review_id)}/items/{_seg(grant_id)}/decision",
            token,
            body=body,
        )
        return result

    # --- reports and audit -------------------------------------------------------------------
    async def access_report(self, token: str, **params: Any) -> Json:
        result: Json = await self._call("GET", "/v1/reports/access", token, params=params)
        return result

    async def former_staff_with_access(self, token: str) -> Json:
        result: Json = await self._call("GET", "/v1/reports/former-staff-with-access", token)
        return result

    async def read_audit_log(self, token: str, **params: Any) -> Json:
        result: Json = await self._call("GET", "/v1/audit", token, params=params)
        return result
