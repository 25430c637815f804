"""Talking GraphQL to the gateway in tests: over HTTP, and over graphql-transport-ws."""

from __future__ import annotations

import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

GRAPHQL_RESPONSE = "application/graphql-response+json"


class GraphQL:
    def __init__(self, url: str) -> None:
        self.url = f"{url}/graphql"
        self.ws_url = self.url.replace("http://", "ws://")

    def post(
        self,
        query: str | None,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        accept: str = GRAPHQL_RESPONSE,
        extensions: dict[str, Any] | None = None,
        timeout: float = 15,
    ) -> httpx.Response:
        body: dict[str, Any] = {}
        if query is not None:
            body["query"] = query
        if variables is not None:
            body["variables"] = variables
        if extensions is not None:
            body["extensions"] = extensions
        headers = {"Accept": accept}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.post(self.url, json=body, headers=headers, timeout=timeout)

    def get(
        self,
        query: str | None,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        accept: str = GRAPHQL_RESPONSE,
        extensions: dict[str, Any] | None = None,
    ) -> httpx.Response:
        params: dict[str, str] = {}
        if query is not None:
            params["query"] = query
        if variables is not None:
            params["variables"] = json.dumps(variables)
        if extensions is not None:
            params["extensions"] = json.dumps(extensions)
        headers = {"Accept": accept}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.get(self.url, params=params, headers=headers, timeout=15)

    def data(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str
    ) -> dict[str, Any]:
        """The data of a query that must succeed without any error."""
        response = self.post(query, variables, token=token)
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, (response.status_code, body)
        data: dict[str, Any] = body["data"]
        return data

    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str, op_id: str = "1"
    ) -> ClientConnection:
        """An open graphql-transport-ws connection with one subscription started."""
        ws = await connect(self.ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        await ws.send(
            json.dumps(
                {
                    "id": op_id,
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables or {}},
                }
            )
        )
        return ws


async def next_payload(ws: ClientConnection, *, timeout: float = 20) -> dict[str, Any]:
    """The next `next` message's payload (pings answered on the way)."""
    import asyncio

    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
                continue
            assert message["type"] == "next", message
            payload: dict[str, Any] = message["payload"]
            return payload
