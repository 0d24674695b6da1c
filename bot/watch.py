"""On-call watches: thresholds on what mailcow reports, checked by one replica, one alert per incident.

A *kind* of watch says what to read from mailcow and which of its numbers have thresholds: the mail
queue (`commands/queue.py`) and fail2ban's active bans (`commands/ban.py`). Everything else is here
and the same for both:

- The configuration (channel, thresholds, who set it) and the open incident (since when, its alert
  message, the peak, a snooze) live in the `watches` table, never only in a process: any replica
  answers `watch status` or redraws the alert on a click, and a replica that takes over the polling
  carries on updating the same message.
- Exactly one replica polls. Each round starts by taking or renewing the `watch` lease; the other
  replicas skip their round. A holder that dies stops renewing, and the first replica whose round
  comes after the lease ran out (LEASE_ROUNDS intervals) takes over.
- One alert per incident. The first reading over a threshold opens an incident and posts one
  message; later readings update it in place (`chat.update`, which notifies nobody); the first
  reading under every threshold redraws it as recovered and posts a recovery line in its thread.
  A crossing after that is a new incident with a new message.
- A failed read is neither an incident nor a recovery: the alert says that the last check failed and
  keeps the last good numbers. (An empty queue that cannot be told from an unreadable one is a failed
  read; the queue kind checks postfix's container.)
- Snooze (1 h, a button on the alert) belongs to the watch: no updates and no new alert until it
  ends, and the message says so. A recovery is still announced: good news needs no snoozing.

Times come from the services' clock (`services.scheduler.clock`), so tests move time by hand.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, Field
from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block, ButtonElement

from bot import logs
from bot.approvals.blocks import when
from bot.approvals.state import new_runner_id
from bot.args import UsageError, integer
from bot.dispatch import produce
from bot.errors import ChatopsError
from bot.guard import interaction
from bot.mailcow import MailcowError
from bot.plans import database_refusal, require_store
from bot.render import (
    MAX_TEXT,
    actions,
    button,
    clip,
    code,
    context,
    duration,
    esc,
    fields,
    lines_to_sections,
    number,
    section,
)
from bot.reply import Reply, deliver, post_in_thread, send_ephemeral
from bot.roles import Role
from bot.services import Origin, Services
from bot.settings import CHANNEL_ID, Settings
from bot.store import Store, StoreUnavailable, watches

if TYPE_CHECKING:
    from commands import Call

log = logging.getLogger(__name__)
T = TypeVar("T")

JOB = "watch.poll"
LEASE = "watch"
LEASE_ROUNDS = 2.5
"""The lease outlives this many polling intervals: one missed renewal is not a takeover."""
SNOOZE_SECONDS = 3600
SNOOZE = "watch_snooze"
RESUME = "watch_resume"


# --- what a kind of watch is -----------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """One threshold: the option people type (`deferred=200`), its label, default and how values read."""

    key: str
    label: str
    default: Callable[[Settings], int]
    show: Callable[[float], str] = number
    unit: str = ""
    """What the typed number counts, when not obvious (`minutes`)."""


class Reading(BaseModel):
    """What one check found: the numbers thresholds apply to, and how the alert shows them.

    Stored with the watch, so any replica redraws the alert (on a Snooze click, say) without asking
    mailcow again. `facts` are (label, mrkdwn value) fields; `lines` mrkdwn lines under them.
    """

    numbers: dict[str, float]
    facts: list[tuple[str, str]] = Field(default_factory=list)
    lines: list[str] = Field(default_factory=list)


class Unreadable(Exception):
    """mailcow answered, but with nothing a check can trust (its queue is `[]` while postfix is down)."""


@dataclass(frozen=True)
class AlertButton:
    """A button on an open alert: runs `command` as the person who clicks, answering in the alert's thread."""

    label: str
    action_id: str
    command: str
    role: Role
    confirm: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Kind:
    name: str
    """The watch's key in the database (`queue`, `bans`)."""
    area: str
    """The command area whose `watch` verb configures it (`queue`, `ban`)."""
    title: str
    limits: tuple[Limit, ...]
    measure: Callable[[Services], Reading]
    """Reads mailcow fresh; raises MailcowError or Unreadable when it cannot tell."""
    buttons: tuple[AlertButton, ...] = ()

    def defaults(self, settings: Settings) -> dict[str, int]:
        return {limit.key: limit.default(settings) for limit in self.limits}

    def crossed(self, thresholds: Mapping[str, int], reading: Reading) -> list[tuple[Limit, float, int]]:
        """(limit, value, threshold) for every threshold the reading is at or over; 0 means off."""
        found = []
        for limit in self.limits:
            threshold = thresholds.get(limit.key, 0)
            value = reading.numbers.get(limit.key, 0.0)
            if threshold and value >= threshold:
                found.append((limit, value, threshold))
        return found

    def alerts_when(self, thresholds: Mapping[str, int]) -> str:
        """`deferred ≥ 200 or oldest ≥ 4 h`."""
        parts = [
            f"{limit.label} ≥ {limit.show(thresholds[limit.key])}"
            for limit in self.limits
            if thresholds.get(limit.key)
        ]
        return " or ".join(parts) or "never (every threshold is off)"

    def hint(self, settings: Settings, verb: str) -> str:
        """`/mailcow queue watch status`, ready to copy."""
        return code(f"{settings.command} {self.area} watch {verb}".strip())


