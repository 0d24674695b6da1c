"""What every modal shares: building its inputs, reading a submission, answering errors next to their
fields, opening within Slack's three seconds, and offering mailboxes as someone types.

A form is declared once with `form(...)`: its callback_id and role go to the guard, and its `check`
runs on the ack path, because only the answer to the submission itself can put errors next to the
fields (`response_action: errors`) and Slack drops it after 3 s. `check` reads what it must from
mailcow, under a deadline, and returns the `Plan` to run or raises `Invalid` with a message per
field. The lazy listener checks again and runs the plan like a typed command's: `finish` turns it
into an approval request or runs it, and the answer lands in the channel as a parent message with
a thread. The typed commands use the same checks; there `Invalid` is an ordinary usage error.

Modal submissions carry no channel. Ours keep it in `private_metadata` as `{"channel": …}`, where
the guard reads it. A form opened from the global shortcut has none, so it asks for one of the
allowed channels (input `channel`), and `form` refuses a submission naming any other.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    ExternalDataSelectElement,
    InputBlock,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot import logs
from bot.args import Args, UsageError
from bot.dispatch import audit, finish
from bot.errors import ChatopsError, error_reply, explain, log_error
from bot.guard import ACK_NOTE, interaction
from bot.mailcow import Domain, MailboxName, MailcowError
from bot.plans import Plan
from bot.render import clip, esc, section
from bot.reply import deliver
from bot.roles import Role
from bot.services import Origin, Services
from commands import REGISTRY, Call

log = logging.getLogger(__name__)

T = TypeVar("T")

CHECK_SECONDS = 2.2
"""How long a submission's checks may take: Slack drops the answer to a submission after 3 s."""
QUICK_LOAD = 1.0
"""How long opening a form waits for its data before it shows a loading view instead (a trigger_id
is good for 3 s, so a slow mailcow must not hold up `views.open`)."""
FIRST_LOAD = 2.5
"""How long the first options request waits for the mailbox list (Slack waits 3 s for options)."""
STALE_WAIT = 0.05
"""How long a later options request waits for a refresh before answering from the previous list."""
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
ACCEPTED = "accepted"
"""The `ACK_NOTE` of a form that passed its checks on the ack path."""


class Invalid(UsageError):
    """Input that cannot be acted on, one message per field (the input's action_id).

    A modal shows each message next to its field; a typed command shows them together, with its
    usage. The messages name what they are about, so they read well in both places.
    """

    def __init__(self, problems: Mapping[str, str], usage: str | None = None) -> None:
        self.problems = dict(problems)
        super().__init__(" ".join(self.problems.values()), usage=usage)


# --- building -------------------------------------------------------------------------------------


def option(text: str, value: str) -> dict[str, Any]:
    """An option as select menus and options responses take it (text ≤ 75 characters, value ≤ 150)."""
    return {"text": {"type": "plain_text", "text": clip(text, MAX_OPTION_TEXT)}, "value": value[:150]}


def _option(text: str, value: str) -> Option:
    return Option(**option(text, value))


def text_input(
    action_id: str,
    label: str,
    *,
    initial: str | None = None,
    hint: str | None = None,
    placeholder: str | None = None,
    optional: bool = False,
    max_length: int | None = None,
    multiline: bool = False,
) -> InputBlock:
    return InputBlock(
        block_id=action_id,
        label=label,
        hint=clip(hint, 2000) if hint else None,
        optional=optional,
        element=PlainTextInputElement(
            action_id=action_id,
            initial_value=initial or None,
            placeholder=placeholder,
            max_length=max_length,
            multiline=multiline,
        ),
    )


def number_input(
    action_id: str,
    label: str,
    *,
    initial: int | None = None,
    minimum: int = 0,
    hint: str | None = None,
    optional: bool = False,
    block_id: str | None = None,
) -> InputBlock:
    """Whole numbers; `block_id` differs from the action_id when a redraw must reset the value."""
    return InputBlock(
        block_id=block_id or action_id,
        label=label,
        hint=clip(hint, 2000) if hint else None,
        optional=optional,
        element=NumberInputElement(
            action_id=action_id,
            is_decimal_allowed=False,
            min_value=str(minimum),
            initial_value=str(initial) if initial is not None else None,
        ),
    )


