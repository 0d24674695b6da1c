"""Builds the Bolt app from the settings and registers every listener group.

`process_before_response=True` with the real work in lazy listeners: the ack function returns at
once and Bolt answers Slack in about a millisecond instead of polling for the ack every 10 ms; the
lazy work runs on the same thread pool. This also keeps the app correct behind a load balancer or
in Socket Mode, where there is no request to hold open.
"""

from __future__ import annotations

import importlib
import pkgutil
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient

import commands
from bot import logs
from bot.errors import ack_error_handler
from bot.guard import Guard
from bot.mailcow import MailcowClient
from bot.reply import retry_handlers
from bot.roles import RoleResolver
from bot.services import Services
from bot.settings import Settings
from commands import REGISTRY, load_all

WORKERS = 32


def build_services(
    settings: Settings,
    *,
    slack: WebClient | None = None,
    mailcow: MailcowClient | None = None,
) -> Services:
    logs.register_secrets(
        s.get_secret_value() if s else None
        for s in (
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
            settings.mailcow_api_key,
        )
    )
    slack = slack or WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        retry_handlers=retry_handlers(),  # type: ignore[arg-type]
        timeout=10,
    )
    return Services(
        settings=settings,
        slack=slack,
        mailcow=mailcow or MailcowClient.from_settings(settings),
        roles=RoleResolver(slack, settings.operators, settings.approvers),
        executor=ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="chatops"),
    )


def build_app(services: Services) -> App:
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
    )
    app.use(
        Guard(
            settings.allowed_channels,
            services.roles,
            REGISTRY.role_for,
            services.slack,
            services.executor,
        )
    )
    app.error(ack_error_handler)
    register_listeners(app, services)
    return app


def register_listeners(app: App, services: Services) -> None:
    """Every module with a `register(app, services)` adds its own listeners (starter-template style)."""
    from bot import slash

    slash.register(app, services)
    for module_info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"commands.{module_info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(app, services)
