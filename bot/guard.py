"""The guard: channel allowlist and roles, checked on every payload before any listener runs.

Deny by default. Every payload type is classified (slash command, button click, modal submission
or close, options request, shortcut, event); its channel comes from where that type carries it
(modals carry it in `private_metadata`); its required role comes from the command registry or from
the interaction registry below. An interaction id nobody registered is refused. Refusals are
answered on the ack path in the form that payload type allows (ephemeral text, a modal update, a
single explanatory option), so mailcow is never called for a refused request. Each refusal is also
recorded in the audit trail, on the worker pool, so the ack never waits for the database.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import logs
from bot.metrics import REFUSALS
from bot.roles import Role, RoleResolver
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Interaction:
    role: Role
    channel_free: bool = False  # may arrive without a channel (App Home, global shortcut, its modal)


INTERACTIONS: dict[str, Interaction] = {}

CORRELATION_HEADER = "x-chatops-correlation-id"
"""Carries the ack's correlation id to the worker process that runs the lazy work (bot/workers.py)."""
_CORRELATION_ID = re.compile(r"[0-9a-f]{8}")
ACK_NOTE = "ack_note"
"""Context key for what an ack function tells its lazy listeners (e.g. a form passed its checks)."""
ACK_NOTE_HEADER = "x-chatops-ack-note"
"""Carries `ACK_NOTE` to the worker process that runs the lazy work: it has no other way to learn it."""
_ACK_NOTE = re.compile(r"[a-z_]{1,32}")

_SECRET_OPTION = re.compile(
    r"(?i)\b([a-z0-9_-]*(?:pass|secret|token|key)[a-z0-9_-]*)=(\"[^\"]*\"|'[^']*'|“[^”]*”|\S+)"
)


def redact_options(command_text: str) -> str:
    """Command text fit for the audit trail: values of password-, secret-, token- or key-like options
    are replaced, since a secret typed into a command must not be kept."""
    return _SECRET_OPTION.sub(r"\1=[redacted]", command_text)


def interaction(interaction_id: str, role: Role, *, channel_free: bool = False) -> str:
    """Declare an `action_id` or a modal/shortcut `callback_id`, and who may use it."""
    INTERACTIONS[interaction_id] = Interaction(role, channel_free)
    return interaction_id


@dataclass(frozen=True)
class Payload:
    kind: str
    user_id: str
    channel_id: str | None
    interaction_id: str | None = None
    text: str = ""


def classify(body: dict[str, Any]) -> Payload:
    """Where each payload type keeps its user, channel and id (Slack's payload reference)."""
    if "command" in body:
        return Payload(
            "command", body.get("user_id", ""), body.get("channel_id"), None, body.get("text") or ""
        )
    kind = str(body.get("type", ""))
    user = body.get("user") or {}
    user_id = str(user.get("id", "")) if isinstance(user, dict) else ""
    if kind == "event_callback":
        event = body.get("event") or {}
        return Payload(f"event:{event.get('type', '')}", str(event.get("user", "")), None)
    view = body.get("view") or {}
    if kind in {"view_submission", "view_closed"}:
        return Payload(kind, user_id, metadata_channel(view), view.get("callback_id"))
    if kind in {"block_actions", "block_suggestion"}:
        action_id = (
            (body.get("actions") or [{}])[0].get("action_id")
            if kind == "block_actions"
            else body.get("action_id")
        )
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        if view:
            channel = metadata_channel(view)
        return Payload(kind, user_id, channel, action_id)
    if kind in {"shortcut", "message_action"}:
        channel = (body.get("channel") or {}).get("id")
        return Payload(kind, user_id, channel, body.get("callback_id"))
    return Payload(kind or "unknown", user_id, None)


def metadata_channel(view: dict[str, Any]) -> str | None:
    """Modals carry no channel; ours put it in `private_metadata` as JSON `{"channel": …}`."""
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return None
    channel = data.get("channel") if isinstance(data, dict) else None
    return str(channel) if channel else None