def select_input(
    action_id: str,
    label: str,
    choices: Sequence[tuple[str, str]],
    *,
    initial: str | None = None,
    placeholder: str = "Choose…",
    hint: str | None = None,
    dispatch: bool = False,
) -> InputBlock:
    """A menu of `(value, text)` choices (at most 100: Slack's limit for a static menu)."""
    options = [_option(text, value) for value, text in choices[:MAX_OPTIONS]]
    chosen = next((o for o in options if o.value == initial), None)
    return InputBlock(
        block_id=action_id,
        label=label,
        hint=hint,
        dispatch_action=dispatch or None,
        element=StaticSelectElement(
            action_id=action_id, placeholder=placeholder, options=options, initial_option=chosen
        ),
    )


def search_input(
    action_id: str,
    label: str,
    *,
    initial: str | None = None,
    placeholder: str = "Type to search…",
    hint: str | None = None,
    min_query_length: int = 1,
    dispatch: bool = False,
) -> InputBlock:
    """A menu whose options come from this app's options listener for `action_id`, as one types."""
    return InputBlock(
        block_id=action_id,
        label=label,
        hint=hint,
        dispatch_action=dispatch or None,
        element=ExternalDataSelectElement(
            action_id=action_id,
            placeholder=placeholder,
            min_query_length=min_query_length,
            initial_option=_option(initial, initial) if initial else None,
        ),
    )


def checkboxes_input(
    action_id: str, label: str, choices: Sequence[tuple[str, str]], *, checked: Sequence[str] = ()
) -> InputBlock:
    options = [_option(text, value) for value, text in choices]
    ticked = [o for o in options if o.value in checked]
    return InputBlock(
        block_id=action_id,
        label=label,
        optional=True,
        element=CheckboxesElement(action_id=action_id, options=options, initial_options=ticked or None),
    )


def radio_input(
    action_id: str, label: str, choices: Sequence[tuple[str, str]], *, initial: str
) -> InputBlock:
    options = [_option(text, value) for value, text in choices]
    chosen = next((o for o in options if o.value == initial), None)
    return InputBlock(
        block_id=action_id,
        label=label,
        element=RadioButtonsElement(action_id=action_id, options=options, initial_option=chosen),
    )


def channel_input(channels: Sequence[str]) -> list[Block]:
    """For forms opened without a channel (the global shortcut): where the answer goes. Plain-text
    options cannot show channel names, so the section above them does."""
    names = " · ".join(f"<#{c}> (`{c}`)" for c in channels)
    return [
        section(f"*Where to post the result*: one of the channels this bot works in: {names}"),
        select_input("channel", "Channel", [(c, c) for c in channels], initial=channels[0]),
    ]


def modal(
    callback_id: str,
    title: str,
    blocks: Sequence[Block],
    *,
    submit: str,
    metadata: Mapping[str, Any],
) -> View:
    return View(
        type="modal",
        callback_id=callback_id,
        title=clip(title, 24),
        submit=clip(submit, 24),
        close="Cancel",
        private_metadata=json.dumps({k: v for k, v in metadata.items() if v is not None}),
        blocks=list(blocks),
    )


def notice(title: str, text: str) -> View:
    """A modal that only says something (a refusal, a problem, "loading"), with a Close button."""
    return View(type="modal", title=clip(title, 24), close="Close", blocks=[section(clip(text, 3000))])


# --- opening ----------------------------------------------------------------------------------------


def trigger(call: Call, instead: str) -> str:
    """The trigger_id a form needs; without one (the local console) say what to type instead."""
    if call.trigger_id is None:
        raise UsageError(f"This opens a form, which only Slack can show. Type `{instead}` instead.")
    return call.trigger_id


def open_form(
    services: Services, trigger_id: str, title: str, load: Callable[[], T], build: Callable[[T], View]
) -> None:
    """Open `build(load())`. When loading is slow, open a "reading from mailcow" view at once and
    replace it when the data is there: a trigger_id expires 3 s after the click."""
    pending = services.executor.submit(load)
    try:
        pending.result(timeout=QUICK_LOAD)
    except TimeoutError:
        opened = services.slack.views_open(
            trigger_id=trigger_id, view=notice(title, ":hourglass_flowing_sand: Reading from mailcow…")
        )
        shown = opened["view"]
        try:
            services.slack.views_update(
                view_id=shown["id"], hash=shown["hash"], view=_built(title, pending, build)
            )
        except SlackApiError as error:  # closed meanwhile
            log.info("could not fill the form %s: %s", shown["id"], error.response.get("error"))
        return
    except (MailcowError, UsageError):
        pass  # shown in the form's place by _built
    services.slack.views_open(trigger_id=trigger_id, view=_built(title, pending, build))


