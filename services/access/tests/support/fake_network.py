"""A small fake of a network's admin API (or an automation tool) that receives revocation
connector calls on loopback, for the connector tests.

It checks each call the way a real receiver should, independently of access's code: the
`X-Chorus-Signature` (`t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`), the
timestamp's freshness, and that `X-Chorus-Call-Id` names the body's call. It can answer 2xx,
answer 503, or be stopped altogether (connections refused) and started again on its port.
It runs in a thread, so it answers while the test's own event loop is busy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FRESHNESS_SECONDS = 300


@dataclass(frozen=True)
class Received:
    call_id: str | None
    body: dict[str, Any]
    raw_body: bytes
    signature_valid: bool
    fresh: bool
    answered: int

    @property
    def acknowledged(self) -> bool:
        return 200 <= self.answered < 300


@dataclass
class FakeNetwork:
    port: int = 0
    path: str = "/admin/revocations"
    secret: str | None = None  # the connector's signing secret, once the test knows it
    answer: int = 204
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    # --- what arrived ---------------------------------------------------------------------------
    def calls(self, call_id: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if call_id is None or r.call_id == call_id]

    def acknowledged(self, call_id: str | None = None) -> list[Received]:
        return [r for r in self.calls(call_id) if r.acknowledged]

    # --- up, down --------------------------------------------------------------------------------
    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                answer = fake.answer if self.path == fake.path else 404
                fake._record(raw, dict(self.headers.items()), answer)
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Gone: connections to the port are refused until `start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    # --- checking a call like a receiver would ---------------------------------------------------
    def _record(self, raw: bytes, headers: dict[str, str], answer: int) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        signed = self._verify(raw, lower.get("x-chorus-signature", ""))
        call_id = lower.get("x-chorus-call-id")
        with self._lock:
            self.received.append(
                Received(
                    call_id=call_id,
                    body=body,
                    raw_body=raw,
                    signature_valid=signed[0] and body.get("call_id") == call_id,
                    fresh=signed[1],
                    answered=answer,
                )
            )

    def _verify(self, raw: bytes, header: str) -> tuple[bool, bool]:
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        if self.secret is None or "t" not in parts or "v1" not in parts:
            return False, False
        expected = hmac.new(
            self.secret.encode(), parts["t"].encode() + b"." + raw, hashlib.sha256
        ).hexdigest()
        valid = hmac.compare_digest(expected, parts["v1"])
        try:
            fresh = abs(time.time() - int(parts["t"])) <= FRESHNESS_SECONDS
        except ValueError:
            fresh = False
        return valid, fresh
