"""`/mailcow quarantine …`: mail the spam filter held back, newest first.

The usual question is "did a mail for jane get stuck?", so the list takes an optional address or
domain that must match the sender or a recipient. mailcow returns the whole quarantine table in one
answer, without paging (SERVER-FACTS §4.7), so the filter runs here. `show` gives one message as an
approver sees it, from that list: mailcow's single-item read also returns the raw message, which can
hold anything and is never fetched.

`release` and `delete` both need an approval: a release delivers the message to its recipient and
teaches rspamd it was ham (SERVER-FACTS §4.7), which is how a phishing mail reaches an inbox; a
delete is final. The request shows who sent what to whom, with its score, so it is decided on that.
"""

from __future__ import annotations

from collections import Counter

from bot.args import address_or_domain
from bot.mailcow import QuarantineItem, calls
from bot.plans import Plan
from bot.render import ago, clip, code, context, esc, number, utc
from bot.reply import Reply
from commands import Call, command, describe_area
from commands._tables import Table, parsed, plural
from commands._writes import Entries, built, delete_by_id, keyed, one, only_id, show_by_id

describe_area("quarantine", "mail held back by the spam and virus filter")


def _matches(item: QuarantineItem, wanted: str) -> bool:
    """An address matches exactly, a domain matches every address in it (sender or recipient)."""
    for party in (item.sender.lower(), item.rcpt.lower()):
        if party == wanted or ("@" not in wanted and party.rpartition("@")[2] == wanted):
            return True
    return False


def _item_line(item: QuarantineItem) -> str:
    virus = " · :biohazard_sign: *virus*" if item.virus_flag else ""
    subject = esc(clip(item.subject, 200)) or "_(no subject)_"
    verdict = f"*{esc(item.action)}* score {item.score:.1f}{virus}"
    return (
        f"{code(f'#{item.id}')} {code(utc(item.created))} · {verdict}\n"
        f"      {esc(item.sender or '<>')} → {esc(item.rcpt)} · “{subject}”"
    )


def _item_cells(item: QuarantineItem) -> tuple[object, ...]:
    return (
        item.id,
        item.qid,
        utc(item.created),
        item.sender,
        item.rcpt,
        item.subject,
        item.score,
        item.action,
        int(item.virus_flag > 0),
        int(item.notified),
    )


ITEMS: Table[QuarantineItem] = Table(
    plural="Quarantine",
    line=_item_line,
    columns=(
        "id",
        "qid",
        "created_utc",
        "sender",
        "recipient",
        "subject",
        "score",
        "action",
        "virus",
        "notified",
    ),
    cells=_item_cells,
    filename="quarantine.csv",
)


@command(
    "quarantine",
    "list",
    usage="quarantine list [ADDRESS|DOMAIN]",
    summary="quarantined mail, newest first: when, sender → recipient, subject, score, action, virus",
    example="quarantine list jane@example.org",
    default=True,
)
def list_quarantine(call: Call) -> Reply:
    given = call.args.take_optional()
    wanted = parsed(call, address_or_domain, given) if given is not None else None
    call.args.done()
    items = call.mailcow.quarantine()
    if wanted is not None:
        items = [i for i in items if _matches(i, wanted)]
    items.sort(key=lambda i: i.created, reverse=True)
    scope = f" for {code(wanted)}" if wanted else ""
    if not items:
        return Reply(headline=f"Quarantine{scope}: *empty*.")
    actions = Counter(i.action or "?" for i in items)
    viruses = sum(1 for i in items if i.virus_flag)
    parts = [f"{number(n)} {esc(action)}" for action, n in actions.most_common()]
    if viruses:
        parts.append(f"{number(viruses)} with a virus")
    headline = (
        f"Quarantine{scope}: *{plural(len(items), 'message')}* — "
        f"{' · '.join(parts)} · newest {ago(items[0].created)}"
    )
    return ITEMS.reply(
        items,
        scope=f"for {wanted}" if wanted else "",
        headline=headline,
        blocks=[context("Newest first · times in UTC · score is rspamd's spam score.")],
    )


@command(
    "quarantine",
    "show",
    usage="quarantine show ID",
    summary="one quarantined message (its number in `quarantine list`): sender, recipient, subject, score",
    example="quarantine show 12",
)
def show_item(call: Call) -> Reply:
    return show_by_id(call, TARGETS)


# --- actions -------------------------------------------------------------------------------------


def _item_facts(item: QuarantineItem) -> dict[str, str]:
    return {
        "from": item.sender or "<>",
        "to": item.rcpt,
        "subject": clip(item.subject, 200) or "(no subject)",
        "score": f"{item.score:.1f} ({item.action or '?'})",
        "virus": "yes" if item.virus_flag else "no",
        "quarantined": utc(item.created),
    }


TARGETS: Entries[QuarantineItem] = Entries(
    area="quarantine",
    noun="quarantined message",
    list_usage="quarantine list",
    find=keyed(lambda client: client.quarantine(), lambda item: (item.id,)),
    facts=one(_item_facts),
    title=lambda item: f"#{item.id} from {item.sender or '<>'} to {item.rcpt}, “{clip(item.subject, 80)}”",
)


@command(
    "quarantine",
    "release",
    usage='quarantine release ID [reason="…"]',
    summary="deliver a quarantined message to its recipient (rspamd learns it as ham)",
    example="quarantine release 12",
    destructive=True,
)
def release_item(call: Call) -> Plan:
    key = only_id(call, TARGETS)
    [item] = TARGETS.existing(call, key)
    virus = " It was flagged as carrying a VIRUS." if item.virus_flag else ""
    summary = (
        f"Release quarantined message {TARGETS.title(item)}: it is delivered to {item.rcpt}, "
        f"and rspamd learns it as ham.{virus}"
    )
    return TARGETS.plan(call, key, summary, built(call, lambda: calls.edit_qitem(key, "release")))


@command(
    "quarantine",
    "delete",
    usage='quarantine delete ID [reason="…"]',
    summary="delete a quarantined message for good; it is never delivered",
    example="quarantine delete 12",
    destructive=True,
)
def delete_item(call: Call) -> Plan:
    return delete_by_id(call, TARGETS, calls.delete_qitems, ": it is gone for good and never delivered")
