"""`mailcow-chatops shell`: type `/mailcow …` commands in a terminal and see what the bot would post.

For trying the bot before Slack is wired, and for support. It runs against the configured mailcow and
database with the same code as Slack: `bot.dispatch.produce()` for commands, and `bot.reply.deliver`
to post the answer, into `ConsoleSlack`, a Slack client that sends nothing. It records each message
the bot would post (channel message, thread replies, ephemeral answers, direct messages, files,
approval requests) and the console prints them as text, drawn from the very Block Kit payload Slack
would get. So what you read here is what Slack would show, and nothing reaches Slack; the only Slack
call is `usergroups.users.list`, a read, when roles are given as user-group IDs.

Identity works as in Slack: `--as U…` picks the Slack user, whose roles come from the settings, and
`--channel` an allowed channel. A destructive command prints its approval request with the request
id; `approve ID` and `deny ID [reason]` are the Approve and Deny clicks, made by the `--as` user and
fed through the Bolt app (guard, listeners, executor) exactly as Slack's clicks are. As in Slack,
the approver must be someone other than the requester: approve from a second shell started with
another `--as`. Approval requests made here live in the configured database like any other.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO

from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.web import SlackResponse

from bot import logs
from bot.approvals.blocks import APPROVE, DENY
from bot.dispatch import produce
from bot.render import PAGE_NEXT, PAGE_PREV, parse_pager_value
from bot.reply import Reply, deliver
from bot.services import Origin, Services
from bot.settings import PRINCIPAL_ID, Settings
from commands import load_all

CONSOLE_USER = "console"
"""Who acts when no `--as` is given: not a Slack user, so only a viewer unless everyone operates."""
CONSOLE_BOT = "U0CONSOLEBOT"
PROMPT = "mailcow> "
HELP = """\
Type a command as in Slack, with or without the slash command: `queue`, `mailbox list`, `help`.
  page N              show page N of the last list
  approve ID          approve a request, as the --as user
  deny ID [REASON]    deny a request (or withdraw your own), as the --as user
  quit                leave (or Ctrl-D)"""

_EMOJI = {
    ":white_check_mark:": "✅",
    ":warning:": "⚠️",
    ":x:": "❌",
    ":no_entry:": "⛔",
    ":no_entry_sign:": "🚫",
    ":lock:": "🔒",
    ":gear:": "⚙️",
    ":hourglass:": "⌛",
    ":leftwards_arrow_with_hook:": "↩️",
}
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.DOTALL)
_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_BOLD_CODE = re.compile(r"(?<![\w*])\*(`[^`\n]+`)\*(?![\w*])")
_FIELD = re.compile(r"^\*([^*\n]+)\*\n(.*)$", re.DOTALL)


# --- what the bot would post ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One Slack Web API call the bot made, with its arguments as Slack would receive them."""

    method: str
    args: dict[str, Any]


