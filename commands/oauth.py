"""`/mailcow oauth …`: the OAuth2 clients that let other apps sign people in with mailcow accounts.

mailcow's API hands out every client's secret in clear text (SERVER-FACTS §4.16). The model keeps
it in a `SecretStr`, and nothing here reads more than whether one is set, so it can reach neither a
channel nor a CSV file; the person who needs it is sent to mailcow's UI.
"""

from __future__ import annotations

import re

from bot.mailcow import OAuth2Client
from bot.render import code, esc
from bot.reply import Reply
from commands import Call, command, describe_area
from commands._tables import Table, not_found, record_reply

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
