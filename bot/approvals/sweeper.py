"""Background sweeps over approval requests: expiries and runs whose process died.

Both are stored times compared with the clock, not timers in a process, so they fire also when the
process that posted the request has restarted or is gone; every replica may sweep, and the database
hands each expiry or interruption to exactly one of them, which redraws the request's message.
"""

from __future__ import annotations

from bot.approvals.listeners import redraw
from bot.approvals.state import Approval
from bot.plans import STALE_AFTER
from bot.scheduler import Scheduler
from bot.services import Services

EXPIRE_EVERY = 5.0
INTERRUPTED_EVERY = 15.0


def schedule(scheduler: Scheduler, services: Services) -> None:
    scheduler.every(EXPIRE_EVERY, "approvals.expire", lambda: expire(services))
    scheduler.every(INTERRUPTED_EVERY, "approvals.interrupted", lambda: mark_interrupted(services))


def expire(services: Services) -> list[Approval]:
    """Close every pending request past its expiry and show it as expired."""
    if services.approvals is None:
        return []
    expired = services.approvals.expire_due()
    for approval in expired:
        redraw(services, approval)
    return expired


def mark_interrupted(services: Services) -> list[Approval]:
    """Close approved or running requests whose runner stopped heartbeating, and say so."""
    if services.approvals is None:
        return []
    interrupted = services.approvals.mark_interrupted(STALE_AFTER)
    for approval in interrupted:
        redraw(services, approval)
    return interrupted