KINDS: dict[str, Kind] = {}


def watch_kind(kind: Kind) -> Kind:
    """Register a kind (at import of its command module), so the poller and the buttons know it."""
    if KINDS.setdefault(kind.name, kind) is not kind:
        raise ValueError(f"a watch named {kind.name} is already registered")
    return kind


# --- the watches table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watch:
    """One row of the watches table: configuration, the last check and the open incident, if any."""

    name: str
    enabled: bool
    channel_id: str
    thresholds: dict[str, int]
    set_by: str
    set_at: float
    checked_at: float | None
    check_error: str | None
    reading: Reading | None
    incident_started_at: float | None
    incident_channel: str | None
    incident_ts: str | None
    peak: dict[str, float]
    snoozed_until: float | None
    snoozed_by: str | None
    updated_at: float

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> Watch:
        values = dict(row._mapping)
        values["enabled"] = bool(values["enabled"])
        values["thresholds"] = json.loads(values["thresholds"])
        values["reading"] = Reading.model_validate_json(values["reading"]) if values["reading"] else None
        values["peak"] = json.loads(values["peak"]) if values["peak"] else {}
        return cls(**values)

    @property
    def incident_open(self) -> bool:
        return self.incident_started_at is not None

    def snoozed(self, now: float) -> bool:
        return self.snoozed_until is not None and now < self.snoozed_until


_NO_INCIDENT: dict[str, Any] = {
    "incident_started_at": None,
    "incident_channel": None,
    "incident_ts": None,
    "peak": None,
}


