"""Write verbs for the rest of the API (BCC, recipient and TLS policy maps, spam policies, forwarding
hosts, domain admins, OAuth2 clients, sync jobs, rate limits), driven as Slack drives them.

Adds and `ratelimit set` run at once for an operator: the tests check the body mailcow received and
the read-back in the thread. Every delete posts an approval request that shows the entry as mailcow
has it now; after the click, mailcow receives exactly the delete and the thread says what is gone.
Bad input is answered privately before mailcow is called, mailcow's refusals come back in its own
words, and the three verbs that handle a secret (`oauth add`, `domainadmin add`, `syncjob add`) are
scanned for it everywhere but the one private message to the requester.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.mailcow import calls
from bot.services import Services
from tests.fakes import manual_app
from tests.fakes.approval_plugin import Ask, approve
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import (
    ephemeral,
    parents,
    private_answer,
    readable,
    reply_to,
    shown,
    wait_shown,
)
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import APPROVER, OPERATOR, VIEWER, SlackDriver

# The app with an injected clock and no background thread.
services, bolt_app = manual_app.services, manual_app.bolt_app


def seen_except(fake_slack: FakeSlack, secret: str, services: Services, log: str) -> str:
    """Everything a secret must not be in: every Slack call but the one private message carrying it
    (which must be an ephemeral to the requester), the audit trail and the log."""
    carrying = [c for c in fake_slack.calls if secret in c.text_content()]
    assert [c.method for c in carrying] == ["response_url"], [c.method for c in carrying]
    assert services.store is not None
    audit = json.dumps([e.__dict__ for e in services.store.audit_entries(1000)], ensure_ascii=False)
    others = "\n".join(c.text_content() for c in fake_slack.calls if c not in carrying)
    return f"{others}\n{audit}\n{log}"


Seed = Callable[[FakeMailcow, Services], object]


def nothing(fake: FakeMailcow, services: Services) -> None:
    return None


def seed_bcc(fake: FakeMailcow, services: Services) -> None:
    services.mailcow.write(calls.add_bcc("example.org", "archive@example.net", "rcpt"))


def seed_recipient_map(fake: FakeMailcow, services: Services) -> None:
    services.mailcow.write(calls.add_recipient_map("old@example.org", "alice@example.org"))


def seed_tls_policy(fake: FakeMailcow, services: Services) -> None:
    services.mailcow.write(calls.add_tls_policy_map("example.net", "dane-only"))


def seed_spam_policy(fake: FakeMailcow, services: Services) -> None:
    services.mailcow.write(calls.add_domain_policy("example.org", "wl", "*@partner.example"))


def resolve_partner(fake: FakeMailcow, services: Services) -> None:
    fake.dns["mx.partner.example"] = ["198.51.100.25", "2001:db8::25"]


def seed_fwdhost(fake: FakeMailcow, services: Services) -> None:
    resolve_partner(fake, services)
    services.mailcow.write(calls.add_fwdhost("mx.partner.example"))


def seed_domain_admin(fake: FakeMailcow, services: Services) -> None:
    services.mailcow.write(calls.add_domain_admin("helpdesk", "Corr3ct-Horse-9", ["example.org"]))


def seed_oauth(fake: FakeMailcow, services: Services) -> None:
    services.mailcow.write(calls.add_oauth2_client("https://app.example/callback"))


def seed_syncjob(fake: FakeMailcow, services: Services) -> None:
    services.mailcow.write(
        calls.add_syncjob(
            "alice@example.org", host="imap.old-isp.example", user="alice", password="Imap-Pw-4711"
        )
    )


# --- adds: at once, read back ----------------------------------------------------------------------


@dataclass(frozen=True)
class Add:
    text: str
    path: str
    body: Any
    headline: str
    read_back: tuple[str, ...]
    seed: Seed = nothing

    def __str__(self) -> str:
        return self.text


ADDS = [
    Add(
        "bcc add example.org to=archive@example.net",
        "add/bcc",
        {"local_dest": "example.org", "bcc_dest": "archive@example.net", "type": "rcpt", "active": 1},
        "Add a BCC map: every mail to example.org is silently copied to archive@example.net",
        (
            'copies: (none) → "mail to @example.org"',
            'state: (none) → "active"',
            'to: (none) → "archive@example.net"',
        ),
    ),
    Add(
        "bcc add bob@example.org to=boss@example.org type=sender",
        "add/bcc",
        {"local_dest": "bob@example.org", "bcc_dest": "boss@example.org", "type": "sender", "active": 1},
        "Add a BCC map: every mail from bob@example.org is silently copied to boss@example.org",
        ('copies: (none) → "mail from bob@example.org"',),
    ),
    Add(
        "recipientmap add old@example.org alice@example.org",
        "add/recipient_map",
        {"recipient_map_old": "old@example.org", "recipient_map_new": "alice@example.org", "active": 1},
        "Add a recipient map: mail to old@example.org goes to alice@example.org instead",
        ('rewrites: (none) → "old@example.org"', 'to: (none) → "alice@example.org"'),
    ),
    Add(
        'tlspolicy add partner.example policy=fingerprint parameters="match=AB:CD"',
        "add/tls-policy-map",
        {"dest": "partner.example", "policy": "fingerprint", "parameters": "match=AB:CD", "active": 1},
        "Add a TLS policy: outgoing mail to partner.example uses fingerprint match=AB:CD",
        ('destination: (none) → "partner.example"', 'policy: (none) → "fingerprint match=AB:CD"'),
    ),
    Add(
        "spampolicy add example.org block *@spam.example",
        "add/domain-policy",
        {"domain": "example.org", "object_list": "bl", "object_from": "*@spam.example"},
        "Block *@spam.example for example.org: its mail to the domain is always rejected",
        (
            'list: (none) → "block"',
            'sender: (none) → "*@spam.example"',
            'applies to: (none) → "the whole domain"',
        ),
    ),
    Add(
        "fwdhost add mx.partner.example",
        "add/fwdhost",
        {"hostname": "mx.partner.example", "filter_spam": 0},
        "Accept mail forwarded by mx.partner.example without sender checks; its spam is kept (not filtered)",
        (
            '198.51.100.25: (none) → "from mx.partner.example, spam kept (not filtered)"',
            '2001:db8::25: (none) → "from mx.partner.example, spam kept (not filtered)"',
        ),
        resolve_partner,
    ),
    Add(
        "fwdhost add 192.0.2.0/24 spam_filter=yes",
        "add/fwdhost",
        {"hostname": "192.0.2.0/24", "filter_spam": 1},
        "Accept mail forwarded by 192.0.2.0/24 without sender checks; its spam is filtered",
        ('192.0.2.0/24: (none) → "spam filtered"',),
    ),
    Add(
        "ratelimit set mailbox alice@example.org 100/hour",
        "edit/rl-mbox",
        {"items": ["alice@example.org"], "attr": {"rl_value": 100, "rl_frame": "h"}},
        "Limit mailbox alice@example.org to 100 messages per hour",
        ('limit: "none" → "100 messages per hour"',),
    ),
    Add(
        "ratelimit set domain example.org 0",
        "edit/rl-domain",
        {"items": ["example.org"], "attr": {"rl_value": 0, "rl_frame": "d"}},
        "Remove the rate limit of domain example.org",
        ('limit: "500 messages per day" → "none"',),
        lambda fake, services: services.mailcow.write(calls.edit_rl_domain("example.org", 500, "d")),
    ),
    Add(
        "syncjob edit 1 interval=60 active=no",
        "edit/syncjob",
        {"items": ["1"], "attr": {"active": 0, "mins_interval": 60}},
        "Change sync job #1: interval=60, active=no",
        ('every: "20 min" → "1 h"', 'state: "active" → "inactive"'),
        seed_syncjob,
    ),
]


@pytest.mark.parametrize("case", ADDS, ids=str)
def test_an_add_runs_at_once_sends_exactly_that_and_reads_back(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services, case: Add
) -> None:
    case.seed(fake_mailcow, services)
    fake_mailcow.reset_log()
    posted = reply_to(slack, fake_slack, case.text)
    assert posted.headline == f":white_check_mark: Done: {case.headline}"
    assert fake_mailcow.sent() == [(case.path, case.body)]
    assert "*Read back from mailcow*: " in posted.text
    for change in case.read_back:
        assert change in posted.text, posted.text
    assert services.store is not None
    [execution] = [e for e in services.store.audit_entries(10) if e.event == "execution"]
    assert (execution.user_id, execution.outcome) == (OPERATOR, "done")


# --- deletes: approval, then exactly the delete ------------------------------------------------------


@dataclass(frozen=True)
class Delete:
    text: str
    seed: Seed
    asked: tuple[str, ...]
    """What the request shows: the summary and the entry's state now."""
    path: str
    body: list[str]
    gone: Callable[[FakeMailcow], bool]
    read_back: str

    def __str__(self) -> str:
        return self.text


