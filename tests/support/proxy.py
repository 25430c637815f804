"""A loopback HTTP proxy in front of a real service, for tests that count or disturb calls.

It counts the requests that reach the service (method and path), and can delay or
rewrite the answers of some paths: the service stays real, only the wire is watched.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from chorus_local.infra import free_port


@dataclass
class Rewrite:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass
class RecordingProxy:
    target: str
    calls: Counter[str] = field(default_factory=Counter)
    delays: dict[str, float] = field(default_factory=dict)  # path prefix -> seconds
    rewrites: dict[str, Rewrite] = field(default_factory=dict)  # path prefix -> answer

    def __post_init__(self) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            self, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RecordingProxy:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("proxy did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def reset(self) -> None:
        self.calls.clear()
        self.delays.clear()
        self.rewrites.clear()

    def count(self, method: str, path: str) -> int:
        return self.calls[f"{method} {path}"]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        self.calls[f"{scope['method']} {path}"] += 1
        for prefix, seconds in list(self.delays.items()):
            if path.startswith(prefix):
                await asyncio.sleep(seconds)
        for prefix, rewrite in list(self.rewrites.items()):
            if path.startswith(prefix):
                await self._answer(send, rewrite.status, rewrite.body, rewrite.content_type)
                return
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k != b"host"]
        query = scope.get("query_string", b"").decode()
        url = f"{self.target}{path}{'?' + query if query else ''}"
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.request(scope["method"], url, content=body, headers=headers)
        await self._answer(
            send, answer.status_code, answer.content, answer.headers.get("content-type", "")
        )

    @staticmethod
    async def _answer(send: Any, status: int, body: bytes, content_type: str) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
