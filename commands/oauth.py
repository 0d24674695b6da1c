"""`/mailcow oauth …`: the OAuth2 clients that let other apps sign people in with mailcow accounts.

mailcow's API hands out every client's secret in clear text (SERVER-FACTS §4.16). The model keeps
it in a `SecretStr`, and the lists and the read-back read no more than whether one is set, so it can
reach neither a channel nor a CSV file; the person who needs it is sent to mailcow's UI.

The one exception is `oauth add`: mailcow generates the new client's ID and secret and answers with
neither, so they are read back after the add. The client ID goes to the channel with the result; the
secret is shown once, only to the person who asked. `oauth delete` takes the client's number (its
database id, as `oauth list` shows it), which is what mailcow's delete takes.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bot import logs
from bot.args import UsageError
from bot.mailcow import OAuth2Client, calls
from bot.plans import Outcome, Plan
from bot.render import code, context, esc, fields
from bot.reply import Reply
from bot.roles import Role
from commands import Call, command, describe_area
from commands._tables import Table, not_found, parsed, record_reply
from commands._writes import Entries, built, each, keyed, numeric_id, run_for_requester
from commands.domain import try_read

describe_area(
    "oauth",
    "OAuth2 clients that let apps sign in with mailcow accounts (secrets never shown)",
    aliases=("oauth2", "oauth2-client", "oauth2-clients"),
)

WITHHELD = (
    "Client secrets are never shown in Slack; mailcow's UI shows them "
    "(System > Configuration > Access > OAuth2 Apps)."
)
_KEY = re.compile(r"^[0-9a-fA-F]{1,64}$")


def secret_state(client: OAuth2Client) -> str:
    return "secret set" if len(client.client_secret) else "no secret"


def client_line(client: OAuth2Client) -> str:
    redirect = code(client.redirect_uri) if client.redirect_uri else "_no redirect URI_"
    return (
        f"`#{client.id}` {code(client.client_id)} → {redirect} · scope {esc(client.scope or '—')} · "
        f"{secret_state(client)}"
    )


CLIENTS: Table[OAuth2Client] = Table(
    plural="OAuth2 clients",
    line=client_line,
    columns=("id", "client_id", "redirect_uri", "scope", "grant_types", "user_id", "secret_set"),
    cells=lambda c: (
        c.id,
        c.client_id,
        c.redirect_uri,
        c.scope,
        c.grant_types,
        c.user_id,
        "yes" if len(c.client_secret) else "no",
    ),
    filename="oauth2-clients.csv",
)


@command(
    "oauth",
    "list",
    usage="oauth list",
    summary="every OAuth2 client: client ID, redirect URI, scope (never the secret)",
    example="oauth list",
    default=True,
)
def list_clients(call: Call) -> Reply:
    call.args.done()
    return CLIENTS.reply(call.mailcow.oauth2_clients(), notes=(WITHHELD,))


@command(
    "oauth",
    "show",
    usage="oauth show ID|CLIENT_ID",
    summary="one OAuth2 client by its number or its client ID",
    example="oauth show 3",
)
def show_client(call: Call) -> Reply:
    key = call.args.take("the client's ID or client ID")
    call.args.done()
    if not _KEY.match(key):
        raise call.args.error(
            f"`{key}` is neither a client number (like `3`) nor a client ID (hex, like `1a2b3c4d5e6f`)."
        )
    wanted = key.lower()
    client = next(
        (c for c in call.mailcow.oauth2_clients() if str(c.id) == wanted or c.client_id.lower() == wanted),
        None,
    )
    if client is None:
        return not_found(call, f"OAuth2 client {code(key)}", "oauth list")
    return record_reply(
        f"OAuth2 client `#{client.id}` {code(client.client_id)}",
        [
            ("Client ID", code(client.client_id)),
            ("Redirect URI", code(client.redirect_uri) if client.redirect_uri else "none"),
            ("Scope", esc(client.scope or "—")),
            ("Grant types", esc(client.grant_types or "mailcow's default")),
            ("Secret", "set; shown only in mailcow's UI" if len(client.client_secret) else "not set"),
        ],
        WITHHELD,
    )


# --- writes --------------------------------------------------------------------------------------


def redirect_uri(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or " " in value.strip():
        raise UsageError(
            f"`{value}` is not a redirect URI; expected the app's callback URL, like "
            "`https://app.example.org/oauth/callback`."
        )
    return value.strip()


def client_label(client: OAuth2Client) -> str:
    return f"#{client.id}"


def client_facts(client: OAuth2Client) -> str:
    return f"client ID {client.client_id} · {client.redirect_uri or 'no redirect URI'}"


TARGETS: Entries[OAuth2Client] = Entries(
    area="oauth",
    noun="OAuth2 client",
    list_usage="oauth list",
    find=keyed(lambda client: client.oauth2_clients(), lambda c: (c.id, c.redirect_uri)),
    facts=each(client_label, client_facts),
    title=lambda c: f"#{c.id} (client ID {c.client_id}, redirect URI {c.redirect_uri or 'none'})",
)


@command(
    "oauth",
    "add",
    usage="oauth add REDIRECT_URI",
    summary="create an OAuth2 client for an app; its secret is shown once, only to you",
    example="oauth add https://app.example.org/oauth/callback",
    role=Role.OPERATOR,
)
def add_client(call: Call) -> None:
    uri = parsed(call, redirect_uri, call.args.take("the app's redirect URI"))
    call.args.done()
    plan = TARGETS.plan(
        call,
        uri,
        f"Add an OAuth2 client redirecting to {uri}",
        built(call, lambda: calls.add_oauth2_client(uri)),
    )

    def credentials(outcome: Outcome) -> Reply:
        return new_client_credentials(call, uri, outcome)

    run_for_requester(call, plan, credentials)


def new_client_credentials(call: Call, uri: str, outcome: Outcome) -> Reply:
    """The client the add created (for this URI, not there before), with its secret, for the requester."""
    clients, problem = try_read(call.mailcow.oauth2_clients)
    before = outcome.before or {}
    new = [c for c in clients or [] if c.redirect_uri == uri and client_label(c) not in before]
    if len(new) != 1:
        why = f"reading it back failed ({esc(problem)})" if problem else "I cannot tell which client is new"
        return Reply(
            headline=f"The client was added, but {why}, so its secret is not shown here.",
            blocks=[context(WITHHELD)],
            status="warn",
        )
    [client] = new
    secret = client.client_secret.get_secret_value()
    logs.register_secret(secret)
    return Reply(
        headline=f"OAuth2 client `#{client.id}`: its secret is shown once, only to you",
        blocks=[
            *fields(
                [
                    ("Client ID", code(client.client_id)),
                    ("Client secret", code(secret)),
                    ("Redirect URI", code(client.redirect_uri)),
                    ("Scope", esc(client.scope or "—")),
                ]
            ),
            context("Put the secret into the app's configuration; mailcow's UI shows it again if needed."),
        ],
    )


@command(
    "oauth",
    "delete",
    usage='oauth delete NUMBER [reason="…"]',
    summary="delete an OAuth2 client by its number (`#3` in `oauth list`): the app can no longer sign in",
    example="oauth delete 3",
    destructive=True,
)
def delete_client(call: Call) -> Plan:
    raw = call.args.take("the client's number")
    call.args.done()
    hint = " `oauth delete` takes the client's number, not its client ID." if _KEY.match(raw) else ""
    key = numeric_id(call, TARGETS, raw, hint)
    consequence = ": apps using it can no longer sign people in with mailcow accounts"
    return TARGETS.delete(call, key, calls.delete_oauth2_clients, consequence)