DELETES = [
    Delete(
        "bcc delete 1",
        seed_bcc,
        (
            "Delete BCC map #1 (mail to @example.org copied to archive@example.net): its copies stop",
            "*copies*\nmail to @example.org",
            "*to*\narchive@example.net",
            "*state*\nactive",
        ),
        "delete/bcc",
        ["1"],
        lambda fake: fake.bcc_maps == {},
        "no longer in mailcow (was: copies: mail to @example.org; to: archive@example.net; state: active)",
    ),
    Delete(
        "recipientmap delete 1",
        seed_recipient_map,
        (
            "Delete recipient map #1 (old@example.org → alice@example.org): mail to it is no longer",
            "*rewrites*\nold@example.org",
        ),
        "delete/recipient_map",
        ["1"],
        lambda fake: fake.recipient_maps == {},
        "no longer in mailcow (was: rewrites: old@example.org; to: alice@example.org; state: active)",
    ),
    Delete(
        "tlspolicy delete 1",
        seed_tls_policy,
        ("Delete TLS policy map #1 (example.net → dane-only)", "*policy*\ndane-only"),
        "delete/tls-policy-map",
        ["1"],
        lambda fake: fake.tls_policy_maps == {},
        "no longer in mailcow (was: destination: example.net; policy: dane-only; state: active)",
    ),
    Delete(
        "spampolicy delete example.org 1",
        seed_spam_policy,
        (
            "Delete spam policy entry 1 (allow *@partner.example for the whole domain): mail from it is "
            "scored like any other again",
            "*list*\nallow",
            "*sender*\n*@partner.example",
        ),
        "delete/domain-policy",
        ["1"],
        lambda fake: fake.domain_policies == {},
        "no longer in mailcow (was: list: allow; sender: *@partner.example; applies to: the whole domain)",
    ),
    Delete(
        "fwdhost delete mx.partner.example",
        seed_fwdhost,
        (
            "Delete forwarding host mx.partner.example (198.51.100.25, 2001:db8::25): mail it forwards gets "
            "the usual sender checks again",
            "*198.51.100.25*\nfrom mx.partner.example, spam kept (not filtered)",
        ),
        "delete/fwdhost",
        ["198.51.100.25", "2001:db8::25"],
        lambda fake: fake.fwdhosts == {},
        "no longer in mailcow (was: 198.51.100.25: from mx.partner.example, spam kept (not filtered); "
        "2001:db8::25: from mx.partner.example, spam kept (not filtered))",
    ),
    Delete(
        "fwdhost delete 2001:db8::25",
        seed_fwdhost,
        ("Delete forwarding host 2001:db8::25: mail it forwards",),
        "delete/fwdhost",
        ["2001:db8::25"],
        lambda fake: list(fake.fwdhosts) == ["198.51.100.25"],
        "no longer in mailcow (was: 2001:db8::25: from mx.partner.example, spam kept (not filtered))",
    ),
    Delete(
        "domainadmin delete helpdesk",
        seed_domain_admin,
        (
            "Delete domain admin helpdesk (domains: example.org): they can no longer sign in to mailcow's UI",
            "*domains*\nexample.org",
            "*two-factor*\noff",
        ),
        "delete/domain-admin",
        ["helpdesk"],
        lambda fake: fake.domain_admins == {},
        "no longer in mailcow (was: state: active; domains: example.org; two-factor: off)",
    ),
    Delete(
        "oauth delete 1",
        seed_oauth,
        ("Delete OAuth2 client #1 (client ID ", "redirect URI https://app.example/callback): apps using it"),
        "delete/oauth2-client",
        ["1"],
        lambda fake: fake.oauth2_clients == {},
        "no longer in mailcow (was: #1: client ID ",
    ),
    Delete(
        "syncjob delete 1",
        seed_syncjob,
        (
            "Delete sync job #1 (alice on imap.old-isp.example → alice@example.org): it stops copying",
            "*source*\nalice on imap.old-isp.example:993 (SSL)",
            "*last run*\nnever ran",
            "*every*\n20 min",
        ),
        "delete/syncjob",
        ["1"],
        lambda fake: fake.syncjobs == {},
        "no longer in mailcow (was: source: alice on imap.old-isp.example:993 (SSL); "
        "into: alice@example.org;",
    ),
]


