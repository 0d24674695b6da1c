"""HTTP mode: a Starlette app served by uvicorn, with Bolt's dispatch on a thread pool.

Bolt's shipped Starlette adapter calls the synchronous `App.dispatch` inside the event loop, so one
slow request holds up every other (measured: 89 req/s at 10 in flight against 867 on a thread
pool). Here each request is handed to a worker thread and the loop stays free. With a `WorkerPool`
(`serve`, CHATOPS_WORKERS ≥ 1) the lazy work runs in worker processes (bot/workers.py): they start and
drain with the server, `/healthz` counts them and their backlog, and `/metrics` adds their values.
Headers that steer Bolt's lazy listeners or a worker are dropped from requests that come from outside.

Routes: `POST /slack/events` (commands, interactivity, options), `GET /healthz`, `GET /metrics`.
No input makes `/slack/events` answer 5xx: an unparsable body is 400 (or 401 when unsigned), and
Bolt's error handler turns listener failures into a 200 with words.
"""

from __future__ import annotations

import gc
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
from bot.workers import WorkerPool, internal_header

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000  # Slack's payloads are far smaller; anything bigger is not from Slack


def create_asgi_app(app: App, services: Services, pool: WorkerPool | None = None) -> Starlette:
    verifier = SignatureVerifier(app._signing_secret)
    limiter = anyio.to_thread.current_default_thread_limiter

    async def slack_events(request: Request) -> Response:
        started = time.perf_counter()
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return Response(status_code=413)
        body = raw.decode("utf-8", errors="replace")
        headers: dict[str, str | Sequence[str]] = {
            key: [value] for key, value in request.headers.items() if not internal_header(key)
        }
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
        up = bool(metrics.READY._value.get())
        working = pool is None or pool.ready
        status = "ok" if up and working else "starting" if not up else "no worker process is ready"
        body = {"status": status, "ready": up and working, **services_health(services)}
        if pool is not None:
            body.update(pool.health())
        return JSONResponse(body, status_code=200 if up and working else 503)

    async def prometheus(_: Request) -> Response:
        text = metrics.render() if pool is None else pool.render_metrics()
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if pool is not None:
            pool.start()
        # What start-up built (the app, every imported module: ~100,000 objects) lives as long as the
        # process; left to the collector, each full collection walked it all and held every ack for
        # 60-80 ms (the p99 at 16 in flight on the benchmark machine). Frozen, they are never walked.
        gc.collect()
        gc.freeze()
        metrics.READY.set(1)
        try:
            yield
        finally:
            metrics.READY.set(0)
            gc.unfreeze()  # collectable again, for a process that goes on (tests serve in theirs)
            if pool is not None:  # after uvicorn has answered every open request
                await anyio.to_thread.run_sync(pool.stop)
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


def serve(app: App, services: Services, host: str, port: int, pool: WorkerPool | None = None) -> None:
    import uvicorn

    uvicorn.run(
        create_asgi_app(app, services, pool),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_keep_alive=30,
    )
