"""The stand-in itself: the real server's quirks other tests rely on (SERVER-FACTS), and its speed."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.fakes.mailcow import FakeMailcow


def request(
    fake: FakeMailcow, method: str, path: str, *, key: str | None = "rw", **kw: Any
) -> httpx.Response:
    headers = dict(kw.pop("headers", {}))
    if key is not None:
        headers["X-API-Key"] = {"rw": fake.api_key, "ro": fake.ro_key}.get(key, key)
    return httpx.request(method, f"{fake.url}/api/v1/{path}", headers=headers, **kw)


def test_auth_matrix(fake_mailcow: FakeMailcow) -> None:
    no_key_get = request(fake_mailcow, "GET", "get/domain/all", key=None)
    assert (no_key_get.status_code, no_key_get.content) == (200, b"")
    assert (
        request(fake_mailcow, "POST", "edit/domain", key=None, json={"items": [], "attr": {}}).status_code
        == 403
    )
    assert request(fake_mailcow, "POST", "add/alias", key=None, json={}).json()[0]["msg"] == "access_denied"
    assert request(fake_mailcow, "POST", "add/bcc", key=None, json={}).json() == {
        "type": "error",
        "msg": "Cannot add item",
    }
    wrong = request(fake_mailcow, "GET", "get/domain/all", key="NOPE00-000000")
    assert wrong.status_code == 401 and wrong.headers["content-type"].startswith("text/html")
    assert (
        wrong.json() == {"type": "error", "msg": "authentication failed"} and fake_mailcow.failed_logins == 1
    )
    assert request(fake_mailcow, "GET", "get/domain/all", key="ro").status_code == 200
    assert request(fake_mailcow, "POST", "delete/alias", key="ro", json=["1"]).status_code == 403
    fake_mailcow.allow_from = ["192.0.2.0/24"]
    denied = request(fake_mailcow, "GET", "get/domain/all")
    assert denied.status_code == 401 and denied.json()["msg"] == "api access denied for ip 127.0.0.1"
    assert "MCSESSID=" in denied.headers["set-cookie"] and fake_mailcow.failed_logins == 2


def test_router_errors(fake_mailcow: FakeMailcow) -> None:
    bad_json = request(
        fake_mailcow, "POST", "add/domain", content=b"{no", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400
    assert request(fake_mailcow, "GET", "add/domain").json()["msg"] == "Cannot find attributes in post data"
    assert request(fake_mailcow, "POST", "get/domain/all", json={}).status_code == 405
    assert request(fake_mailcow, "GET", "get/nosuch/all").status_code == 404
    assert request(fake_mailcow, "POST", "edit/nosuch", json={"items": [], "attr": {}}).status_code == 404
    assert request(fake_mailcow, "GET", "get/mailq/other").content == b""
    assert request(fake_mailcow, "GET", "get/domain/nosuch.example").json() == {}


def test_write_answers_echo_request_data_in_log(fake_mailcow: FakeMailcow) -> None:
    body = {"local_part": "x", "domain": "example.org", "password": "Aa1-secret", "password2": "Aa1-secret"}
    (entry,) = request(fake_mailcow, "POST", "add/mailbox", json=body).json()
    assert entry["type"] == "success" and entry["msg"] == ["mailbox_added", "x@example.org"]
    assert entry["log"][2]["password"] == "Aa1-secret"
    assert fake_mailcow.mailboxes.rows["x@example.org"]["quota"] == 0, "no quota sent: unlimited (§0.9)"


def test_alias_defaults_and_delete_shapes(fake_mailcow: FakeMailcow) -> None:
    (added,) = request(
        fake_mailcow, "POST", "add/alias", json={"address": "q@example.org", "goto": "bob@example.org"}
    ).json()
    alias_id = added["msg"][2]
    assert request(fake_mailcow, "GET", f"get/alias/{alias_id}").json()["active"] == 0, "inactive unless sent"
    wrapped = request(fake_mailcow, "POST", "delete/alias", json={"items": [alias_id]}).json()
    assert [e["msg"] for e in wrapped] == ["access_denied"]
    assert (
        request(fake_mailcow, "POST", "delete/alias", json=[alias_id]).json()[0]["msg"][0] == "alias_removed"
    )


def test_queue_quirks(fake_mailcow: FakeMailcow) -> None:
    before = len(fake_mailcow.queue)
    documented = request(fake_mailcow, "POST", "delete/mailq", json={"action": "super_delete"}).json()
    assert documented == {"type": "success", "msg": "Task completed"} and len(fake_mailcow.queue) == before
    noop = request(fake_mailcow, "POST", "edit/mailq", json={"action": "flush"}).json()
    assert noop == {"type": "success", "msg": "Task completed"} and fake_mailcow.flushes == 0
    assert "postcat: fatal" in request(fake_mailcow, "GET", "get/postcat/ABCDEF").text
    fake_mailcow.dockerapi_up = False
    assert request(fake_mailcow, "GET", "get/mailq/all").json() == []
    assert request(fake_mailcow, "GET", "get/status/containers").json() is None


def test_fail2ban_quirks(fake_mailcow: FakeMailcow) -> None:
    unban_ip = {"items": ["203.0.113.7"], "attr": {"action": "unban"}}
    assert request(fake_mailcow, "POST", "edit/fail2ban", json=unban_ip).json()[0]["type"] == "success"
    assert "203.0.113.7/32" in fake_mailcow.active_bans, "a bare IP is accepted but lifts nothing"
    view = request(fake_mailcow, "GET", "get/fail2ban").json()
    assert "perm_bans" not in view and view["active_bans"][0]["banned_until"].endswith("s")
    request(
        fake_mailcow, "POST", "edit/fail2ban", json={"items": ["203.0.113.7/32"], "attr": {"action": "unban"}}
    )
    assert "active_bans" not in request(fake_mailcow, "GET", "get/fail2ban").json()
    request(fake_mailcow, "POST", "edit/fail2ban", json={"items": [], "attr": {"action": "blacklist"}})
    options = request(fake_mailcow, "GET", "get/fail2ban").json()
    assert (
        options["ban_time_increment"] == 0
        and options["manage_external"] == 0
        and fake_mailcow.f2b_rewrites == 1
    )


def test_logs_and_by_id_quirks(fake_mailcow: FakeMailcow) -> None:
    postfix = request(fake_mailcow, "GET", "get/logs/postfix/2").json()
    assert len(postfix) == 2 and isinstance(postfix[0]["time"], str)
    assert isinstance(request(fake_mailcow, "GET", "get/logs/netfilter").json()[0]["time"], int)
    assert len(request(fake_mailcow, "GET", "get/logs/postfix/2-3").json()) == 2
    assert request(fake_mailcow, "GET", "get/logs/postfix/0").json() == {}
    assert request(fake_mailcow, "GET", "get/logs/acme").json() == {}
    assert request(fake_mailcow, "GET", "get/logs/kernel").status_code == 404
    request(
        fake_mailcow,
        "POST",
        "add/bcc",
        json={"local_dest": "example.org", "bcc_dest": "a@b.example", "type": "rcpt"},
    )
    assert request(fake_mailcow, "GET", "get/bcc/1").json()["0"] is None
    mixed = request(fake_mailcow, "POST", "delete/oauth2-client", json=["abc"]).json()
    assert [e["type"] for e in mixed] == ["danger", "success"]
    assert request(fake_mailcow, "POST", "add/dkim", json={"domains": ["example.net"]}).content == b""


def test_faults() -> None:
    with FakeMailcow() as fake:
        fake.fail_next("get/", "html500:dockerapi")
        failed = request(fake, "GET", "get/domain/all")
        assert failed.status_code == 500 and "dockerapi" in failed.text
        assert request(fake, "GET", "get/domain/all").json() == {}, "a fault fires `times` times only"
        fake.fail_next("get/", "refuse")
        with pytest.raises(httpx.RemoteProtocolError):
            request(fake, "GET", "get/domain/all")
        with pytest.raises(ValueError, match="unknown fault"):
            fake.fail_next("get/", "explode")


def test_large_listings_are_fast() -> None:
    with FakeMailcow() as fake:
        fake.add_mailboxes("big.example", 50_000)
        fake.add_queue_items(10_000)
        with httpx.Client(base_url=f"{fake.url}/api/v1/", headers={"X-API-Key": fake.api_key}) as client:
            for path, count in (("get/mailbox/all", 50_000), ("get/mailq/all", 10_000)):
                started = time.perf_counter()
                response = client.get(path)
                elapsed = time.perf_counter() - started
                assert response.content.count(b'"username"' if "mailbox" in path else b'"queue_id"') == count
                assert elapsed < 0.8, f"{path} took {elapsed:.2f} s"
