"""Plans: what a write command wants done, as data; and the one executor that does it.

A command never calls a mailcow write itself. It returns a `Plan`: the `ApiCall`s to make in order,
the lock key of what they act on (`queue`, `mailbox:jane@example.org`, `domain:example.org`), a
sentence for humans, and how to read the target's state. `bot.dispatch.submit` then runs it now
(a non-destructive write by an operator) or stores it as an approval request; after an approver's
click the stored plan, not a re-parsed command, is what runs. Both paths end here, the only place
that takes the per-target lock, writes to mailcow, heartbeats, reads back and records the outcome.

Target state survives restarts because a plan *names* its reader (`StateRef("queue", "A1B2C3")`)
rather than holding a function: area modules register readers with `@state_reader("queue")`. The
same reader gives the snapshot shown in the request and fingerprinted, the re-check before running,
and the read-back after the write, so "what changed" is always measured the same way.

Secrets never enter a stored plan: `Plan.stored_json()` refuses a call that carries a secret value.
A plan that needs one (a generated password) lists it in `fill_at_run` and builds its call with the
`GENERATED` placeholder; the executor puts a fresh value in at run time, registers it with the log
redactor, and returns it in `Outcome.secrets` for private delivery. It is never rendered or stored.
A value the requester typed (a password set in a form) waits `seal`ed instead: encrypted with
CHATOPS_SECRET_KEY, decrypted only by the executor, and never returned, since they know it.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, ConfigDict, Field
from slack_sdk.models.blocks import Block

from bot import logs
from bot.approvals.state import Approval, ApprovalStore, describe_changes, new_runner_id
from bot.errors import ChatopsError
from bot.mailcow import ApiCall, MailcowClient, MailcowError, WriteResult
from bot.render import MAX_SECTION, clip, code, context, esc, lines_to_sections, section
from bot.reply import Reply
from bot.store import Store, StoreUnavailable, TargetBusy

if TYPE_CHECKING:
    from bot.services import Origin, Services
    from bot.settings import Settings
    from commands import Call

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
"""How often a running action shows it is alive (and renews its target lock)."""
STALE_AFTER = 90.0
"""A run silent this long is marked interrupted: its process died. Above LOCK_WAIT, since a run
waiting for its lock has not started heartbeating yet."""
LOCK_TTL = 60.0
"""A dead runner's lock frees itself this long after its last heartbeat."""
LOCK_WAIT = 60.0
"""How long an action waits for another action on the same target before giving up."""
UNRECORDED = (
    "The bot's database was unavailable when this finished, so the outcome is not recorded there; "
    "the request will show as interrupted."
)
GENERATED = "<generated when the action runs>"
"""What a builder gets instead of a secret listed in `Plan.fill_at_run`."""


class StateRef(BaseModel):
    """Which registered reader reads the target's relevant state, and with what key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reader: str
    key: str = ""


class RuntimeSecret(BaseModel):
    """Body fields of call number `call` that get one password when the plan runs: a freshly generated
    one, or the requester's own, `sealed` (see `seal`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    call: int = Field(ge=0)
    fields: list[str] = Field(min_length=1)
    sealed: str | None = None


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    area: str
    verb: str
    summary: str
    target: str
    calls: list[ApiCall] = Field(min_length=1)
    destructive: bool = False
    reason: str = ""
    state: StateRef | None = None
    fill_at_run: list[RuntimeSecret] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        call: Call,
        *,
        summary: str,
        target: str,
        calls: Sequence[ApiCall],
        state: StateRef | None = None,
        fill_at_run: Sequence[RuntimeSecret] = (),
    ) -> Plan:
        """A plan for the command being run: area, verb and destructiveness come from its registration."""
        cmd = call.command
        return cls(
            area=cmd.area,
            verb=cmd.verb,
            summary=summary,
            target=target,
            calls=list(calls),
            destructive=cmd.destructive,
            state=state,
            fill_at_run=list(fill_at_run),
        )

    @property
    def name(self) -> str:
        return f"{self.area}.{self.verb}"

    def stored_json(self) -> str:
        """The plan as it waits in the database for an approver; a secret value in it is a bug."""
        for index, call in enumerate(self.calls):
            leaked = [f for f in call.secret_fields if _holds_secret(call.body, f)]
            if leaked:
                raise ValueError(
                    f"call {index} of {self.name} carries a secret in {', '.join(leaked)}; a stored plan "
                    "must use fill_at_run instead"
                )
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.model_validate_json(text)