class ConsoleSlack(WebClient):
    """A Slack client that posts nothing: it records each call and answers the way Slack does.

    Every Web API method funnels through `api_call`, so overriding it covers them all, also methods
    added later. (Roles keep the real client: user-group membership is a read Slack must answer.)
    """

    def __init__(self, token: str | None) -> None:
        super().__init__(token=token)
        self._stamps = itertools.count(1)
        self.sent: list[Sent] = []

    def take(self) -> list[Sent]:
        """The calls recorded since the last `take`."""
        sent, self.sent = self.sent, []
        return sent

    def api_call(
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> SlackResponse:
        args = {**(params or {}), **(data or {}), **(json or {})}
        answer: dict[str, Any] = {"ok": True}
        if api_method == "auth.test":
            answer.update(user_id=CONSOLE_BOT, bot_id="B0CONSOLE", user="mailcow-chatops", team="console")
        elif api_method == "chat.postMessage":
            answer.update(channel=args.get("channel"), ts=f"{int(time.time())}.{next(self._stamps):06d}")
        elif api_method == "conversations.open":
            answer["channel"] = {"id": f"D{args.get('users', '')}"}
        elif api_method.startswith("views."):
            answer["view"] = {**(args.get("view") or {}), "id": f"V{next(self._stamps):06d}"}
        if api_method != "auth.test":
            self.sent.append(Sent(api_method, args))
        return SlackResponse(
            client=self,
            http_verb=http_verb,
            api_url=api_method,
            req_args=args,
            data=answer,
            headers={},
            status_code=200,
        )

    def files_upload_v2(self, **kwargs: Any) -> SlackResponse:
        """Recorded as one call: the real one takes three requests and an upload."""
        content = kwargs.get("content") or b""
        args = {k: v for k, v in kwargs.items() if k != "content"}
        args["size"] = len(content)
        args["rows"] = content.count("\n") if isinstance(content, str) else None
        self.sent.append(Sent("files.upload", args))
        return SlackResponse(
            client=self,
            http_verb="POST",
            api_url="files.upload",
            req_args=args,
            data={"ok": True, "files": [{"id": "F0CONSOLE", "title": args.get("title")}]},
            headers={},
            status_code=200,
        )


class RunNow(ThreadPoolExecutor):
    """An executor that runs each task as it is submitted, so a console command is finished, and
    everything it posts recorded, when the call that started it returns."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future


# --- Block Kit as text ----------------------------------------------------------------------------


def mrkdwn_to_text(text: str) -> str:
    """Slack's mrkdwn as plain text: mentions and links spelled out, bold and italic marks dropped,
    code kept as typed (inline code keeps its backticks, code blocks are indented)."""
    parts: list[str] = []
    for piece in _CODE.split(_BOLD_CODE.sub(r"\1", text)):
        if piece.startswith("```") and piece.endswith("```") and len(piece) >= 6:
            body = _unescape(piece[3:-3].strip("\n"))
            block = "\n".join(f"    {line}" for line in body.splitlines())
            parts.append(("" if not parts or parts[-1].endswith("\n") else "\n") + block + "\n")
        elif piece.startswith("`"):
            parts.append(_unescape(piece))
        else:
            prose = _prose(piece)
            parts.append(prose.removeprefix("\n") if parts and parts[-1].endswith("\n") else prose)
    return "".join(parts).strip("\n")


def _prose(text: str) -> str:
    text = _LINK.sub(_link_text, text)
    text = _ITALIC.sub(r"\1", _BOLD.sub(r"\1", text))
    for code, symbol in _EMOJI.items():
        text = text.replace(code, symbol)
    return _unescape(text)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _link_text(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith(("@", "#")):
        return f"{target[0]}{(label or target[1:]).lstrip('@#')}"
    if target.startswith("!subteam^"):
        return label or f"@{target.removeprefix('!subteam^')}"
    if target.startswith("!date^"):
        return label or target
    if target.startswith("!"):
        return f"@{target[1:]}"
    target = target.removeprefix("mailto:")
    return f"{label} ({target})" if label and label != target else target


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        text = str(obj.get("text", ""))
        return mrkdwn_to_text(text) if obj.get("type") == "mrkdwn" else _unescape(text)
    return mrkdwn_to_text(str(obj or ""))


def blocks_to_text(blocks: Iterable[dict[str, Any]]) -> list[str]:
    """One message's blocks as lines, in the order Slack shows them."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "section":
            if block.get("text"):
                lines.extend(_text_of(block["text"]).splitlines())
            for item in block.get("fields") or []:
                lines.extend(_field_lines(item))
            accessory = block.get("accessory") or {}
            if accessory.get("type") == "button":
                lines.append(f"[ {_text_of(accessory.get('text'))} ]")
        elif kind == "header":
            title = _text_of(block.get("text"))
            lines.extend([title.upper(), "=" * min(len(title), 60)])
        elif kind == "context":
            texts = [_text_of(e) for e in block.get("elements") or [] if e.get("type") != "image"]
            lines.extend(f"  {line}" for line in " · ".join(t for t in texts if t.strip()).splitlines())
        elif kind == "divider":
            lines.append("─" * 40)
        elif kind == "actions":
            lines.append(_buttons(block.get("elements") or []))
        elif kind == "input":
            lines.append(f"{_text_of(block.get('label'))}: [ … ]")
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        else:
            lines.append(f"[{kind} block]")
    return lines


def _field_lines(item: dict[str, Any]) -> list[str]:
    match = _FIELD.match(str(item.get("text", "")))
    if match is None:
        return _text_of(item).splitlines()
    label, value = match.group(1), _text_of({"type": item.get("type"), "text": match.group(2)})
    values = value.splitlines() or [""]
    if len(values) == 1:
        return [f"{label}: {values[0]}"]
    return [f"{label}:", *(f"    {line}" for line in values)]


def _buttons(elements: list[dict[str, Any]]) -> str:
    labels = []
    for element in elements:
        label = f"[ {_text_of(element.get('text'))} ]"
        action, value = element.get("action_id"), str(element.get("value", ""))
        if action in (PAGE_PREV, PAGE_NEXT):
            label += f" (`page {parse_pager_value(value)[1]}`)"
        elif action == APPROVE:
            label += f" (`approve {value}`)"
        elif action == DENY:
            label += f" (`deny {value}`)"
        labels.append(label)
    return "  ".join(labels)


def sent_to_text(sent: Iterable[Sent]) -> list[str]:
    """What a person in Slack would see of these calls, message by message."""
    lines: list[str] = []
    dm_users: dict[str, str] = {}
    for call in sent:
        args = call.args
        channel = str(args.get("channel", ""))
        if call.method == "conversations.open":
            dm_users[f"D{args.get('users', '')}"] = str(args.get("users", ""))
            continue
        if call.method == "chat.postMessage":
            where = f"direct message to @{dm_users[channel]}" if channel in dm_users else f"#{channel}"
            title = f"in the thread, {where}" if args.get("thread_ts") else f"message in {where}"
        elif call.method == "chat.postEphemeral":
            title = f"only @{args.get('user')} sees this, in #{channel}"
        elif call.method == "chat.update":
            title = f"message in #{channel} now reads"
        elif call.method == "files.upload":
            rows = args.get("rows")
            what = f"{rows:,} lines" if isinstance(rows, int) else f"{args.get('size', 0):,} bytes"
            lines.extend([f"── file in the thread, #{channel} ──", f"{args.get('filename')} ({what})"])
            if args.get("initial_comment"):
                lines.append(mrkdwn_to_text(str(args["initial_comment"])))
            continue
        elif call.method.startswith("views."):
            view = args.get("view") or {}
            lines.extend(
                [
                    f"── Slack would open a form: {_text_of(view.get('title'))} ──",
                    *blocks_to_text(view.get("blocks") or []),
                ]
            )
            continue
        else:
            lines.append(f"── Slack call {call.method} ──")
            continue
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        body = blocks_to_text(blocks) if blocks else mrkdwn_to_text(str(args.get("text", ""))).splitlines()
        lines.extend([f"── {title} ──", *body])
    return lines


# --- the console ----------------------------------------------------------------------------------


@dataclass
class Console:
    """Runs console lines as `user` in `channel` and returns what Slack would show, as text."""

    services: Services
    user: str
    channel: str
    slack: ConsoleSlack
    last_command: str | None = None
    _app: App | None = field(default=None, init=False)
    _clicks: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False)

    def run(self, line: str) -> list[str]:
        text = line.strip()
        slash = self.services.settings.command
        if text == slash or text.startswith(slash + " "):
            text = text[len(slash) :].strip()
        word, _, rest = text.partition(" ")
        word = word.lower()
        if word == "page" and rest.strip().isdigit():
            return self.page(int(rest))
        if word in ("approve", "deny") and rest.strip():
            approval_id, _, reason = rest.strip().partition(" ")
            return self.click(approval_id, approve=word == "approve", reason=reason.strip())
        return self.command(text)

    def origin(self, command_text: str = "") -> Origin:
        cid = secrets.token_hex(4)
        logs.correlation_id.set(cid)
        return Origin(
            channel_id=self.channel, user_id=self.user, command_text=command_text, correlation_id=cid
        )

    def command(self, text: str) -> list[str]:
        origin = self.origin(text)
        reply = produce(self.services, origin, self.services.roles.roles_of(self.user))
        if reply is not None:
            deliver(self.slack, origin, reply, command=self.services.settings.command)
            if reply.listing is not None and reply.listing.pages > 1:
                self.last_command = text
        return self._show(reply)

    def page(self, number: int) -> list[str]:
        """Page `number` of the last list, as the Prev/Next buttons would redraw it."""
        if self.last_command is None:
            return ["There is no list with pages to turn yet."]
        origin = self.origin(self.last_command)
        reply = produce(
            self.services, origin, self.services.roles.roles_of(self.user), page=number, read_only=True
        )
        if reply is None or reply.listing is None:
            return self._show(reply)
        blocks = [b.to_dict() for b in reply.listing.page_blocks(number, self.last_command)]
        return ["── the list message now reads ──", *blocks_to_text(blocks)]

    def click(self, approval_id: str, *, approve: bool, reason: str = "") -> list[str]:
        """The Approve or Deny button of request `approval_id`, clicked by the console's user.

        Goes through the Bolt app like Slack's click (guard, roles, the approval listeners). Deny
        opens the reason form in Slack; the console fills it with `reason` and submits it.
        """
        app = self._bolt_app()
        approvals = self.services.approvals
        request = approvals.get(approval_id) if approvals is not None else None
        channel = request.channel_id if request is not None else self.channel
        message_ts = (request.message_ts if request is not None else None) or "0.000000"
        self._dispatch(
            app,
            {
                "type": "block_actions",
                "user": {"id": self.user},
                "trigger_id": f"console.{next(self._clicks)}",
                "channel": {"id": channel},
                "container": {"type": "message", "channel_id": channel, "message_ts": message_ts},
                "message": {"ts": message_ts},
                "actions": [
                    {"action_id": APPROVE if approve else DENY, "value": approval_id, "type": "button"}
                ],
            },
        )
        form = next((s for s in reversed(self.slack.sent) if s.method == "views.open"), None)
        if not approve and form is not None:
            self.slack.sent.remove(form)
            self._dispatch(app, _submission(self.user, form.args.get("view") or {}, reason))
        return sent_to_text(self.slack.take()) or ["(no answer)"]

    def _bolt_app(self) -> App:
        """The Bolt app, built on the first click: reads never need it. No background jobs here."""
        from bot.app import build_app

        if self._app is None:
            self._app = build_app(self.services, background=False)
        return self._app

    def _dispatch(self, app: App, payload: dict[str, Any]) -> None:
        """Hand `payload` to Bolt the way Socket Mode does, which needs no request signature."""
        payload = {"team": {"id": "T0CONSOLE"}, "api_app_id": "A0CONSOLE", **payload}
        response = app.dispatch(BoltRequest(body=payload, mode="socket_mode"))
        if response.body.startswith("{"):
            # A form answered in the ack itself (a refused submission, say) shows like a form.
            answer = json.loads(response.body)
            if isinstance(answer.get("view"), dict):
                self.slack.sent.append(Sent("views.update", {"view": answer["view"]}))

    def _show(self, reply: Reply | None) -> list[str]:
        lines = sent_to_text(self.slack.take())
        if reply is None and not lines:
            lines.append("(nothing to show: in Slack this opens a form; give the values as arguments)")
        return lines