@pytest.mark.parametrize("case", DELETES, ids=str)
def test_a_delete_waits_for_an_approval_showing_the_entry_then_sends_exactly_the_delete(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    services: Services,
    *,
    ask: Ask,
    case: Delete,
) -> None:
    case.seed(fake_mailcow, services)
    fake_mailcow.reset_log()
    request = ask(case.text)
    asked = shown(fake_slack, request.ts)
    for words in case.asked:
        assert words in asked, asked
    assert fake_mailcow.sent() == []

    slack.click("approval_approve", request.id, user=APPROVER)
    wait_shown(fake_slack, request.ts, "*Done:*")
    assert fake_mailcow.sent() == [(case.path, case.body)]
    assert case.gone(fake_mailcow)
    thread = "\n".join(readable(c.args) for c in fake_slack.wait_for(lambda s: s.thread(request.ts)))
    assert "*Read back from mailcow*: " in thread and case.read_back in thread, thread


# --- bad input: answered privately, nothing sent ----------------------------------------------------

BAD_INPUT = [
    ("bcc add example.org", "`to=` is missing: the address that gets the copies."),
    ("bcc add example.org to=archive@example.net type=both", "`type=both` is not a BCC map type"),
    ("bcc add example.org to=archive", "`archive` is not a valid e-mail BCC destination"),
    ("bcc delete seven", "`seven` is not a BCC map ID; expected a number like `7`"),
    ("bcc delete 99", "there is no BCC map `99` on this mailcow; `/mailcow bcc list` lists them."),
    ("recipientmap add old@example.org", "the new address or domain is missing."),
    ("recipientmap delete 1 2", "unexpected argument `2`"),
    ("tlspolicy add example.net", "`policy=` is missing; expected one of `none`, `may`"),
    ("tlspolicy add example.net policy=strict", "`policy=strict` is not a TLS policy"),
    ("tlspolicy add example.net policy=secure parameters=match", "TLS policy parameters are space-separated"),
    ("spampolicy add example.org maybe *@x.example", "`maybe` is neither `allow` nor `block`."),
    ("spampolicy add nope.example allow *@x.example", "`nope.example` is not a domain on this mailcow."),
    ("spampolicy add example.org allow bad!sender", "a sender pattern is letters, digits and @ _ . - *"),
    ("spampolicy delete example.org 99", "there is no spam policy entry `99` in `example.org`'s lists"),
    ("fwdhost add not..a.host", "`not..a.host` is neither a host name"),
    ("fwdhost delete 192.0.2.99", "there is no forwarding host `192.0.2.99`"),
    ("domainadmin add helpdesk", "`domains=` is missing"),
    (
        "domainadmin add helpdesk domains=example.org,nope.example",
        "not a domain on this mailcow: `nope.example`.",
    ),
    ("domainadmin add bad/name domains=example.org", "`bad/name` is not a domain admin username"),
    ("domainadmin add API domains=example.org", "'API' is not a valid domain administrator name"),
    ("domainadmin delete ghost", "there is no domain admin `ghost`"),
    ("oauth add ftp://files.example", "`ftp://files.example` is not a redirect URI"),
    ("oauth delete 1a2b3c4d5e6f", "`oauth delete` takes the client's number, not its client ID."),
    ("oauth delete 5", "there is no OAuth2 client `5`"),
    ("syncjob add alice@example.org host=imap.x.example", "`user=` is missing"),
    ("syncjob add alice@example.org user=alice", "`host=` is missing"),
    ("syncjob add alice@example.org host=imap.x.example user=a port=99999", "`port` must be at most 65535"),
    ("syncjob add alice@example.org host=imap.x.example user=a enc=STARTTLS", "`enc` is SSL (port 993)"),
    ("syncjob add alice host=imap.x.example user=a", "`alice` is not a valid e-mail mailbox"),
    ("syncjob edit 4 interval=0", "`interval` must be at least 1"),
    ("syncjob edit 4", "nothing to change: give at least one setting."),
    ("syncjob edit 4 host=192.0.2.5", "mailcow changes a sync job's host only to a host name"),
    ("syncjob edit 4 dry=yes", "unknown option `dry=`."),
    ("syncjob edit 4 active=no", "there is no sync job `4` on this mailcow"),
    ("syncjob delete abc", "`abc` is not a sync job ID"),
    (
        "ratelimit set mailbox alice@example.org lots",
        "`lots` is not a rate; expected messages per time frame",
    ),
    ("ratelimit set mailbox alice@example.org 10/week", "`10/week` is not a rate"),
    ("ratelimit set user alice@example.org 10/h", "`user` is neither `mailbox` nor `domain`."),
    (
        "ratelimit set mailbox ghost@example.org 10/h",
        "there is no mailbox `ghost@example.org` on this mailcow.",
    ),
]


