"""Driving the app's forms as Slack does: `views.open` → `block_actions` → `view_submission`.

A submission is built from the view the app opened (`fill`), the way Slack fills it: what the test
types over the inputs' initial values.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, Answer, SlackDriver


def _initial(element: dict[str, Any]) -> Any:
    if "initial_option" in element:
        return element["initial_option"]["value"]
    if "initial_options" in element:
        return [o["value"] for o in element["initial_options"]]
    return element.get("initial_value")


def _state(kind: str, value: Any) -> dict[str, Any]:
    if kind in ("static_select", "external_select", "radio_buttons"):
        chosen = {"text": {"type": "plain_text", "text": str(value)}, "value": value} if value else None
        return {"type": kind, "selected_option": chosen}
    if kind == "checkboxes":
        return {"type": kind, "selected_options": [{"value": v} for v in value or []]}
    return {"type": kind, "value": None if value is None else str(value)}


def fill(view: dict[str, Any], **typed: Any) -> dict[str, Any]:
    """`view` as Slack submits it: every input's state, `typed` (by action_id) over initial values."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] == "input":
            element = block["element"]
            action = element["action_id"]
            value = typed[action] if action in typed else _initial(element)
            values[block["block_id"]] = {action: _state(element["type"], value)}
    return {**view, "state": {"values": values}}


def views_with(fake_slack: FakeSlack, callback_id: str) -> list[dict[str, Any]]:
    return [v for v in list(fake_slack.views.values()) if v.get("callback_id") == callback_id]


def wait_view(fake_slack: FakeSlack, callback_id: str) -> dict[str, Any]:
    """The open form with `callback_id` (the newest, as last drawn)."""
    return fake_slack.wait_for(lambda s: views_with(s, callback_id))[-1]  # type: ignore[no-any-return]


def opened(
    slack: SlackDriver, fake_slack: FakeSlack, text: str, callback_id: str, **kw: Any
) -> dict[str, Any]:
    """Type `/mailcow text` and return the form it opens."""
    assert slack.command(text, **kw).text == ""
    return wait_view(fake_slack, callback_id)


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The view's input blocks by action_id."""
    return {b["element"]["action_id"]: b for b in view["blocks"] if b["type"] == "input"}


def errors_of(reply: Answer) -> dict[str, str]:
    """The errors a submission's answer shows next to the fields, by block_id."""
    body = reply.json()
    assert body["response_action"] == "errors", body
    return body["errors"]  # type: ignore[no-any-return]


def modal_view(channel: str = ALLOWED) -> dict[str, Any]:
    """The bare password-reset form as a submission or click carries it, opened from `channel`."""
    return {
        "id": "V1",
        "type": "modal",
        "callback_id": "password_reset",
        "private_metadata": json.dumps({"channel": channel}),
    }
