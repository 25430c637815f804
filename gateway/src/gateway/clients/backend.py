"""One service's HTTP API as the gateway calls it: the caller's bearer token forwarded, a
per-backend deadline, and the service's problem+json answers turned into typed failures.

The services enforce authorisation themselves, so the gateway never calls them with a
token of its own: what a service refuses the caller, the caller does not get.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from opentelemetry.propagate import inject
from prometheus_client import Counter, Histogram

log = logging.getLogger(__name__)

BACKEND_CALLS = Counter(
    "chorus_gateway_backend_calls_total", "Calls to the services", ["service", "outcome"]
)
BACKEND_SECONDS = Histogram(
    "chorus_gateway_backend_seconds",
    "Time of calls to the services",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)


@dataclass
class BackendProblem(Exception):
    """The service answered with an expected failure (4xx problem+json)."""

    service: str
    status: int
    code: str
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.service} answered {self.status} {self.code}"


@dataclass
class BackendUnavailable(Exception):
    """The service is down, too slow, or failed (5xx): its part of the answer is missing."""

    service: str
    reason: str

    def __str__(self) -> str:
        return f"{self.service} unavailable: {self.reason}"


class BackendClient:
    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.service = service
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
            transport=transport,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The JSON answer of a 2xx; BackendProblem for a 4xx; BackendUnavailable otherwise."""
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        inject(sent)  # the trace continues into the service
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            # The whole call, not each socket operation, must end by the deadline.
            async with asyncio.timeout(self.timeout):
                response = await self._http.request(
                    method, path, json=json, params=params, headers=sent
                )
        except TimeoutError:
            self._count("timeout", began)
            raise BackendUnavailable(self.service, "timeout") from None
        except httpx.HTTPError as exc:
            self._count("unreachable", began)
            raise BackendUnavailable(self.service, type(exc).__name__) from None
        status = response.status_code
        if status < 400:
            self._count("ok", began)
            return response.json() if response.content else None
        if status >= 500:
            self._count("failed", began)
            raise BackendUnavailable(self.service, f"status {status}")
        self._count("refused", began)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        listed = body.get("errors")
        errors = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
        raise BackendProblem(
            service=self.service,
            status=status,
            code=str(body.get("code") or f"http_{status}"),
            detail=str(body.get("detail") or body.get("title") or "refused"),
            errors=errors,
        )

    def _count(self, outcome: str, began: float) -> None:
        BACKEND_CALLS.labels(self.service, outcome).inc()
        BACKEND_SECONDS.labels(self.service).observe(asyncio.get_running_loop().time() - began)