def _built(title: str, pending: Future[T], build: Callable[[T], View]) -> View:
    """The form from the loaded data, or why it cannot be shown (the wait is bounded by the client's
    own timeouts)."""
    try:
        return build(pending.result())
    except (MailcowError, UsageError) as error:
        return notice(title, f":x: {esc(_problem(error))}")


def redraw(services: Services, body: dict[str, Any], view: View) -> None:
    """Replace the open modal `body` came from, unless the person changed it again meanwhile."""
    shown = body["view"]
    try:
        services.slack.views_update(view_id=shown["id"], hash=shown.get("hash"), view=view)
    except SlackApiError as error:
        log.info("did not redraw the form %s: %s", shown["id"], error.response.get("error"))


# --- submissions ------------------------------------------------------------------------------------


def _state_value(state: Mapping[str, Any]) -> Any:
    kind = state.get("type")
    if kind in ("static_select", "external_select", "radio_buttons"):
        chosen = state.get("selected_option")
        return chosen["value"] if chosen else None
    if kind == "checkboxes":
        return [o["value"] for o in state.get("selected_options") or []]
    return state.get("value")


@dataclass(frozen=True)
class Submission:
    """What a person put into a modal, by action_id, and where each input lives (its block_id)."""

    values: dict[str, Any]
    blocks: dict[str, str]
    metadata: dict[str, Any]
    user_id: str
    roles: frozenset[Role]
    correlation_id: str

    @classmethod
    def of(cls, body: dict[str, Any], context: Mapping[str, Any]) -> Submission:
        view = body.get("view") or {}
        values: dict[str, Any] = {}
        blocks: dict[str, str] = {}
        for block_id, inputs in ((view.get("state") or {}).get("values") or {}).items():
            for action_id, state in inputs.items():
                values[action_id] = _state_value(state)
                blocks[action_id] = block_id
        try:
            metadata = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            metadata = {}
        return cls(
            values=values,
            blocks=blocks,
            metadata=metadata if isinstance(metadata, dict) else {},
            user_id=str((body.get("user") or {}).get("id", "")),
            roles=frozenset(context.get("roles") or ()),
            correlation_id=str(context.get("correlation_id", "-")),
        )

    @property
    def channel(self) -> str | None:
        """Where the form was opened, or the channel picked in it (forms from the global shortcut)."""
        return self.metadata.get("channel") or self.values.get("channel")

    def text(self, action_id: str) -> str:
        return str(self.values.get(action_id) or "").strip()

    def ticked(self, action_id: str) -> set[str]:
        return set(self.values.get(action_id) or ())

    def number(self, action_id: str, what: str) -> int | None:
        """A whole number typed into `action_id`, None when left empty."""
        raw = self.text(action_id)
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            raise Invalid({action_id: f"{what} is a whole number, not {raw}."}) from None

    def errors(self, problems: Mapping[str, str]) -> dict[str, str]:
        """`response_action: errors` wants block_ids; a problem without a field of its own goes first."""
        first = next(iter(self.blocks.values()), "")
        found: dict[str, str] = {}
        for field, message in problems.items():
            block = self.blocks.get(field, first)
            found[block] = f"{found[block]} {message}" if block in found else message
        return {block: clip(message, 2000) for block, message in found.items()}

    def call(self, services: Services, name: str, command_text: str) -> Call:
        """The form as the command it amounts to, so plans, audit and answers treat it like one."""
        cmd = REGISTRY.get(name)
        if cmd is None:
            raise LookupError(f"no command {name} is registered")
        origin = Origin(
            channel_id=self.channel or "",
            user_id=self.user_id,
            command_text=command_text,
            correlation_id=self.correlation_id,
        )
        return Call(cmd, Args(), origin, self.roles, services)


@dataclass(frozen=True)
class Ready:
    """A checked form: the plan to run, and the command it amounts to (shown with the answer, audited)."""

    plan: Plan
    command_text: str


