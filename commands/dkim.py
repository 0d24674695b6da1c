"""`/mailcow dkim …`: the DKIM record a domain needs in DNS, ready to paste.

A 2048-bit key does not fit one DNS character-string (at most 255 bytes), so a zone file needs the
TXT value split into several quoted strings that resolvers join again; most DNS web panels instead
take the whole value in one field. Both forms are given. The private key never leaves mailcow: the
client does not even model it (SERVER-FACTS §4.8 returns it only when mailcow is told to).
"""

from __future__ import annotations

from bot.args import domain as valid_domain
from bot.mailcow import DkimKey
from bot.render import code, context, esc, fields, preformatted
from bot.reply import Reply
from commands import Call, command, describe_area
from commands.domain import no_domain, parsed, plural, slash

describe_area("dkim", "DKIM signing keys: the DNS record to publish")

DNS_STRING = 255
"""Longest character-string in a TXT record (RFC 1035 §3.3)."""


def txt_strings(value: str, limit: int = DNS_STRING) -> list[str]:
    """The TXT value as the quoted strings a zone file needs, each at most `limit` characters."""
    return [f'"{value[i : i + limit]}"' for i in range(0, len(value), limit)] or ['""']


def _record_value(key: DkimKey) -> str:
    return key.dkim_txt or f"v=DKIM1;k=rsa;t=s;s=email;p={key.pubkey}"


@command(
    "dkim",
    "show",
    usage="dkim show DOMAIN",
    summary="the DKIM TXT record to publish for a domain (name, value split for DNS, key length)",
    example="dkim show example.org",
    accepts=lambda word: "." in word,
)
def show_dkim(call: Call) -> Reply:
    name = parsed(call, valid_domain, call.args.take("DOMAIN"))
    call.args.done()
    key = call.mailcow.dkim(name)
    if key is None:
        if call.mailcow.domain(name) is None:
            return no_domain(call, name)
        return Reply(
            headline=f"{code(name)} has no DKIM key: its outgoing mail is not signed.",
            blocks=[
                context(
                    f"Create one with {slash(call, f'dkim add {name}')}, then publish the record it shows."
                )
            ],
            status="warn",
        )
    selector = key.dkim_selector or "dkim"
    record_name = f"{selector}._domainkey.{name}"
    value = _record_value(key)
    pieces = txt_strings(value)
    blocks = fields(
        [
            ("Name", code(record_name)),
            ("Type", "TXT"),
            ("Selector", code(selector)),
            ("Key length", f"{esc(key.length) or '?'} bit"),
        ]
    )
    blocks.append(context("*Value* (one field, for DNS web panels):"))
    blocks.extend(preformatted(value))
    blocks.append(
        context(
            f"*Zone file* line ({plural(len(pieces), 'quoted string')} of at most "
            f"{DNS_STRING} characters; resolvers join them):"
        )
    )
    blocks.extend(preformatted("\n".join([f"{record_name}. IN TXT (", *(f"  {p}" for p in pieces), ")"])))
    blocks.append(context("The private key stays in mailcow and is never shown here."))
    return Reply(
        headline=f"DKIM record for {code(name)}: TXT at {code(record_name)} ({esc(key.length) or '?'} bit)",
        blocks=blocks,
    )
