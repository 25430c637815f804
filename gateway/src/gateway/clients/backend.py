"""One service's HTTP API as the gateway calls it: the caller's bearer token forwarded, a
per-backend deadline, and the service's problem+json answers turned into typed failures.

The services enforce authorisation themselves, so the gateway never calls them with a
token of its own: what a service refuses the caller, the caller does not get.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
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
    """Why aiohttp and not httpx: the gateway makes several calls per query, and measured
    under `make bench-gateway` httpx's per-call overhead (httpcore, anyio) was most of the
    gateway's own CPU."""

    def __init__(self, service: str, base_url: str, *, timeout: float) -> None:
        self.service = service
        self.timeout = timeout
        self._base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the running event loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=200, ttl_dns_cache=300),
                json_serialize=jsonlib.dumps,
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

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
            async with (
                asyncio.timeout(self.timeout),
                self._http().request(
                    method,
                    self._base_url + path,
                    json=json,
                    params=_query(params),
                    headers=sent,
                ) as answer,
            ):
                status, content = answer.status, await answer.read()
        except TimeoutError:
            self._count("timeout", began)
            raise BackendUnavailable(self.service, "timeout") from None
        except aiohttp.ClientError as exc:
            self._count("unreachable", began)
            raise BackendUnavailable(self.service, type(exc).__name__) from None
        if status < 400:
            self._count("ok", began)
            return orjson.loads(content) if content else None
        if status >= 500:
            self._count("failed", began)
            raise BackendUnavailable(self.service, f"status {status}")
        self._count("refused", began)
        try:
            body = orjson.loads(content)
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


def _query(params: dict[str, Any] | None) -> list[tuple[str, str]] | None:
    """Query parameters as aiohttp takes them: lists repeat the key, booleans are
    `true`/`false`, `None` leaves the key out."""
    if not params:
        return None
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        for one in value if isinstance(value, list | tuple) else [value]:
            if one is None:
                continue
            pairs.append((key, str(one).lower() if isinstance(one, bool) else str(one)))
    return pairs