class Guard:
    def __init__(
        self,
        allowed_channels: list[str],
        roles: RoleResolver,
        command_role: Callable[[str], Role],
        client: WebClient,
        background: Executor,
        *,
        store: Store | None = None,
        in_worker: bool = False,
    ) -> None:
        self.allowed = frozenset(allowed_channels)
        self.roles = roles
        self.command_role = command_role
        self.client = client
        self.background = background
        self.store = store
        self.in_worker = in_worker

    def refusal(self, payload: Payload) -> str | None:
        """Why this payload must be refused, or None when it may proceed."""
        if not payload.user_id:
            return "I cannot tell who sent this, so I will not act on it."
        if payload.kind.startswith("event:"):
            return None if payload.kind == "event:app_home_opened" else "ignored event"
        if payload.kind == "command":
            required = self.command_role(payload.text)
            channel_free = False
        else:
            spec = INTERACTIONS.get(payload.interaction_id or "")
            if spec is None:
                return "This control is not known to this version of the bot, so I will not act on it."
            required, channel_free = spec.role, spec.channel_free
        if payload.channel_id is None:
            if not channel_free:
                return "I can only act in an allowed channel, and this request came without one."
        elif payload.channel_id not in self.allowed:
            return (
                f"<#{payload.channel_id}> is not an allowed channel for mailcow commands. "
                "Ask an admin to add it to CHATOPS_ALLOWED_CHANNELS, or use one of: "
                + ", ".join(f"<#{c}>" for c in sorted(self.allowed))
            )
        if not self.roles.has(payload.user_id, required):
            return f"This needs {required.noun}, and you are not one. Ask a mail admin to add you."
        return None

    def __call__(
        self, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        cid = self._queued(req, CORRELATION_HEADER, _CORRELATION_ID) or secrets.token_hex(4)
        logs.correlation_id.set(cid)
        req.context["correlation_id"] = cid
        note = self._queued(req, ACK_NOTE_HEADER, _ACK_NOTE)
        if note is not None:
            req.context[ACK_NOTE] = note
        payload = classify(req.body)
        reason = self.refusal(payload)
        if reason is None:
            req.context["roles"] = self.roles.roles_of(payload.user_id)
            req.context["payload"] = payload
            next()
            return resp
        if reason == "ignored event":
            return BoltResponse(status=200, body="")
        REFUSALS.labels(kind=payload.kind, reason=_reason_label(reason)).inc()
        log.info("refused %s from %s in %s: %s", payload.kind, payload.user_id, payload.channel_id, reason)
        if self.store is not None:
            self.background.submit(self._record, self.store, req.body, payload, reason, cid)
        return self._refuse(req, payload, reason)

    def _queued(self, req: BoltRequest, header: str, form: re.Pattern[str]) -> str | None:
        """What the ack's half of a request left for its lazy work in a worker process (`in_worker`):
        the correlation id, so both halves log and answer under one reference, and the ack's note.
        Only a worker trusts these headers: its requests come from the serving process over a local
        pipe, and `bot.server` drops them from every request that comes from outside."""
        if not (self.in_worker and req.lazy_only):
            return None
        value = (req.headers.get(header) or [""])[0]
        return value if form.fullmatch(value) else None

    def _refuse(self, req: BoltRequest, payload: Payload, reason: str) -> BoltResponse:
        text = f":no_entry: {reason}"
        if payload.kind == "command":
            return json_response({"response_type": "ephemeral", "text": text})
        if payload.kind == "view_submission":
            return json_response({"response_action": "update", "view": refusal_view(reason)})
        if payload.kind == "block_suggestion":
            label = f"Not allowed: {reason}"[:75]
            return json_response(
                {"options": [{"text": {"type": "plain_text", "text": label}, "value": "refused"}]}
            )
        if payload.kind in {"block_actions", "shortcut", "message_action"}:
            self.background.submit(self._tell, req.body, payload, text)
        return BoltResponse(status=200, body="")

    def _tell(self, body: dict[str, Any], payload: Payload, text: str) -> None:
        """Explain a refused click after the ack: in the channel only to them, or in a modal."""
        try:
            if body.get("response_url"):
                from slack_sdk.webhook import WebhookClient

                WebhookClient(body["response_url"]).send(
                    text=text, response_type="ephemeral", replace_original=False
                )
            elif payload.channel_id:
                self.client.chat_postEphemeral(channel=payload.channel_id, user=payload.user_id, text=text)
            elif body.get("trigger_id"):
                self.client.views_open(trigger_id=body["trigger_id"], view=refusal_view(text))
        except (SlackApiError, OSError) as error:
            log.warning("could not explain a refusal to %s: %s", payload.user_id, error)

    @staticmethod
    def _record(store: Store, body: dict[str, Any], payload: Payload, reason: str, cid: str) -> None:
        if payload.kind == "command":
            what = f"{body.get('command', '')} {redact_options(payload.text)}".strip()
        else:
            value = ((body.get("actions") or [{}])[0] or {}).get("value")
            what = " ".join(str(p) for p in (payload.interaction_id, value) if p)
        try:
            store.record(
                "refusal",
                user_id=payload.user_id,
                channel_id=payload.channel_id or "",
                outcome="refused",
                detail=f"{payload.kind} {what}: {reason}",
                correlation_id=cid,
            )
        except StoreUnavailable as error:
            log.warning("a refusal is not in the audit trail: %s", error)


def _reason_label(reason: str) -> str:
    if "not an allowed channel" in reason or "without one" in reason:
        return "channel"
    if "needs" in reason:
        return "role"
    return "other"


def json_response(body: dict[str, Any]) -> BoltResponse:
    return BoltResponse(status=200, body=json.dumps(body), headers={"content-type": "application/json"})


def refusal_view(reason: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Not allowed"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": reason[:3000]}}],
    }
