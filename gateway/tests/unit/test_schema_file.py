"""The committed SDL is the code's: a change to the schema must regenerate the file."""

from __future__ import annotations

from gateway.schema import sdl
from gateway.sdl import SCHEMA_FILE


def test_committed_schema_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == sdl() + "\n", (
        "gateway/schema.graphql is out of date: run `make graphql-schema`"
    )


def test_every_mutation_answers_a_typed_result() -> None:
    text = sdl()
    block = text[text.index("type Mutation {") :]
    block = block[: block.index("\n}")]
    results = [line.rsplit(":", 1)[1].strip() for line in block.splitlines() if "):" in line]
    assert results and all(r.endswith("Result!") for r in results), results