class SealError(Exception):
    """A sealed secret cannot be opened: CHATOPS_SECRET_KEY is missing or not the key that sealed it."""


def can_seal(settings: Settings) -> bool:
    return settings.secret_key is not None


def seal(settings: Settings, value: str) -> str:
    """`value` encrypted with CHATOPS_SECRET_KEY (Fernet), fit to wait in a stored plan."""
    return _fernet(settings).encrypt(value.encode()).decode()


def _unseal(settings: Settings, token: str) -> str:
    try:
        return _fernet(settings).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SealError(
            "the password typed with the request cannot be decrypted (CHATOPS_SECRET_KEY changed since)"
        ) from None


def _fernet(settings: Settings) -> Fernet:
    if settings.secret_key is None:
        raise SealError(
            "the password typed with the request cannot be decrypted (CHATOPS_SECRET_KEY is not set)"
        )
    return Fernet(settings.secret_key.get_secret_value().encode())


def needs_approval(plan: Plan, settings: Settings) -> bool:
    """Destructive plans always do; CHATOPS_EXTRA_APPROVALS adds verbs and can remove none."""
    return plan.destructive or plan.name in settings.extra_approvals


def _holds_secret(body: Any, name: str) -> bool:
    if isinstance(body, dict):
        return any(
            (key == name and value not in (None, "", GENERATED)) or _holds_secret(value, name)
            for key, value in body.items()
        )
    if isinstance(body, list):
        return any(_holds_secret(item, name) for item in body)
    return False


# --- target state --------------------------------------------------------------------------------

StateReader = Callable[[MailcowClient, str], dict[str, Any]]
STATE_READERS: dict[str, StateReader] = {}


def state_reader(name: str) -> Callable[[StateReader], StateReader]:
    """Register `fn(client, key) -> dict` as the reader plans name with `StateRef(name, key)`.

    It must read fresh (not cached) and return JSON values under keys a person understands, never a
    secret: the dict is shown in the request, stored, compared before running, and diffed for the
    read-back.
    """

    def register(reader: StateReader) -> StateReader:
        if STATE_READERS.setdefault(name, reader) is not reader:
            raise ValueError(f"a state reader named {name} is already registered")
        return reader

    return register


def read_state(client: MailcowClient, ref: StateRef | None) -> dict[str, Any]:
    """The target's relevant state now, as plain JSON values ({} when the plan names no reader)."""
    if ref is None:
        return {}
    reader = STATE_READERS.get(ref.reader)
    if reader is None:
        raise LookupError(f"no state reader named {ref.reader!r} is registered")
    state: dict[str, Any] = json.loads(json.dumps(reader(client, ref.key)))
    return state


def state_changes(before: dict[str, Any], after: dict[str, Any]) -> str:
    """`key: before → after; …`, or an empty string when nothing changed."""
    return describe_changes(json.dumps(before), after) if before != after else ""


# --- the executor --------------------------------------------------------------------------------


@dataclass
class Outcome:
    """How a plan's run went. `error` is None only when every call went through."""

    plan: Plan
    done: list[tuple[ApiCall, WriteResult]] = field(default_factory=list)
    error: str | None = None
    failed_call: ApiCall | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    read_back_problem: str | None = None
    seconds: float = 0.0
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    """Values generated for `fill_at_run`, by field name: for private delivery only, never rendered."""
    unrecorded: bool = False
    """mailcow ran it, but the database was down when it finished: the outcome is only in Slack."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def answers(self) -> list[str]:
        return [text for _, result in self.done for text in result.texts]

    def read_back(self) -> str:
        if self.plan.state is None:
            return "mailcow offers no way to read this back"
        if self.read_back_problem:
            return f"could not read it back: {self.read_back_problem}"
        if self.before is None or self.after is None:
            return ""
        if self.before and not self.after:  # a delete: what it was says more than every field → (none)
            was = "; ".join(
                f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
                for key, value in self.before.items()
            )
            return f"no longer in mailcow (was: {was})"
        return state_changes(self.before, self.after) or "no visible change"

    def text(self) -> str:
        """One line of plain words for the audit trail and the approval message."""
        if self.ok:
            line = "; ".join(self.answers) or "done"
            back = self.read_back()
            return f"{line} · read back: {back}" if back else line
        line = self.error or "failed"
        if self.done:
            went = ", ".join(f"{call.describe()} on {call.target}" for call, _ in self.done)
            line += f" (went through before that: {went})"
        return line

    def reply(self) -> Reply:
        """The outcome as a person reads it: the headline, mailcow's answers, the read-back."""
        blocks: list[Block] = []
        if self.done:
            lines = [f"*{code(call.describe())}* on {esc(call.target)}" for call, _ in self.done]
            lines += [f"• {esc(text)}" for text in self.answers]
            blocks += lines_to_sections(["*mailcow answered*", *lines])
        if not self.ok:
            why = (
                f"*mailcow's answer to {code(self.failed_call.describe())}*" if self.failed_call else "*Why*"
            )
            blocks.append(section(f"{why}\n{esc(self.error)}"))
            blocks.append(context("Nothing was retried. Check mailcow, then ask again to run it again."))
        back = self.read_back()
        if self.ok and back:
            blocks.append(section(clip(f"*Read back from mailcow*: {esc(back)}", MAX_SECTION)))
        blocks.append(context(f"{len(self.done)} of {len(self.plan.calls)} call(s) · {self.seconds:.1f} s"))
        if self.unrecorded:
            blocks.append(context(UNRECORDED))
        if self.ok:
            return Reply(headline=f"Done: {esc(self.plan.summary)}", blocks=blocks, status="ok")
        return Reply(headline=f"Failed: {esc(self.plan.summary)}", blocks=blocks, status="error")


