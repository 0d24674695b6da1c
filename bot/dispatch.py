"""From command text to a `Reply`: resolve, check the role again, parse, run, translate errors.

Shared by the slash command, the Prev/Next buttons and the local console, so all three behave the
same. The guard already checked the role on the ack path from the first words; this checks it again
on the fully parsed command (defence in depth: deny by default even if the two parses disagree).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.args import Args, UsageError
from bot.errors import error_reply, log_error
from bot.metrics import COMMANDS
from bot.reply import Reply
from bot.roles import Role
from bot.services import Origin, Services
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
        call = Call(cmd, args, origin, roles, services, page=page, trigger_id=trigger_id)
        result: Any = cmd.handler(call)
        return finish(services, call, result)
    except Exception as error:
        outcome = "usage" if isinstance(error, UsageError) else "error"
        log_error(error, f"command {area}.{verb}")
        return error_reply(error, origin.correlation_id)
    finally:
        COMMANDS.labels(area=area, verb=verb, outcome=outcome).inc()
        log.info(
            "command %s.%s by %s in %s: %s in %.0f ms",
            area,
            verb,
            origin.user_id,
            origin.channel_id,
            outcome,
            (time.perf_counter() - started) * 1000,
        )


def finish(services: Services, call: Call, result: Any) -> Reply | None:
    """What a handler returned, as a Reply: replies pass through; plans go to the executor."""
    if result is None or isinstance(result, Reply):
        return result
    raise TypeError(f"{call.command.name} returned {type(result).__name__}, not a Reply")
