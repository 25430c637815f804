"""Pure rules of the HTTP side: media-type negotiation and persisted queries."""

from __future__ import annotations

import hashlib

import pytest

from gateway.persisted_queries import PersistedQueries
from gateway.problems import GatewayError
from gateway.server import GRAPHQL_RESPONSE, JSON, BadRequest, negotiate


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        ("*/*", GRAPHQL_RESPONSE),
        ("application/json;q=0.9, application/graphql-response+json", GRAPHQL_RESPONSE),
        ("application/graphql-response+json;q=0.5, application/json", JSON),
        ("text/html, application/json;q=0.9", JSON),
    ],
)
def test_negotiation(accept: str | None, expected: str) -> None:
    assert negotiate(accept) == expected


def test_nothing_acceptable_is_406() -> None:
    with pytest.raises(BadRequest) as refused:
        negotiate("text/html, application/xml")
    assert refused.value.status == 406


def test_persisted_queries_remember_by_hash_and_forget_the_oldest() -> None:
    queries = PersistedQueries(max_entries=2)
    texts = ["{ a }", "{ b }", "{ c }"]
    hashes = [hashlib.sha256(t.encode()).hexdigest() for t in texts]

    def ext(h: str) -> dict:
        return {"persistedQuery": {"version": 1, "sha256Hash": h}}

    with pytest.raises(GatewayError) as missing:
        queries.resolve(None, ext(hashes[0]))
    assert missing.value.code == "PERSISTED_QUERY_NOT_FOUND"
    for text, digest in zip(texts, hashes, strict=True):
        assert queries.resolve(text, ext(digest)) == text
    assert queries.resolve(None, ext(hashes[2])) == "{ c }"
    with pytest.raises(GatewayError):
        queries.resolve(None, ext(hashes[0]))  # the oldest went first
    with pytest.raises(GatewayError) as mismatch:
        queries.resolve("{ a }", ext(hashes[1]))
    assert mismatch.value.code == "PERSISTED_QUERY_HASH_MISMATCH"
    assert queries.resolve("{ plain }", None) == "{ plain }"
