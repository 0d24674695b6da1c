"""The Slack side of approvals: posting a request, redrawing its message, the Approve and Deny clicks.

The guard has already checked the channel and the role on the ack path: Approve needs an approver,
so anyone else is refused there, ephemerally, with the reason; Deny needs an operator, because the
person who asked may withdraw their own request. The listeners only acknowledge; the work runs
lazily, where `ApprovalStore` re-checks everything in the database (still pending, not expired, not
the requester, still an approver, the target unchanged) and a conditional update makes exactly one
click win, on any number of replicas. The winner runs the stored plan through the executor, redraws
the message with the outcome and puts the details in its thread.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from bot import logs
from bot.approvals.blocks import APPROVE, DENY, DENY_REASON, deny_modal, request_blocks, status_line, when
from bot.approvals.state import Approval, State, Verdict, describe
from bot.errors import ChatopsError
from bot.guard import interaction
from bot.mailcow import MailcowError
from bot.plans import Outcome, Plan, database_refusal, read_state, require_approvals, run_approved
from bot.render import MAX_TEXT, clip, code, context, esc, section
from bot.reply import Reply, deliver, send_direct, send_ephemeral
from bot.roles import Role
from bot.services import Origin, Services
from bot.store import StoreUnavailable

log = logging.getLogger(__name__)


def request_approval(services: Services, origin: Origin, plan: Plan) -> Reply | None:
    """Store `plan` as a pending request and post it; a re-typed command finds the pending one."""
    approvals = require_approvals(services)
    if not services.roles.approvers_configured:
        raise ChatopsError(
            "No approvers are configured (CHATOPS_APPROVERS), so nobody could approve this. "
            "Nothing was requested."
        )
    created = approvals.create(
        area=plan.area,
        verb=plan.verb,
        target=plan.target,
        summary=plan.summary,
        plan=plan.stored_json(),
        target_state=read_state(services.mailcow, plan.state),
        requested_by=origin.user_id,
        channel_id=origin.channel_id,
        ttl=services.settings.approval_ttl,
        reason=plan.reason,
        correlation_id=origin.correlation_id,
    )
    approval = created.approval
    if not created.new and approval.message_ts is not None:
        return Reply(
            headline=(
                f"The same request is already waiting for approval (request {code(approval.id)}, asked "
                f"by <@{approval.requested_by}> {when(approval.created_at)}). It runs once, when approved."
            ),
            ephemeral=True,
            status="warn",
        )
    posted = services.slack.chat_postMessage(
        channel=approval.channel_id,
        text=clip(status_line(approval), MAX_TEXT),
        blocks=request_blocks(approval),
        unfurl_links=False,
        unfurl_media=False,
    )
    approvals.set_message(approval.id, approval.channel_id, str(posted["ts"]))
    return None


def redraw(services: Services, approval: Approval) -> None:
    """Show the request's current state in its message (any replica can: it is all in the row)."""
    if approval.message_ts is None:
        return
    try:
        services.slack.chat_update(
            channel=approval.channel_id,
            ts=approval.message_ts,
            text=clip(status_line(approval), MAX_TEXT),
            blocks=request_blocks(approval),
        )
    except SlackApiError as error:
        log.warning("could not redraw approval %s: %s", approval.id, error.response.get("error"))


def hand_over(services: Services, approval: Approval, outcome: Outcome) -> str:
    """Send what the approved run generated (a password) to the person who asked, once; say where.

    A direct message, because they may be anywhere by the time someone approves: an ephemeral
    message reaches only a client open in the channel at that moment. The secret is in the blocks
    only, so notification previews do not show it.
    """
    plan = Plan.from_json(approval.plan)
    passwords = [
        f"New password for {code(plan.calls[slot.call].target)}: {code(outcome.secrets[slot.fields[0]])}"
        for slot in plan.fill_at_run
        if not slot.sealed
    ]
    text = "\n".join(
        [f"*{esc(plan.summary)}*: done.", *passwords, "Shown once, only to you: it is kept nowhere."]
    )
    try:
        send_direct(
            services.slack,
            approval.requested_by,
            f"{plan.summary}: done. Open this message for the new password.",
            [section(text)],
        )
    except SlackApiError as error:
        log.warning("could not hand the new password for %s to its requester: %s", plan.target, error)
        return (
            f":warning: The new password could not be sent to <@{approval.requested_by}> (Slack said "
            f"`{error.response.get('error')}`) and is kept nowhere: ask for another reset."
        )
    return f":key: The new password went to <@{approval.requested_by}> in a direct message, once."