def run_now(services: Services, plan: Plan, origin: Origin) -> Outcome:
    """Run a plan that needs no approval, and record it in the audit trail."""
    store = require_store(services)
    outcome = _execute(services, plan, holder=new_runner_id(), expected=None, beat=None)
    try:
        store.record(
            "execution" if outcome.ok else "failure",
            user_id=origin.user_id,
            channel_id=origin.channel_id,
            area=plan.area,
            verb=plan.verb,
            target=plan.target,
            outcome="done" if outcome.ok else "failed",
            detail=f"{outcome.text()} | {_calls_for_audit(plan.calls)}",
            duration_ms=round(outcome.seconds * 1000),
            correlation_id=origin.correlation_id,
        )
    except StoreUnavailable as error:
        log.warning("the run of %s on %s is not in the audit trail: %s", plan.name, plan.target, error)
    return outcome


def run_approved(services: Services, approval: Approval) -> Outcome | None:
    """Claim an approved request and run its stored plan; None when another caller claimed it.

    Before any write, inside the target's lock, the target is read again and compared with what
    the approver saw: a difference stops the run (the request's re-check covered the time up to
    the click, this covers the wait for the lock).
    """
    approvals = require_approvals(services)
    runner = new_runner_id()
    if not approvals.start(approval.id, runner):
        return None
    plan = Plan.from_json(approval.plan)

    def beat() -> None:
        if not approvals.heartbeat(approval.id, runner):
            log.warning("approval %s was marked interrupted while its action still runs", approval.id)

    outcome = _execute(services, plan, holder=runner, expected=json.loads(approval.target_state), beat=beat)
    try:
        approvals.finish(approval.id, outcome.ok, outcome.text())
    except StoreUnavailable as error:
        # mailcow already acted: what it answered must still reach people, so this is not a refusal.
        log.warning("the outcome of approval %s is not recorded: %s", approval.id, error)
        outcome.unrecorded = True
    return outcome


def _execute(
    services: Services,
    plan: Plan,
    *,
    holder: str,
    expected: dict[str, Any] | None,
    beat: Callable[[], None] | None,
) -> Outcome:
    store = require_store(services)
    client = services.mailcow
    outcome = Outcome(plan)
    started = time.perf_counter()
    try:
        with (
            store.target_lock(plan.target, holder, ttl=LOCK_TTL, wait=LOCK_WAIT),
            _heartbeat(store, plan.target, holder, beat),
        ):
            _run_calls(client, plan, outcome, expected, services.settings)
    except StoreUnavailable:
        raise
    except TargetBusy:
        outcome.error = (
            f"not run: another action on {plan.target} was still running after {LOCK_WAIT:.0f} s; "
            "nothing was sent to mailcow"
        )
    except Exception as error:
        # The request must end as failed rather than hang as running: say so, keep the traceback.
        log.error("running %s on %s failed", plan.name, plan.target, exc_info=error)
        outcome.error = (
            f"the bot failed while running it (ref {logs.correlation_id.get()}); "
            "check mailcow for what was done"
        )
    outcome.seconds = time.perf_counter() - started
    return outcome


