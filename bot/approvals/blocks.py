"""The approval request message, in every state it goes through, and the deny-reason modal.

Everything is drawn from the stored request alone (plan, target state, who, when, outcome), so any
replica, also one started after the request was made, redraws the same message. While pending it
shows what will run (method, endpoint and body with secrets redacted), the target's state as read
from mailcow, who asked, the reason and the expiry, with Approve and Deny buttons whose value is
the request id. Once decided, the buttons go and the first line says what happened.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import Block, InputBlock, PlainTextInputElement
from slack_sdk.models.views import View

from bot.approvals.state import Approval, State
from bot.plans import Plan
from bot.render import actions, button, clip, code, context, duration, esc, fields, section

APPROVE = "approval_approve"
DENY = "approval_deny"
DENY_REASON = "approval_deny_reason"
"""The deny modal's callback_id; its single input's block and action id is `reason`."""

MAX_CALLS_SHOWN = 5
MAX_BODY_SHOWN = 1200
MAX_STATE_SHOWN = 20


def when(timestamp: float) -> str:
    """A time every reader sees in their own time zone, with UTC as the fallback text."""
    utc = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(timestamp)}^{{date_short_pretty}} at {{time}}|{utc}>"


def status_line(approval: Approval) -> str:
    """The first line of the message: where the request stands. Also the notification text."""
    summary = esc(approval.summary)
    by = f"<@{approval.decided_by}>"
    at = when(approval.decided_at) if approval.decided_at else ""
    match approval.state:
        case State.PENDING:
            return f":lock: *Approval needed:* {summary}"
        case State.APPROVED | State.RUNNING:
            return f":gear: *Running:* {summary} — approved by {by} {at}"
        case State.DONE:
            return f":white_check_mark: *Done:* {summary} — approved by {by} {at}"
        case State.FAILED:
            return f":x: *Failed:* {summary} — approved by {by} {at}"
        case State.DENIED if approval.decided_by == approval.requested_by:
            return f":leftwards_arrow_with_hook: *Withdrawn* by {by} {at}: {summary}"
        case State.DENIED:
            return f":no_entry_sign: *Denied* by {by} {at}: {summary}"
        case State.EXPIRED:
            return f":hourglass: *Expired* {when(approval.expires_at)} without approval: {summary}"
        case State.REFUSED:
            return f":warning: *Not run, the target changed:* {summary}"
        case State.INTERRUPTED:
            return f":warning: *Interrupted:* {summary}"


def _outcome(approval: Approval) -> str | None:
    outcome = esc(approval.outcome or "")
    match approval.state:
        case State.DONE:
            return f"*Result:* {outcome}\nDetails are in the thread."
        case State.FAILED:
            return f"*Outcome:* {outcome}\nNothing was retried. Ask again to run it again."
        case State.DENIED if approval.deny_reason:
            return f"*Reason:* {esc(approval.deny_reason)}"
        case State.EXPIRED:
            return "Nothing ran. Ask again if it is still needed."
        case State.REFUSED:
            return f"*What changed:* {outcome}\nNothing ran. Ask again for a fresh request."
        case State.INTERRUPTED:
            return outcome
    return None


def request_blocks(approval: Approval) -> list[Block]:
    """The whole message for the request as it stands now."""
    plan = Plan.from_json(approval.plan)
    state: dict[str, Any] = json.loads(approval.target_state)
    blocks: list[Block] = [section(status_line(approval))]
    outcome = _outcome(approval)
    if outcome:
        blocks.append(section(outcome))
    ttl = duration(approval.expires_at - approval.created_at)
    blocks += fields(
        [
            ("Requested by", f"<@{approval.requested_by}>"),
            ("Target", code(approval.target)),
            ("Expires", f"{when(approval.expires_at)} ({ttl} after the request)"),
            ("Reason", esc(approval.reason) or "—"),
        ]
    )
    pending = approval.state == State.PENDING
    blocks += _calls(plan, "*What will run*" if pending else "*The calls to mailcow*")
    blocks += _state(
        state,
        "*Now in mailcow* (checked again before it runs)" if pending else "*In mailcow when asked*",
        readable=plan.state is not None,
    )
    about = f"Request {code(approval.id)} · asked {when(approval.created_at)}"
    if pending:
        blocks.append(_buttons(approval))
        about += f" · needs an approver other than <@{approval.requested_by}>"
    blocks.append(context(about))
    return blocks


def _calls(plan: Plan, title: str) -> list[Block]:
    blocks: list[Block] = [section(title)]
    for call in plan.calls[:MAX_CALLS_SHOWN]:
        body = clip(json.dumps(call.redacted_body(), ensure_ascii=False), MAX_BODY_SHOWN)
        blocks.append(section(f"{code(call.describe())} on {esc(call.target)}\n```{esc(body)}```"))
    hidden = len(plan.calls) - MAX_CALLS_SHOWN
    if hidden > 0:
        blocks.append(context(f"… and {hidden} more call(s), run in this order"))
    return blocks


def _state(state: dict[str, Any], title: str, *, readable: bool) -> list[Block]:
    """The target's state as read for the request. `{}` from a state reader means the target does not
    exist yet (an add that waits for an approval); a plan without a reader has nothing to read."""
    if not state:
        missing = "not in mailcow yet" if readable else "nothing mailcow lets the bot read for this action"
        return [section(f"{title}: {missing}.")]
    shown = list(state.items())[:MAX_STATE_SHOWN]
    blocks: list[Block] = [section(title)]
    blocks += fields((esc(key), esc(_value(value))) for key, value in shown)
    if len(state) > MAX_STATE_SHOWN:
        blocks.append(context(f"… and {len(state) - MAX_STATE_SHOWN} more"))
    return blocks


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _buttons(approval: Approval) -> Block:
    summary = clip(approval.summary, 200)
    return actions(
        button(
            "Approve",
            APPROVE,
            approval.id,
            style="primary",
            confirm=("Approve and run?", f"{summary}: this runs on mailcow right away.", "Approve and run"),
        ),
        button(
            "Deny",
            DENY,
            approval.id,
            style="danger",
            confirm=("Deny this request?", "You can give a reason next. Nothing will run.", "Deny"),
        ),
    )


def deny_modal(approval: Approval) -> View:
    """Asks for an optional reason; `private_metadata` carries the channel (for the guard) and the id."""
    return View(
        type="modal",
        callback_id=DENY_REASON,
        title="Deny the request",
        submit="Deny",
        close="Cancel",
        private_metadata=json.dumps({"channel": approval.channel_id, "approval": approval.id}),
        blocks=[
            section(f"*{esc(approval.summary)}*\nasked by <@{approval.requested_by}>"),
            InputBlock(
                block_id="reason",
                label="Reason (optional)",
                optional=True,
                element=PlainTextInputElement(action_id="reason", multiline=True, max_length=500),
            ),
        ],
    )
