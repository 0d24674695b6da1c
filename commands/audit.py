"""`/mailcow audit …`: who did what, from the audit trail in the bot's database.

The trail holds every command, refusal, approval request and decision, expiry and execution: Slack
user and channel ids, the target, the outcome, mailcow's answer with secrets redacted, and timings.

Who may read it: anyone in an allowed channel (the viewer role). Those channels are where the
commands ran and the requests were posted, so the trail shows little they could not see already,
and an accountability record works best when the people it records can read it. As a read command
its pages also turn with Prev/Next. Users appear as ids, not mentions, so a listing pings nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.args import integer
from bot.errors import ChatopsError
from bot.render import Listing, clip, code, esc
from bot.reply import Reply
from bot.store import AuditEntry, StoreUnavailable, audit_csv
from commands import Call, command, describe_area

describe_area("audit", "who did what: every command, refusal, approval and change")

SHOWN = 20
MAX_SHOWN = 1000
EXPORTED = 10_000
MAX_EXPORTED = 100_000


@dataclass(frozen=True)
class Wanted:
    limit: int
    user: str | None
    target: str | None

    def describe(self) -> str:
        parts = [f"user {self.user}" if self.user else "", f"target ~ {self.target}" if self.target else ""]
        return " and ".join(p for p in parts if p)


def parse(call: Call, *, default: int, maximum: int) -> Wanted:
    count = call.args.take_optional()
    user = call.args.option("user")
    target = call.args.option("target")
    call.args.done()
    return Wanted(
        limit=integer(count, "N", minimum=1, maximum=maximum) if count else default,
        user=user.lstrip("@").upper() if user else None,
        target=target or None,
    )


def read(call: Call, wanted: Wanted) -> list[AuditEntry]:
    store = call.services.store
    try:
        if store is None:
            raise StoreUnavailable("no database is configured")
        return store.audit_entries(wanted.limit, user_id=wanted.user, target=wanted.target)
    except StoreUnavailable:
        raise ChatopsError(
            "The audit trail lives in the bot's database, which is unavailable right now."
        ) from None


def utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def entry_line(entry: AuditEntry) -> str:
    what = f"{entry.area}.{entry.verb}" if entry.area else ""
    took = f" · {entry.duration_ms} ms" if entry.duration_ms is not None else ""
    head = " · ".join(
        part
        for part in (
            f"{code(utc(entry.at))} *{esc(entry.event)}*",
            f"{code(entry.user_id or 'the bot')} in {code(entry.channel_id or '-')}",
            what,
            code(entry.target) if entry.target else "",
            f"{esc(entry.outcome)}{took}",
        )
        if part
    )
    detail = f"\n      {esc(clip(entry.detail, 300))}" if entry.detail else ""
    return head + detail


@command(
    "audit",
    "show",
    usage="audit [N] [user=@someone] [target=TEXT]",
    summary=f"the newest N entries of the audit trail (default {SHOWN}), for one user or target if given",
    example="audit 50 target=queue",
    default=True,
    accepts=lambda word: word.isdigit() or "=" in word,
)
def show_audit(call: Call) -> Reply:
    wanted = parse(call, default=SHOWN, maximum=MAX_SHOWN)
    entries = read(call, wanted)
    scope = f" for {wanted.describe()}" if wanted.describe() else ""
    noun = "entry" if len(entries) == 1 else "entries"
    return Reply(
        headline=f"Audit trail: the newest {len(entries)} {noun}{esc(scope)}",
        listing=Listing(
            title="Newest first",
            rows=entries,
            line=entry_line,
            per_page=20,
            empty="No entries match.",
            note=f"`{call.services.settings.command} audit export` attaches them as CSV",
        ),
    )


@command(
    "audit",
    "export",
    usage="audit export [N] [user=@someone] [target=TEXT]",
    summary=f"the audit trail as a CSV file in this channel (the newest {EXPORTED:,} entries by default)",
    example="audit export user=U0123ABCD",
)
def export_audit(call: Call) -> None:
    wanted = parse(call, default=EXPORTED, maximum=MAX_EXPORTED)
    entries = read(call, wanted)
    scope = f" for {wanted.describe()}" if wanted.describe() else ""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%MZ")
    call.services.slack.files_upload_v2(
        channel=call.origin.channel_id,
        content="".join(audit_csv(entries)),
        filename=f"mailcow-audit-{stamp}.csv",
        title="mailcow-chatops audit trail",
        initial_comment=f"<@{call.origin.user_id}> exported {len(entries):,} audit entries{esc(scope)}.",
    )
