"""`/mailcow dkim …`: the DKIM record a domain needs in DNS, ready to paste, and the keys themselves.

A 2048-bit key does not fit one DNS character-string (at most 255 bytes), so a zone file needs the
TXT value split into several quoted strings that resolvers join again; most DNS web panels instead
take the whole value in one field. Both forms are given. The private key never leaves mailcow: the
client does not even model it (SERVER-FACTS §4.8 returns it only when mailcow is told to).

`dkim add` runs at once for an operator; mailcow never replaces a key with it, so an existing one is
pointed out before anything is sent. `dkim duplicate` (it overwrites the target's key, and mailcow
does not even check the target domain) and `dkim delete` need an approval. Their requests show each
key by selector, length and the end of its public key, so a replaced key is visible in the read-back.
"""

from __future__ import annotations

from bot.args import domain as valid_domain
from bot.args import integer
from bot.errors import ChatopsError
from bot.mailcow import DkimKey, MailcowClient, calls
from bot.plans import Plan
from bot.render import code, context, esc, fields, preformatted
from bot.reply import Reply
from bot.roles import Role
from commands import Call, command, describe_area
from commands._tables import parsed, plural, slash
from commands._writes import Entries, built
from commands.domain import no_domain

describe_area("dkim", "DKIM signing keys: the DNS record to publish; create, copy, delete")

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


# --- writes --------------------------------------------------------------------------------------

DomainKey = tuple[str, DkimKey | None]


def key_text(key: DkimKey | None) -> str:
    """A key as an approver tells keys apart: selector, length, and the end of the public key."""
    if key is None:
        return "no key"
    return f"selector {key.dkim_selector or 'dkim'} · {key.length or '?'} bit · key …{key.pubkey[-8:]}"


def domain_keys(client: MailcowClient, key: str) -> list[DomainKey]:
    """The key of each space-separated domain in `key` (`example.org`, or `FROM TO` for a copy)."""
    return [(name, client.dkim(name)) for name in key.split()]


TARGETS: Entries[DomainKey] = Entries(
    area="dkim",
    noun="DKIM key",
    list_usage="domain list",
    find=domain_keys,
    facts=lambda keys: {name: key_text(key) for name, key in keys},
    title=lambda pair: f"of {pair[0]} ({key_text(pair[1])})",
)


def _domain(call: Call, what: str) -> str:
    """A domain this mailcow has (mailcow copies a key even to a domain it does not have)."""
    name = parsed(call, valid_domain, call.args.take(what))
    if call.mailcow.domain(name) is None:
        raise call.args.error(
            f"`{name}` is not a domain on this mailcow; {slash(call, 'domain list')} lists them."
        )
    return name


@command(
    "dkim",
    "add",
    usage="dkim add DOMAIN [selector=dkim] [bits=2048]",
    summary="create a domain's DKIM key (1024-4096 bit); then publish the record `dkim show` gives",
    example="dkim add example.net",
    role=Role.OPERATOR,
)
def add_key(call: Call) -> Plan:
    name = _domain(call, "DOMAIN")
    selector = call.args.option("selector") or "dkim"
    bits = parsed(call, lambda v: integer(v, "`bits`"), call.args.option("bits") or "2048")
    call.args.done()
    api_call = built(call, lambda: calls.add_dkim(name, selector=selector, key_size=bits))
    existing = call.mailcow.dkim(name)
    if existing is not None:
        raise ChatopsError(
            f"{code(name)} already has a DKIM key ({esc(key_text(existing))}), and mailcow never replaces "
            f"one. {slash(call, f'dkim show {name}')} shows its DNS record; to replace the key, "
            f"{slash(call, f'dkim delete {name}')} first."
        )
    summary = (
        f"Create a {bits}-bit DKIM key for {name} with selector {selector}; receivers can check it once "
        f"its TXT record is published (dkim show {name})"
    )
    return TARGETS.plan(call, name, summary, api_call)


@command(
    "dkim",
    "duplicate",
    usage='dkim duplicate FROM_DOMAIN TO_DOMAIN [reason="…"]',
    summary="give a domain the same DKIM key as another, replacing the key it has",
    example="dkim duplicate example.org example.net",
    destructive=True,
)
def duplicate_key(call: Call) -> Plan:
    source = parsed(call, valid_domain, call.args.take("the domain whose key is copied"))
    target = _domain(call, "the domain that gets the key")
    call.args.done()
    api_call = built(call, lambda: calls.duplicate_dkim(source, target))
    copied = call.mailcow.dkim(source)
    if copied is None:
        raise ChatopsError(
            f"{code(source)} has no DKIM key to copy; {slash(call, 'domain list')} lists the domains."
        )
    replaced = call.mailcow.dkim(target)
    replacing = f"replacing its own key ({key_text(replaced)})" if replaced else "which has no key yet"
    summary = (
        f"Copy the DKIM key of {source} ({key_text(copied)}) to {target}, {replacing}; {target}'s DNS "
        f"record must then be the one of {source}"
    )
    return TARGETS.plan(call, f"{source} {target}", summary, api_call)


@command(
    "dkim",
    "delete",
    usage='dkim delete DOMAIN [reason="…"]',
    summary="delete a domain's DKIM key: its mail goes out unsigned until a new key is published",
    example="dkim delete example.net",
    destructive=True,
)
def delete_key(call: Call) -> Plan:
    name = parsed(call, valid_domain, call.args.take("DOMAIN"))
    call.args.done()
    api_call = built(call, lambda: calls.delete_dkim(name))
    key = call.mailcow.dkim(name)
    if key is None:  # mailcow would answer "removed" all the same (SERVER-FACTS §4.8)
        raise ChatopsError(f"{code(name)} has no DKIM key; there is nothing to delete.")
    summary = (
        f"Delete the DKIM key of {name} (selector {key.dkim_selector or 'dkim'}, {key.length or '?'} bit): "
        "its mail goes out unsigned until a new key is created and its record published in DNS"
    )
    return TARGETS.plan(call, name, summary, api_call)
