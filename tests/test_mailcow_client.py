"""The mailcow client against the stand-in, over real HTTP on loopback.

Each test names the SERVER-FACTS behaviour it proves. Fault tests use short timeouts so the file
stays fast.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.mailcow import (
    LOG_TYPES,
    ApiCall,
    Fail2ban,
    MailcowAuthError,
    MailcowClient,
    MailcowError,
    MailcowRejected,
    MailcowUnavailable,
    SyncJob,
    calls,
)
from bot.metrics import REGISTRY
from tests.fakes.mailcow import MIB, FakeMailcow

PASSWORD = "Sup3r-Secret-Pw-4711"


def make_client(fake: FakeMailcow, **options: Any) -> MailcowClient:
    key = options.pop("key", fake.api_key)
    options.setdefault("backoff", 0.01)
    return MailcowClient(fake.url, SecretStr(key), **options)


@pytest.fixture
def empty_fake() -> Iterator[FakeMailcow]:
    with FakeMailcow() as fake:
        yield fake


@pytest.fixture
def quick_client(fake_mailcow: FakeMailcow) -> Iterator[MailcowClient]:
    """Short timeout for fault tests; the stand-in stalls 0.6 s on `timeout` faults."""
    fake_mailcow.stall_seconds = 0.6
    with make_client(fake_mailcow, timeout=0.3) as client:
        yield client


def raw_get(fake: FakeMailcow, path: str) -> httpx.Response:
    return httpx.get(f"{fake.url}/api/v1/{path}", headers={"X-API-Key": fake.api_key})


# --- reads -----------------------------------------------------------------------------------------


def test_domains_and_mailboxes_parse_with_quotas_in_bytes(mailcow_client: MailcowClient) -> None:
    domains = {d.domain_name: d for d in mailcow_client.domains()}
    assert set(domains) == {"example.org", "example.net"}
    org = domains["example.org"]
    assert org.mboxes_in_domain == 3 and org.max_quota_for_domain == 51200 * MIB
    assert org.is_active and org.gal is True and org.rl is None
    assert mailcow_client.domain("example.net") == domains["example.net"]

    alice = mailcow_client.mailbox("alice@example.org")
    assert alice is not None
    assert alice.quota == 3072 * MIB and alice.quota_mib == 3072 and alice.quota_used == 1200 * MIB
    assert alice.attributes["imap_access"] == "1" and alice.authsource == "mailcow"
    assert alice.last_login > 0 and alice.percent_in_use == 39
    assert mailcow_client.mailbox("carol@example.org").active == 2  # type: ignore[union-attr]
    assert mailcow_client.mailbox("erin@example.net").authsource == "ldap"  # type: ignore[union-attr]
    net = mailcow_client.mailboxes("example.net")
    assert [m.username for m in net] == ["dave@example.net", "erin@example.net"]
    assert len(mailcow_client.mailboxes()) == 5


def test_aliases_queue_fail2ban_and_logs_parse(mailcow_client: MailcowClient) -> None:
    aliases = {a.address: a for a in mailcow_client.aliases()}
    assert aliases["sales@example.org"].gotos() == ["alice@example.org", "bob@example.org"]
    assert aliases["@example.net"].is_catch_all
    assert mailcow_client.alias(aliases["info@example.org"].id) == aliases["info@example.org"]
    assert mailcow_client.alias("info@example.org") == aliases["info@example.org"]
    assert [a.address for a in mailcow_client.aliases("example.net")] == ["@example.net"]

    queue = mailcow_client.queue()
    assert len(queue) == 6
    deferred = [i for i in queue if i.queue_name == "deferred"]
    assert deferred, "the seeded queue has deferred items"
    address, reason = deferred[0].recipient_pairs()[0]
    assert "@" in address and "(" not in address and reason
    assert "Subject:" in mailcow_client.postcat(queue[0].queue_id)

    f2b = mailcow_client.fail2ban()
    (ban,) = f2b.active_bans
    assert ban.network == "203.0.113.7/32" and ban.ip == "203.0.113.7"
    assert 1400 < (ban.seconds_left() or 0) <= 1500
    assert f2b.ban_time_increment is True and f2b.whitelist == [] and f2b.perm_bans == []

    postfix = mailcow_client.logs("postfix")
    assert postfix[0].program == "postfix/smtp" and isinstance(postfix[0].time, int)
    assert postfix[0].time > postfix[-1].time, "newest first"
    netfilter = mailcow_client.logs("netfilter", 2)
    assert len(netfilter) == 2 and all(isinstance(e.time, int) for e in netfilter)


def test_other_reads_parse(fake_mailcow: FakeMailcow, mailcow_client: MailcowClient) -> None:
    qid = fake_mailcow.add_quarantine(sender="spam@bad.example", rcpt="alice@example.org", subject="Win!")
    fake_mailcow.dkim_keys["example.net"] = {"selector": "s1", "length": "1024", "pubkey": "MIGf"}
    client = mailcow_client
    client.write(calls.add_domain_admin("orgadmin", PASSWORD, ["example.org"]))
    client.write(
        calls.add_syncjob("alice@example.org", host="imap.old.example", user="alice", password=PASSWORD)
    )
    client.write(calls.add_fwdhost("192.0.2.44/32", filter_spam=True))
    client.write(calls.add_bcc("example.org", "archive@example.net", "rcpt"))
    client.write(calls.add_recipient_map("old@example.org", "alice@example.org"))
    client.write(calls.add_tls_policy_map("partner.example", "dane-only"))
    client.write(calls.add_domain_policy("example.org", "bl", "*@spam.example"))
    client.write(calls.add_oauth2_client("https://app.example/callback"))
    client.write(calls.edit_rl_mbox("bob@example.org", 100, "h"))
    client.write(calls.edit_rl_domain("example.net", 5, "s"))

    (item,) = client.quarantine()
    assert item.id == qid and item.subject == "Win!" and item.score > 10
    assert client.dkim("example.net").dkim_selector == "s1"  # type: ignore[union-attr]
    assert client.dkim("example.org").dkim_txt.startswith("v=DKIM1")  # type: ignore[union-attr]
    (admin,) = client.domain_admins()
    assert admin.username == "orgadmin" and admin.selected_domains == ["example.org"] and admin.active == 1
    (job,) = client.syncjobs()
    assert job.user2 == "alice@example.org" and job.active == 1 and job.automap is True
    assert not hasattr(job, "password1")
    assert "password1" not in SyncJob.model_validate({"id": 1, "password1": PASSWORD}).model_dump()
    (host,) = client.fwdhosts()
    assert host.host == "192.0.2.44/32" and host.keep_spam is False
    (bcc,) = client.bcc_maps()
    assert bcc.local_dest == "@example.org" and bcc.type == "rcpt" and bcc.active == 1
    (rmap,) = client.recipient_maps()
    assert rmap.recipient_map_new == "alice@example.org"
    (tls,) = client.tls_policy_maps()
    assert tls.policy == "dane-only"
    assert raw_get(fake_mailcow, f"get/tls-policy-map/{tls.id}").json()["0"] is None  # the stray key
    (policy,) = client.domain_policies("example.org", "bl")
    assert policy.value == "*@spam.example" and client.domain_policies("example.org", "wl") == []
    (oauth,) = client.oauth2_clients()
    assert len(oauth.client_secret.get_secret_value()) == 24 and "*" in repr(oauth)
    assert [(r.mailbox, r.value, r.frame) for r in client.rl_mailboxes()] == [("bob@example.org", 100, "h")]
    assert [(r.domain, r.value) for r in client.rl_domains()] == [("example.net", 5)]
    assert client.mailbox("bob@example.org").rl.value == 100  # type: ignore[union-attr]

    assert client.status_version() == "2026-08"
    containers = client.status_containers()
    assert containers is not None and containers["postfix-mailcow"].running
    assert client.status_vmail().used_percent == "28%"  # type: ignore[union-attr]
    policy_rules = client.password_policy()
    assert policy_rules.length == 8 and policy_rules.lowerupper is True
    assert client.last_login("alice@example.org").ui is None
    fake_mailcow.last_logins["alice@example.org"] = {
        "ui": {"remote": "198.51.100.20", "time": 1790000000},
        "sasl": [{"service": "imap", "real_rip": "198.51.100.20", "datetime": "2026-08-01 10:00:00"}],
    }
    last = client.last_login("alice@example.org")
    assert last.ui is not None and last.ui.time == 1790000000 and last.sasl[0].service == "imap"


def test_empty_collections_come_back_as_empty_lists_and_none(empty_fake: FakeMailcow) -> None:
    assert raw_get(empty_fake, "get/domain/all").text == "{}"  # mailcow's empty list (§3.3)
    with make_client(empty_fake) as client:
        assert client.domains() == [] and client.mailboxes() == [] and client.aliases() == []
        assert client.queue() == [] and client.quarantine() == [] and client.oauth2_clients() == []
        assert client.domain_admins() == [] and client.syncjobs() == [] and client.fwdhosts() == []
        assert client.bcc_maps() == [] and client.recipient_maps() == [] and client.tls_policy_maps() == []
        assert client.rl_mailboxes() == [] and client.rl_domains() == []
        assert all(client.logs(kind) == [] for kind in LOG_TYPES)
        assert client.domain("nosuch.example") is None and client.mailbox("x@nosuch.example") is None
        assert client.alias(99) is None and client.dkim("nosuch.example") is None
        empty_fake.f2b_options = None  # no netfilter data at all
        assert client.fail2ban() == Fail2ban()


def test_address_with_plus_is_found_by_listing_its_domain(fake_mailcow: FakeMailcow) -> None:
    fake_mailcow.add_mailbox("john+news@example.org")
    fake_mailcow.add_alias("a&b@example.org", "alice@example.org")
    # Put into the path, "+" arrives as a space and the lookup misses (§2.1):
    assert raw_get(fake_mailcow, "get/mailbox/john+news@example.org").text == "{}"
    with make_client(fake_mailcow) as client:
        fake_mailcow.reset_log()
        assert client.mailbox("john+news@example.org").username == "john+news@example.org"  # type: ignore[union-attr]
        assert client.alias("a&b@example.org").goto == "alice@example.org"  # type: ignore[union-attr]
        with pytest.raises(ValueError, match="cannot be looked up"):
            client.last_login("john+news@example.org")
    paths = [r.path for r in fake_mailcow.requests]
    assert paths == ["get/mailbox/all/example.org", "get/alias/all/example.org"]


def test_logs_use_no_trailing_slash_and_refuse_unknown_types(fake_mailcow: FakeMailcow) -> None:
    assert raw_get(fake_mailcow, "get/logs/postfix/").text == "{}"  # why the slash must go (§2.1)
    with make_client(fake_mailcow) as client:
        fake_mailcow.reset_log()
        client.logs("dovecot")
        client.logs("dovecot", 1)
        assert [r.path for r in fake_mailcow.requests] == ["get/logs/dovecot", "get/logs/dovecot/1"]
        with pytest.raises(ValueError, match="unknown log type"):
            client.logs("kernel")
        with pytest.raises(ValueError):
            client.logs("postfix", 0)


def test_empty_queue_can_be_cross_checked_with_containers(fake_mailcow: FakeMailcow) -> None:
    fake_mailcow.dockerapi_up = False
    with make_client(fake_mailcow) as client:
        assert client.queue() == []  # indistinguishable from an empty queue (§4.4) ...
        assert client.status_containers() is None  # ... unless the containers are asked too


# --- write builders and their effect on the stand-in -----------------------------------------------


def body_shape(call: ApiCall) -> str:
    body = call.body
    if isinstance(body, list):
        return "list"
    if isinstance(body, dict) and set(body) == {"items", "attr"}:
        return "items+attr"
    return "flat"


def test_every_builder_uses_the_server_body_shape() -> None:
    built = [
        calls.add_domain("new.example"),
        calls.edit_domain("example.org", description="x"),
        calls.delete_domains("new.example"),
        calls.add_domain_policy("example.org", "wl", "*@good.example"),
        calls.delete_domain_policies([1]),
        calls.add_mailbox("x@example.org", password=PASSWORD, quota_mib=10),
        calls.edit_mailbox("x@example.org", name="X"),
        calls.set_mailbox_password("x@example.org", PASSWORD, force_pw_update=False),
        calls.delete_mailboxes("x@example.org"),
        calls.edit_quarantine_notification("x@example.org", "daily"),
        calls.add_alias("a@example.org", "x@example.org"),
        calls.edit_alias(3, active=False),
        calls.delete_aliases(3),
        calls.add_syncjob("x@example.org", host="imap.example", user="u", password=PASSWORD),
        calls.edit_syncjob(1, active=False),
        calls.delete_syncjobs(1),
        calls.add_fwdhost("mx.example"),
        calls.edit_fwdhost("192.0.2.1", keep_spam=True),
        calls.delete_fwdhosts("192.0.2.1"),
        calls.edit_mailq("flush"),
        calls.edit_mailq("hold", ["ABC123"]),
        calls.delete_mailq(["ABC123"]),
        calls.edit_fail2ban("unban", ["192.0.2.1/32"]),
        calls.add_dkim(["a.example", "b.example"]),
        calls.duplicate_dkim("a.example", "b.example"),
        calls.delete_dkim("a.example"),
        calls.add_domain_admin("admin1", PASSWORD, "a.example"),
        calls.edit_domain_admin("admin1", force_tfa=False, force_pw_update=False, active=True),
        calls.delete_domain_admins("admin1"),
        calls.add_bcc("a.example", "b@c.example", "sender"),
        calls.delete_bcc_maps(1),
        calls.add_recipient_map("a@b.example", "c@d.example"),
        calls.delete_recipient_maps(1),
        calls.add_tls_policy_map("a.example", "encrypt"),
        calls.delete_tls_policy_maps(1),
        calls.add_oauth2_client("https://app.example/cb"),
        calls.delete_oauth2_clients(1),
        calls.edit_rl_mbox("x@example.org", 10, "m"),
        calls.edit_rl_domain("example.org", 10, "d"),
        calls.edit_qitem(1, "release"),
        calls.delete_qitems(1),
    ]
    expected = {"add": "flat", "edit": "items+attr", "delete": "list"}
    for call in built:
        assert body_shape(call) == expected[call.action], call.describe()
        assert call.expect, f"{call.describe()} has no expected success message"
        assert ApiCall.model_validate_json(call.model_dump_json()) == call, "plans store calls as JSON"
    dkim = calls.add_dkim(["a.example", "b.example"])
    assert dkim.body["domains"] == "a.example b.example"  # a string, not a list (§4.8)
    admin = calls.add_domain_admin("admin1", PASSWORD, "a.example")
    assert admin.body["domains"] == ["a.example"] and admin.body["active"] == 1
    must_send_active = [
        calls.add_alias("a@example.org", "x@example.org"),
        calls.add_bcc("a.example", "b@c.example", "rcpt"),
        calls.add_recipient_map("a.example", "b.example"),
        calls.add_tls_policy_map("a.example", "may"),
        calls.add_syncjob("x@example.org", host="h.example", user="u", password="p"),
        admin,
    ]
    assert all(call.body["active"] == 1 for call in must_send_active)
    assert calls.add_mailbox("x@example.org", password=PASSWORD, quota_mib=0).body["quota"] == 0
    assert calls.delete_mailq(["abc123"]).body == ["ABC123"]
    assert {calls.delete_mailboxes("x@example.org").slow, calls.edit_mailq("flush").slow} == {True}


def test_secrets_are_redacted_wherever_a_call_is_shown() -> None:
    call = calls.add_mailbox("x@example.org", password=PASSWORD, quota_mib=1024)
    assert call.secret_fields == ["password", "password2"]
    assert call.redacted_body()["password"] == calls.REDACTED == call.redacted_body()["password2"]
    assert call.body["password"] == PASSWORD, "the real call still carries it"
    assert PASSWORD not in repr(call) and PASSWORD not in str(call)
    edit = calls.set_mailbox_password("x@example.org", PASSWORD, force_pw_update=True)
    assert edit.redacted_body()["attr"] == {"password": "••••", "password2": "••••", "force_pw_update": 1}
    assert edit.describe() == "POST /api/v1/edit/mailbox"
    sync = calls.add_syncjob("x@example.org", host="imap.example", user="u", password=PASSWORD)
    assert PASSWORD not in repr(sync) and sync.secret_fields == ["password1"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: calls.edit_fail2ban("unban", []), "at least one"),
        (lambda: calls.edit_fail2ban("unban", ["203.0.113.7"]), "network as listed"),
        (lambda: calls.edit_fail2ban("blacklist", ["0.0.0.0/0"]), "everyone"),
        (lambda: calls.edit_fail2ban("whitelist", ["not-an-ip"]), "not an IP"),
        (lambda: calls.delete_mailq(["../etc", "ABC"]), "hexadecimal"),
        (lambda: calls.delete_mailq([]), "at least one"),
        (lambda: calls.edit_mailq("hold", []), "at least one"),
        (lambda: calls.edit_mailq("flush", ["ABC"]), "whole queue"),
        (lambda: calls.edit_mailq("requeue", []), "queue action"),  # type: ignore[arg-type]
        (lambda: calls.delete_syncjobs(["1", "x"]), "numbers"),
        (lambda: calls.delete_oauth2_clients(["17c76aaa88c0"]), "numbers"),
        (lambda: calls.edit_domain("example.org", quota_mib=0), "ignores"),
        (lambda: calls.edit_domain("example.org"), "nothing to change"),
        (lambda: calls.edit_mailbox("x@example.org"), "nothing to change"),
        (lambda: calls.add_alias("a@example.org", ["a@example.org"]), "itself"),
        (lambda: calls.add_alias("a@example.org"), "destinations"),
        (lambda: calls.add_domain("example.org", default_quota_mib=20, max_quota_mib=10), "default"),
        (lambda: calls.add_mailbox("bad address", password="x", quota_mib=1), "e-mail"),
        (lambda: calls.add_mailbox("x@example.org", password="", quota_mib=1), "password"),
        (lambda: calls.add_tls_policy_map("a.example", "strict"), "TLS policy"),  # type: ignore[arg-type]
        (lambda: calls.add_dkim("a.example", key_size=512), "key size"),
        (lambda: calls.edit_rl_mbox("x@example.org", 10, "w"), "time frame"),  # type: ignore[arg-type]
        (lambda: calls.add_domain_admin("API", PASSWORD, "a.example"), "not API"),
        (lambda: calls.edit_qitem(1, "learnham"), "release or learnspam"),  # type: ignore[arg-type]
    ],
)
def test_builders_refuse_what_mailcow_would_silently_get_wrong(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_domain_and_mailbox_lifecycle(fake_mailcow: FakeMailcow, mailcow_client: MailcowClient) -> None:
    client = mailcow_client
    added = client.write(
        calls.add_domain(
            "new.example",
            quota_mib=2048,
            max_quota_mib=1024,
            default_quota_mib=512,
            rl_value=10,
            rl_frame="h",
        )
    )
    assert [e.key for e in added.entries] == ["rl_saved", "dkim_added", "domain_added"]
    assert fake_mailcow.domains["new.example"]["quota"] == 2048 and "new.example" in fake_mailcow.dkim_keys
    client.write(calls.edit_domain("new.example", description="New", mailboxes=5))
    assert client.domain("new.example").description == "New"  # type: ignore[union-attr]

    client.write(calls.add_mailbox("eve@new.example", password=PASSWORD, quota_mib=512, name="Eve"))
    eve = client.mailbox("eve@new.example")
    assert eve is not None and eve.quota == 512 * MIB and eve.name == "Eve"
    client.write(calls.edit_mailbox("eve@new.example", quota_mib=256, active=2, protocol_access=["imap"]))
    eve = client.mailbox("eve@new.example")
    assert eve is not None and eve.quota_mib == 256 and eve.active == 2
    assert eve.attributes["pop3_access"] == "0" and eve.attributes["imap_access"] == "1"
    client.write(calls.set_mailbox_password("eve@new.example", "N3w-" + PASSWORD, force_pw_update=True))
    assert client.mailbox("eve@new.example").attributes["force_pw_update"] == "1"  # type: ignore[union-attr]
    client.write(calls.edit_quarantine_notification("eve@new.example", "weekly"))
    assert client.mailbox("eve@new.example").attributes["quarantine_notification"] == "weekly"  # type: ignore[union-attr]

    with pytest.raises(MailcowRejected, match="still has mailboxes") as refused:
        client.write(calls.delete_domains("new.example"))
    assert refused.value.entries[0].key == "domain_not_empty" and not refused.value.partial
    client.write(calls.delete_mailboxes("eve@new.example"))
    client.write(calls.delete_domains("new.example"))
    assert client.domain("new.example") is None


def test_alias_is_created_active_and_carries_its_id(
    fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    result = mailcow_client.write(
        calls.add_alias("team@example.org", ["alice@example.org", "bob@example.org"])
    )
    (entry,) = result.entries
    assert entry.key == "alias_added" and entry.args[0] == "team@example.org"
    alias = mailcow_client.alias(int(entry.args[1]))
    assert alias is not None and alias.active == 1 and alias.sogo_visible
    mailcow_client.write(calls.edit_alias("team@example.org", special="discard"))
    assert mailcow_client.alias("team@example.org").goto == "null@localhost"  # type: ignore[union-attr]
    mailcow_client.write(calls.delete_aliases([alias.id]))
    assert mailcow_client.alias(alias.id) is None


def test_queue_actions_use_items_and_attr(fake_mailcow: FakeMailcow, mailcow_client: MailcowClient) -> None:
    client = mailcow_client
    deferred = [i.queue_id for i in client.queue() if i.queue_name == "deferred"]
    fake_mailcow.reset_log()
    client.write(calls.edit_mailq("flush"))
    (flush,) = fake_mailcow.calls("edit/mailq")
    assert flush.json_body == {"items": [], "attr": {"action": "flush"}} and fake_mailcow.flushes == 1
    assert all(fake_mailcow.queue.rows[q]["queue_name"] == "active" for q in deferred)

    target = deferred[0]
    client.write(calls.edit_mailq("hold", [target]))
    assert {i.queue_id: i.queue_name for i in client.queue()}[target] == "hold"
    client.write(calls.edit_mailq("unhold", [target]))
    assert {i.queue_id: i.queue_name for i in client.queue()}[target] == "deferred"

    client.write(calls.delete_mailq([target]))
    assert fake_mailcow.calls("delete/mailq")[0].json_body == [target]
    assert target not in {i.queue_id for i in client.queue()}
    client.write(calls.edit_mailq("super_delete"))
    assert client.queue() == []


def test_documented_flush_body_is_a_noop_and_rejected(
    fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    documented = ApiCall(
        action="edit",
        category="mailq",
        body={"action": "flush"},
        target="queue",
        expect="queue_command_success",
    )
    with pytest.raises(MailcowRejected, match="most likely did nothing") as refused:
        mailcow_client.write(documented)
    assert not refused.value.partial and fake_mailcow.flushes == 0


def test_unban_lifts_the_ban_and_never_rewrites_the_config(
    fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    client = mailcow_client
    network = client.fail2ban().active_bans[0].network
    client.write(calls.edit_fail2ban("unban", [network]))
    assert client.fail2ban().active_bans == []
    client.write(calls.edit_fail2ban("whitelist", ["198.51.100.0/24"]))
    client.write(calls.edit_fail2ban("blacklist", ["192.0.2.66"]))
    f2b = client.fail2ban()
    assert f2b.whitelist == ["198.51.100.0/24"] and f2b.blacklist == ["192.0.2.66"]
    assert [p.network for p in f2b.perm_bans] == ["192.0.2.66/32"]
    assert fake_mailcow.f2b_rewrites == 0 and f2b.ban_time_increment is True

    # What the builder refuses to send: an action with no items rewrites the whole config (§0.8).
    raw = ApiCall(
        action="edit", category="fail2ban", body={"items": [], "attr": {"action": "unban"}}, target="-"
    )
    client.write(raw)
    assert fake_mailcow.f2b_rewrites == 1 and client.fail2ban().ban_time_increment is False


def test_remaining_builders_act_on_the_stand_in(
    fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    client = mailcow_client
    client.write(calls.add_dkim("example.net", selector="s2026", key_size=1024))
    assert client.dkim("example.net").dkim_selector == "s2026"  # type: ignore[union-attr]
    client.write(calls.duplicate_dkim("example.org", ["example.net"]))
    assert fake_mailcow.dkim_keys["example.net"] == fake_mailcow.dkim_keys["example.org"]
    client.write(calls.delete_dkim("example.net"))
    assert client.dkim("example.net") is None

    client.write(calls.add_domain_admin("netadmin", PASSWORD, ["example.net", "example.org"], active=False))
    client.write(
        calls.edit_domain_admin("netadmin", force_tfa=True, force_pw_update=False, domains=["example.net"])
    )
    (admin,) = client.domain_admins()
    assert admin.selected_domains == ["example.net"] and admin.active == 0
    assert admin.attributes == {"force_tfa": "1", "force_pw_update": "0"}
    client.write(calls.delete_domain_admins("netadmin"))

    client.write(calls.add_syncjob("bob@example.org", host="imap.old.example", user="bob", password=PASSWORD))
    job_id = client.syncjobs()[0].id
    client.write(calls.edit_syncjob(job_id, interval_minutes=60, active=False))
    assert client.syncjobs()[0].mins_interval == 60 and client.syncjobs()[0].active == 0
    client.write(calls.delete_syncjobs(job_id))
    assert client.syncjobs() == []

    added = client.write(calls.add_fwdhost("relay.partner.example"))
    hosts = [h.host for h in client.fwdhosts()]
    assert len(hosts) == 2 and added.entries[0].key == "forwarding_host_added"
    client.write(calls.edit_fwdhost(hosts[0], keep_spam=False))
    client.write(calls.delete_fwdhosts(hosts))
    assert client.fwdhosts() == []

    client.write(calls.add_bcc("alice@example.org", "audit@example.net", "sender"))
    client.write(calls.delete_bcc_maps(client.bcc_maps()[0].id))
    client.write(calls.add_recipient_map("example.org", "example.net"))
    client.write(calls.delete_recipient_maps(client.recipient_maps()[0].id))
    client.write(calls.add_tls_policy_map("bank.example", "verify", parameters="match=.bank.example"))
    client.write(calls.delete_tls_policy_maps(client.tls_policy_maps()[0].id))
    client.write(calls.add_domain_policy("example.net", "wl", "*@friend.example"))
    client.write(calls.delete_domain_policies(client.domain_policies("example.net", "wl")[0].prefid))
    client.write(calls.add_oauth2_client("https://app.example/cb"))
    client.write(calls.delete_oauth2_clients(client.oauth2_clients()[0].id))
    assert client.bcc_maps() == client.recipient_maps() == client.tls_policy_maps() == []
    assert client.oauth2_clients() == []

    client.write(calls.edit_rl_domain("example.org", 50, "m"))
    client.write(calls.edit_rl_domain("example.org", 0, "m"))
    assert client.rl_domains() == []

    released = fake_mailcow.add_quarantine(sender="a@b.example", rcpt="alice@example.org", subject="invoice")
    spam = fake_mailcow.add_quarantine(sender="c@d.example", rcpt="bob@example.org", subject="pills")
    gone = fake_mailcow.add_quarantine(sender="e@f.example", rcpt="bob@example.org", subject="lottery")
    result = client.write(calls.edit_qitem(released, "release"))
    assert [e.key for e in result.entries] == ["item_released", "learned_ham"]
    client.write(calls.edit_qitem(spam, "learnspam"))
    client.write(calls.delete_qitems(gone))
    assert client.quarantine() == []


# --- failures --------------------------------------------------------------------------------------


def test_danger_is_rejected_translated_and_without_the_log_field(
    fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    weak = "weak" + PASSWORD.lower()  # no capital letter: fails the policy
    call = calls.add_mailbox("zed@example.org", password=weak, quota_mib=100)
    fake_mailcow.reset_log()
    with pytest.raises(MailcowRejected) as refused:
        mailcow_client.write(call)
    raw = httpx.post(
        f"{fake_mailcow.url}/api/v1/add/mailbox", json=call.body, headers={"X-API-Key": fake_mailcow.api_key}
    )
    assert weak in raw.text, "the stand-in echoes the password in `log`, like mailcow (§0.10)"
    error = refused.value
    assert error.user_message == (
        "mailcow refused add/mailbox for zed@example.org: the password does not meet the password policy."
    )
    assert error.entries[0].key == "password_complexity" and not error.partial and error.status == 200
    for text in (str(error), error.user_message, repr(error.entries), repr(error.__dict__)):
        assert weak not in text

    fake_mailcow.domains["example.net"]["quota"] = 5120  # 4096 MiB already given to dave and erin
    with pytest.raises(MailcowRejected, match="only 1024 MiB of quota left"):
        mailcow_client.write(calls.add_mailbox("zed@example.net", password=PASSWORD, quota_mib=2048))


def test_mixed_answer_is_partial(mailcow_client: MailcowClient) -> None:
    with pytest.raises(MailcowRejected) as refused:
        mailcow_client.write(calls.delete_mailboxes(["dave@example.net", "nobody@example.net"]))
    error = refused.value
    assert error.partial
    assert [(e.type, e.key, e.args) for e in error.entries] == [
        ("success", "mailbox_removed", ("dave@example.net",)),
        ("danger", "access_denied", ()),
    ]
    assert "Done: mailbox dave@example.net removed" in error.user_message
    assert mailcow_client.mailbox("dave@example.net") is None


def test_html_500_names_the_backend_and_reads_retry(
    fake_mailcow: FakeMailcow, quick_client: MailcowClient
) -> None:
    fake_mailcow.fail_next("get/domain", "html500:database", times=2)
    assert len(quick_client.domains()) == 2
    assert len(fake_mailcow.calls("get/domain")) == 3

    fake_mailcow.reset_log()
    fake_mailcow.fail_next("get/fail2ban", "html500:redis", times=5)
    with pytest.raises(MailcowUnavailable, match="connection to Redis failed") as failed:
        quick_client.fail2ban()
    assert failed.value.reason == "server_error" and failed.value.status == 500
    assert len(fake_mailcow.calls("get/fail2ban")) == 3, "one try and read_retries=2 retries"
    assert "<" not in failed.value.user_message


def test_html_500_on_a_write_is_not_retried(fake_mailcow: FakeMailcow, quick_client: MailcowClient) -> None:
    fake_mailcow.fail_next("delete/mailbox", "html500:dockerapi")
    with pytest.raises(MailcowUnavailable, match="dockerapi") as failed:
        quick_client.write(calls.delete_mailboxes("bob@example.org"))
    assert len(fake_mailcow.calls("delete/mailbox")) == 1
    assert not failed.value.outcome_unknown, "mailcow checks its backends before it runs anything"


def test_wrong_key_is_not_retried_and_costs_one_failed_login(fake_mailcow: FakeMailcow) -> None:
    with make_client(fake_mailcow, key="WRONG0-000000-000000-000000-000000") as client:
        with pytest.raises(MailcowAuthError) as refused:
            client.domains()
        with pytest.raises(MailcowAuthError):
            client.write(calls.edit_mailq("flush"))
    assert refused.value.reason == "wrong_key" and refused.value.status == 401
    assert "MAILCOW_API_KEY" in refused.value.user_message and "allow-list" in refused.value.user_message
    assert "banned" in refused.value.user_message
    assert fake_mailcow.failed_logins == 2 and len(fake_mailcow.requests) == 2


def test_ip_not_allowed(fake_mailcow: FakeMailcow, mailcow_client: MailcowClient) -> None:
    fake_mailcow.allow_from = ["10.0.0.0/8"]
    with pytest.raises(MailcowAuthError, match=r"api access denied for ip 127\.0\.0\.1") as refused:
        mailcow_client.queue()
    assert refused.value.reason == "ip_denied" and fake_mailcow.failed_logins == 1
    fake_mailcow.allow_from = ["127.0.0.0/8"]
    assert mailcow_client.queue()


def test_read_only_key(fake_mailcow: FakeMailcow) -> None:
    with make_client(fake_mailcow, key=fake_mailcow.ro_key) as client:
        assert client.domains()
        with pytest.raises(MailcowAuthError, match="read-only; a read-write key is needed") as refused:
            client.write(calls.edit_mailq("flush"))
    assert refused.value.reason == "read_only" and refused.value.status == 403
    assert len(fake_mailcow.calls("edit/mailq")) == 1 and fake_mailcow.flushes == 0


def test_empty_body(fake_mailcow: FakeMailcow, quick_client: MailcowClient) -> None:
    # A key of only characters mailcow strips reaches it as no key at all: a GET then answers empty (§1.4).
    with (
        make_client(fake_mailcow, key="!!!") as keyless,
        pytest.raises(MailcowAuthError, match="never reached mailcow") as refused,
    ):
        keyless.domains()
    assert refused.value.reason == "no_key" and len(fake_mailcow.calls("get/domain")) == 1

    fake_mailcow.fail_next("edit/alias", "empty")
    with pytest.raises(MailcowUnavailable) as failed:
        quick_client.write(calls.edit_alias(1, active=False))
    assert failed.value.reason == "empty_body" and failed.value.outcome_unknown


def test_timeouts(fake_mailcow: FakeMailcow, quick_client: MailcowClient) -> None:
    fake_mailcow.fail_next("get/domain/all", "timeout")
    with pytest.raises(MailcowUnavailable, match=r"within 0\.3 s") as failed:
        quick_client.domains()
    assert failed.value.reason == "timeout" and not failed.value.outcome_unknown

    fake_mailcow.fail_next("edit/alias", "timeout")
    with pytest.raises(MailcowUnavailable, match="may or may not have been made") as failed:
        quick_client.write(calls.edit_alias(1, active=False))
    assert failed.value.reason == "timeout" and failed.value.outcome_unknown
    assert len(fake_mailcow.calls("edit/alias")) == 1

    # A docker-backed call waits longer than `timeout` (§5.1): the 0.6 s stall is survived.
    fake_mailcow.fail_next("edit/mailq", "timeout")
    assert quick_client.write(calls.edit_mailq("flush")).entries[0].key == "queue_command_success"


class CountingTransport(httpx.HTTPTransport):
    """A real transport that counts what it was asked to send."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        return super().handle_request(request)