class WatchStore:
    """The watches table. Each change is one transaction that takes turns per watch, so a Snooze click
    on one replica and the poll on another never overwrite each other's columns."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> Watch | None:
        with self.store.read() as conn:
            row = conn.execute(sa.select(watches).where(watches.c.name == name)).first()
        return None if row is None else Watch.from_row(row)

    def enabled(self) -> list[Watch]:
        query = sa.select(watches).where(watches.c.enabled.is_(True)).order_by(watches.c.name)
        with self.store.read() as conn:
            return [Watch.from_row(row) for row in conn.execute(query)]

    def configure(
        self, name: str, channel: str, thresholds: Mapping[str, int], by: str
    ) -> tuple[Watch, Watch | None]:
        """Turn the watch on or change it; also returns the incident it leaves behind when the channel
        moves (its alert stays where it was, so the caller closes it there)."""
        now = self.store.now()
        settings = {
            "enabled": True,
            "channel_id": channel,
            "thresholds": json.dumps(dict(thresholds), sort_keys=True),
            "set_by": by,
            "set_at": now,
            "updated_at": now,
        }
        with self.store.write() as conn:
            before = self._locked(conn, name)
            left = before if before and before.incident_ts and before.incident_channel != channel else None
            if before is None:
                conn.execute(sa.insert(watches).values(name=name, **settings))
            else:
                conn.execute(
                    sa.update(watches)
                    .where(watches.c.name == name)
                    .values(**settings, **(_NO_INCIDENT if left else {}))
                )
            after = Watch.from_row(conn.execute(sa.select(watches).where(watches.c.name == name)).one())
        return after, left

    def turn_off(self, name: str, by: str) -> Watch | None:
        """Stop the watch; returns it as it was (with its incident), or None when it was not on."""
        now = self.store.now()
        with self.store.write() as conn:
            before = self._locked(conn, name)
            if before is None or not before.enabled:
                return None
            conn.execute(
                sa.update(watches)
                .where(watches.c.name == name)
                .values(
                    enabled=False,
                    set_by=by,
                    set_at=now,
                    snoozed_until=None,
                    snoozed_by=None,
                    updated_at=now,
                    **_NO_INCIDENT,
                )
            )
        return before

    def record_check(self, name: str, reading: Reading | None, error: str | None) -> Watch | None:
        """Store a check's outcome (a failed one keeps the last good reading) and raise the peak."""
        now = self.store.now()
        with self.store.write() as conn:
            before = self._locked(conn, name)
            if before is None or not before.enabled:
                return None
            values: dict[str, Any] = {"checked_at": now, "check_error": error, "updated_at": now}
            if reading is not None:
                values["reading"] = reading.model_dump_json()
                if before.incident_open:
                    values["peak"] = json.dumps(_peak(before.peak, reading.numbers), sort_keys=True)
            conn.execute(sa.update(watches).where(watches.c.name == name).values(**values))
            return self._locked(conn, name)

    def open_incident(self, name: str) -> Watch | None:
        """Start an incident in the watch's channel; None if one is open already or it was turned off."""
        now = self.store.now()
        with self.store.write() as conn:
            before = self._locked(conn, name)
            if before is None or not before.enabled or before.incident_open:
                return None
            numbers = before.reading.numbers if before.reading else {}
            conn.execute(
                sa.update(watches)
                .where(watches.c.name == name)
                .values(
                    incident_started_at=now,
                    incident_channel=before.channel_id,
                    incident_ts=None,
                    peak=json.dumps(numbers, sort_keys=True),
                    updated_at=now,
                )
            )
            return self._locked(conn, name)

    def set_alert(self, name: str, started_at: float, ts: str) -> bool:
        """Remember the alert message of the incident that started at `started_at` (once)."""
        with self.store.write() as conn:
            done = conn.execute(
                sa.update(watches)
                .where(
                    watches.c.name == name,
                    watches.c.incident_started_at == started_at,
                    watches.c.incident_ts.is_(None),
                )
                .values(incident_ts=ts, updated_at=self.store.now())
            )
        return done.rowcount == 1

    def close_incident(self, name: str) -> Watch | None:
        """End the open incident; returns the watch as it was (its alert and peak), None if none was open."""
        with self.store.write() as conn:
            before = self._locked(conn, name)
            if before is None or not before.incident_open:
                return None
            conn.execute(
                sa.update(watches)
                .where(watches.c.name == name)
                .values(updated_at=self.store.now(), **_NO_INCIDENT)
            )
        return before

    def snooze(self, name: str, until: float | None, by: str | None) -> Watch | None:
        """Snooze until `until` (None resumes); None when the watch is not on."""
        with self.store.write() as conn:
            before = self._locked(conn, name)
            if before is None or not before.enabled:
                return None
            conn.execute(
                sa.update(watches)
                .where(watches.c.name == name)
                .values(snoozed_until=until, snoozed_by=by, updated_at=self.store.now())
            )
            return self._locked(conn, name)

    def _locked(self, conn: sa.Connection, name: str) -> Watch | None:
        self.store.serialise(conn, f"watch:{name}")
        row = conn.execute(sa.select(watches).where(watches.c.name == name)).first()
        return None if row is None else Watch.from_row(row)


