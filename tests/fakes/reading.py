"""Reading what the Slack stand-in received, the way a person reads it in Slack.

A command's answer is a parent message in the channel and messages in its thread (`Answer`); an
approval request or an alert is one message redrawn in place (`shown`); what only the requester saw
are ephemeral answers (`ephemeral`, `told`). Text comes out of Block Kit as a person reads it:
every text of the blocks in order, buttons as `[Label]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.fakes.mailcow import FakeMailcow
from tests.fakes.slack import FakeSlack, SlackCall
from tests.fakes.slack_plugin import OPERATOR, SlackDriver

# --- Block Kit as text -----------------------------------------------------------------------------


def texts(node: Any) -> list[str]:
    """Every text in a Block Kit structure, in order; a button's label as `[Label]`, then its dialog."""
    if isinstance(node, dict):
        if node.get("type") == "button":
            return [f"[{node['text']['text']}]", *texts(node.get("confirm"))]
        text = node.get("text")
        return [text] if isinstance(text, str) else [t for value in node.values() for t in texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in texts(item)]
    return []


def readable(message: Mapping[str, Any]) -> str:
    """The text of the blocks of a message, a Web API call's arguments or a view."""
    return "\n".join(texts(message.get("blocks") or []))


def said(call: SlackCall) -> str:
    """What one call put in front of a person: its text, then its blocks."""
    return "\n".join(part for part in (str(call.args.get("text") or ""), readable(call.args)) if part)


def buttons(message: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A message's buttons by action_id."""
    return {
        element["action_id"]: element
        for block in message.get("blocks") or []
        if block["type"] == "actions"
        for element in block["elements"]
    }


# --- messages in the channel -----------------------------------------------------------------------


def parents(fake_slack: FakeSlack) -> list[str]:
    """Timestamps of the channel-level messages, oldest first."""
    return [ts for ts, m in list(fake_slack.messages.items()) if not m["thread_ts"]]


def shown(fake_slack: FakeSlack, ts: str) -> str:
    """The message at `ts` as it reads now (after every redraw)."""
    return readable(fake_slack.messages[ts])


def wait_shown(fake_slack: FakeSlack, ts: str, words: str, timeout: float = 10.0) -> str:
    """Wait until the message at `ts` shows `words`; returns its whole text."""
    return str(fake_slack.wait_for(lambda s: words in (t := shown(s, ts)) and t, timeout=timeout))


def thread_text(fake_slack: FakeSlack, ts: str) -> str:
    """Everything posted so far in the thread of the message at `ts`."""
    return "\n".join(said(c) for c in fake_slack.thread(ts))


def wait_thread(fake_slack: FakeSlack, ts: str, words: str) -> str:
    """Wait until the thread of the message at `ts` says `words`; returns all of it."""
    return str(fake_slack.wait_for(lambda s: words in (t := thread_text(s, ts)) and t))


@dataclass
class Answer:
    """A command's answer as posted: the parent message and the messages in its thread."""

    parent: dict[str, Any]
    thread: list[dict[str, Any]]

    @property
    def headline(self) -> str:
        return str(self.parent["text"])

    @property
    def text(self) -> str:
        """The thread's blocks as text."""
        return "\n".join(readable(m) for m in self.thread)

    def field(self, label: str) -> str:
        """The value of the thread's `*label*` field."""
        for message in self.thread:
            for block in message["blocks"] or []:
                for item in block.get("fields") or []:
                    name, _, value = item["text"].partition("\n")
                    if name == f"*{label}*":
                        return str(value)
        raise AssertionError(f"no field {label!r} in the thread:\n{self.text}")


def _answer_at(fake_slack: FakeSlack, ts: str) -> Answer:
    messages = sorted(list(fake_slack.messages.items()))
    return Answer(fake_slack.messages[ts], [m for _, m in messages if m["thread_ts"] == ts])


def answer(fake_slack: FakeSlack, until: str, *, timeout: float = 10.0) -> Answer:
    """The newest parent message and its thread, once `until` appears in them; never an invalid message."""

    def ready(slack: FakeSlack) -> Answer | None:
        found = parents(slack)
        latest = _answer_at(slack, found[-1]) if found else None
        return latest if latest and until in f"{latest.headline}\n{latest.text}" else None

    result: Answer = fake_slack.wait_for(ready, timeout)
    assert fake_slack.violations == []
    return result


def reply_to(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    text: str,
    *,
    user: str = OPERATOR,
    thread_messages: int = 1,
    until: str = "",
    timeout: float = 10.0,
) -> Answer:
    """Type `/mailcow text` as `user`; the new parent message once its thread holds `thread_messages`
    messages and the answer says `until`. Never an invalid message."""
    seen = len(parents(fake_slack))
    assert slack.command(text, user=user).text == ""

    def ready(slack: FakeSlack) -> Answer | None:
        found = parents(slack)
        if len(found) <= seen:
            return None
        posted = _answer_at(slack, found[seen])
        complete = len(posted.thread) >= thread_messages and until in f"{posted.headline}\n{posted.text}"
        return posted if complete else None

    result: Answer = fake_slack.wait_for(ready, timeout)
    assert fake_slack.violations == []
    return result


def say(slack: SlackDriver, fake_slack: FakeSlack, text: str, *, user: str = OPERATOR) -> str:
    """Type `/mailcow text` and return the text of the message it posts in the channel."""
    return reply_to(slack, fake_slack, text, user=user, thread_messages=0).headline


# --- what only the requester saw -------------------------------------------------------------------


def told(fake_slack: FakeSlack) -> list[str]:
    """Every answer only its person saw (a response URL or chat.postEphemeral): text and blocks."""
    return [said(c) for c in fake_slack.ephemerals()]


def ephemeral(fake_slack: FakeSlack) -> str:
    """The one answer only the requester saw, once it is there."""
    [only] = fake_slack.wait_for(told)
    return str(only)


def private_answer(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    text: str,
    *,
    user: str = OPERATOR,
    reads: bool = False,
) -> str:
    """Type `/mailcow text`, which the app answers only to the person (bad input, help) without
    changing anything in mailcow, or asking it anything unless it `reads` (whether a target exists);
    that answer."""
    fake_mailcow.reset_log()
    assert slack.command(text, user=user).text == ""
    answered = ephemeral(fake_slack)
    assert (fake_mailcow.writes() if reads else fake_mailcow.requests) == []
    return answered


def wait_told(fake_slack: FakeSlack, words: str, count: int = 1) -> list[str]:
    """The answers only their person saw that say `words`, once there are `count` of them."""
    return list(
        fake_slack.wait_for(lambda s: len(found := [t for t in told(s) if words in t]) >= count and found)
    )
