"""The FastAPI app factory every service uses: health, readiness, metrics, errors, auth."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from chorus_kit.auth import Principal, TokenVerifier
from chorus_kit.errors import ChorusError, Unauthorized

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]
PROBLEM_JSON = "application/problem+json"
# CPython's own: a full collection at most once per 10 of the middle generation.
DEFAULT_FULL_COLLECTION_EVERY = 10
# For services that make next to no cyclic garbage (see `_freezing_startup_heap`).
RARE_FULL_COLLECTIONS = 100


def problem(
    status: int, code: str, title: str, detail: str | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "code": code}
    if detail:
        body["detail"] = detail
    return JSONResponse({**body, **extra}, status_code=status, media_type=PROBLEM_JSON)


async def _chorus_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ChorusError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    response = problem(exc.status, exc.code, type(exc).__name__, exc.detail)
    if headers:
        response.headers.update(headers)
    return response


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Say where and what is wrong, never echo the input: it may hold a secret.
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type")}
        for e in exc.errors()[:20]
    ]
    return problem(422, "validation_failed", "Request validation failed", errors=errors)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, f"http_{exc.status_code}", str(exc.detail))


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal_error", "Internal error")


def create_app(
    *,
    title: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    readiness: Sequence[ReadinessCheck],
    full_collection_every: int = DEFAULT_FULL_COLLECTION_EVERY,
) -> FastAPI:
    """`full_collection_every`: collections of the middle generation per full one (see
    `_freezing_startup_heap`)."""
    app = FastAPI(title=title, lifespan=_freezing_startup_heap(lifespan, full_collection_every))
    app.add_exception_handler(ChorusError, _chorus_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        try:
            async with asyncio.timeout(3):
                for check in readiness:
                    await check()
        except Exception as exc:  # any failed check means "not ready", with why
            return problem(503, "not_ready", "Not ready", f"{type(exc).__name__}")
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    return app


def _freezing_startup_heap(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    full_collection_every: int,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Once the service has started, move everything alive into the permanent generation.

    Imported modules, the schema and the app are ~140k objects that live as long as the
    process; every full collection walked them all (~90 ms here, once every second or so
    under load: the gateway's p99 was those pauses). Frozen, a full collection only walks
    what was made since start. (Raising the thresholds instead made it worse: with 10,000
    for the youngest generation, the middle one held 100k in-flight objects, ~120 ms.)

    A full collection then walks what is alive, plus cyclic garbage old enough to have
    reached the oldest generation. A service that makes next to no cyclic garbage can have
    them far less often (`full_collection_every` above CPython's 10): access and identity
    freed 0 objects in ~7,000 collections over a bulk of leavers, while their ~55 full
    collections took 1.3 s of access's CPU. Where requests do leave cycles, rarer full
    collections are each longer: the gateway's took ~0.3 s at 100 until its queries
    stopped leaving cycles (`gateway.schema.AcyclicExecution`)."""

    @asynccontextmanager
    async def lifespan_then_freeze(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            gc.collect()
            gc.freeze()
            youngest, middle, _ = gc.get_threshold()
            gc.set_threshold(youngest, middle, full_collection_every)
            yield

    return lifespan_then_freeze


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required", code="missing_token")
    verifier: TokenVerifier = request.app.state.verifier
    return await verifier.verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


@asynccontextmanager
async def background_tasks(
    *coroutines: Callable[[], Awaitable[None]],
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Run long-lived loops (relay, consumer) beside the web server; a crash ends the process.

    A loop that dies silently would leave a live-looking service that relays or consumes
    nothing, so an unexpected exit is logged and the process stops for its supervisor to
    restart it.
    """
    tasks = [asyncio.create_task(_guard(c)) for c in coroutines]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _guard(loop: Callable[[], Awaitable[None]]) -> None:
    try:
        await loop()
    except asyncio.CancelledError:
        raise
    except BaseException:
        log.critical("background loop crashed; stopping the process", exc_info=True)
        os.kill(os.getpid(), signal.SIGTERM)
        raise