Check = Callable[[Services, Submission], Ready]
After = Callable[[Call, Plan], Any]


def form(
    app: App,
    services: Services,
    callback_id: str,
    check: Check,
    *,
    role: Role = Role.OPERATOR,
    channel_free: bool = False,
    after: After | None = None,
) -> None:
    """Register the modal `callback_id`: `check` decides, then the plan runs like a typed command's.

    `check` runs twice. On the ack path, under a deadline, so the answer can put errors next to
    their fields; then in the lazy listener, which may run in another process (the workers of
    `serve`), so it gets nothing from the ack but its `ACK_NOTE`, and which must plan from mailcow as
    it is by then. `after(call, plan)` replaces the usual `finish` (e.g. to hand a generated password
    to the requester); `channel_free` is for forms the global shortcut opens.
    """
    interaction(callback_id, role, channel_free=channel_free)
    allowed = services.settings.allowed_channels

    def validate(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
        submission = Submission.of(body, context)
        try:
            if submission.channel not in allowed:
                raise Invalid({"channel": "Pick one of the channels this bot works in."})
            checking = contextvars.copy_context().run
            services.executor.submit(checking, check, services, submission).result(CHECK_SECONDS)
        except Invalid as invalid:
            ack(response_action="errors", errors=submission.errors(invalid.problems))
            return
        except TimeoutError:
            late = f"mailcow did not answer within {CHECK_SECONDS:.0f} s, so nothing was done. Submit again."
            ack(response_action="errors", errors=submission.errors({"": late}))
            return
        except Exception as error:
            log_error(error, f"form {callback_id}")
            ack(response_action="errors", errors=submission.errors({"": _problem(error)}))
            return
        context[ACK_NOTE] = ACCEPTED
        ack()

    def run(body: dict[str, Any], context: dict[str, Any]) -> None:
        if context.get(ACK_NOTE) != ACCEPTED:
            return  # answered with errors: the form stays open
        logs.correlation_id.set(context.get("correlation_id", "-"))
        submission = Submission.of(body, context)
        started = time.perf_counter()
        try:
            ready = check(services, submission)
        except Exception as error:  # mailcow changed, or stopped answering, since the ack
            log_error(error, f"form {callback_id}")
            origin = Origin(
                channel_id=submission.channel or "",
                user_id=submission.user_id,
                correlation_id=submission.correlation_id,
            )
            audit(services, origin, "form", callback_id, target="", outcome="refused", elapsed=0.0)
            deliver(services.slack, origin, error_reply(error, origin.correlation_id))
            return
        call = submission.call(services, ready.plan.name, ready.command_text)
        outcome = "ok"
        try:
            reply = finish(services, call, after(call, ready.plan) if after else ready.plan)
        except Exception as error:
            outcome = "refused" if isinstance(error, UsageError | ChatopsError) else "error"
            log_error(error, f"form {callback_id}")
            reply = error_reply(error, call.origin.correlation_id)
        finally:
            plan, elapsed = ready.plan, time.perf_counter() - started
            audit(
                services,
                call.origin,
                plan.area,
                plan.verb,
                target=plan.target,
                outcome=outcome,
                elapsed=elapsed,
            )
        if reply is not None:
            deliver(services.slack, call.origin, reply, command=services.settings.command)

    app.view(callback_id)(ack=validate, lazy=[run])


def _problem(error: BaseException) -> str:
    """A failure in the words a typed command would get, with the reference to its log line."""
    if isinstance(error, UsageError):
        return error.message
    headline, detail = explain(error)
    return f"{headline} {detail} (ref {logs.correlation_id.get()})"


# --- type-ahead ---------------------------------------------------------------------------------------


def _searchable(text: str) -> str:
    return text.lower().replace("\t", " ").replace("\n", " ")


@dataclass(frozen=True)
class _Index:
    """Every mailbox by address, searchable by prefix (bisect) and substring (one `str.find` scan)."""

    boxes: tuple[MailboxName, ...]
    addresses: tuple[str, ...]
    haystack: str
    starts: tuple[int, ...]
    source: tuple[int, int, int]
    """Length and the ids of the end rows of the list it was built from: a refetched list has new row
    objects (rows compare by value, so an unchanged first and last row would hide a change between)."""

    @classmethod
    def of(cls, boxes: Sequence[MailboxName]) -> _Index:
        ordered = tuple(sorted(boxes, key=lambda b: b.username.lower()))
        addresses = tuple(b.username.lower() for b in ordered)
        lines = [f"{address}\t{_searchable(b.name)}\n" for address, b in zip(addresses, ordered, strict=True)]
        starts, offset = [], 0
        for line in lines:
            starts.append(offset)
            offset += len(line)
        return cls(ordered, addresses, "".join(lines), tuple(starts), _identity(boxes))

    def search(self, typed: str, limit: int) -> list[MailboxName]:
        """Addresses starting with `typed` first, then any address or name containing it."""
        wanted = _searchable(typed.strip())
        if not wanted:
            return list(self.boxes[:limit])
        found: dict[int, None] = {}
        row = bisect_left(self.addresses, wanted)
        while row < len(self.addresses) and len(found) < limit and self.addresses[row].startswith(wanted):
            found[row] = None
            row += 1
        at = self.haystack.find(wanted)
        while at != -1 and len(found) < limit:
            row = bisect_right(self.starts, at) - 1
            found[row] = None
            at = self.haystack.find(wanted, self.starts[row + 1]) if row + 1 < len(self.starts) else -1
        return [self.boxes[row] for row in found]


def _identity(boxes: Sequence[MailboxName]) -> tuple[int, int, int]:
    # The index keeps its rows alive, so no row of a later fetch can have the same id.
    return (len(boxes), id(boxes[0]), id(boxes[-1])) if boxes else (0, 0, 0)


class MailboxDirectory:
    """The mailboxes a select menu offers as someone types: answers within Slack's 3 s at any size.

    It searches an index of the client's cached mailbox list, rebuilt only when that list was
    fetched again. The list is read on the worker pool: the very first request waits up to
    FIRST_LOAD for it; later ones wait at most STALE_WAIT (the cached list comes back at once) and,
    while a refetch is under way or when mailcow fails, answer from the previous index.
    """

    def __init__(self, services: Services) -> None:
        self._services = services
        self._index: _Index | None = None
        self._loading: Future[list[MailboxName]] | None = None
        self._lock = threading.Lock()

    def search(self, typed: str, limit: int = MAX_OPTIONS) -> list[MailboxName] | None:
        """Up to `limit` matches, best first; None while the very first list is still loading."""
        with self._lock:
            loading = self._loading
            asked = loading is None or loading.done()  # else a read is under way: do not queue another
            if loading is None or asked:
                loading = self._loading = self._services.executor.submit(self._services.mailcow.mailbox_names)
        index = self._index
        try:
            boxes = loading.result(timeout=FIRST_LOAD if index is None else STALE_WAIT if asked else 0)
        except (TimeoutError, MailcowError):
            if index is None and loading.done():
                raise  # mailcow's refusal, to say so in the menu
            return index.search(typed, limit) if index else None
        if index is None or index.source != _identity(boxes):
            index = self._index = _Index.of(boxes)
        return index.search(typed, limit)


def mailbox_options(directory: MailboxDirectory, typed: str) -> dict[str, Any]:
    """The answer to a mailbox options request: `option_groups` by domain, at most 100 options."""
    try:
        found = directory.search(typed)
    except MailcowError as error:
        return {"options": [option(f"mailcow did not answer: {error.user_message}", "-")]}
    if found is None:
        return {"options": [option("Still reading the mailboxes from mailcow… type on", "-")]}
    if not found:
        return {"options": []}
    groups: dict[str, list[dict[str, Any]]] = {}
    for box in found:
        label = f"{box.username} — {box.name}" if box.name else box.username
        groups.setdefault(box.domain or box.username.rpartition("@")[2], []).append(
            option(label, box.username)
        )
    return {
        "option_groups": [
            {"label": {"type": "plain_text", "text": clip(domain, MAX_OPTION_TEXT)}, "options": options}
            for domain, options in groups.items()
        ]
    }


def domain_options(domains: Sequence[Domain], typed: str) -> list[dict[str, Any]]:
    """Domains whose name or description contains `typed`, at most 100."""
    wanted = typed.strip().lower()
    matching = [d for d in domains if wanted in d.domain_name or wanted in d.description.lower()]
    return [option(d.domain_name, d.domain_name) for d in sorted(matching, key=lambda d: d.domain_name)][
        :MAX_OPTIONS
    ]
