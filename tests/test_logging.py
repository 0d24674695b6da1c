"""Log lines: one JSON object per event, each with the correlation id, and no secret in any of them.

The JSON handler `logs.configure` installs is captured while a slash command runs end to end at
DEBUG (so Bolt, slack_sdk and the mailcow client log all they do), and while secrets are logged
every way code can leak them: in the message, in `%s` arguments, in `extra` fields, in exception
text and tracebacks, and through the libraries' own loggers, one of which had its own handler.
"""

from __future__ import annotations

import io
import json
import logging

from pydantic import SecretStr

from bot import logs
from bot.settings import Settings
from tests.fakes.mailcow import RO_KEY, FakeMailcow
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, BOT_TOKEN, SIGNING_SECRET, SlackDriver

PASSWORD = "Gen3rated-Pa55word!"
APP_TOKEN = "xapp-1-A0APP-1234567890-abcdef0123456789"
USER_TOKEN = "xoxp-1234-5678-90ab-cdef"
ROTATING_TOKEN = "xoxe.xoxb-1-MS0yLTEyMzQ1Njc4OTA"
DATABASE_URL = "postgresql://chatops:db-Pa55-word@db.internal:5432/chatops"


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_a_command_end_to_end_logs_json_with_its_correlation_id_and_no_secret(
    captured: io.StringIO, slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    logs.register_secret(PASSWORD)
    answer = slack.command(f"queue show {PASSWORD} {USER_TOKEN}")
    assert answer.status == 200
    fake_slack.wait_for(lambda s: len(s.posts(ALLOWED)) >= 2)
    log = logging.getLogger("bot.test")
    log.info("password %s for %s", PASSWORD, "jane@example.org")
    log.warning("headers %s", {"X-API-Key": fake_mailcow.api_key, "Authorization": f"Bearer {BOT_TOKEN}"})
    log.info("done", extra={"detail": f"signed with {SIGNING_SECRET}", "token": APP_TOKEN})
    try:
        raise RuntimeError(f"mailcow refused password={PASSWORD} with key {fake_mailcow.api_key}")
    except RuntimeError:
        log.exception("failed for %s", ROTATING_TOKEN, stack_info=True)

    text = captured.getvalue()
    secrets = (
        PASSWORD,
        USER_TOKEN,
        BOT_TOKEN,
        SIGNING_SECRET,
        APP_TOKEN,
        ROTATING_TOKEN,
        fake_mailcow.api_key,
    )
    for secret in secrets:
        assert secret not in text, secret
    lines = json_lines(captured)
    assert all("cid" in line for line in lines)
    [command] = [line for line in lines if str(line["msg"]).startswith("command queue.show by")]
    assert command["cid"] not in ("-", ""), "the command's line carries its request's correlation id"
    assert any(str(line["logger"]).startswith("slack_bolt") for line in lines), "libraries come through"
    [failure] = [line for line in lines if line["msg"] == "failed for [redacted]"]
    assert "mailcow refused password=[redacted] with key [redacted]" in str(failure["error"])
    assert "stack" in failure


def test_library_loggers_with_their_own_handler_go_through_redaction(captured: io.StringIO) -> None:
    elsewhere = io.StringIO()
    uvicorn_error = logging.getLogger("uvicorn.error")
    own = logging.StreamHandler(elsewhere)
    uvicorn_error.addHandler(own)
    uvicorn_error.propagate = False
    try:
        logs.configure("INFO", "json", captured)
        uvicorn_error.error("bad request with token %s", BOT_TOKEN)
        logging.getLogger("slack_sdk.web.base_client").warning("Authorization: Bearer %s", APP_TOKEN)
        logging.getLogger("httpx").warning("GET https://user:%s@mail.example.org/", "url-Pa55")
    finally:
        uvicorn_error.removeHandler(own)
        uvicorn_error.propagate = True
    assert elsewhere.getvalue() == ""
    lines = json_lines(captured)
    assert [line["logger"] for line in lines] == ["uvicorn.error", "slack_sdk.web.base_client", "httpx"]
    assert lines[0]["msg"] == "bad request with token [redacted]"
    assert lines[2]["msg"] == "GET https://user:[redacted]@mail.example.org/"


def test_shapes_are_redacted_even_when_nobody_registered_them() -> None:
    assert logs.redact(f"ro key {RO_KEY}") == "ro key [redacted]"
    assert (
        logs.redact(f"url {DATABASE_URL}") == "url postgresql://chatops:[redacted]@db.internal:5432/chatops"
    )
    assert logs.redact("xoxb-1-abc and xapp-1-def") == "[redacted] and [redacted]"
    assert logs.redact("queue id 2CAA2CA1AF and 203.0.113.7") == "queue id 2CAA2CA1AF and 203.0.113.7"


def test_settings_secrets_include_the_database_password() -> None:
    settings = Settings.model_construct(
        slack_bot_token=SecretStr("xoxb-1"),
        slack_signing_secret=None,
        slack_app_token=None,
        mailcow_api_key=SecretStr("KEY"),
        database_url="postgresql://chatops:only-in-the-url-42@db:5432/x",
    )
    logs.register_settings_secrets(settings)
    assert logs.redact("connect failed: only-in-the-url-42") == "connect failed: [redacted]"


def test_a_record_with_broken_arguments_still_becomes_a_line(captured: io.StringIO) -> None:
    logging.getLogger("somelib").warning("two %s %s", "only-one")  # noqa: PLE1206 - on purpose
    [line] = json_lines(captured)
    assert str(line["msg"]).startswith("two %s %s (unformattable arguments")
