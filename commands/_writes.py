"""What the write verbs of the configuration areas share: find what a key names, refuse what is not
there, build the plan, and read the target's state for the request and for the read-back. The same
facts answer the area's `show` verb, so a person sees an entry exactly as an approver would.

An `Entries` is one of mailcow's lists (BCC maps, forwarding hosts, DKIM keys, …) as its write verbs
see it: `find` reads, fresh, the entries a key names (an id, or the natural key an add creates, such
as a BCC map's type and address), and `facts` turns them into the few plain facts an approver decides
on. Creating one registers its state reader under the area's name, so a stored plan names it and the
executor reads the same facts before the run, again inside the lock, and once more after the write.

Writes whose result is a secret (a generated password, a new OAuth2 client's secret) go through
`run_for_requester`: they run at once, the result goes to the channel without the secret, and the
secret goes only to the person who asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from bot.errors import ChatopsError
from bot.mailcow import ApiCall, MailcowClient
from bot.plans import (
    Outcome,
    Plan,
    RuntimeSecret,
    StateRef,
    database_refusal,
    needs_approval,
    run_now,
    state_reader,
)
from bot.render import code, esc
from bot.reply import Reply, deliver
from bot.store import StoreUnavailable
from commands import Call
from commands._tables import not_found, record_reply, slash

Row = TypeVar("Row")
Facts = dict[str, str]
"""A target's state as an approver reads it: short labels to short plain-text values, never a secret."""


@dataclass(frozen=True)
class Entries(Generic[Row]):
    """One of mailcow's lists as its write verbs see it (see the module docstring)."""

    area: str
    """Names the state reader and prefixes the lock key: `bcc` → `bcc:7`."""
    noun: str
    """What one entry is called in sentences: "BCC map"."""
    list_usage: str
    """The command that lists the real keys, offered when a key names nothing: "bcc list"."""
    find: Callable[[MailcowClient, str], Sequence[Row]]
    facts: Callable[[Sequence[Row]], Facts]
    title: Callable[[Row], str]
    """How a summary names one entry: "#7 (mail to @example.org copied to archive@example.net)"."""

    def __post_init__(self) -> None:
        state_reader(self.area)(self.read)

    def read(self, client: MailcowClient, key: str) -> Facts:
        return self.facts(self.find(client, key))

    def existing(self, call: Call, key: str, named: str = "") -> list[Row]:
        """The entries `key` (or, in words, `named`) names now; none is the person's mistake,
        answered before anything runs."""
        rows = list(self.find(call.mailcow, key))
        if not rows:
            raise call.args.error(
                f"there is no {self.noun} {named or code(key)} on this mailcow; "
                f"{slash(call, self.list_usage)} lists them."
            )
        return rows

    def show(self, call: Call, key: str, named: str = "") -> Reply:
        """`AREA show KEY`: the entry's facts, or where the real keys are when `key` names nothing."""
        rows = self.find(call.mailcow, key)
        if not rows:
            return not_found(call, f"{self.noun} {named or code(key)}", self.list_usage)
        return record_reply(
            f"{_opening(self.noun)} {esc(self.title(rows[0]))}",
            [(esc(_opening(label)), esc(value)) for label, value in self.facts(rows).items()],
        )

    def plan(
        self,
        call: Call,
        key: str,
        summary: str,
        api_call: ApiCall,
        fill_at_run: Sequence[RuntimeSecret] = (),
    ) -> Plan:
        """A one-call plan on the entries `key` names, read back through this area's state reader."""
        return plan_on(call, self.area, key, summary, api_call, fill_at_run=fill_at_run)

    def delete(
        self, call: Call, key: str, build: Callable[[str], ApiCall], consequence: str = "", named: str = ""
    ) -> Plan:
        """The usual destructive "delete KEY from this list": the request names the entry as it is now."""
        [row, *_] = self.existing(call, key, named)
        summary = f"Delete {self.noun} {self.title(row)}{consequence}"
        return self.plan(call, key, summary, built(call, lambda: build(key)))


def _opening(words: str) -> str:
    """`words` as they open a headline or label: "BCC map" stays, "sender" becomes "Sender"
    (`str.capitalize` would lower the rest)."""
    return words[:1].upper() + words[1:]