def _peak(peak: Mapping[str, float], numbers: Mapping[str, float]) -> dict[str, float]:
    return {key: max(value, peak.get(key, value)) for key, value in numbers.items()}


# --- polling ------------------------------------------------------------------------------------------


def lease_ttl(settings: Settings) -> float:
    return settings.watch_interval * LEASE_ROUNDS


def poll(services: Services, holder: str) -> bool:
    """One round: when this replica holds the lease, check every watch that is on. True if it did."""
    store = services.store
    if store is None or not store.acquire_lease(LEASE, holder, lease_ttl(services.settings)):
        return False
    for watch in WatchStore(store).enabled():
        kind = KINDS.get(watch.name)
        if kind is None:
            continue
        try:
            check(services, kind)
        except (StoreUnavailable, SlackApiError) as error:
            log.warning("watch %s: this round failed: %s", kind.name, error)
        except Exception:
            log.exception("watch %s: this round failed", kind.name)
    return True


def check(services: Services, kind: Kind) -> None:
    """Read mailcow once and move the watch's incident: open, update, recover, or nothing."""
    watches_ = WatchStore(require_store(services))
    try:
        reading: Reading | None = kind.measure(services)
        error = None
    except MailcowError as failure:
        reading, error = None, failure.user_message
    except Unreadable as failure:
        reading, error = None, str(failure)
    watch = watches_.record_check(kind.name, reading, error)
    if watch is None:
        return
    now = services.scheduler.clock()
    if reading is not None and not kind.crossed(watch.thresholds, reading):
        if watch.incident_open:
            recover(services, kind, watches_.close_incident(kind.name))
        return
    if reading is not None and not watch.incident_open:
        watch = watches_.open_incident(kind.name) or watch
        record(services, kind, "incident", f"{kind.title} over threshold: {crossing(kind, watch)}")
    if not watch.incident_open or watch.snoozed(now):
        return
    if watch.incident_ts is None:
        post_alert(services, kind, watch, watches_)
    else:
        show(services, kind, watch)


def post_alert(services: Services, kind: Kind, watch: Watch, watches_: WatchStore) -> None:
    if watch.incident_channel is None or watch.incident_started_at is None:
        return
    try:
        posted = services.slack.chat_postMessage(
            channel=watch.incident_channel,
            text=clip(headline(kind, watch, plain=True), MAX_TEXT),
            blocks=alert_blocks(services, kind, watch),
            unfurl_links=False,
            unfurl_media=False,
        )
    except SlackApiError as error:
        # Not stored: the next round tries again, so a bot not yet invited still alerts once invited.
        log.warning("watch %s: could not post the alert: %s", kind.name, error.response.get("error"))
        return
    watches_.set_alert(kind.name, watch.incident_started_at, str(posted["ts"]))


def show(services: Services, kind: Kind, watch: Watch, ended: str | None = None) -> None:
    """Redraw the watch's alert message: the open alert, or, given `ended` (its first line), the alert
    as it ended, with its last numbers and no buttons."""
    if watch.incident_ts is None or watch.incident_channel is None:
        return
    try:
        services.slack.chat_update(
            channel=watch.incident_channel,
            ts=watch.incident_ts,
            text=clip(ended or headline(kind, watch, plain=True), MAX_TEXT),
            blocks=ended_blocks(services, kind, watch, ended)
            if ended
            else alert_blocks(services, kind, watch),
        )
    except SlackApiError as error:
        log.warning("watch %s: could not update its alert: %s", kind.name, error.response.get("error"))


def recover(services: Services, kind: Kind, closed: Watch | None) -> None:
    """The incident is over: redraw its alert as recovered, and say so in its thread."""
    if closed is None:
        return
    now = services.scheduler.clock()
    lasted = duration(now - (closed.incident_started_at or now))
    record(services, kind, "recovered", f"{kind.title} under every threshold again after {lasted}")
    if closed.incident_ts is None or closed.incident_channel is None:
        return  # snoozed from the start: nothing was posted, so there is nothing to close
    show(
        services,
        kind,
        closed,
        f":white_check_mark: *{kind.title} recovered* {when(now)}: under every threshold again "
        f"after {lasted}.",
    )
    facts = closed.reading.facts if closed.reading else []
    numbers = " · ".join(f"{label.lower()} {value}" for label, value in facts[:4])
    post_in_thread(
        services.slack,
        closed.incident_channel,
        closed.incident_ts,
        [
            section(
                f":white_check_mark: *Recovered* {when(now)} after {lasted}"
                f"{f': {numbers}' if numbers else ''}. Peak: {peak_text(kind, closed)}."
            )
        ],
        f"{kind.title} recovered",
    )