@pytest.mark.parametrize(("typed", "told"), BAD_INPUT, ids=[t for t, _ in BAD_INPUT])
def test_bad_input_names_the_argument_and_nothing_is_sent(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, typed: str, told: str
) -> None:
    answer = private_answer(slack, fake_slack, fake_mailcow, typed, reads=True)
    assert "That command is not quite right." in answer
    assert told in answer, answer
    assert parents(fake_slack) == []


WRITE_VERBS = [
    "bcc add example.org to=archive@example.net",
    "bcc delete 1",
    "recipientmap add a@example.org b@example.org",
    "tlspolicy add example.net policy=encrypt",
    "spampolicy add example.org allow *@x.example",
    "fwdhost add 192.0.2.1",
    "domainadmin add helpdesk domains=example.org",
    "oauth add https://app.example/cb",
    "oauth delete 1",
    "syncjob add alice@example.org host=imap.x.example user=a",
    "syncjob edit 1 active=no",
    "ratelimit set domain example.org 10/h",
]


@pytest.mark.parametrize("typed", WRITE_VERBS)
def test_a_viewer_may_not_write(slack: SlackDriver, fake_mailcow: FakeMailcow, typed: str) -> None:
    assert "needs an operator" in slack.command(typed, user=VIEWER).json()["text"]
    assert fake_mailcow.writes() == []


