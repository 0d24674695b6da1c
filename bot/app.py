"""Builds the Bolt app from the settings and registers every listener group.

`process_before_response=True` with the real work in lazy listeners: the ack function returns at
once and Bolt answers Slack in about a millisecond instead of polling for the ack every 10 ms; the
lazy work runs on the same thread pool, or for `serve` in worker processes (bot/workers.py). This
also keeps the app correct behind a load balancer or in Socket Mode, where there is no request to
hold open.

The database holds approvals and the audit trail. It is migrated at start-up; when it is down the
app starts anyway (one log line) so read commands keep working, and writes and approvals refuse
until it is back. Background jobs (approval expiry, interrupted runs) start with the app.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import time
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient

import commands
from bot import logs
from bot.approvals import ApprovalStore, listeners, sweeper
from bot.errors import ack_error_handler
from bot.guard import Guard
from bot.mailcow import MailcowClient
from bot.reply import retry_handlers
from bot.roles import RoleResolver
from bot.scheduler import Clock, Scheduler
from bot.services import Services
from bot.settings import Settings
from bot.store import Store, StoreUnavailable
from commands import REGISTRY, load_all

log = logging.getLogger(__name__)

WORKERS = 32


def build_services(
    settings: Settings,
    *,
    slack: WebClient | None = None,
    mailcow: MailcowClient | None = None,
    clock: Clock = time.time,
) -> Services:
    """Everything the listeners share. `clock` times approvals, locks and background jobs."""
    logs.register_settings_secrets(settings)
    slack = slack or WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        retry_handlers=retry_handlers(),  # type: ignore[arg-type]
        timeout=10,
    )
    store = Store(settings.database_url, now=clock, redact=logs.redact)
    try:
        store.migrate()
    except StoreUnavailable as error:
        log.warning("starting without the database (changes and approvals refused): %s", error)
    services = Services(
        settings=settings,
        slack=slack,
        mailcow=mailcow or MailcowClient.from_settings(settings),
        roles=RoleResolver(slack, settings.operators, settings.approvers),
        executor=ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="chatops"),
        store=store,
        approvals=ApprovalStore(store),
        scheduler=Scheduler(clock),
    )
    sweeper.schedule(services.scheduler, services)
    return services


def build_app(services: Services, *, background: bool = True, in_worker: bool = False) -> App:
    """The Bolt app. `background=False` leaves the scheduled jobs to `services.scheduler.run_pending()`
    (tests drive them with a fake clock).

    `in_worker=True` builds the app of a worker process (bot/workers.py): it only runs the lazy work of
    requests the serving process has already verified and acked, so it does not check Slack's
    signature again (why that is safe, and needed, is in bot/workers.py) and keeps the ack's
    correlation id."""
    settings = services.settings
    load_all()
    app = App(
        client=services.slack,
        signing_secret=settings.slack_signing_secret.get_secret_value()
        if settings.slack_signing_secret
        else "",
        process_before_response=True,
        listener_executor=services.executor,
        raise_error_for_unhandled_request=False,
        request_verification_enabled=not in_worker,
    )
    app.use(
        Guard(
            settings.allowed_channels,
            services.roles,
            REGISTRY.role_for,
            services.slack,
            services.executor,
            store=services.store,
            in_worker=in_worker,
        )
    )
    app.error(ack_error_handler)
    register_listeners(app, services)
    if background:
        start_background(services)
    return app


def start_background(services: Services, *, resolution: float = 1.0) -> None:
    """Run the scheduled jobs on the worker pool; they stop when the pool shuts down with the server."""
    services.scheduler.start(services.executor, resolution=resolution)


def register_listeners(app: App, services: Services) -> None:
    """Every module with a `register(app, services)` adds its own listeners (starter-template style)."""
    from bot import slash

    slash.register(app, services)
    listeners.register(app, services)
    for module_info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"commands.{module_info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(app, services)