def close(services: Services, kind: Kind, left: Watch | None, why: str) -> None:
    """Close an alert the watch no longer updates (turned off, moved), so it does not look live."""
    if left is not None:
        show(services, kind, left, f":white_circle: *{kind.title} alert closed*: {why}.")


def record(services: Services, kind: Kind, outcome: str, detail: str) -> None:
    store = services.store
    if store is None:
        return
    try:
        store.record("watch", area=kind.area, verb="watch", target=kind.name, outcome=outcome, detail=detail)
    except StoreUnavailable as error:
        log.warning("watch %s: %s is not in the audit trail: %s", kind.name, outcome, error)


# --- the alert message -------------------------------------------------------------------------------


def crossing(kind: Kind, watch: Watch, *, bold: str = "") -> str:
    """What crossed which threshold at the last good reading: `deferred 812 (threshold 200) · …`."""
    reading = watch.reading
    crossed = kind.crossed(watch.thresholds, reading) if reading else []
    return " · ".join(
        f"{limit.label} {bold}{limit.show(value)}{bold} (threshold {limit.show(threshold)})"
        for limit, value, threshold in crossed
    )


def headline(kind: Kind, watch: Watch, *, plain: bool = False) -> str:
    """The first line of the alert (`plain`: its notification text, without mrkdwn)."""
    bold = "" if plain else "*"
    what = crossing(kind, watch, bold=bold)
    return f":rotating_light: {bold}{kind.title} over threshold{bold}{': ' + what if what else ''}"


def peak_text(kind: Kind, watch: Watch) -> str:
    shown = [
        f"{limit.label} {limit.show(watch.peak[limit.key])}"
        for limit in kind.limits
        if watch.thresholds.get(limit.key) and limit.key in watch.peak
    ]
    return ", ".join(shown) or "—"


def _numbers(watch: Watch) -> list[Block]:
    if watch.reading is None:
        return []
    return [*fields(watch.reading.facts), *lines_to_sections(watch.reading.lines)]


def alert_blocks(services: Services, kind: Kind, watch: Watch) -> list[Block]:
    """The open alert: what crossed, the numbers now, since when, last checked, snooze, buttons."""
    settings = services.settings
    now = services.scheduler.clock()
    blocks: list[Block] = [section(headline(kind, watch)), *_numbers(watch)]
    if watch.check_error and watch.checked_at:
        blocks.append(
            section(
                f":warning: The last check, {when(watch.checked_at)}, failed: {esc(watch.check_error)}. "
                "The numbers above are from the last check that worked."
            )
        )
    snoozed = watch.snoozed(now)
    if snoozed and watch.snoozed_until is not None:
        blocks.append(
            section(
                f":zzz: *Snoozed* by <@{watch.snoozed_by}> until {when(watch.snoozed_until)}: this message "
                "is not updated and no new alert is posted until then. A recovery is still announced."
            )
        )
    since = watch.incident_started_at or now
    blocks.append(
        context(
            f"Since {when(since)} ({duration(now - since)}) · last checked {when(watch.checked_at or now)}"
            f" · peak {peak_text(kind, watch)}",
            f"Alerts when {kind.alerts_when(watch.thresholds)}; checked every "
            f"{duration(settings.watch_interval)} · {kind.hint(settings, 'status')}",
        )
    )
    snooze = (
        button("Resume alerts", RESUME, kind.name) if snoozed else button("Snooze 1 h", SNOOZE, kind.name)
    )
    blocks.append(actions(*(_button(b, kind) for b in kind.buttons), snooze))
    return blocks