def _run_calls(
    client: MailcowClient,
    plan: Plan,
    outcome: Outcome,
    expected: dict[str, Any] | None,
    settings: Settings,
) -> None:
    """Inside the lock: check the target, make the calls in order, stop at the first failure, read back."""
    try:
        outcome.before = read_state(client, plan.state)
    except MailcowError as error:
        outcome.error = f"not run: could not read {plan.target} from mailcow: {error.user_message}"
        return
    if expected is not None and outcome.before != expected:
        changes = state_changes(expected, outcome.before)
        outcome.error = f"not run: {plan.target} changed since the request ({changes})"
        return
    try:
        calls, outcome.secrets = _fill_secrets(plan, settings)
    except SealError as error:
        outcome.error = f"not run: {error}; nothing was sent to mailcow"
        return
    for call in calls:
        try:
            outcome.done.append((call, client.write(call)))
        except MailcowError as error:  # never retried: mailcow may have done part of it
            outcome.error = error.user_message
            outcome.failed_call = call
            return
    try:
        outcome.after = read_state(client, plan.state)
    except MailcowError as error:
        outcome.read_back_problem = error.user_message


def _fill_secrets(plan: Plan, settings: Settings) -> tuple[list[ApiCall], dict[str, str]]:
    """The calls with their secrets in, and the generated ones (a sealed one is the requester's own)."""
    calls = list(plan.calls)
    generated: dict[str, str] = {}
    for slot in plan.fill_at_run:
        value = _unseal(settings, slot.sealed) if slot.sealed else generate_password()
        logs.register_secret(value)
        call = calls[slot.call]
        calls[slot.call] = call.model_copy(update={"body": _fill(call.body, set(slot.fields), value)})
        if not slot.sealed:
            generated.update(dict.fromkeys(slot.fields, value))
    return calls, generated


def _fill(body: Any, names: set[str], value: str) -> Any:
    if isinstance(body, dict):
        return {
            key: value if key in names and item == GENERATED else _fill(item, names, value)
            for key, item in body.items()
        }
    if isinstance(body, list):
        return [_fill(item, names, value) for item in body]
    return body


GENERATED_SYMBOLS = "-_.+="
"""The special characters generated passwords use: none means anything in Slack's mrkdwn."""


def generate_password(length: int = 20) -> str:
    """Lower- and upper-case letters, digits and a symbol: every kind mailcow's password policy can ask
    for (`get/passwordpolicy`), so the strictest one still accepts it."""
    alphabet = string.ascii_letters + string.digits + GENERATED_SYMBOLS
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        kinds = (str.islower, str.isupper, str.isdigit, lambda c: c in GENERATED_SYMBOLS)
        if all(any(kind(c) for c in value) for kind in kinds):
            return value


@contextmanager
def _heartbeat(store: Store, target: str, holder: str, beat: Callable[[], None] | None) -> Iterator[None]:
    """While the body runs: renew the target lock, and call `beat` (the approval's heartbeat)."""
    stopped = threading.Event()

    def loop() -> None:
        while not stopped.wait(HEARTBEAT_SECONDS):
            try:
                store.acquire_lock(target, holder, LOCK_TTL)
                if beat is not None:
                    beat()
            except StoreUnavailable as error:
                log.warning("heartbeat for %s missed: %s", target, error)

    thread = threading.Thread(target=loop, name=f"heartbeat {target}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join()


def _calls_for_audit(calls: Sequence[ApiCall]) -> str:
    return "; ".join(
        f"{call.describe()} {json.dumps(call.redacted_body(), ensure_ascii=False)}" for call in calls
    )


# --- what needs the database --------------------------------------------------------------------

DATABASE_DOWN = (
    "The bot's database is unavailable, so changes and approvals are refused until it is back. "
    "Read commands still work."
)


def require_store(services: Services) -> Store:
    if services.store is None:
        raise ChatopsError(DATABASE_DOWN)
    return services.store


def require_approvals(services: Services) -> ApprovalStore:
    if services.approvals is None:
        raise ChatopsError(DATABASE_DOWN)
    return services.approvals


def database_refusal(error: StoreUnavailable) -> ChatopsError:
    """The refusal a person sees; the database's own words go to the log, not the channel."""
    log.warning("refused a change: %s", error)
    return ChatopsError(DATABASE_DOWN)