def plan_on(
    call: Call,
    area: str,
    key: str,
    summary: str,
    *api_calls: ApiCall,
    fill_at_run: Sequence[RuntimeSecret] = (),
) -> Plan:
    """A plan on the target `area:key`, whose state the reader registered as `area` reads with `key`:
    shown in an approval request, checked again before the run, and read back after it."""
    return Plan.of(
        call,
        summary=summary,
        target=f"{area}:{key}",
        calls=api_calls,
        state=StateRef(reader=area, key=key),
        fill_at_run=fill_at_run,
    )


def keyed(
    rows: Callable[[MailcowClient], Sequence[Row]], keys: Callable[[Row], Iterable[object]]
) -> Callable[[MailcowClient, str], list[Row]]:
    """A `find` that reads the whole list and keeps the entries answering to the key (any case)."""

    def find(client: MailcowClient, key: str) -> list[Row]:
        wanted = key.lower()
        return [row for row in rows(client) if wanted in {str(k).lower() for k in keys(row)}]

    return find


def one(facts: Callable[[Row], Facts]) -> Callable[[Sequence[Row]], Facts]:
    """Facts of the single entry a key names; `{}` once it is gone (the read-back says so)."""
    return lambda rows: facts(rows[0]) if rows else {}


def each(label: Callable[[Row], str], value: Callable[[Row], str]) -> Callable[[Sequence[Row]], Facts]:
    """One fact per entry, for keys that name several (a host name's IPs, clients sharing a redirect URI)."""
    return lambda rows: {label(row): value(row) for row in rows}


def built(call: Call, build: Callable[[], ApiCall]) -> ApiCall:
    """The builder's call; what it refuses (already worded for a person) comes back as bad input."""
    try:
        return build()
    except ValueError as error:
        raise call.args.error(f"{error}.") from None


def numeric_id(call: Call, entries: Entries[Row], raw: str, hint: str = "") -> str:
    """A numeric database ID, checked before anything is sent (mailcow half-runs or aborts on others)."""
    if not raw.isdigit():
        raise call.args.error(
            f"`{raw}` is not a {entries.noun} ID; expected a number like `7` "
            f"({slash(call, entries.list_usage)} shows them).{hint}"
        )
    return str(int(raw))


def only_id(call: Call, entries: Entries[Row]) -> str:
    """The one argument of `AREA show|delete|… ID`: an entry's database id, checked."""
    raw = call.args.take(f"the {entries.noun}'s ID")
    call.args.done()
    return numeric_id(call, entries, raw)


def show_by_id(call: Call, entries: Entries[Row]) -> Reply:
    """`AREA show ID`, the same for every list keyed by a database id."""
    return entries.show(call, only_id(call, entries))


def delete_by_id(
    call: Call, entries: Entries[Row], build: Callable[[str], ApiCall], consequence: str = ""
) -> Plan:
    """`AREA delete ID`, the same for every list keyed by a database id."""
    return entries.delete(call, only_id(call, entries), build, consequence)


def run_for_requester(call: Call, plan: Plan, private: Callable[[Outcome], Reply]) -> None:
    """Run a non-destructive plan now; post its outcome, then show `private(outcome)` to the requester only.

    For writes whose result is a secret: it is shown once, ephemeral, to the person who asked, and
    never reaches the channel, the audit trail or a stored plan. An approval request could only hand
    it to whoever runs it later, so such a verb refuses to wait for one (CHATOPS_EXTRA_APPROVALS).
    """
    services = call.services
    if needs_approval(plan, services.settings):
        raise ChatopsError(
            f"`{plan.name}` is set to need an approval (CHATOPS_EXTRA_APPROVALS), but what it creates "
            "includes a secret that only the requester may see, when it runs. Nothing was requested: "
            "do it in mailcow's UI, or take it off that list."
        )
    try:
        outcome = run_now(services, plan, call.origin)
    except StoreUnavailable as error:
        raise database_refusal(error) from error
    deliver(services.slack, call.origin, outcome.reply(), command=services.settings.command)
    if outcome.ok:
        secret = replace(private(outcome), ephemeral=True)
        deliver(services.slack, call.origin, secret, command=services.settings.command)