def _button(spec: AlertButton, kind: Kind) -> ButtonElement:
    return button(spec.label, spec.action_id, kind.name, confirm=spec.confirm)


def ended_blocks(services: Services, kind: Kind, watch: Watch, first_line: str) -> list[Block]:
    """An alert that is over (recovered, or closed with its watch): the last numbers, no buttons."""
    now = services.scheduler.clock()
    since = watch.incident_started_at or now
    return [
        section(f"{first_line} This message is no longer updated."),
        *_numbers(watch),
        context(
            f"Incident from {when(since)} for {duration(now - since)} · peak {peak_text(kind, watch)}",
            f"Alerted when {kind.alerts_when(watch.thresholds)}",
        ),
    ]


# --- the `watch` verb of an area ------------------------------------------------------------------


def configure_command(call: Call, kind: Kind) -> Reply:
    """`AREA watch [#channel] [limit=N …] | off | status`, the same grammar for every kind."""
    first = call.args.take_optional()
    word = (first or "").lower()
    if word == "status":
        call.args.done()
        return status_reply(call, kind)
    _require_operator(call, kind)
    if word == "off":
        call.args.done()
        return turn_off(call, kind)
    watches_ = _watches(call)
    current = watches_.get(kind.name)
    on = current if current is not None and current.enabled else None
    channel = (
        _channel(call, first) if first is not None else (on.channel_id if on else call.origin.channel_id)
    )
    thresholds = dict(on.thresholds) if on else kind.defaults(call.services.settings)
    for limit in kind.limits:
        raw = call.args.option(limit.key)
        if raw is not None:
            thresholds[limit.key] = _threshold(call, limit, raw)
    call.args.done()
    if not any(thresholds.values()):
        raise call.args.error(f"every threshold is off; give at least one, e.g. `{kind.limits[0].key}=100`.")
    watch, left = _guarded(lambda: watches_.configure(kind.name, channel, thresholds, call.origin.user_id))
    close(call.services, kind, left, f"<@{call.origin.user_id}> moved the watch to <#{channel}>")
    settings = call.services.settings
    verb = "changed" if on else "on"
    return Reply(
        headline=f"{kind.title} watch {verb} in <#{watch.channel_id}>: "
        f"alerts when {kind.alerts_when(watch.thresholds)}",
        blocks=[
            context(
                f"One replica checks every {duration(settings.watch_interval)}; an incident gets one "
                "message, updated until it recovers.",
                f"{kind.hint(settings, 'status')} · {kind.hint(settings, 'off')}",
            )
        ],
        status="ok",
    )


def _threshold(call: Call, limit: Limit, raw: str) -> int:
    """`deferred=300`; `off` or 0 turns that threshold off."""
    if raw.lower() == "off":
        return 0
    unit = f" ({limit.unit})" if limit.unit else ""
    try:
        return integer(raw, f"`{limit.key}=`{unit}", minimum=0)
    except UsageError as error:
        raise call.args.error(error.message) from None


def turn_off(call: Call, kind: Kind) -> Reply:
    before = _guarded(lambda: _watches(call).turn_off(kind.name, call.origin.user_id))
    if before is None:
        return Reply(headline=f"The {kind.title} watch is already off.", ephemeral=True, status="warn")
    close(call.services, kind, before, f"<@{call.origin.user_id}> turned the watch off")
    return Reply(
        headline=f"{kind.title} watch *off* (it alerted in <#{before.channel_id}> when "
        f"{kind.alerts_when(before.thresholds)}).",
        status="ok",
    )


