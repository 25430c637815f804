"""Identity's REST API, one method per route the schema uses (answers stay plain JSON)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gateway.clients.backend import BackendClient

Json = dict[str, Any]


def _seg(value: str) -> str:
    """An id as one path segment (an id holding `/` must not reach another route)."""
    return quote(value, safe="")


BATCH_MAX = 100  # identity's batch-get takes at most 100 ids


class IdentityClient:
    def __init__(self, backend: BackendClient) -> None:
        self.backend = backend

    async def call(
        self,
        method: str,
        path: str,
        token: str | None,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Any other route (the staff programme, sessions): the JSON answer as it is."""
        return await self.backend.call(method, path, token=token, json=body, headers=headers)

    # --- reads ---------------------------------------------------------------------------
    async def list_employees(self, token: str, **params: Any) -> Json:
        wanted = {k: v for k, v in params.items() if v is not None}
        result: Json = await self.backend.call("GET", "/v1/employees", token=token, params=wanted)
        return result

    async def batch_get_employees(self, token: str, ids: list[str]) -> Json:
        result: Json = await self.backend.call(
            "POST", "/v1/employees/batch-get", token=token, json={"ids": ids}
        )
        return result

    async def reports_by_managers(self, token: str, manager_ids: list[str], *, limit: int) -> Json:
        result: Json = await self.backend.call(
            "POST",
            "/v1/employees/by-managers",
            token=token,
            json={"manager_ids": manager_ids, "limit": limit},
        )
        return result

    async def get_employee(self, token: str, employee_id: str) -> Json:
        result: Json = await self.backend.call(
            "GET", f"/v1/employees/{_seg(employee_id)}", token=token
        )
        return result

    async def list_org_units(self, token: str) -> list[Json]:
        result: list[Json] = await self.backend.call("GET", "/v1/org-units", token=token)
        return result

    async def read_audit_log(self, token: str, **params: Any) -> Json:
        wanted = {k: v for k, v in params.items() if v is not None}
        result: Json = await self.backend.call("GET", "/v1/audit", token=token, params=wanted)
        return result

    # --- employee writes ---------------------------------------------------------------------
    async def _write(
        self, method: str, path: str, token: str, body: Any, *, version: int | None = None
    ) -> Json:
        headers = {"If-Match": f'"{version}"'} if version is not None else None
        result: Json = await self.backend.call(
            method, path, token=token, json=body, headers=headers
        )
        return result

    async def hire(self, token: str, body: Json) -> Json:
        return await self._write("POST", "/v1/employees", token, body)

    async def update_profile(
        self, token: str, employee_id: str, body: Json, *, version: int | None
    ) -> Json:
        return await self._write(
            "PATCH", f"/v1/employees/{_seg(employee_id)}", token, body, version=version
        )

    async def move(self, token: str, employee_id: str, body: Json) -> Json:
        return await self._write("POST", f"/v1/employees/{_seg(employee_id)}/move", token, body)

    async def change_roles(self, token: str, employee_id: str, body: Json) -> Json:
        return await self._write("PUT", f"/v1/employees/{_seg(employee_id)}/roles", token, body)

    async def suspend(self, token: str, employee_id: str, body: Json) -> Json:
        return await self._write("POST", f"/v1/employees/{_seg(employee_id)}/suspend", token, body)

    async def reinstate(self, token: str, employee_id: str) -> Json:
        return await self._write(
            "POST", f"/v1/employees/{_seg(employee_id)}/reinstate", token, None
        )

    async def offboard(
        self, token: str, employee_id: str, body: Json, *, version: int | None
    ) -> Json:
        return await self._write(
            "POST", f"/v1/employees/{_seg(employee_id)}/offboard", token, body, version=version
        )

    async def cancel_scheduled_offboarding(self, token: str, employee_id: str) -> Json:
        return await self._write(
            "DELETE", f"/v1/employees/{_seg(employee_id)}/scheduled-offboarding", token, None
        )

    async def rehire(self, token: str, employee_id: str, body: Json) -> Json:
        return await self._write("POST", f"/v1/employees/{_seg(employee_id)}/rehire", token, body)

    # --- org-unit writes ----------------------------------------------------------------------
    async def create_unit(self, token: str, body: Json) -> Json:
        return await self._write("POST", "/v1/org-units", token, body)

    async def rename_unit(self, token: str, unit_id: str, body: Json) -> Json:
        return await self._write("PATCH", f"/v1/org-units/{_seg(unit_id)}", token, body)

    async def move_unit(self, token: str, unit_id: str, body: Json) -> Json:
        return await self._write("POST", f"/v1/org-units/{_seg(unit_id)}/move", token, body)

    async def close_unit(self, token: str, unit_id: str) -> Json:
        return await self._write("POST", f"/v1/org-units/{_seg(unit_id)}/close", token, None)
