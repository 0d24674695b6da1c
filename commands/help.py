"""`/mailcow help [area]`: generated from the registry, showing only what the caller may run."""

from __future__ import annotations

from bot.render import context, esc, lines_to_sections
from bot.reply import Reply
from bot.roles import Role
from commands import REGISTRY, Call, Command, command, describe_area

describe_area("help", "this list")


def _visible(call: Call) -> list[Command]:
    return [c for c in REGISTRY.all() if c.role in call.roles and c.area != "help"]


def _line(call: Call, cmd: Command) -> str:
    approval = " :lock: _needs approval_" if cmd.destructive or _needs_extra_approval(call, cmd) else ""
    return f"`{call.services.settings.command} {esc(cmd.usage)}` — {esc(cmd.summary)}{approval}"


def _needs_extra_approval(call: Call, cmd: Command) -> bool:
    return cmd.name in call.services.settings.extra_approvals


@command(
    "help",
    "show",
    usage="help [AREA]",
    summary="list every command you may run, or one area's commands with examples",
    example="help queue",
    default=True,
    accepts=lambda word: word.lower() in REGISTRY.by_area,
)
def show_help(call: Call) -> Reply:
    area = call.args.take_optional()
    call.args.done()
    slash = call.services.settings.command
    if area is not None:
        return _area_help(call, area.lower())
    visible = _visible(call)
    lines = []
    for name in REGISTRY.areas:
        cmds = [c for c in visible if c.area == name]
        if not cmds:
            continue
        about = REGISTRY.area_help.get(name, "")
        verbs = ", ".join(f"`{esc(c.verb)}`" for c in cmds)
        lines.append(f"*{name}* — {esc(about)}\n      {verbs}")
    blocks = lines_to_sections(lines)
    notes = [f"`{slash} help AREA` shows each command with an example."]
    if Role.OPERATOR not in call.roles:
        notes.append("You can run read commands; ask a mail admin for the operator role to change things.")
    if not call.services.roles.approvers_configured:
        notes.append("No approvers are configured (CHATOPS_APPROVERS), so commands marked :lock: cannot run.")
    blocks.append(context(*notes))
    return Reply(headline=f"*mailcow-chatops*: what you can do with `{slash}`", blocks=blocks, ephemeral=True)


def _area_help(call: Call, area: str) -> Reply:
    slash = call.services.settings.command
    cmds = [c for c in _visible(call) if c.area == area]
    if not cmds:
        if area in REGISTRY.by_area:
            return Reply(headline=f"You may not run any `{area}` command.", ephemeral=True, status="warn")
        return Reply(
            headline=REGISTRY.resolve(area).problem or f"No area `{area}`.", ephemeral=True, status="warn"
        )
    lines = [f"{_line(call, c)}\n      e.g. `{slash} {esc(c.example)}`" for c in cmds]
    return Reply(
        headline=f"*{area}* — {esc(REGISTRY.area_help.get(area, ''))}",
        blocks=lines_to_sections(lines),
        ephemeral=True,
    )
