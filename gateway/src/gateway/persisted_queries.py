"""Automatic persisted queries (Apollo's APQ protocol) for mobile clients.

A client sends only `extensions.persistedQuery.sha256Hash`; if this replica does not
know the hash it answers `PersistedQueryNotFound` and the client sends the query with
its hash once, which is checked and remembered (in memory, least recently used first
out, so no client can grow it without bound).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from gateway.problems import GatewayError

NOT_FOUND = "PersistedQueryNotFound"


class PersistedQueries:
    def __init__(self, *, max_entries: int) -> None:
        self._max = max_entries
        self._queries: OrderedDict[str, str] = OrderedDict()

    def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The query text to run; raises GatewayError for the protocol's failures."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise GatewayError(
                "Unsupported persisted query version", code="PERSISTED_QUERY_NOT_SUPPORTED"
            )
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or len(digest) != 64:
            raise GatewayError("sha256Hash is not a SHA-256", code="PERSISTED_QUERY_BAD_HASH")
        digest = digest.lower()
        if query is None:
            known = self._queries.get(digest)
            if known is None:
                raise GatewayError(NOT_FOUND, code="PERSISTED_QUERY_NOT_FOUND")
            self._queries.move_to_end(digest)
            return known
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise GatewayError(
                "provided sha does not match query", code="PERSISTED_QUERY_HASH_MISMATCH"
            )
        self._queries[digest] = query
        self._queries.move_to_end(digest)
        while len(self._queries) > self._max:
            self._queries.popitem(last=False)
        return query

    def __len__(self) -> int:
        return len(self._queries)
