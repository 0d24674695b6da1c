"""`mailcow-chatops check`: what works and what does not, one line each; exit 0 only if all needed works.

Each line starts with `ok`, `warn` (works, but worth a look) or `FAIL` (the bot cannot do its job),
then the part checked, then plain words saying what to do about it. No check ever prints a secret.

- settings: what the bot will do and where, and which modes (HTTP, Socket Mode) can start.
- mailcow: one read, then a write probe that tells a read-write key from a read-only one. The probe
  is `edit/mailq` with no action: a read-only key gets 403, a read-write key gets mailcow's generic
  "Task completed" and nothing runs (SERVER-FACTS §4.4). A refused key is tried once only: every 401
  counts towards mailcow's fail2ban banning this host's IP (§1.4), so after one nothing else is sent.
- Slack: `auth.test`, and the scopes the token was granted (the `x-oauth-scopes` header of that
  answer) against `BOT_SCOPES`, the scopes the code uses and app_manifest.yml asks for
  (tests/test_deploy.py keeps the three equal): a missing scope fails, an extra one warns. With
  SLACK_APP_TOKEN set, also that Slack accepts it for Socket Mode.
- database: reachable, and its schema version against this build's migrations. Read-only: check
  never creates or migrates anything, so it is safe against the database of a running bot.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

import sqlalchemy as sa
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.logs import redact
from bot.mailcow import ApiCall, MailcowAuthError, MailcowClient, MailcowError
from bot.render import duration
from bot.settings import Settings
from bot.store import MIGRATIONS, create_engine, database_url, schema_version

BOT_SCOPES = frozenset({"chat:write", "commands", "files:write", "im:write", "usergroups:read"})
"""The bot token scopes the code needs: exactly those in app_manifest.yml."""

Status = Literal["ok", "warn", "FAIL"]

_DENIED_IP = re.compile(r"api access denied for ip ([0-9a-f:.]*[0-9a-f])", re.IGNORECASE)
_API_SETTINGS = "System > Configuration > Access > API in mailcow's UI"


@dataclass(frozen=True)
class Line:
    status: Status
    part: str
    detail: str


Check = Callable[[], Iterator[Line]]


def run_checks(settings: Settings, out: TextIO = sys.stdout) -> int:
    mailcow = MailcowClient.from_settings(settings)
    checks: list[tuple[str, Check]] = [
        ("settings", lambda: check_settings(settings)),
        ("mailcow", lambda: check_mailcow(mailcow, settings)),
        ("slack", lambda: check_slack(settings)),
        ("database", lambda: check_database(settings)),
    ]
    counts: Counter[Status] = Counter()
    try:
        for part, check in checks:
            for line in _guarded(part, check):
                counts[line.status] += 1
                print(f"{line.status:<4} {line.part:<13} {line.detail}", file=out)
    finally:
        mailcow.close()
    warnings = f" ({counts['warn']} warning(s))" if counts["warn"] else ""
    summary = f"{counts['FAIL']} check(s) failed" if counts["FAIL"] else "all checks passed"
    print(summary + warnings, file=out)
    return 1 if counts["FAIL"] else 0


def _guarded(part: str, check: Check) -> Iterator[Line]:
    """A check that breaks in a way nobody foresaw is one FAIL line, not a traceback."""
    try:
        yield from check()
    except Exception as error:
        yield Line("FAIL", part, redact(f"the check itself failed: {type(error).__name__}: {error}"))


def check_settings(settings: Settings) -> Iterator[Line]:
    operators = f"{len(settings.operators)} listed" if settings.operators else "anyone in those channels"
    yield Line(
        "ok",
        "settings",
        f"{settings.command} in {len(settings.allowed_channels)} allowed channel(s) "
        f"({', '.join(settings.allowed_channels)}); operators: {operators}; "
        f"approvers: {len(settings.approvers)}; requests expire after {duration(settings.approval_ttl)}",
    )
    if not settings.approvers:
        yield Line(
            "warn",
            "settings",
            "CHATOPS_APPROVERS is empty: nobody can approve, so destructive commands cannot run",
        )
    http = settings.slack_signing_secret is not None
    socket = settings.slack_app_token is not None
    if not http and not socket:
        yield Line(
            "FAIL",
            "settings",
            "neither SLACK_SIGNING_SECRET (HTTP mode, `serve`) nor SLACK_APP_TOKEN (Socket Mode, `socket`) "
            "is set: the bot could not receive anything from Slack",
        )
    else:
        modes = [m for m, ready in (("HTTP (`serve`)", http), ("Socket Mode (`socket`)", socket)) if ready]
        yield Line("ok", "settings", f"can start in: {' and '.join(modes)}")
    if not settings.mailcow_verify_tls:
        yield Line(
            "warn",
            "settings",
            "MAILCOW_VERIFY_TLS=false: mailcow's certificate is not checked, so whoever sits between the bot "
            "and mailcow could read the API key. Turn it on; if MAILCOW_URL uses a name the certificate does "
            "not carry (https://nginx-mailcow), set MAILCOW_TLS_SERVER_NAME to the one it does "
            "(deploy/README.md).",
        )


def check_mailcow(mailcow: MailcowClient, settings: Settings) -> Iterator[Line]:
    try:
        version = mailcow.status_version(fresh=True)
        domains = mailcow.domains(fresh=True)
    except MailcowAuthError as error:
        yield Line("FAIL", "mailcow key", _key_problem(error))
        return
    except MailcowError as error:
        yield Line("FAIL", "mailcow", f"{mailcow_target(settings)}: {error.user_message}")
        return
    yield Line(
        "ok", "mailcow", f"{mailcow_target(settings)} answers: version {version}, {len(domains)} domain(s)"
    )
    probe = ApiCall(
        action="edit", category="mailq", body={"items": [], "attr": {}}, target="queue (no-op probe)"
    )
    try:
        mailcow.write(probe)
    except MailcowAuthError as error:
        yield Line("FAIL", "mailcow key", _key_problem(error))
        return
    except MailcowError as error:
        yield Line("FAIL", "mailcow key", f"the harmless write probe failed: {error.user_message}")
        return
    yield Line("ok", "mailcow key", "read-write (changes will work); this host's address is allowed")


def mailcow_target(settings: Settings) -> str:
    """Where the bot connects and, when they differ, the name it checks the certificate against: an
    operator reading `https://nginx-mailcow as mail.example.org` sees both halves of the setup."""
    target = settings.mailcow_url
    if settings.mailcow_tls_server_name:
        target += f" as {settings.mailcow_tls_server_name}"
    if isinstance(settings.mailcow_verify_tls, Path):
        target += f" (trusting the CA in {settings.mailcow_verify_tls})"
    return target


def _key_problem(error: MailcowAuthError) -> str:
    if error.reason == "read_only":
        return (
            "read-only: reads work, but mailcow refuses every change (403 on a harmless write probe). "
            f"Set MAILCOW_API_KEY to the read-write key ({_API_SETTINGS})."
        )
    if error.reason == "ip_denied":
        found = _DENIED_IP.search(error.user_message)
        seen = f"it saw this host as {found.group(1)}" if found else "it did not say which address it saw"
        return (
            f"the key is right, but mailcow refuses API calls from this host: {seen}. Add that address "
            f"to the API's allowed IPs ({_API_SETTINGS}, or API_ALLOW_FROM in mailcow.conf). Each such "
            "refusal also counts towards mailcow's fail2ban banning this host, so check tried once."
        )
    if error.reason == "wrong_key":
        return (
            "mailcow refused MAILCOW_API_KEY (authentication failed). Each refused try counts towards "
            "mailcow's fail2ban banning this host's IP (10 in 10 minutes by default), so check tried "
            f"once and sent nothing more. Copy the read-write key from {_API_SETTINGS}."
        )
    return error.user_message


def check_slack(settings: Settings) -> Iterator[Line]:
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url, timeout=10
    )
    try:
        identity = client.auth_test()
    except SlackApiError as error:
        yield Line("FAIL", "slack", f"auth.test refused SLACK_BOT_TOKEN: {error.response.get('error')}")
        return
    except (SlackClientError, OSError) as error:
        yield Line("FAIL", "slack", redact(f"cannot reach Slack at {settings.slack_api_url}: {error}"))
        return
    yield Line(
        "ok",
        "slack",
        f"auth.test ok: bot @{identity.get('user')} ({identity.get('user_id')}) "
        f"in workspace {identity.get('team')}",
    )
    yield from compare_scopes(granted_scopes(identity.headers))
    if settings.slack_app_token is not None:
        yield _check_app_token(settings)


def granted_scopes(headers: dict[str, Any]) -> frozenset[str] | None:
    """The scopes in the `x-oauth-scopes` header of a Web API answer; None when it is absent."""
    value = next((v for k, v in headers.items() if k.lower() == "x-oauth-scopes"), None)
    if value is None:
        return None
    text = ",".join(value) if isinstance(value, list) else str(value)
    return frozenset(s.strip() for s in text.split(",") if s.strip())


def compare_scopes(granted: frozenset[str] | None) -> Iterator[Line]:
    if granted is None:
        yield Line(
            "warn",
            "slack scopes",
            "Slack did not say which scopes the token has (no x-oauth-scopes header); not compared",
        )
        return
    missing, extra = BOT_SCOPES - granted, granted - BOT_SCOPES
    if missing:
        yield Line(
            "FAIL",
            "slack scopes",
            f"missing {', '.join(sorted(missing))}: add them to the Slack app (app_manifest.yml lists "
            "every scope the bot needs), then reinstall the app to the workspace",
        )
    if extra:
        yield Line(
            "warn",
            "slack scopes",
            f"granted but never used: {', '.join(sorted(extra))}; remove them from the Slack app and "
            "reinstall it, so the token can do no more than the bot needs",
        )
    if not missing and not extra:
        yield Line("ok", "slack scopes", f"exactly the ones the bot uses: {', '.join(sorted(granted))}")


def _check_app_token(settings: Settings) -> Line:
    token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    client = WebClient(token=token, base_url=settings.slack_api_url, timeout=10)
    try:
        client.apps_connections_open(app_token=token)
    except SlackApiError as error:
        return Line(
            "FAIL",
            "slack socket",
            f"Slack refused SLACK_APP_TOKEN ({error.response.get('error')}): it must be an app-level token "
            "with the connections:write scope (Basic Information > App-Level Tokens), and Socket Mode "
            "must be on in the app's settings",
        )
    except (SlackClientError, OSError) as error:
        return Line("FAIL", "slack socket", redact(f"cannot reach Slack for Socket Mode: {error}"))
    return Line("ok", "slack socket", "SLACK_APP_TOKEN can open Socket Mode connections")


def check_database(settings: Settings) -> Iterator[Line]:
    try:
        parsed = database_url(settings.database_url)
    except sa.exc.ArgumentError:
        yield Line("FAIL", "database", "CHATOPS_DATABASE_URL is not a database URL")
        return
    where = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    kind = {"sqlite": "SQLite: one replica only", "postgresql": "PostgreSQL: fine for several replicas"}
    about = f"{where} ({kind.get(backend, backend)})"
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.exists():
            if os.access(path.parent.resolve(), os.W_OK):
                yield Line("ok", "database", f"{about}: not created yet; the bot creates it when it starts")
            else:
                yield Line("FAIL", "database", f"{about}: does not exist, and {path.parent} is not writable")
            return
    try:
        version = _schema_version(settings.database_url)
    except (sa.exc.SQLAlchemyError, ValueError) as error:
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        yield Line("FAIL", "database", redact(f"{about} cannot be used: {cause}"))
        return
    latest = len(MIGRATIONS)
    if version > latest:
        yield Line(
            "FAIL",
            "database",
            f"{about}: schema version {version} is newer than this build knows ({latest}); "
            "run the newer mailcow-chatops",
        )
    elif version == latest:
        yield Line("ok", "database", f"{about}: schema version {version}, current")
    elif version == 0:
        yield Line(
            "ok", "database", f"{about}: reachable and empty; the bot creates its tables when it starts"
        )
    else:
        yield Line(
            "ok",
            "database",
            f"{about}: schema version {version}; the bot upgrades it to {latest} when it starts",
        )


def _schema_version(url: str) -> int:
    engine = create_engine(url, connect_timeout=5)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(schema_version.name):
                return 0
            return int(conn.scalar(sa.select(sa.func.max(schema_version.c.version))) or 0)
    finally:
        engine.dispose()
