"""`mailcow-chatops check`: what works and what does not, one line each; exit 0 only if all work.

The mailcow write probe is `edit/mailq` with no action: a read-only key gets 403, a read-write key
gets mailcow's generic "Task completed" and nothing runs (SERVER-FACTS §4.4, "missing or other").
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.mailcow import ApiCall, MailcowAuthError, MailcowClient, MailcowError
from bot.settings import Settings
from bot.store import Store, StoreUnavailable

Check = Callable[[], str]


def run_checks(settings: Settings, out: TextIO = sys.stdout) -> int:
    mailcow = MailcowClient.from_settings(settings)
    checks: list[tuple[str, Check]] = [
        ("settings", lambda: describe_settings(settings)),
        ("mailcow", lambda: check_mailcow_read(mailcow, settings)),
        ("mailcow key", lambda: check_mailcow_write(mailcow)),
        ("slack", lambda: check_slack(settings)),
        ("database", lambda: check_database(settings)),
    ]
    failures = 0
    try:
        for name, check in checks:
            try:
                detail, ok = check(), True
            except CheckFailed as error:
                detail, ok = str(error), False
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name:<12} {detail}", file=out)
    finally:
        mailcow.close()
    print("all checks passed" if not failures else f"{failures} check(s) failed", file=out)
    return 0 if not failures else 1


class CheckFailed(Exception):
    pass


def describe_settings(settings: Settings) -> str:
    approvers = len(settings.approvers)
    note = "" if approvers else " (no approvers: destructive commands cannot run)"
    return (
        f"{settings.command} in {len(settings.allowed_channels)} channel(s), "
        f"{len(settings.operators) or 'all'} operator(s), {approvers} approver(s){note}"
    )


def check_mailcow_read(mailcow: MailcowClient, settings: Settings) -> str:
    try:
        version = mailcow.status_version(fresh=True)
        domains = mailcow.domains(fresh=True)
    except MailcowError as error:
        raise CheckFailed(f"{settings.mailcow_url}: {error.user_message}") from None
    return f"{settings.mailcow_url} answers: version {version}, {len(domains)} domain(s)"


def check_mailcow_write(mailcow: MailcowClient) -> str:
    probe = ApiCall(
        action="edit", category="mailq", body={"items": [], "attr": {}}, target="queue (no-op probe)"
    )
    try:
        mailcow.write(probe)
    except MailcowAuthError as error:
        raise CheckFailed(error.user_message) from None
    except MailcowError as error:
        raise CheckFailed(f"write probe failed: {error.user_message}") from None
    return "read-write (changes will work)"


def check_slack(settings: Settings) -> str:
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url, timeout=10
    )
    try:
        identity = client.auth_test()
    except SlackApiError as error:
        raise CheckFailed(f"auth.test refused SLACK_BOT_TOKEN: {error.response.get('error')}") from None
    except (SlackClientError, OSError) as error:
        raise CheckFailed(f"cannot reach Slack at {settings.slack_api_url}: {error}") from None
    return f"auth.test ok as {identity.get('user')} in team {identity.get('team')}"


def check_database(settings: Settings) -> str:
    try:
        store = Store(settings.database_url, connect_timeout=5)
        try:
            version = store.migrate()
        finally:
            store.dispose()
    except (StoreUnavailable, ValueError, RuntimeError) as error:
        raise CheckFailed(str(error)) from None
    return f"schema version {version}"