def test_connection_refused_is_retried_for_reads_and_writes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = CountingTransport()
    with MailcowClient(
        f"http://127.0.0.1:{port}", SecretStr("KEY"), backoff=0.01, transport=transport
    ) as client:
        with pytest.raises(MailcowUnavailable, match="Could not connect") as read_failed:
            client.domains()
        assert read_failed.value.reason == "connection" and transport.sent == 3
        with pytest.raises(MailcowUnavailable) as write_failed:
            client.write(calls.edit_mailq("flush"))
    assert not write_failed.value.outcome_unknown, "nothing was sent, so nothing happened"
    assert transport.sent == 6


def test_dropped_connection_retries_reads_but_not_writes(
    fake_mailcow: FakeMailcow, quick_client: MailcowClient
) -> None:
    fake_mailcow.fail_next("get/mailq", "refuse")
    assert quick_client.queue()
    assert len(fake_mailcow.calls("get/mailq")) == 2
    fake_mailcow.fail_next("edit/mailq", "refuse")
    with pytest.raises(MailcowUnavailable) as failed:
        quick_client.write(calls.edit_mailq("flush"))
    assert failed.value.outcome_unknown and len(fake_mailcow.calls("edit/mailq")) == 1


def test_rejections_from_the_router(mailcow_client: MailcowClient, fake_mailcow: FakeMailcow) -> None:
    with pytest.raises(MailcowRejected, match=r"HTTP 404\): route not found") as refused:
        mailcow_client.get_json("get/nosuch/all")
    assert refused.value.status == 404
    with pytest.raises(MailcowRejected, match="route not found"):
        mailcow_client.write(ApiCall(action="add", category="nosuch", body={"a": 1}, target="x"))
    # `{"items": …}` on a delete (§0.3):
    with pytest.raises(MailcowRejected, match="access denied or invalid form data"):
        mailcow_client.write(ApiCall(action="delete", category="alias", body={"items": ["1"]}, target="1"))
    fake_mailcow.fail_next("add/alias", "danger:max_alias_exceeded")
    with pytest.raises(MailcowRejected, match="reached its alias limit"):
        mailcow_client.write(calls.add_alias("x@example.org", "alice@example.org"))