# --- mailcow says no -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "typed", "said"),
    [
        (nothing, "bcc add nobody@example.org to=x@example.net", "mailcow could not add the item"),
        (
            seed_recipient_map,
            "recipientmap add old@example.org bob@example.org",
            "a recipient map for old@example.org already exists",
        ),
        (
            seed_tls_policy,
            "tlspolicy add example.net policy=encrypt",
            "a TLS policy for example.net already exists",
        ),
        (
            seed_spam_policy,
            "spampolicy add example.org allow *@partner.example",
            "the sender pattern already exists",
        ),
        (nothing, "fwdhost add relay.invalid", "relay.invalid does not resolve to any address"),
        (seed_domain_admin, "domainadmin add helpdesk domains=example.net", "helpdesk already exists"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_mailcows_refusal_is_shown_in_its_own_words_and_nothing_is_retried(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    services: Services,
    *,
    seed: Seed,
    typed: str,
    said: str,
) -> None:
    seed(fake_mailcow, services)
    fake_mailcow.reset_log()
    posted = reply_to(slack, fake_slack, typed)
    assert posted.headline.startswith(":x: Failed: ")
    assert "*mailcow's answer to `POST /api/v1/add/" in posted.text
    assert said in posted.text, posted.text
    assert "Nothing was retried." in posted.text
    assert len(fake_mailcow.sent()) == 1


def test_the_bcc_refusal_without_a_message_is_still_plain(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    """mailcow answers an unknown local address with no message at all (§4.12): say what was refused."""
    posted = reply_to(slack, fake_slack, "bcc add nobody@example.org to=x@example.net")
    assert "mailcow refused add/bcc for nobody@example.org (rcpt): mailcow could not add the item." in (
        posted.text
    )


# --- secrets: shown once, to the requester only ------------------------------------------------------


def test_oauth_add_reads_back_the_client_and_shows_its_secret_only_to_the_requester(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    services: Services,
    captured: io.StringIO,
) -> None:
    seed_oauth(fake_mailcow, services)  # another client, for the same app: not the new one
    fake_mailcow.reset_log()
    posted = reply_to(slack, fake_slack, "oauth add https://app.example/callback")
    assert (
        posted.headline
        == ":white_check_mark: Done: Add an OAuth2 client redirecting to https://app.example/callback"
    )
    assert fake_mailcow.sent() == [("add/oauth2-client", {"redirect_uri": "https://app.example/callback"})]
    new = fake_mailcow.oauth2_clients["2"]
    assert f'#2: (none) → "client ID {new["client_id"]} · https://app.example/callback"' in posted.text
    assert "#1:" not in posted.text

    secret = new["client_secret"]
    [private] = fake_slack.wait_for(lambda s: s.ephemerals())
    assert private.method == "response_url" and private.args["response_type"] == "ephemeral"
    text = readable(private.args)
    assert f"*Client secret*\n`{secret}`" in text and f"*Client ID*\n`{new['client_id']}`" in text
    assert "shown once, only to you" in private.args["text"]
    elsewhere = seen_except(fake_slack, secret, services, captured.getvalue())
    assert secret not in elsewhere
    assert fake_mailcow.oauth2_clients["1"]["client_secret"] not in fake_slack.all_text()


def test_domainadmin_add_generates_the_password_when_it_runs_and_only_the_requester_sees_it(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    services: Services,
    captured: io.StringIO,
) -> None:
    posted = reply_to(slack, fake_slack, "domainadmin add helpdesk domains=example.org,example.net")
    assert (
        posted.headline == ":white_check_mark: Done: Add domain admin helpdesk for example.org, example.net"
    )
    assert 'domains: (none) → "example.org, example.net"' in posted.text
    assert 'state: (none) → "active"' in posted.text
    [(path, body)] = fake_mailcow.sent()
    password = body["password"]
    assert path == "add/domain-admin" and len(password) == 20 and body["password2"] == password
    assert {k: v for k, v in body.items() if not k.startswith("password")} == {
        "username": "helpdesk",
        "domains": ["example.org", "example.net"],
        "active": 1,
    }
    assert fake_mailcow.domain_admins["helpdesk"]["password"] == password

    [private] = fake_slack.wait_for(lambda s: s.ephemerals())
    assert f"`{password}`" in readable(private.args)
    assert private.args["text"] == "Password for domain admin `helpdesk`: shown once, only to you"
    assert services.store is not None
    [execution] = [e for e in services.store.audit_entries(10) if e.event == "execution"]
    assert '"password": "••••"' in execution.detail
    assert password not in seen_except(fake_slack, password, services, captured.getvalue())


@pytest.mark.parametrize(
    "settings_overrides", [{"CHATOPS_EXTRA_APPROVALS": "oauth.add,syncjob.add"}], indirect=True
)
@pytest.mark.parametrize(
    "typed", ["oauth add https://app.example/cb", "syncjob add alice@example.org host=imap.x.example user=a"]
)
def test_a_verb_with_a_secret_refuses_to_wait_for_an_approval(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, typed: str
) -> None:
    answer = private_answer(slack, fake_slack, fake_mailcow, typed, reads=True)
    assert "is set to need an approval (CHATOPS_EXTRA_APPROVALS)" in answer
    assert parents(fake_slack) == [] and fake_slack.calls_to("views.open") == []


@pytest.mark.parametrize(
    "settings_overrides", [{"CHATOPS_EXTRA_APPROVALS": "domainadmin.add"}], indirect=True
)
def test_an_approved_domainadmin_add_hands_the_password_to_the_requester_in_a_direct_message(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    services: Services,
    ask: Ask,
) -> None:
    asked, _, thread = approve(slack, fake_slack, ask, "domainadmin add helpdesk domains=example.org")
    assert '"password": "••••", "password2": "••••"' in asked
    assert "*Now in mailcow* (checked again before it runs): not in mailcow yet." in asked
    [(_, body)] = fake_mailcow.sent()
    password = body["password"]
    assert fake_mailcow.domain_admins["helpdesk"]["password"] == password
    assert f"The new password went to <@{OPERATOR}> in a direct message, once." in thread
    [direct] = [c for c in fake_slack.calls if password in c.text_content()]
    assert (direct.method, direct.args["channel"]) == ("chat.postMessage", "D0OPER")
    assert services.store is not None
    assert password not in json.dumps([e.__dict__ for e in services.store.audit_entries(100)])


# --- sync jobs: the password modal -------------------------------------------------------------------

SOURCE_PASSWORD = "Imap-S0urce-Pw!42"


def opened_modal(fake_slack: FakeSlack) -> dict[str, Any]:
    [opened] = fake_slack.wait_calls("views.open")
    assert opened.args["trigger_id"].startswith("trigger.")
    view: dict[str, Any] = opened.args["view"]
    return view


def filled(view: dict[str, Any], password: str) -> dict[str, Any]:
    values = {"password": {"password": {"type": "plain_text_input", "value": password}}}
    return {**view, "id": "V1", "state": {"values": values}}


def test_syncjob_add_asks_for_the_password_in_a_modal_and_it_reaches_only_mailcow(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    services: Services,
    captured: io.StringIO,
) -> None:
    typed = "syncjob add alice@example.org host=imap.old-isp.example user=alice@old-isp.example interval=30"
    assert slack.command(typed).text == ""
    view = opened_modal(fake_slack)
    assert view["callback_id"] == "syncjob_password"
    assert json.loads(view["private_metadata"])["channel"] == "C0OPS"
    text = readable(view)
    assert (
        "copy mail from alice@old-isp.example on imap.old-isp.example:993 (SSL) into alice@example.org"
        in text
    )
    assert "Password of alice@old-isp.example on imap.old-isp.example" in text
    assert fake_mailcow.writes() == []

    answer = slack.submit(filled(view, SOURCE_PASSWORD))
    assert answer.status == 200 and answer.text == ""
    ts = fake_slack.wait_for(lambda s: parents(s) and parents(s)[0])
    thread = readable(fake_slack.wait_for(lambda s: s.thread(ts))[0].args)
    assert fake_slack.messages[ts]["text"].startswith(
        ":white_check_mark: Done: Add a sync job: copy mail from"
    )
    assert f"`/mailcow {typed}`" in readable(fake_slack.messages[ts])
    assert (
        "`POST /api/v1/add/syncjob`* on alice@old-isp.example on imap.old-isp.example → alice@example.org"
        in (thread)
    )
    assert 'into: (none) → "alice@example.org"' in thread and 'every: (none) → "30 min"' in thread
    [(path, body)] = fake_mailcow.sent()
    assert path == "add/syncjob" and body["password1"] == SOURCE_PASSWORD
    assert (body["username"], body["host1"], body["user1"], body["port1"], body["enc1"]) == (
        "alice@example.org",
        "imap.old-isp.example",
        "alice@old-isp.example",
        993,
        "SSL",
    )
    assert (body["mins_interval"], body["active"]) == (30, 1)
    assert services.store is not None
    entries = services.store.audit_entries(100)
    [execution] = [e for e in entries if e.event == "execution"]
    assert '"password1": "••••"' in execution.detail
    audit = json.dumps([e.__dict__ for e in entries], ensure_ascii=False)
    for place in (fake_slack.all_text(), audit, captured.getvalue()):
        assert SOURCE_PASSWORD not in place


def test_starttls_defaults_to_port_143(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("syncjob add alice@example.org host=imap.old-isp.example user=alice enc=tls")
    assert "alice on imap.old-isp.example:143 (TLS) into alice@example.org" in readable(
        opened_modal(fake_slack)
    )


def test_an_empty_password_is_answered_inside_the_modal(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("syncjob add alice@example.org host=imap.old-isp.example user=alice")
    answer = slack.submit(filled(opened_modal(fake_slack), ""))
    assert answer.json() == {
        "response_action": "errors",
        "errors": {"password": "Enter the password of the source mailbox."},
    }
    assert fake_mailcow.writes() == []


def test_a_password_typed_into_the_command_is_refused_and_never_shown(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, services: Services
) -> None:
    slack.command(f"syncjob add alice@example.org host=imap.x.example user=a password={SOURCE_PASSWORD}")
    assert "Leave the password out of the command (`password=`)" in ephemeral(fake_slack)
    assert fake_mailcow.writes() == [] and fake_slack.calls_to("views.open") == []
    assert SOURCE_PASSWORD not in fake_slack.all_text()
    assert services.store is not None
    fake_slack.wait_for(lambda _: services.store and services.store.audit_entries(5))
    assert SOURCE_PASSWORD not in json.dumps([e.__dict__ for e in services.store.audit_entries(5)])


def test_what_mailcow_would_refuse_is_said_instead_of_asking_for_the_password(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("syncjob add ghost@example.org host=imap.x.example user=ghost")
    view = opened_modal(fake_slack)
    assert "There is no mailbox `ghost@example.org` on this mailcow" in readable(view)
    assert "submit" not in view and "private_metadata" not in view
    assert fake_mailcow.writes() == []


def test_a_new_source_password_for_an_existing_job_goes_through_the_modal(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    services: Services,
    captured: io.StringIO,
) -> None:
    seed_syncjob(fake_mailcow, services)
    fake_mailcow.reset_log()
    slack.command("syncjob edit 1 password")
    view = opened_modal(fake_slack)
    assert "Change sync job #1: a new source password" in readable(view)
    slack.submit(filled(view, SOURCE_PASSWORD))
    ts = fake_slack.wait_for(lambda s: parents(s) and parents(s)[0])
    assert (
        fake_slack.messages[ts]["text"]
        == ":white_check_mark: Done: Change sync job #1: a new source password"
    )
    assert fake_mailcow.sent() == [("edit/syncjob", {"items": ["1"], "attr": {"password1": SOURCE_PASSWORD}})]
    assert fake_mailcow.syncjobs["1"]["password1"] == SOURCE_PASSWORD
    for place in (fake_slack.all_text(), captured.getvalue()):
        assert SOURCE_PASSWORD not in place


def test_the_modal_of_a_viewer_is_refused_by_the_guard(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    slack.command("syncjob add alice@example.org host=imap.old-isp.example user=alice")
    answer = slack.submit(filled(opened_modal(fake_slack), SOURCE_PASSWORD), user=VIEWER)
    assert answer.json()["response_action"] == "update"
    assert "needs an operator" in json.dumps(answer.json())
    assert fake_mailcow.writes() == []
