"""Delivering a signed connector call over HTTP (one attempt; retrying is the worker's job)."""

from __future__ import annotations

import httpx

from access.domain.connectors import DeliveryOutcome

# Receivers' answers are not read beyond their status: a small cap keeps a hostile one cheap.
MAX_ANSWER_BYTES = 4096


class WebhookClient:
    def __init__(self, *, timeout_seconds: float) -> None:
        # No redirects: a signed call goes where it was configured to go, nowhere else.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds), follow_redirects=False
        )

    async def post(self, url: str, *, body: bytes, headers: dict[str, str]) -> DeliveryOutcome:
        try:
            async with self._client.stream("POST", url, content=body, headers=headers) as answer:
                read = 0
                async for chunk in answer.aiter_raw():
                    read += len(chunk)
                    if read >= MAX_ANSWER_BYTES:
                        break
                return DeliveryOutcome(status_code=answer.status_code)
        except httpx.TimeoutException:
            return DeliveryOutcome(status_code=None, error="timed out")
        except httpx.ConnectError:
            return DeliveryOutcome(status_code=None, error="connect error")
        except httpx.HTTPError as exc:
            # The exception's text may hold the URL; only its kind is kept.
            return DeliveryOutcome(status_code=None, error=type(exc).__name__)

    async def close(self) -> None:
        await self._client.aclose()
