"""A started service has its startup heap frozen and the full-collection pace it asked for."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI

from chorus_kit.web import DEFAULT_FULL_COLLECTION_EVERY, RARE_FULL_COLLECTIONS, create_app


@pytest.fixture(autouse=True)
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


@asynccontextmanager
async def nothing(_: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.mark.parametrize("every", [DEFAULT_FULL_COLLECTION_EVERY, RARE_FULL_COLLECTIONS])
async def test_full_collections_at_the_pace_asked(every: int) -> None:
    gc.set_threshold(700, 10, 7)
    app = create_app(title="t", lifespan=nothing, readiness=[], full_collection_every=every)

    async with app.router.lifespan_context(app):
        assert gc.get_threshold() == (700, 10, every)
        assert gc.get_freeze_count() > 0  # what was alive at start is out of every pass
