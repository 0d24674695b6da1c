"""`/mailcow status`: is everything up? The version, every container, and the mail storage.

Container states come from mailcow's dockerapi container. When dockerapi is down mailcow answers
`null` (SERVER-FACTS §4.19), and the mail storage figures come back as zeros; both are said in
words instead of being shown as "no containers" or "0% used".
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from slack_sdk.models.blocks import Block

from bot.mailcow import ContainerStatus, VmailStatus
from bot.render import code, context, duration, esc, fields, lines_to_sections, number, utc
from bot.reply import Reply
from commands import Call, command, describe_area

describe_area("status", "mailcow's version, its containers and the mail storage")


def started_at(value: str) -> float | None:
    """Docker's `StartedAt` (`2026-08-01T03:12:09.270660275Z`) as unix time; None for "never"."""
    try:
        started = datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return started.timestamp() if started.year > 1970 else None


def _container_line(container: ContainerStatus, now: float) -> str:
    started = started_at(container.started_at)
    if container.running:
        uptime = f" · up {duration(now - started)}, since {utc(started)}" if started else ""
        return f":large_green_circle: {code(container.name)} running{uptime}"
    last = f" · last started {utc(started)}" if started else ""
    return f":red_circle: {code(container.name)} *{esc(container.state or 'unknown state')}*{last}"


def _storage(vmail: VmailStatus | None) -> str | None:
    """`11G of 41G (28%) on /dev/sda1`; None when dovecot could not be asked (mailcow sends zeros)."""
    if vmail is None or vmail.total in ("", "0"):
        return None
    disk = f" on {code(vmail.disk)}" if vmail.disk else ""
    return f"{esc(vmail.used)} of {esc(vmail.total)} used ({esc(vmail.used_percent)}){disk}"


@command(
    "status",
    "show",
    usage="status",
    summary="mailcow's version, every container's state and since when, mail storage used",
    example="status",
    default=True,
)
def show_status(call: Call) -> Reply:
    call.args.done()
    version = call.mailcow.status_version() or "unknown"
    containers = call.mailcow.status_containers()
    vmail = call.mailcow.status_vmail()
    storage = _storage(vmail)
    now = time.time()
    storage_text = storage or "unknown: dovecot could not be asked"
    pairs: list[tuple[str, object]] = [("Version", code(version)), ("Mail storage", storage_text)]
    blocks: list[Block] = []
    if not containers:
        headline = f"mailcow {code(version)}: container states *unknown* — dockerapi did not answer"
        pairs.append(("Containers", "unknown"))
        blocks.extend(fields(pairs))
        blocks.append(
            context(
                "mailcow asks its dockerapi container for container states, and got no answer. "
                "The mail queue, this status and mailbox deletes need dockerapi: check "
                "`docker compose ps` on the mailcow host."
            )
        )
        return Reply(headline=headline, blocks=blocks, status="warn")
    down = sorted((c for c in containers.values() if not c.running), key=lambda c: c.name)
    up = sorted((c for c in containers.values() if c.running), key=lambda c: c.name)
    if down:
        names = ", ".join(f"{code(c.name)} {esc(c.state or '?')}" for c in down)
        summary = f"*{number(len(down))} of {number(len(containers))} containers not running*: {names}"
    else:
        summary = f"all {number(len(containers))} containers running"
    headline = f"mailcow {code(version)}: {summary}"
    if storage and vmail is not None:
        headline += f" · mail storage {esc(vmail.used_percent)} used"
    pairs.append(("Containers", f"{number(len(up))} running, {number(len(down))} not"))
    blocks.extend(fields(pairs))
    blocks.extend(lines_to_sections(_container_line(c, now) for c in (*down, *up)))
    blocks.append(context("Times in UTC. Docker's last start time is shown for stopped containers."))
    return Reply(headline=headline, blocks=blocks, status="warn" if down or not storage else "info")