def _submission(user: str, view: dict[str, Any], reason: str) -> dict[str, Any]:
    """A `view_submission` of `view` with every text input set to `reason`."""
    values = {
        block["block_id"]: {
            block["element"]["action_id"]: {"type": "plain_text_input", "value": reason or None}
        }
        for block in view.get("blocks") or []
        if block.get("type") == "input" and (block.get("element") or {}).get("type") == "plain_text_input"
    }
    return {"type": "view_submission", "user": {"id": user}, "view": {**view, "state": {"values": values}}}


# --- the command line -----------------------------------------------------------------------------


class ConsoleSetupError(Exception):
    """`--as` or `--channel` is unusable; the message says which and why."""


def check_identity(settings: Settings, user: str | None, channel: str | None) -> tuple[str, str]:
    """The user and channel the console acts as; the channel must be allowed, as the guard demands."""
    if user is not None and not (PRINCIPAL_ID.match(user) and user[0] in "UW"):
        raise ConsoleSetupError(f"--as {user} is not a Slack user ID (U… or W…)")
    channel = channel or settings.allowed_channels[0]
    if channel not in settings.allowed_channels:
        allowed = ", ".join(settings.allowed_channels)
        raise ConsoleSetupError(f"--channel {channel} is not in CHATOPS_ALLOWED_CHANNELS ({allowed})")
    return user or CONSOLE_USER, channel