def test_the_session_cookie_is_never_sent_back(
    fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    # First prove the danger is real: an ordinary cookie jar keeps MCSESSID and is let in without the key.
    with httpx.Client(base_url=f"{fake_mailcow.url}/api/v1/") as naive:
        first = naive.get("get/domain/all", headers={"X-API-Key": fake_mailcow.api_key})
        assert first.headers["set-cookie"].startswith("MCSESSID=")
        assert naive.get("get/domain/all").json(), "the cookie alone authenticates (§1.5)"
    fake_mailcow.reset_log()
    mailcow_client.domains()
    mailcow_client.write(calls.edit_mailq("flush"))
    mailcow_client.queue()
    mailcow_client.fail2ban(fresh=True)
    assert len(fake_mailcow.requests) == 4
    assert all("cookie" not in r.headers for r in fake_mailcow.requests)


# --- cache -----------------------------------------------------------------------------------------


def test_cache_serves_repeats_and_every_write_drops_it(
    fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    client = mailcow_client
    assert client.age("domains") is None
    first = client.domains()
    fake_mailcow.reset_log()
    assert client.domains() == first and client.mailboxes() and client.mailboxes()
    assert [r.path for r in fake_mailcow.requests] == ["get/mailbox/all"], "domains came from the cache"
    age = client.age("domains")
    assert age is not None and 0 <= age < 5

    fake_mailcow.reset_log()
    client.write(calls.edit_domain("example.org", description="changed"))
    assert [d.description for d in client.domains() if d.domain_name == "example.org"] == ["changed"]
    client.domains(fresh=True)
    assert [r.path for r in fake_mailcow.requests] == ["edit/domain", "get/domain/all", "get/domain/all"]

    fake_mailcow.reset_log()
    with pytest.raises(MailcowRejected):
        client.write(calls.delete_mailboxes("nobody@example.org"))
    client.domains()
    assert len(fake_mailcow.calls("get/domain/all")) == 1, "a refused write drops the cache too"


def test_cache_fetches_once_when_threads_ask_together(
    fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    fake_mailcow.latency = 0.1
    results: list[int] = []
    barrier = threading.Barrier(8)

    def ask() -> None:
        barrier.wait()
        results.append(len(mailcow_client.queue()))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [6] * 8 and len(fake_mailcow.calls("get/mailq")) == 1


def test_cache_ttl_and_metrics(fake_mailcow: FakeMailcow) -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    hits = sample("chatops_cache_total", cache="fail2ban", result="hit")
    seconds = sample("chatops_mailcow_request_seconds_count", endpoint="get/mailbox/{x}")
    errors = sample("chatops_mailcow_errors_total", endpoint="get/fail2ban", kind="unavailable")
    with make_client(fake_mailcow, cache_ttl=0) as uncached:
        uncached.fail2ban()
        uncached.fail2ban()
        uncached.mailbox("alice@example.org")
        fake_mailcow.fail_next("get/fail2ban", "html500", times=3)
        with pytest.raises(MailcowUnavailable):
            uncached.fail2ban()
    assert len(fake_mailcow.calls("get/fail2ban")) == 5
    assert sample("chatops_cache_total", cache="fail2ban", result="hit") == hits
    assert sample("chatops_mailcow_request_seconds_count", endpoint="get/mailbox/{x}") == seconds + 1
    assert sample("chatops_mailcow_errors_total", endpoint="get/fail2ban", kind="unavailable") == errors + 1


# --- secrets ---------------------------------------------------------------------------------------


def test_key_and_passwords_never_reach_logs_or_errors(
    fake_mailcow: FakeMailcow, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[MailcowError] = []
    fake_mailcow.stall_seconds = 1.0
    with make_client(fake_mailcow, timeout=0.3) as client:
        client.mailbox("alice@example.org")
        client.write(calls.set_mailbox_password("alice@example.org", PASSWORD, force_pw_update=False))
        for fault in ("html500", "timeout", "empty", "401", "403", "danger:access_denied"):
            fake_mailcow.fail_next("edit/mailbox", fault)
            try:
                client.write(calls.set_mailbox_password("alice@example.org", PASSWORD, force_pw_update=False))
            except MailcowError as error:
                errors.append(error)
    with make_client(fake_mailcow, key="BAD000-000000-000000-000000-000000") as wrong:
        try:
            wrong.domains()
        except MailcowError as error:
            errors.append(error)
    assert len(errors) == 7
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("bot.mailcow")]
    assert any(line.startswith("mailcow GET get/mailbox/{x} -> 200 in ") for line in ours)
    assert not any("alice@example.org" in line for line in ours), "templates, not addresses"
    texts = [caplog.text] + [f"{e} {e.user_message} {e!r} {vars(e)}" for e in errors]
    for text in texts:
        assert fake_mailcow.api_key not in text and PASSWORD not in text
