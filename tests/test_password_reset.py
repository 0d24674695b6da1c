"""Resetting a password: a form, an approval request, the approved run, the new password to the requester.

The reset is destructive, so the form's submission becomes an approval request and nothing reaches
mailcow before an approver clicks. A generated password is made when the approved reset runs and
goes to the requester alone, in a direct message; a typed one waits sealed with CHATOPS_SECRET_KEY
(or is refused when there is no key). Mailboxes that sign in elsewhere (LDAP, OIDC) are refused
with the reason, since mailcow would ignore the change and still report success.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.services import Services
from tests.fakes import manual_app
from tests.fakes.forms import errors_of, fill, inputs, modal_view, opened
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import buttons, parents, readable, wait_shown
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, APPROVER, OPERATOR, VIEWER, SlackDriver

services, bolt_app = manual_app.services, manual_app.bolt_app

KEY = Fernet.generate_key().decode()
WITH_KEY = pytest.mark.parametrize("settings_overrides", [{"CHATOPS_SECRET_KEY": KEY}], indirect=True)
TYPED = "Chosen-by-Helpdesk-7"


def requested(
    slack: SlackDriver, fake_slack: FakeSlack, view: dict[str, Any], **typed: Any
) -> tuple[str, str]:
    """Submit the reset form; the approval request it posts, as (message ts, approval id)."""
    assert slack.submit(fill(view, **typed)).text == ""
    ts = fake_slack.wait_for(lambda s: parents(s) and parents(s)[-1])
    return ts, buttons(fake_slack.messages[ts])["approval_approve"]["value"]


def direct_messages(fake_slack: FakeSlack) -> list[Any]:
    return [c for c in fake_slack.posts() if str(c.args.get("channel", "")).startswith("D")]


def test_the_reset_form_names_the_mailbox_and_what_will_happen(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    view = opened(slack, fake_slack, "mailbox password alice@example.org", "password_reset")
    assert json.loads(view["private_metadata"]) == {"channel": ALLOWED}
    fields = inputs(view)
    assert fields["mailbox"]["element"]["initial_option"]["value"] == "alice@example.org"
    assert fields["mailbox"]["element"]["type"] == "external_select"
    assert fields["password"]["optional"] is True
    assert "no CHATOPS_SECRET_KEY" in fields["password"]["hint"]["text"]
    assert [o["value"] for o in fields["force_pw_update"]["element"]["initial_options"]] == ["yes"]
    text = readable(view)
    assert "alice@example.org (Alice Liddell): password changed 2026-01-05 09:12:44" in text
    assert "A second person approves" in text


def test_a_generated_reset_waits_for_approval_then_reaches_only_the_requester(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services
) -> None:
    view = opened(slack, fake_slack, "mailbox password alice@example.org", "password_reset")
    ts, approval = requested(slack, fake_slack, view, reason="locked out, called the help desk")
    request = readable(fake_slack.messages[ts])
    assert fake_slack.messages[ts]["text"] == (
        ":lock: *Approval needed:* Reset the password of alice@example.org to a generated one, shown only "
        "to the requester; they must change it at their next login"
    )
    assert '"password": "••••", "password2": "••••", "force_pw_update": 1' in request
    assert "*Password changed*\n2026-01-05 09:12:44" in request
    assert "*Reason*\nlocked out, called the help desk" in request
    assert fake_mailcow.writes() == []

    slack.click("approval_approve", approval, user=APPROVER)
    wait_shown(fake_slack, ts, "*Done:*")
    [sent] = fake_mailcow.calls("edit/mailbox")
    attr = sent.json_body["attr"]
    password = attr["password"]
    assert attr == {"password": password, "password2": password, "force_pw_update": 1}
    [dm] = fake_slack.wait_for(direct_messages)
    assert dm.args["channel"] == f"D{OPERATOR.lstrip('U')}"
    assert f"New password for `alice@example.org`: `{password}`" in readable(dm.args)
    assert password not in dm.args["text"]  # notification previews show `text`
    thread = fake_slack.wait_for(lambda s: [m for m in s.messages.values() if m["thread_ts"] == ts])
    said = "\n".join(readable(m) for m in thread)
    assert f":key: The new password went to <@{OPERATOR}> in a direct message, once." in said
    assert 'Must change password: "no" → "yes"' in said
    assert 'Password changed: "2026-01-05 09:12:44" →' in said


def test_a_reset_mailcow_refuses_sends_no_password_to_anyone(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    view = opened(slack, fake_slack, "mailbox password alice@example.org", "password_reset")
    ts, approval = requested(slack, fake_slack, view)
    fake_mailcow.fail_next("edit/mailbox", "danger:password_complexity")
    slack.click("approval_approve", approval, user=APPROVER)
    assert "*Outcome:*" in wait_shown(fake_slack, ts, ":x: *Failed:*")
    thread = fake_slack.wait_for(lambda s: [m for m in s.messages.values() if m["thread_ts"] == ts])
    assert "direct message" not in "\n".join(readable(m) for m in thread)
    assert direct_messages(fake_slack) == [] and fake_slack.calls_to("conversations.open") == []


def test_without_an_address_the_form_searches_every_mailbox(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    view = opened(slack, fake_slack, "mailbox password", "password_reset")
    assert "initial_option" not in inputs(view)["mailbox"]["element"]
    body = slack.suggest("mailbox", "bob", view=view).json()
    [group] = body["option_groups"]
    assert group["options"][0]["value"] == "bob@example.org"
    errors = errors_of(slack.submit(fill(view)))
    assert errors == {"mailbox": "Pick the mailbox: type part of its address or name."}
    ts, _ = requested(slack, fake_slack, view, mailbox="bob@example.org", force_pw_update=[])
    assert fake_slack.messages[ts]["text"].endswith(
        "Reset the password of bob@example.org to a generated one, shown only to the requester"
    )


def test_a_mailbox_that_signs_in_elsewhere_is_refused_with_the_reason(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("mailbox password erin@example.net")
    [shown] = fake_slack.wait_calls("views.open")
    reason = (
        "erin@example.net signs in through LDAP, so its password is managed there, not in mailcow. "
        "mailcow would ignore a new one while reporting success."
    )
    assert reason in readable(shown.args["view"])
    assert "submit" not in shown.args["view"]

    view = opened(slack, fake_slack, "mailbox password", "password_reset")
    assert errors_of(slack.submit(fill(view, mailbox="erin@example.net"))) == {"mailbox": reason}
    assert fake_mailcow.writes() == [] and parents(fake_slack) == []


def test_a_typed_password_is_refused_without_a_secret_key(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    view = opened(slack, fake_slack, "mailbox password alice@example.org", "password_reset")
    errors = errors_of(slack.submit(fill(view, password=TYPED)))
    assert errors["password"].startswith("This bot has no CHATOPS_SECRET_KEY")
    assert TYPED not in json.dumps(errors)
    assert parents(fake_slack) == [] and fake_mailcow.writes() == []


@WITH_KEY
def test_a_typed_password_waits_sealed_and_only_mailcow_gets_it(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services
) -> None:
    view = opened(slack, fake_slack, "mailbox password alice@example.org", "password_reset")
    assert "Empty: a strong one is generated" in inputs(view)["password"]["hint"]["text"]
    ts, approval = requested(slack, fake_slack, view, password=TYPED, force_pw_update=[])
    assert "to the one the requester typed" in fake_slack.messages[ts]["text"]
    assert services.store is not None
    with services.store.engine.connect() as conn:
        [row] = conn.execute(sa.text("SELECT * FROM approvals")).mappings().all()
    assert TYPED not in json.dumps(dict(row))
    [slot] = json.loads(row["plan"])["fill_at_run"]
    assert Fernet(KEY).decrypt(slot["sealed"].encode()).decode() == TYPED

    slack.click("approval_approve", approval, user=APPROVER)
    wait_shown(fake_slack, ts, "*Done:*")
    [sent] = fake_mailcow.calls("edit/mailbox")
    assert sent.json_body["attr"] == {"password": TYPED, "password2": TYPED, "force_pw_update": 0}
    assert direct_messages(fake_slack) == []
    assert TYPED not in fake_slack.all_text()


@WITH_KEY
def test_a_weak_typed_password_is_answered_in_the_form(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    view = opened(slack, fake_slack, "mailbox password alice@example.org", "password_reset")
    errors = errors_of(slack.submit(fill(view, password="short")))
    assert errors == {
        "password": "Too weak for this mailcow's password policy: it needs at least 8 characters, "
        "lower- and upper-case letters, a digit."
    }


@WITH_KEY
def test_a_sealed_password_from_another_key_is_not_used(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view = opened(slack, fake_slack, "mailbox password alice@example.org", "password_reset")
    ts, approval = requested(slack, fake_slack, view, password=TYPED)
    monkeypatch.setattr(services.settings, "secret_key", SecretStr(Fernet.generate_key().decode()))
    slack.click("approval_approve", approval, user=APPROVER)
    text = wait_shown(fake_slack, ts, "*Outcome:*")
    assert (
        "not run: the password typed with the request cannot be decrypted (CHATOPS_SECRET_KEY changed" in text
    )
    assert fake_mailcow.writes() == []


def test_a_viewer_may_not_ask_and_a_password_never_goes_into_a_command(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    assert (
        "needs an operator" in slack.command("mailbox password alice@example.org", user=VIEWER).json()["text"]
    )
    slack.command("mailbox password alice@example.org password=Secret-123")
    told = fake_slack.wait_for(lambda s: s.ephemerals())[0].text_content()
    assert "never type a password into a command" in told
    assert fake_slack.calls_to("views.open") == []


def test_the_suggestion_listener_needs_an_allowed_channel(slack: SlackDriver) -> None:
    body = slack.suggest("mailbox", "ali", view=modal_view("C0RANDOM")).json()
    assert body["options"][0]["value"] == "refused"