def status_reply(call: Call, kind: Kind) -> Reply:
    """Thresholds, channel, who set it, the last check, the incident, a snooze, and which replica polls."""
    store = require_store(call.services)
    watch = _guarded(lambda: WatchStore(store).get(kind.name))
    settings = call.services.settings
    if watch is None or not watch.enabled:
        last = f" (turned off by <@{watch.set_by}> {when(watch.set_at)})" if watch else ""
        return Reply(
            headline=f"{kind.title} watch: *off*{last}. {kind.hint(settings, '[#channel]')} turns it on.",
        )
    now = call.services.scheduler.clock()
    state = "all under the thresholds"
    if watch.incident_open:
        state = f"*incident open* since {when(watch.incident_started_at or now)}"
    pairs: list[tuple[str, object]] = [
        ("Channel", f"<#{watch.channel_id}>"),
        ("Alerts when", kind.alerts_when(watch.thresholds)),
        ("Set by", f"<@{watch.set_by}> {when(watch.set_at)}"),
        ("Last check", _last_check(watch)),
    ]
    if watch.incident_open:
        pairs.append(("Incident", f"{_alert_link(call.services, watch)} · peak {peak_text(kind, watch)}"))
    if watch.snoozed(now) and watch.snoozed_until:
        pairs.append(("Snoozed", f"until {when(watch.snoozed_until)} by <@{watch.snoozed_by}>"))
    holder = _guarded(lambda: store.lease_holder(LEASE))
    blocks = fields(pairs)
    if watch.reading:
        blocks += [section("*At the last check*"), *_numbers(watch)]
    blocks.append(
        context(
            f"Checked every {duration(settings.watch_interval)} by "
            f"{code(holder) if holder else 'the next replica to take the lease'}."
        )
    )
    return Reply(headline=f"{kind.title} watch: *on* in <#{watch.channel_id}> · {state}", blocks=blocks)


def _last_check(watch: Watch) -> str:
    if watch.checked_at is None:
        return "not yet"
    if watch.check_error:
        return f"{when(watch.checked_at)}: *failed*: {esc(watch.check_error)}"
    return when(watch.checked_at)


def _alert_link(services: Services, watch: Watch) -> str:
    if watch.incident_ts is None or watch.incident_channel is None:
        return "not posted (snoozed, or the bot cannot post in the channel)"
    return permalink(services, watch.incident_channel, watch.incident_ts, "the alert")


def permalink(services: Services, channel: str, ts: str, label: str) -> str:
    """A link to a message, or the channel when Slack will not give one."""
    try:
        url = services.slack.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
    except SlackApiError:
        return f"{label} in <#{channel}>"
    return f"<{url}|{label}>"


def _require_operator(call: Call, kind: Kind) -> None:
    if Role.OPERATOR not in call.roles:
        raise ChatopsError(
            f"Turning the {kind.title} watch on, off or changing it needs {Role.OPERATOR.noun}, and you "
            f"are not one. {kind.hint(call.services.settings, 'status')} shows it."
        )


def _channel(call: Call, raw: str) -> str:
    channel = raw.lstrip("#")
    if not CHANNEL_ID.match(channel):
        raise call.args.error(
            f"`{raw}` is not a channel I can tell; pick it from Slack's list as you type `#` "
            "(it arrives as a link), or give its ID (`C…`)."
        )
    allowed = call.services.settings.allowed_channels
    if channel not in allowed:
        raise call.args.error(
            f"<#{channel}> is not an allowed channel, so nobody could act on alerts there; use one of "
            + ", ".join(f"<#{c}>" for c in allowed)
            + "."
        )
    return channel


def _watches(call: Call) -> WatchStore:
    return WatchStore(require_store(call.services))


def _guarded(work: Callable[[], T]) -> T:
    try:
        return work()
    except StoreUnavailable as error:
        raise database_refusal(error) from error


# --- buttons and the scheduled job --------------------------------------------------------------


def answer_click(
    services: Services, body: dict[str, Any], context_: dict[str, Any], command_text: str, *, read_only: bool
) -> None:
    """Run `command_text` as the person who clicked, answering in the clicked message's thread.

    A read command answers there. A change request posts its approval request in the channel, as the
    typed command does, and the thread gets a line with the request's id and a link, so the alert (or
    the investigation) shows what was asked and by whom. Refusals go only to the clicker.
    """
    correlation = context_.get("correlation_id", "-")
    logs.correlation_id.set(correlation)
    message = body.get("message") or {}
    thread_ts = str(message.get("thread_ts") or body["container"]["message_ts"])
    origin = Origin(
        channel_id=body["channel"]["id"],
        user_id=body["user"]["id"],
        command_text=command_text,
        correlation_id=correlation,
        response_url=body.get("response_url"),
        thread_ts=thread_ts,
    )
    asked_at = services.scheduler.clock()
    reply = produce(services, origin, context_["roles"], read_only=read_only)
    if reply is not None:
        deliver(services.slack, origin, reply, command=services.settings.command)
        return
    _announce_request(services, origin, thread_ts, asked_at)