def open_console(services: Services, user: str, channel: str) -> Console:
    """A console over `services`, whose Slack client is swapped for a recording one."""
    load_all()
    slack = ConsoleSlack(services.slack.token)
    services.slack = slack
    services.executor.shutdown(wait=False)
    services.executor = RunNow()
    return Console(services, user, channel, slack)


def run_shell(settings: Settings, user: str | None, channel: str | None, stdin: TextIO, out: TextIO) -> int:
    """The REPL: prompts on a terminal, reads commands line by line from a pipe (echoing each)."""
    from bot.app import build_services

    try:
        user, channel = check_identity(settings, user, channel)
    except ConsoleSetupError as error:
        print(f"mailcow-chatops: {error}", file=sys.stderr)
        return 2
    services = build_services(settings)
    console = open_console(services, user, channel)
    interactive = stdin.isatty()
    roles = ", ".join(sorted(services.roles.roles_of(user)))
    if interactive:
        print(f"mailcow-chatops shell: as {user} ({roles}) in #{channel}, mailcow at {settings.mailcow_url}")
        print(HELP)
    try:
        for line in _lines(stdin, interactive):
            if line.strip().lower() in ("quit", "exit"):
                break
            if not line.strip():
                continue
            if not interactive:
                print(f"{PROMPT}{line.strip()}", file=out)
            print("\n".join(console.run(line)), end="\n\n", file=out, flush=True)
    finally:
        services.mailcow.close()
        if services.store is not None:
            services.store.dispose()
    return 0


def _lines(stdin: TextIO, interactive: bool) -> Iterator[str]:
    if not interactive:
        yield from stdin
        return
    import readline  # noqa: F401 - line editing and history for input()

    while True:
        try:
            yield input(PROMPT)
        except KeyboardInterrupt:
            print()
        except EOFError:
            print()
            return
