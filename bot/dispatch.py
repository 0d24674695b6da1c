"""From command text to a `Reply`: resolve, check the role again, parse, run, translate errors.

Shared by the slash command, the Prev/Next buttons and the local console, so all three behave the
same. The guard already checked the role on the ack path from the first words; this checks it again
on the fully parsed command (defence in depth: deny by default even if the two parses disagree).

A handler returns a `Reply`, None (it answered by itself), or a `Plan`, which `submit` sends to an
approval request or straight to the executor. Every command ends up in the audit trail, recorded in
the background: a database that is slow or down must not delay or fail a read.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.approvals.listeners import request_approval
from bot.args import Args, UsageError
from bot.errors import ChatopsError, error_reply, log_error
from bot.guard import redact_options
from bot.metrics import COMMANDS
from bot.plans import Plan, database_refusal, needs_approval, run_now
from bot.reply import Reply
from bot.roles import Role
from bot.services import Origin, Services
from bot.store import StoreUnavailable
from commands import REGISTRY, Call

log = logging.getLogger(__name__)


def produce(
    services: Services,
    origin: Origin,
    roles: frozenset[Role],
    *,
    page: int = 1,
    trigger_id: str | None = None,
    read_only: bool = False,
) -> Reply | None:
    """Run the command in `origin.command_text`; None means it answered by itself (e.g. opened a modal)."""
    started = time.perf_counter()
    resolution = REGISTRY.resolve(origin.command_text)
    cmd = resolution.command
    area, verb = (cmd.area, cmd.verb) if cmd else ("unknown", "unknown")
    target = redact_options(" ".join(resolution.tokens))
    outcome = "ok"
    try:
        if cmd is None:
            outcome = "unknown"
            return Reply(headline=resolution.problem, ephemeral=True, status="warn")
        if cmd.role not in roles:
            outcome = "refused"
            return Reply(
                headline=f":no_entry: `{cmd.usage}` needs {cmd.role.noun}, and you are not one.",
                ephemeral=True,
            )
        if read_only and (cmd.destructive or cmd.role != Role.VIEWER):
            outcome = "refused"
            return Reply(headline="Only read commands can be paged.", ephemeral=True, status="warn")
        args = Args.parse(resolution.tokens, usage=f"{services.settings.command} {cmd.usage}")
        # Every write takes `reason="…"`; it is recorded with the plan and shown to approvers.
        reason = (args.option("reason") or "") if cmd.role != Role.VIEWER else ""
        call = Call(cmd, args, origin, roles, services, page=page, trigger_id=trigger_id)
        result: Any = cmd.handler(call)
        if isinstance(result, Plan):
            target = result.target
        return finish(services, call, result, reason=reason)
    except Exception as error:
        outcome = (
            "usage"
            if isinstance(error, UsageError)
            else "refused"
            if isinstance(error, ChatopsError)
            else "error"
        )
        log_error(error, f"command {area}.{verb}")
        return error_reply(error, origin.correlation_id)
    finally:
        elapsed = time.perf_counter() - started
        COMMANDS.labels(area=area, verb=verb, outcome=outcome).inc()
        log.info(
            "command %s.%s by %s in %s: %s in %.0f ms",
            area,
            verb,
            origin.user_id,
            origin.channel_id,
            outcome,
            elapsed * 1000,
        )
        audit(services, origin, area, verb, target=target, outcome=outcome, elapsed=elapsed)


def finish(services: Services, call: Call, result: Any, *, reason: str = "") -> Reply | None:
    """What a handler returned, as a Reply: replies pass through; plans go to `submit`."""
    if result is None or isinstance(result, Reply):
        return result
    if isinstance(result, Plan):
        plan = result.model_copy(update={"reason": reason}) if reason else result
        return submit(services, call.origin, call.roles, plan)
    raise TypeError(f"{call.command.name} returned {type(result).__name__}, not a Reply")


def submit(services: Services, origin: Origin, roles: frozenset[Role], plan: Plan) -> Reply | None:
    """Where every plan goes, from a command or a modal: an approval request, or run now.

    Any write needs an operator; destructive ones (and CHATOPS_EXTRA_APPROVALS) need an approval.
    """
    if Role.OPERATOR not in roles:
        raise ChatopsError(f"Changes need {Role.OPERATOR.noun}, and you are not one.")
    try:
        if needs_approval(plan, services.settings):
            return request_approval(services, origin, plan)
        return run_now(services, plan, origin).reply()
    except StoreUnavailable as error:
        raise database_refusal(error) from error


def audit(
    services: Services, origin: Origin, area: str, verb: str, *, target: str, outcome: str, elapsed: float
) -> None:
    """Record the command on the worker pool: a slow or unreachable database must not hold up the
    answer, and must not fail a read."""
    store = services.store
    if store is None:
        return

    def record() -> None:
        try:
            store.record(
                "command",
                user_id=origin.user_id,
                channel_id=origin.channel_id,
                area=area,
                verb=verb,
                target=target,
                outcome=outcome,
                detail=redact_options(origin.command_text),
                duration_ms=round(elapsed * 1000),
                correlation_id=origin.correlation_id,
            )
        except StoreUnavailable as error:
            log.warning("command %s.%s is not in the audit trail: %s", area, verb, error)

    try:
        services.executor.submit(record)
    except RuntimeError:  # the pool shuts down with the app
        log.warning("command %s.%s is not in the audit trail: the app is stopping", area, verb)