def _announce_request(services: Services, origin: Origin, thread_ts: str, asked_at: float) -> None:
    """Name, in the thread, the approval request this click just posted."""
    if services.approvals is None:
        return
    mine = [
        (approval, approval.message_ts)
        for approval in services.approvals.list_pending()
        if approval.requested_by == origin.user_id and approval.created_at >= asked_at and approval.message_ts
    ]
    if not mine:
        return
    approval, ts = max(mine, key=lambda pair: pair[0].created_at)
    link = permalink(services, approval.channel_id, ts, "the request")
    post_in_thread(
        services.slack,
        origin.channel_id,
        thread_ts,
        [
            section(
                f":lock: <@{origin.user_id}> asked for approval: {esc(approval.summary)}. "
                f"Request {code(approval.id)} waits for an approver: {link}."
            )
        ],
        f"Approval requested: {approval.summary}",
    )


def register(app: App, services: Services) -> None:
    """The polling job and the alert buttons, once per app (each kind's module calls this)."""
    if JOB in services.scheduler.jobs:
        return
    holder = new_runner_id()
    services.scheduler.every(services.settings.watch_interval, JOB, lambda: poll(services, holder))

    def acknowledge(ack: Ack) -> None:
        ack()

    def snooze(body: dict[str, Any], context: dict[str, Any]) -> None:
        _snooze_click(services, body, context, resume=False)

    def resume(body: dict[str, Any], context: dict[str, Any]) -> None:
        _snooze_click(services, body, context, resume=True)

    interaction(SNOOZE, Role.OPERATOR)
    interaction(RESUME, Role.OPERATOR)
    app.action(SNOOZE)(ack=acknowledge, lazy=[snooze])
    app.action(RESUME)(ack=acknowledge, lazy=[resume])
    for kind in KINDS.values():
        for spec in kind.buttons:
            interaction(spec.action_id, spec.role)
            app.action(spec.action_id)(ack=acknowledge, lazy=[_runs(services, spec)])


def _runs(services: Services, spec: AlertButton) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def run(body: dict[str, Any], context: dict[str, Any]) -> None:
        answer_click(services, body, context, spec.command, read_only=spec.role == Role.VIEWER)

    return run


def _snooze_click(
    services: Services, body: dict[str, Any], context_: dict[str, Any], *, resume: bool
) -> None:
    logs.correlation_id.set(context_.get("correlation_id", "-"))
    user = body["user"]["id"]
    channel = body["channel"]["id"]
    origin = Origin(channel_id=channel, user_id=user, response_url=body.get("response_url"))
    kind = KINDS.get(str(body["actions"][0]["value"]))
    if kind is None:
        send_ephemeral(
            services.slack, origin, "This alert belongs to a watch this version does not know.", []
        )
        return
    until = None if resume else services.scheduler.clock() + SNOOZE_SECONDS
    try:
        watch = WatchStore(require_store(services)).snooze(kind.name, until, None if resume else user)
    except (StoreUnavailable, ChatopsError) as error:
        refusal = database_refusal(error) if isinstance(error, StoreUnavailable) else error
        send_ephemeral(services.slack, origin, f":no_entry: {refusal.message}", [])
        return
    if watch is None:
        send_ephemeral(
            services.slack, origin, f"The {kind.title} watch is off; there is nothing to snooze.", []
        )
        return
    show(services, kind, watch)
    note = (
        f":bell: <@{user}> resumed alerts."
        if until is None
        else f":zzz: <@{user}> snoozed this alert until {when(until)}."
    )
    post_in_thread(services.slack, channel, body["container"]["message_ts"], [section(note)], note)
