"""list/show for the rest of the API (OAuth2 clients, domain admins, sync jobs, forwarding hosts, BCC,
recipient and TLS policy maps, spam policies, rate limits), driven as Slack drives them.

Each area is seeded through mailcow's own add/edit routes on the stand-in, then read the way a person
reads it. One parametrised scenario per area covers data, mailcow's `{}` and a refused API key; the
show verbs (one parametrised scenario for the areas with write verbs, quarantine included), bad input
and the secrets (OAuth2 client secrets, sync-job passwords) follow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from bot.mailcow import MailcowClient, SyncJob, calls
from commands.syncjob import job_line
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import ephemeral, private_answer, reply_to
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import VIEWER, SlackDriver

Seed = Callable[[FakeMailcow, MailcowClient], None]


def seed_oauth(fake: FakeMailcow, client: MailcowClient) -> None:
    client.write(calls.add_oauth2_client("https://app.example/callback"))


def seed_domain_admin(fake: FakeMailcow, client: MailcowClient) -> None:
    client.write(calls.add_domain_admin("helpdesk", "Corr3ct-Horse-9", ["example.org", "example.net"]))


def seed_syncjob(fake: FakeMailcow, client: MailcowClient) -> None:
    client.write(
        calls.add_syncjob(
            "alice@example.org", host="imap.old-isp.example", user="alice", password="Imap-Pw-4711"
        )
    )


def seed_fwdhost(fake: FakeMailcow, client: MailcowClient) -> None:
    fake.dns["mx.partner.example"] = ["198.51.100.25"]
    client.write(calls.add_fwdhost("192.0.2.25"))
    client.write(calls.add_fwdhost("mx.partner.example", filter_spam=True))


def seed_bcc(fake: FakeMailcow, client: MailcowClient) -> None:
    client.write(calls.add_bcc("example.org", "archive@example.net", "rcpt"))
    client.write(calls.add_bcc("bob@example.org", "boss@example.org", "sender", active=False))


def seed_recipient_map(fake: FakeMailcow, client: MailcowClient) -> None:
    client.write(calls.add_recipient_map("old@example.org", "alice@example.org"))


def seed_tls_policy(fake: FakeMailcow, client: MailcowClient) -> None:
    client.write(calls.add_tls_policy_map("example.net", "dane-only"))
    client.write(
        calls.add_tls_policy_map("partner.example", "fingerprint", parameters="match=AB:CD", active=False)
    )


def seed_spam_policy(fake: FakeMailcow, client: MailcowClient) -> None:
    client.write(calls.add_domain_policy("example.org", "wl", "*@partner.example"))
    client.write(calls.add_domain_policy("example.org", "bl", "*@spam.example"))


def seed_rate_limits(fake: FakeMailcow, client: MailcowClient) -> None:
    client.write(calls.edit_rl_domain("example.org", 100, "h"))
    client.write(calls.edit_rl_mbox("alice@example.org", 10, "m"))


@dataclass(frozen=True)
class Area:
    command: str
    endpoint: str
    """What the fault goes on (a prefix of the GET path)."""
    seed: Seed
    headline: str
    lines: tuple[str, ...]
    empty: str

    def __str__(self) -> str:
        return self.command


AREAS = [
    Area(
        "oauth list",
        "get/oauth2-client",
        seed_oauth,
        "OAuth2 clients: *1*",
        ("→ `https://app.example/callback` · scope profile · secret set",),
        "OAuth2 clients: *none*",
    ),
    Area(
        "domainadmin list",
        "get/domain-admin",
        seed_domain_admin,
        "Domain admins: *1*",
        ("`helpdesk` · active · 2FA off · 2 domains: example.org, example.net",),
        "Domain admins: *none*",
    ),
    Area(
        "syncjob list",
        "get/syncjobs",
        seed_syncjob,
        "Sync jobs: *1*",
        (
            "`#1` `alice` on `imap.old-isp.example:993` (SSL) → `alice@example.org` · every 20 min · "
            "never ran",
        ),
        "Sync jobs: *none*",
    ),
    Area(
        "fwdhost list",
        "get/fwdhost",
        seed_fwdhost,
        "Forwarding hosts: *2*",
        (
            "`192.0.2.25` · spam kept (not filtered)",
            "`198.51.100.25` from `mx.partner.example` · spam filtered",
        ),
        "Forwarding hosts: *none*",
    ),
    Area(
        "bcc list",
        "get/bcc",
        seed_bcc,
        "BCC maps: *2* · 1 active",
        (
            "`#1` mail to `@example.org` → copy to `archive@example.net` · active",
            "`#2` mail from `bob@example.org` → copy to `boss@example.org` · inactive",
        ),
        "BCC maps: *none*",
    ),
    Area(
        "recipientmap list",
        "get/recipient_map",
        seed_recipient_map,
        "Recipient maps: *1*",
        ("`#1` `old@example.org` → `alice@example.org` · active",),
        "Recipient maps: *none*",
    ),
    Area(
        "tlspolicy list",
        "get/tls-policy-map",
        seed_tls_policy,
        "TLS policy maps: *2*",
        (
            "`#1` `example.net` → `dane-only` · active",
            "`#2` `partner.example` → `fingerprint` `match=AB:CD` · inactive",
        ),
        "TLS policy maps: *none*",
    ),
    Area(
        "spampolicy list example.org",
        "get/policy_",
        seed_spam_policy,
        "Spam policy of example.org: *2* · 1 allowed, 1 blocked",
        (
            ":white_check_mark: allow `*@partner.example` · whole domain · id 1",
            ":no_entry_sign: block `*@spam.example` · whole domain · id 2",
        ),
        "Spam policy of example.org: *none*",
    ),
    Area(
        "ratelimit list",
        "get/rl-",
        seed_rate_limits,
        "Rate limits: *2* · 1 domain, 1 mailbox",
        (
            "`example.org` (domain) · 100 messages per hour",
            "`alice@example.org` (mailbox) · 10 messages per minute",
        ),
        "Rate limits: *none*",
    ),
]


@pytest.mark.parametrize("area", AREAS, ids=str)
def test_list_shows_every_row(
    area: Area,
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    mailcow_client: MailcowClient,
) -> None:
    area.seed(fake_mailcow, mailcow_client)
    answer = reply_to(slack, fake_slack, area.command, user=VIEWER)
    assert answer.headline == area.headline
    for line in area.lines:
        assert line in answer.text
    assert fake_slack.violations == []


@pytest.mark.parametrize("area", AREAS, ids=str)
def test_list_of_nothing_says_none(area: Area, slack: SlackDriver, fake_slack: FakeSlack) -> None:
    answer = reply_to(slack, fake_slack, area.command, thread_messages=0, user=VIEWER)
    assert answer.headline == area.empty


@pytest.mark.parametrize("area", AREAS, ids=str)
def test_refused_key_names_mailcow_and_the_fix(
    area: Area, slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.fail_next(area.endpoint, "401")
    answer = reply_to(slack, fake_slack, area.command, user=VIEWER)
    assert answer.headline == ":x: mailcow refused the bot's API key."
    assert "MAILCOW_API_KEY" in answer.text
    assert fake_mailcow.failed_logins == 1, "a refused key must not be retried (fail2ban counts it)"


# --- show verbs -------------------------------------------------------------------------------------


def test_oauth_show_by_number_and_by_client_id(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    seed_oauth(fake_mailcow, mailcow_client)
    client_id = fake_mailcow.oauth2_clients["1"]["client_id"]
    for key in ("1", client_id):
        answer = reply_to(slack, fake_slack, f"oauth show {key}", user=VIEWER)
        assert answer.headline == f"OAuth2 client `#1` `{client_id}`"
        assert "*Redirect URI*\n`https://app.example/callback`" in answer.text
        assert "*Secret*\nset; shown only in mailcow's UI" in answer.text


def test_oauth_client_secrets_never_reach_slack_or_the_log(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    mailcow_client: MailcowClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """120 clients: the list pages and its CSV is uploaded; no secret is in any of it."""
    caplog.set_level(logging.DEBUG)
    for n in range(120):
        mailcow_client.write(calls.add_oauth2_client(f"https://app{n}.example/cb"))
    secrets = [c["client_secret"] for c in fake_mailcow.oauth2_clients.values()]
    assert len(secrets) == 120
    listed = reply_to(slack, fake_slack, "oauth list", user=VIEWER)
    assert "Page 1 of 5" in listed.text
    fake_slack.wait_calls("files.completeUploadExternal")
    reply_to(slack, fake_slack, "oauth show 7", user=VIEWER)
    everything = fake_slack.all_text()
    assert "app119.example" in everything, "the CSV upload was recorded"
    leaked = [s for s in secrets if s in everything or s in caplog.text]
    assert leaked == []


def test_oauth_show_unknown_and_malformed(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    assert reply_to(slack, fake_slack, "oauth show 42", user=VIEWER).headline == (
        ":warning: There is no OAuth2 client `42`."
    )
    slack.command("oauth show not-an-id")
    answer = ephemeral(fake_slack)
    assert "`not-an-id` is neither a client number (like `3`) nor a client ID" in answer
    assert "Usage: `/mailcow oauth show ID|CLIENT_ID`" in answer


def test_domainadmin_show(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    seed_domain_admin(fake_mailcow, mailcow_client)
    answer = reply_to(slack, fake_slack, "domainadmin show helpdesk", user=VIEWER)
    assert answer.headline == "Domain admin `helpdesk`: active, 2FA off"
    assert "*Domains (2)*\nexample.org, example.net" in answer.text
    assert "*Must change password*\nno" in answer.text
    assert (
        reply_to(slack, fake_slack, "domainadmin show nobody", user=VIEWER).headline
        == ":warning: There is no domain admin `nobody`."
    )
    assert (
        "1 active admin without two-factor." in reply_to(slack, fake_slack, "domain-admins", user=VIEWER).text
    )


def test_domainadmin_show_refuses_a_malformed_name(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.command("domainadmin show help/desk")
    answer = ephemeral(fake_slack)
    assert "`help/desk` is not a domain admin username; expected letters, digits, `.`, `_` or `-`." in answer


def test_syncjob_list_for_one_mailbox_and_show_never_leak_the_password(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, mailcow_client: MailcowClient
) -> None:
    seed_syncjob(fake_mailcow, mailcow_client)
    mine = reply_to(slack, fake_slack, "syncjob list alice@example.org", user=VIEWER)
    assert mine.headline == "Sync jobs into alice@example.org: *1*"
    assert (
        reply_to(slack, fake_slack, "syncjob list bob@example.org", user=VIEWER).headline
        == "Sync jobs into bob@example.org: *none*"
    )
    shown = reply_to(slack, fake_slack, "syncjob show 1", user=VIEWER)
    assert shown.headline == "Sync job `#1` into `alice@example.org`: never ran"
    assert "*Options*\ndelete duplicates on target, map folder names, subscribe all folders" in shown.text
    assert "*Excluded folders*\n`(?i)spam|(?i)junk`" in shown.text
    assert "The source password is stored in mailcow and never shown here." in shown.text
    assert "Imap-Pw-4711" not in fake_slack.all_text()
    assert all("with_password" not in r.path for r in fake_mailcow.requests)


def test_syncjob_show_masks_a_password_passed_as_an_imapsync_option(
    slack: SlackDriver, fake_slack: FakeSlack, mailcow_client: MailcowClient
) -> None:
    mailcow_client.write(
        calls.add_syncjob(
            "bob@example.org",
            host="imap.example.com",
            user="bob",
            password="Imap-Pw-4711",
            custom_params="--password2=Leaked-2",
        )
    )
    shown = reply_to(slack, fake_slack, "syncjob show 1", user=VIEWER)
    assert "*Extra imapsync options*\n`--password2=••••`" in shown.text
    assert "Leaked-2" not in fake_slack.all_text()


def seed_quarantine(fake: FakeMailcow, client: MailcowClient) -> None:
    fake.add_quarantine(sender="billing@evil.example", rcpt="alice@example.org", subject="Invoice overdue")


@dataclass(frozen=True)
class Show:
    """`AREA show KEY` for an area whose entries have write verbs: the entry as an approver sees it."""

    command: str
    seed: Seed
    headline: str
    fields: tuple[str, ...]
    unknown: str
    """A well-formed key that names nothing, and how the answer names it."""
    nothing: str
    list_usage: str
    malformed: str
    complaint: str

    def __str__(self) -> str:
        return self.command


SHOWS = [
    Show(
        "bcc show 1",
        seed_bcc,
        "BCC map #1 (mail to @example.org copied to archive@example.net)",
        ("*Copies*\nmail to @example.org", "*To*\narchive@example.net", "*State*\nactive"),
        "bcc show 9",
        "BCC map `9`",
        "bcc list",
        "bcc show seven",
        "`seven` is not a BCC map ID; expected a number like `7`",
    ),
    Show(
        "recipientmap show 1",
        seed_recipient_map,
        "Recipient map #1 (old@example.org → alice@example.org)",
        ("*Rewrites*\nold@example.org", "*To*\nalice@example.org", "*State*\nactive"),
        "recipientmap show 9",
        "recipient map `9`",
        "recipientmap list",
        "recipientmap show old@example.org",
        "`old@example.org` is not a recipient map ID; expected a number like `7`",
    ),
    Show(
        "tlspolicy show 2",
        seed_tls_policy,
        "TLS policy map #2 (partner.example → fingerprint match=AB:CD)",
        ("*Destination*\npartner.example", "*Policy*\nfingerprint match=AB:CD", "*State*\ninactive"),
        "tlspolicy show 9",
        "TLS policy map `9`",
        "tlspolicy list",
        "tlspolicy show partner.example",
        "`partner.example` is not a TLS policy map ID; expected a number like `7`",
    ),
    Show(
        "fwdhost show mx.partner.example",
        seed_fwdhost,
        "Forwarding host mx.partner.example",
        ("*198.51.100.25*\nfrom mx.partner.example, spam filtered",),
        "fwdhost show 203.0.113.9",
        "forwarding host `203.0.113.9`",
        "fwdhost list",
        "fwdhost show mx_partner!",
        "`mx_partner!` is neither a host name (`mx.partner.example`) nor an IP address or network",
    ),
    Show(
        "fwdhost show 192.0.2.25",
        seed_fwdhost,
        "Forwarding host 192.0.2.25",
        ("*192.0.2.25*\nspam kept (not filtered)",),
        "fwdhost show 192.0.2.0/24",
        "forwarding host `192.0.2.0/24`",
        "fwdhost list",
        "fwdhost show",
        "the host name, IP address or network is missing.",
    ),
    Show(
        "spampolicy show example.org 2",
        seed_spam_policy,
        "Spam policy entry 2 (block *@spam.example for the whole domain)",
        ("*List*\nblock", "*Sender*\n*@spam.example", "*Applies to*\nthe whole domain"),
        "spampolicy show example.org 9",
        "spam policy entry `9` in `example.org`'s lists",
        "spampolicy list DOMAIN",
        "spampolicy show example.org five",
        "`five` is not a spam policy entry ID; expected a number like `7`",
    ),
    Show(
        "quarantine show 1",
        seed_quarantine,
        "Quarantined message #1 from billing@evil.example to alice@example.org, “Invoice overdue”",
        (
            "*From*\nbilling@evil.example",
            "*To*\nalice@example.org",
            "*Subject*\nInvoice overdue",
            "*Score*\n15.3 (reject)",
            "*Virus*\nno",
            "*Quarantined*\n20",
        ),
        "quarantine show 9",
        "quarantined message `9`",
        "quarantine list",
        "quarantine show newest",
        "`newest` is not a quarantined message ID; expected a number like `7`",
    ),
]


@pytest.mark.parametrize("case", SHOWS, ids=str)
def test_show_gives_one_entry_as_an_approver_sees_it_or_points_at_the_list(
    case: Show,
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    mailcow_client: MailcowClient,
) -> None:
    case.seed(fake_mailcow, mailcow_client)
    fake_mailcow.reset_log()
    found = reply_to(slack, fake_slack, case.command, user=VIEWER)
    assert found.headline == case.headline
    for field in case.fields:
        assert field in found.text, found.text
    missing = reply_to(slack, fake_slack, case.unknown, user=VIEWER)
    assert missing.headline == f":warning: There is no {case.nothing}."
    assert f"`/mailcow {case.list_usage}` lists them." in missing.text
    assert fake_mailcow.writes() == []


@pytest.mark.parametrize("case", SHOWS, ids=str)
def test_show_of_a_malformed_key_names_the_argument_and_the_form(
    case: Show, slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    answer = private_answer(slack, fake_slack, fake_mailcow, case.malformed, user=VIEWER)
    assert case.complaint in answer, answer
    area = case.command.split()[0]
    assert f"Usage: `/mailcow {area} show " in answer
    assert fake_slack.posts() == []


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("syncjob list alice", "`alice` is not a valid e-mail mailbox; expected `name@example.org`."),
        ("syncjob show four", "`four` is not a sync job ID; expected a number like `7`"),
        ("spampolicy list", "the domain is missing."),
        (
            "spampolicy list not_a_domain",
            "`not_a_domain` is not a valid domain; expected a name like `example.org`.",
        ),
        ("ratelimit list everything", "unexpected argument `everything`."),
    ],
)
def test_bad_input_names_the_argument_and_the_form(
    slack: SlackDriver, fake_slack: FakeSlack, text: str, complaint: str
) -> None:
    slack.command(text)
    answer = ephemeral(fake_slack)
    assert complaint in answer
    assert "Usage: `/mailcow " in answer


def test_spam_policy_of_an_unknown_domain(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    answer = reply_to(slack, fake_slack, "spampolicy list nowhere.example", user=VIEWER)
    assert answer.headline == ":warning: No domain `nowhere.example` on this mailcow."


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (
            {"is_running": 1, "last_run": "2026-08-05 03:00:00", "success": 1},
            ":arrows_counterclockwise: running now",
        ),
        (
            {"last_run": "2026-08-05 03:00:00", "success": 1, "exit_status": "EX_OK"},
            "last run 2026-08-05 03:00:00: ok",
        ),
        (
            {
                "last_run": "2026-08-05 03:00:00",
                "success": 0,
                "exit_status": "EXIT_AUTHENTICATION_FAILURE_USER1",
            },
            "last run 2026-08-05 03:00:00: :x: failed (EXIT_AUTHENTICATION_FAILURE_USER1)",
        ),
        ({"active": 0, "dry": 1}, "never ran · inactive · dry run"),
    ],
)
def test_syncjob_line_says_how_the_last_run_went(state: dict[str, object], expected: str) -> None:
    """The stand-in cannot run imapsync, so the run states mailcow reports are rendered from models."""
    job = SyncJob.model_validate(
        {
            "id": 3,
            "user2": "a@example.org",
            "host1": "imap.x.example",
            "port1": 993,
            "enc1": "SSL",
            "user1": "a",
            "mins_interval": 60,
            "active": 1,
            **state,
        }
    )
    assert job_line(job).endswith(f"every 1 h · {expected}")
