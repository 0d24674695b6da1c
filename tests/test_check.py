"""`mailcow-chatops check` as an operator reads it: one line per finding, exit 0 only if all works.

Runs `run_checks` in-process against the mailcow and Slack stand-ins (fast); tests/test_cli.py runs
the real command once, from a .env file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.check import BOT_SCOPES, compare_scopes, granted_scopes, run_checks
from bot.settings import Settings
from bot.store import MIGRATIONS, Store
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import make_settings


def check(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path, **extra: Any
) -> tuple[int, str, Settings]:
    settings = make_settings(
        fake_slack, fake_mailcow.url, fake_mailcow.api_key, tmp_path / "chatops.db", **extra
    )
    out = io.StringIO()
    code = run_checks(settings, out)
    return code, out.getvalue(), settings


def lines(output: str, status: str, part: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(f"{status:<4} {part} ")]


def test_everything_works(fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path) -> None:
    code, out, _ = check(fake_slack, fake_mailcow, tmp_path)
    assert code == 0, out
    assert lines(out, "ok", "settings")
    assert "version 2026-08, 2 domain(s)" in lines(out, "ok", "mailcow")[0]
    assert "read-write" in lines(out, "ok", "mailcow key")[0]
    assert "auth.test ok: bot @mailcow (U0BOT)" in lines(out, "ok", "slack")[0]
    assert "chat:write, commands, files:write, im:write, usergroups:read" in out
    assert "SQLite: one replica only" in lines(out, "ok", "database")[0]
    assert out.splitlines()[-1] == "all checks passed"
    assert fake_mailcow.api_key not in out
    assert not fake_mailcow.calls("add/") and not fake_mailcow.calls("delete/")


def test_read_only_key_fails_and_says_which_key_is_needed(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    code, out, _ = check(fake_slack, fake_mailcow, tmp_path, MAILCOW_API_KEY=fake_mailcow.ro_key)
    assert code == 1
    [line] = lines(out, "FAIL", "mailcow key")
    assert "read-only" in line
    assert "read-write key" in line
    assert lines(out, "ok", "mailcow"), "reads still work with a read-only key"


def test_wrong_key_is_tried_once_and_the_fail2ban_risk_is_named(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    code, out, _ = check(fake_slack, fake_mailcow, tmp_path, MAILCOW_API_KEY="AAAAAA-BBBBBB-CCCCCC")
    assert code == 1
    [line] = lines(out, "FAIL", "mailcow key")
    assert "fail2ban" in line
    assert "tried once" in line
    assert fake_mailcow.failed_logins == 1


def test_address_not_allowed_names_the_address_mailcow_saw(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    fake_mailcow.allow_from = ["192.0.2.0/24"]
    code, out, _ = check(fake_slack, fake_mailcow, tmp_path)
    assert code == 1
    [line] = lines(out, "FAIL", "mailcow key")
    assert "the key is right" in line
    assert "saw this host as 127.0.0.1." in line
    assert fake_mailcow.failed_logins == 1


def test_unreachable_mailcow_fails_without_probing_the_key(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    code, out, _ = check(fake_slack, fake_mailcow, tmp_path, MAILCOW_URL="http://127.0.0.1:9")
    assert code == 1
    assert lines(out, "FAIL", "mailcow")
    assert not lines(out, "ok", "mailcow key") and not lines(out, "FAIL", "mailcow key")


def test_refused_bot_token_fails(fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path) -> None:
    code, out, _ = check(fake_slack, fake_mailcow, tmp_path, SLACK_BOT_TOKEN="xoxb-not-the-right-one")
    assert code == 1
    assert "auth.test refused SLACK_BOT_TOKEN: invalid_auth" in lines(out, "FAIL", "slack")[0]
    assert "xoxb-not-the-right-one" not in out


def test_refused_app_token_fails_socket_mode(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    code, out, _ = check(fake_slack, fake_mailcow, tmp_path, SLACK_APP_TOKEN="xapp-1-wrong")
    assert code == 1
    assert "Slack refused SLACK_APP_TOKEN (invalid_auth)" in lines(out, "FAIL", "slack socket")[0]
    assert "xapp-1-wrong" not in out


def test_missing_scopes_fail_and_extra_scopes_warn(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tests.fakes.slack.SCOPES", "commands,chat:write,channels:read")
    code, out, _ = check(fake_slack, fake_mailcow, tmp_path)
    assert code == 1
    [missing] = lines(out, "FAIL", "slack scopes")
    assert "missing files:write, im:write, usergroups:read" in missing
    [extra] = lines(out, "warn", "slack scopes")
    assert "channels:read" in extra


def test_extra_scopes_only_warn() -> None:
    [line] = compare_scopes(BOT_SCOPES | {"users:read"})
    assert (line.status, line.part) == ("warn", "slack scopes")
    assert [line.status for line in compare_scopes(None)] == ["warn"]
    assert granted_scopes({"X-OAuth-Scopes": "chat:write, commands"}) == frozenset({"chat:write", "commands"})


def test_no_approvers_and_unchecked_tls_warn_but_pass(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    code, out, _ = check(fake_slack, fake_mailcow, tmp_path, CHATOPS_APPROVERS="", MAILCOW_VERIFY_TLS="false")
    assert code == 0, out
    warnings = lines(out, "warn", "settings")
    assert any("CHATOPS_APPROVERS is empty" in w for w in warnings)
    assert any("MAILCOW_VERIFY_TLS=false" in w for w in warnings)
    assert out.splitlines()[-1] == "all checks passed (2 warning(s))"


def test_database_is_only_read(fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path) -> None:
    database = tmp_path / "chatops.db"
    code, out, _ = check(fake_slack, fake_mailcow, tmp_path)
    assert "not created yet" in lines(out, "ok", "database")[0]
    assert not database.exists(), "check must not create the database"

    Store(f"sqlite:///{database}").migrate(up_to=1)
    code, out, _ = check(fake_slack, fake_mailcow, tmp_path)
    assert f"schema version 1; the bot upgrades it to {len(MIGRATIONS)}" in lines(out, "ok", "database")[0]
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT max(version) FROM schema_version")) == 1
    engine.dispose()
    assert code == 0


def test_newer_schema_fails(fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path) -> None:
    database = tmp_path / "chatops.db"
    Store(f"sqlite:///{database}").migrate()
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO schema_version VALUES (:v, 0)"), {"v": len(MIGRATIONS) + 1})
    engine.dispose()
    code, out, _ = check(fake_slack, fake_mailcow, tmp_path)
    assert code == 1
    assert "newer than this build knows" in lines(out, "FAIL", "database")[0]


def test_unreachable_database_fails_without_showing_its_password(
    fake_slack: FakeSlack, fake_mailcow: FakeMailcow, tmp_path: Path
) -> None:
    url = "postgresql://chatops:s3cret-db-pass@127.0.0.1:9/chatops"
    code, out, _ = check(fake_slack, fake_mailcow, tmp_path, CHATOPS_DATABASE_URL=url)
    assert code == 1
    assert "cannot be used" in lines(out, "FAIL", "database")[0]
    assert "s3cret-db-pass" not in out