def register(app: App, services: Services) -> None:
    interaction(APPROVE, Role.APPROVER)
    interaction(DENY, Role.OPERATOR)
    interaction(DENY_REASON, Role.OPERATOR)

    def acknowledge(ack: Ack) -> None:
        ack()

    def is_approver(user_id: str) -> bool:
        return services.roles.has(user_id, Role.APPROVER)

    def tell(origin: Origin, text: str) -> None:
        send_ephemeral(services.slack, origin, text, [])

    def refuse(origin: Origin, error: StoreUnavailable | ChatopsError) -> None:
        refusal = database_refusal(error) if isinstance(error, StoreUnavailable) else error
        tell(origin, f":no_entry: {refusal.message}")

    def current_state(approval: Approval) -> dict[str, Any]:
        return read_state(services.mailcow, Plan.from_json(approval.plan).state)

    def approve(body: dict[str, Any], context: dict[str, Any]) -> None:
        origin, approval_id = _click(body, context)
        try:
            decision = require_approvals(services).approve(
                approval_id, origin.user_id, is_authorised=is_approver, current_state=current_state
            )
        except (StoreUnavailable, ChatopsError) as error:
            refuse(origin, error)
            return
        except MailcowError as error:
            tell(
                origin,
                ":warning: I could not read the target's current state from mailcow, so nothing was "
                f"approved and the request still waits: {error.user_message}",
            )
            return
        if decision.moved and decision.approval is not None:
            redraw(services, decision.approval)
        if decision.verdict is not Verdict.APPROVED or decision.approval is None:
            tell(origin, f":no_entry: Not approved: {decision.reason}.")
            return
        run(origin, decision.approval)

    def run(origin: Origin, approval: Approval) -> None:
        try:
            outcome = run_approved(services, approval)
        except (StoreUnavailable, ChatopsError) as error:
            refuse(origin, error)
            return
        if outcome is None:
            return
        final = approval
        try:
            final = require_approvals(services).get(approval.id) or approval
            redraw(services, final)
        except StoreUnavailable as error:
            log.warning("could not redraw approval %s: %s", approval.id, error)
        where = Origin(
            channel_id=final.channel_id,
            user_id=origin.user_id,
            correlation_id=origin.correlation_id,
            response_url=origin.response_url,
            thread_ts=final.message_ts,
        )
        reply = outcome.reply()
        if outcome.ok and outcome.secrets:
            reply.blocks.append(context(hand_over(services, final, outcome)))
        deliver(services.slack, where, reply, command=services.settings.command)

    def ask_deny_reason(body: dict[str, Any], context: dict[str, Any]) -> None:
        origin, approval_id = _click(body, context)
        try:
            approval = require_approvals(services).get(approval_id)
        except (StoreUnavailable, ChatopsError) as error:
            refuse(origin, error)
            return
        if approval is None or approval.state != State.PENDING:
            tell(origin, f"Nothing to deny: {describe(approval) if approval else 'no such request'}.")
            return
        try:
            services.slack.views_open(trigger_id=body["trigger_id"], view=deny_modal(approval))
        except SlackApiError as error:
            code_ = error.response.get("error")
            log.warning("could not open the deny form of approval %s: %s", approval_id, code_)
            why = (
                "Slack's time to open the form ran out"
                if code_ == "expired_trigger_id"
                else f"Slack would not open the form (`{code_}`)"
            )
            tell(origin, f":hourglass: {why}, so nothing was denied. Click *Deny* again.")

    def deny(body: dict[str, Any], context: dict[str, Any]) -> None:
        logs.correlation_id.set(context.get("correlation_id", "-"))
        view = body["view"]
        metadata = json.loads(view["private_metadata"])
        reason = view["state"]["values"]["reason"]["reason"].get("value") or ""
        origin = Origin(
            channel_id=metadata["channel"],
            user_id=body["user"]["id"],
            correlation_id=context.get("correlation_id", "-"),
        )
        try:
            decision = require_approvals(services).deny(
                metadata["approval"], origin.user_id, reason.strip(), is_authorised=is_approver
            )
        except (StoreUnavailable, ChatopsError) as error:
            refuse(origin, error)
            return
        if decision.moved and decision.approval is not None:
            redraw(services, decision.approval)
        if not decision.won:
            tell(origin, f":no_entry: Not denied: {decision.reason}.")

    app.action(APPROVE)(ack=acknowledge, lazy=[approve])
    app.action(DENY)(ack=acknowledge, lazy=[ask_deny_reason])
    app.view(DENY_REASON)(ack=acknowledge, lazy=[deny])


def _click(body: dict[str, Any], context: dict[str, Any]) -> tuple[Origin, str]:
    """Who clicked where (answers to them go through the click's response URL) and the request id."""
    correlation = context.get("correlation_id", "-")
    logs.correlation_id.set(correlation)
    origin = Origin(
        channel_id=body["channel"]["id"],
        user_id=body["user"]["id"],
        correlation_id=correlation,
        response_url=body.get("response_url"),
    )
    return origin, str(body["actions"][0]["value"])
