"""The forms as Slack drives them: `views.open` → `block_actions` / `block_suggestion` → `view_submission`.

Every payload is signed and goes through the guard. A submission is built from the view the app
opened (`fill`), the way Slack fills it: what the test types over the inputs' initial values. The
tests assert what a person sees (the form, errors next to their fields, the answer in the channel,
the one private message) and what mailcow received.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest
from slack_bolt import App

from bot.mailcow import calls
from bot.plans import Plan
from bot.services import Services
from commands import _modals
from commands._modals import Invalid, MailboxDirectory, Ready, Submission, form
from tests.fakes.forms import errors_of, fill, inputs, modal_view, opened, wait_view
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.reading import answer, readable
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import ALLOWED, ALLOWED_2, ELSEWHERE, OPERATOR, VIEWER, SlackDriver

# --- driving forms ---------------------------------------------------------------------------------


def pick(slack: SlackDriver, view: dict[str, Any], action_id: str, value: str) -> None:
    """Choose `value` in the select `action_id` of an open form (a dispatching input)."""
    block = inputs(view)[action_id]
    slack.interactive(
        {
            "type": "block_actions",
            "user": {"id": OPERATOR},
            "trigger_id": "trigger.pick",
            "container": {"type": "view", "view_id": view["id"]},
            "view": fill(view, **{action_id: value}),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block["block_id"],
                    "type": block["element"]["type"],
                    "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value},
                }
            ],
        }
    )


# --- the create form -------------------------------------------------------------------------------


def test_the_create_form_opens_at_once_with_the_contract_ids_and_the_domains(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    view = opened(slack, fake_slack, "mailbox create", "mailbox_create")
    assert json.loads(view["private_metadata"]) == {"channel": ALLOWED}
    fields = inputs(view)
    assert {"local_part", "domain", "name", "quota_mb", "password"} <= set(fields)
    assert fields["domain"]["dispatch_action"] is True
    assert [o["value"] for o in fields["domain"]["element"]["options"]] == ["example.net", "example.org"]
    assert fields["password"]["optional"] is True
    assert "generated" in fields["password"]["hint"]["text"]
    assert [c.method for c in fake_slack.calls if c.method.startswith("views.")] == ["views.open"]
    assert fake_slack.violations == []


def test_create_end_to_end_picks_a_domain_fills_its_quota_and_shows_the_password_once(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    view = opened(slack, fake_slack, "mailbox create", "mailbox_create")
    pick(slack, view, "domain", "example.net")
    fake_slack.wait_calls("views.update")
    view = wait_view(fake_slack, "mailbox_create")
    quota = inputs(view)["quota_mb"]
    assert quota["block_id"] == "quota_mb.example.net"
    assert quota["element"]["initial_value"] == "3072"
    assert quota["hint"]["text"] == (
        "example.net: default 3,072 MiB, at most 5,120 MiB a mailbox, 6,144 MiB of the domain's quota left."
    )

    reply = slack.submit(fill(view, local_part="Jane.Doe", name="Jane Doe"))
    assert reply.text == ""  # accepted: the form closes
    done = answer(fake_slack, "Read back from mailcow")
    assert (
        done.headline
        == ":white_check_mark: Done: Create mailbox jane.doe@example.net (Jane Doe) with 3,072 MiB"
    )
    assert done.parent["channel"] == ALLOWED
    assert 'Mailbox: "does not exist" → "exists"' in done.text
    [sent] = fake_mailcow.calls("add/mailbox")
    password = sent.json_body["password"]
    assert {k: v for k, v in sent.json_body.items() if not k.startswith("password")} == {
        "local_part": "jane.doe",
        "domain": "example.net",
        "name": "Jane Doe",
        "quota": 3072,
        "active": 1,
        "force_pw_update": 0,
    }
    assert sent.json_body["password2"] == password and len(password) == 20
    [private] = fake_slack.wait_for(lambda s: s.calls_to("chat.postEphemeral"))
    assert private.args["user"] == OPERATOR and private.args["channel"] == ALLOWED
    assert f"The password of `jane.doe@example.net` is `{password}`" in private.text_content()


@pytest.mark.parametrize(
    "case",
    [
        ({"local_part": "jane doe"}, "local_part", "jane doe cannot be the part before the @"),
        ({"local_part": "jane@example.org"}, "local_part", "Type only the part before the @"),
        ({"local_part": "alice"}, "local_part", "alice@example.org is already a mailbox."),
        (
            {"local_part": "sales"},
            "local_part",
            "sales@example.org is already an alias (to alice@example.org",
        ),
        (
            {"quota_mb": 20000},
            "quota_mb",
            "20,000 MiB is above example.org's maximum of 10,240 MiB a mailbox.",
        ),
        (
            {"domain": "tiny.example", "quota_mb": 2048},
            "quota_mb",
            "Only 1,024 MiB of tiny.example's quota is left",
        ),
        ({"quota_mb": 0}, "quota_mb", "The quota is at least 1 MiB."),
        ({"domain": "full.example"}, "domain", "full.example is full: 1 mailbox, its limit. Raise it first"),
        ({"domain": None}, "domain", "Pick the domain."),
        (
            {"password": "weakpass"},
            "password",
            "Too weak for this mailcow's password policy: it needs lower- and upper-case letters, a digit.",
        ),
    ],
)
def test_every_wrong_field_is_answered_next_to_it_and_nothing_is_created(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    case: tuple[dict[str, Any], str, str],
) -> None:
    typed, field, told = case
    fake_mailcow.add_domain("tiny.example", quota=4096, maxquota=4096, defquota=1024)
    fake_mailcow.add_mailbox("old@tiny.example", quota_mib=3072)
    fake_mailcow.add_domain("full.example", mailboxes=1)
    fake_mailcow.add_mailbox("only@full.example", quota_mib=1024)
    view = opened(slack, fake_slack, "mailbox create", "mailbox_create")
    submitted = fill(view, **{"domain": "example.org", "local_part": "jane", **typed})
    errors = errors_of(slack.submit(submitted))
    assert list(errors) == [inputs(view)[field]["block_id"]]
    assert told in errors[inputs(view)[field]["block_id"]]
    assert "weakpass" not in json.dumps(errors)
    assert fake_mailcow.writes() == []
    assert fake_slack.posts() == []


def test_several_wrong_fields_are_all_answered_at_once(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    view = opened(slack, fake_slack, "mailbox create", "mailbox_create")
    errors = errors_of(
        slack.submit(fill(view, domain="example.org", local_part="bad..dots", quota_mb=99999, password="x"))
    )
    assert set(errors) == {"local_part", "quota_mb", "password"}
    assert fake_mailcow.writes() == []


def test_a_typed_password_is_set_as_typed_and_shown_to_nobody(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    view = opened(slack, fake_slack, "mailbox create", "mailbox_create")
    typed = "Typed-Secret-42"
    reply = slack.submit(
        fill(view, domain="example.org", local_part="kim", password=typed, flags=["force_pw_update"])
    )
    assert reply.text == ""
    answer(fake_slack, "Read back from mailcow")
    [sent] = fake_mailcow.calls("add/mailbox")
    assert sent.json_body["password"] == sent.json_body["password2"] == typed
    assert (sent.json_body["active"], sent.json_body["force_pw_update"]) == (0, 1)
    assert typed not in fake_slack.all_text()
    assert fake_slack.calls_to("chat.postEphemeral") == []


def test_a_submission_naming_a_channel_outside_the_allowlist_is_refused(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    view = opened(slack, fake_slack, "mailbox create", "mailbox_create")
    fake_mailcow.reset_log()
    forged = {
        **fill(view, domain="example.org", local_part="jane"),
        "private_metadata": json.dumps({"channel": ELSEWHERE}),
    }
    body = slack.submit(forged).json()
    assert body["response_action"] == "update"
    assert f"<#{ELSEWHERE}> is not an allowed channel" in json.dumps(body["view"])
    assert fake_mailcow.requests == []
    assert fake_slack.posts() == []


def test_a_viewer_cannot_submit_the_form(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    view = opened(slack, fake_slack, "mailbox create", "mailbox_create")
    body = slack.submit(fill(view, domain="example.org", local_part="jane"), user=VIEWER).json()
    assert "needs an operator" in json.dumps(body["view"])
    assert fake_mailcow.writes() == []


def test_a_slow_mailcow_gets_a_loading_view_then_the_form(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_modals, "QUICK_LOAD", 0.02)
    fake_mailcow.latency = 0.2
    assert slack.command("mailbox create").text == ""
    [first] = fake_slack.wait_calls("views.open")
    assert "Reading from mailcow" in json.dumps(first.args["view"])
    [update] = fake_slack.wait_calls("views.update")
    assert update.args["view"]["callback_id"] == "mailbox_create"
    assert update.args["view_id"] == next(iter(fake_slack.views))


def test_when_mailcow_fails_the_form_says_so_in_its_place(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.fail_next("get/domain/all", "html500:database", times=3)
    slack.command("mailbox create")
    [shown] = fake_slack.wait_calls("views.open")
    assert (
        "mailcow did not answer. mailcow could not serve get/domain/all: its connection to its database"
        in (readable(shown.args["view"]))
    )
    assert "submit" not in shown.args["view"]


def test_checks_that_outlast_slacks_three_seconds_answer_in_the_form_and_nothing_runs_later(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    fake_mailcow: FakeMailcow,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view = opened(slack, fake_slack, "mailbox create", "mailbox_create")
    monkeypatch.setattr(_modals, "CHECK_SECONDS", 0.05)
    fake_mailcow.latency = 0.1
    errors = errors_of(slack.submit(fill(view, domain="example.org", local_part="jane")))
    assert "mailcow did not answer within" in next(iter(errors.values()))
    services.executor.shutdown(wait=True)  # the lazy listener and the late check are done by now
    assert fake_mailcow.writes() == []
    assert fake_slack.posts() == []


def test_a_form_that_no_longer_checks_out_when_it_runs_tells_the_requester_why(
    bolt_app: App, services: Services, slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    """The lazy listener checks again (it may run in another process, and mailcow may have changed)."""
    checks: list[int] = []

    def check(services: Services, submission: Submission) -> Ready:
        checks.append(len(checks))
        if len(checks) > 1:
            raise Invalid({"local_part": "jane@example.org was created by someone else meanwhile."})
        call = submission.call(services, "mailbox.delete", "mailbox delete jane@example.org")
        return Ready(
            Plan.of(call, summary="-", target="-", calls=[calls.delete_mailboxes("x@example.org")]), "-"
        )

    form(bolt_app, services, "test_form", check)
    assert slack.submit(fill({**modal_view(), "callback_id": "test_form", "blocks": []})).text == ""
    told = fake_slack.wait_for(lambda s: s.calls_to("chat.postEphemeral"))[0]
    assert "jane@example.org was created by someone else meanwhile." in told.text_content()
    assert checks == [0, 1] and fake_mailcow.writes() == [] and fake_slack.posts() == []


# --- the global shortcut -------------------------------------------------------------------------------


def test_the_shortcut_asks_for_an_allowed_channel_and_posts_there(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    assert slack.shortcut("mailbox_create_shortcut").status == 200
    view = wait_view(fake_slack, "mailbox_create")
    assert json.loads(view["private_metadata"]) == {}
    channel = inputs(view)["channel"]["element"]
    assert [o["value"] for o in channel["options"]] == [ALLOWED, ALLOWED_2]

    forged = fill(view, channel=ELSEWHERE, domain="example.org", local_part="jane")
    errors = errors_of(slack.submit(forged))
    assert errors == {"channel": "Pick one of the channels this bot works in."}
    assert fake_mailcow.writes() == []

    assert slack.submit(fill(view, channel=ALLOWED_2, domain="example.org", local_part="jane")).text == ""
    done = answer(fake_slack, "Read back from mailcow")
    assert done.parent["channel"] == ALLOWED_2
    [private] = fake_slack.wait_for(lambda s: s.calls_to("chat.postEphemeral"))
    assert private.args["channel"] == ALLOWED_2


def test_a_viewer_cannot_use_the_shortcut(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    slack.shortcut("mailbox_create_shortcut", user=VIEWER)
    [refusal] = fake_slack.wait_calls("views.open")
    assert "needs an operator" in json.dumps(refusal.args["view"])


# --- the edit form -------------------------------------------------------------------------------------


def test_the_edit_form_is_filled_in_from_the_mailbox_and_sends_only_what_changed(
    slack: SlackDriver, fake_slack: FakeSlack, fake_mailcow: FakeMailcow
) -> None:
    view = opened(slack, fake_slack, "mailbox edit alice@example.org", "mailbox_edit")
    fields = inputs(view)
    assert fields["name"]["element"]["initial_value"] == "Alice Liddell"
    assert fields["quota_mb"]["element"]["initial_value"] == "3072"
    assert fields["active"]["element"]["initial_option"]["value"] == "1"
    assert "at most 10,240 MiB a mailbox" in fields["quota_mb"]["hint"]["text"]

    errors = errors_of(slack.submit(fill(view)))
    assert errors == {"name": "Nothing to change: alice@example.org already looks like that."}

    assert slack.submit(fill(view, quota_mb=4096, active="2")).text == ""
    done = answer(fake_slack, "Read back from mailcow")
    assert done.headline == (
        ":white_check_mark: Done: Change mailbox alice@example.org: quota 3,072 → 4,096 MiB; "
        "active → login disabled, mail accepted"
    )
    [sent] = fake_mailcow.calls("edit/mailbox")
    assert sent.json_body == {"items": ["alice@example.org"], "attr": {"quota": 4096, "active": 2}}
    assert 'Quota: "3,072 MiB" → "4,096 MiB"' in done.text


def test_editing_a_mailbox_that_does_not_exist_says_so_in_the_form(
    slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    slack.command("mailbox edit nobody@example.org")
    [shown] = fake_slack.wait_calls("views.open")
    assert "There is no mailbox nobody@example.org." in readable(shown.args["view"])


# --- type-ahead ------------------------------------------------------------------------------------


def suggested(slack: SlackDriver, typed: str, **kw: Any) -> dict[str, Any]:
    return slack.suggest("mailbox", typed, view=modal_view(), **kw).json()  # type: ignore[no-any-return]


def offered(body: dict[str, Any]) -> list[str]:
    return [o["value"] for g in body.get("option_groups", []) for o in g["options"]]


def test_mailbox_type_ahead_matches_address_and_name_grouped_by_domain(slack: SlackDriver) -> None:
    body = suggested(slack, "liddell")
    assert body["option_groups"] == [
        {
            "label": {"type": "plain_text", "text": "example.org"},
            "options": [
                {
                    "text": {"type": "plain_text", "text": "alice@example.org — Alice Liddell"},
                    "value": "alice@example.org",
                }
            ],
        }
    ]
    body = suggested(slack, "E")
    assert [g["label"]["text"] for g in body["option_groups"]] == ["example.net", "example.org"]
    assert offered(body) == [  # an address starting with the text first, then any containing it
        "erin@example.net",
        "dave@example.net",
        "alice@example.org",
        "bob@example.org",
        "carol@example.org",
    ]
    assert suggested(slack, "nobody-has-this") == {"options": []}


def test_type_ahead_offers_at_most_a_hundred_and_prefix_matches_first(
    slack: SlackDriver, fake_mailcow: FakeMailcow
) -> None:
    fake_mailcow.add_mailboxes("bulk.example", 3000)
    values = offered(suggested(slack, "user00123"))
    assert values == [f"user00123{n}@bulk.example" for n in range(10)]
    body = suggested(slack, "bulk")
    assert len(offered(body)) == 100
    assert all(len(o["text"]["text"]) <= 75 for g in body["option_groups"] for o in g["options"])


def test_type_ahead_is_refused_to_a_viewer(slack: SlackDriver, fake_mailcow: FakeMailcow) -> None:
    fake_mailcow.reset_log()
    body = suggested(slack, "ali", user=VIEWER)
    assert body["options"][0]["value"] == "refused"
    assert fake_mailcow.requests == []


def test_domain_type_ahead_for_many_domains(
    slack: SlackDriver, fake_mailcow: FakeMailcow, fake_slack: FakeSlack
) -> None:
    for n in range(120):
        fake_mailcow.add_domain(f"d{n:03d}.example")
    view = opened(slack, fake_slack, "mailbox create", "mailbox_create")
    assert inputs(view)["domain"]["element"]["type"] == "external_select"
    body = slack.suggest("domain", "d11", view=view).json()
    assert [o["value"] for o in body["options"]] == [f"d{n}.example" for n in range(110, 120)]


class _Boxes:
    """A mailcow client stand-in whose mailbox list can be slow and can change."""

    def __init__(self, boxes: list[Any], delay: float = 0.0) -> None:
        self.boxes, self.delay, self.reads = boxes, delay, 0

    def mailbox_names(self) -> list[Any]:
        import time

        time.sleep(self.delay)
        self.reads += 1
        return list(self.boxes)


def _box(address: str, name: str = "") -> Any:
    return SimpleNamespace(username=address, name=name, domain=address.rpartition("@")[2])


def test_the_directory_reindexes_only_a_new_list_and_answers_while_the_first_one_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_modals, "FIRST_LOAD", 0.01)
    client = _Boxes([_box("zed@b.example", "Zed"), _box("ann@a.example", "Ann Zorn")], delay=0.1)
    with ThreadPoolExecutor(2) as pool:
        directory = MailboxDirectory(SimpleNamespace(executor=pool, mailcow=client))  # type: ignore[arg-type]
        assert directory.search("z") is None  # the first list is still on its way
        monkeypatch.setattr(_modals, "FIRST_LOAD", 2.0)
        client.delay = 0
        found = directory.search("z")
        assert found is not None
        assert [b.username for b in found] == ["zed@b.example", "ann@a.example"]
        index = directory._index
        directory.search("ann")
        assert directory._index is index  # same rows: no rebuild
        client.boxes = [*client.boxes, _box("zoe@a.example")]
        found = directory.search("zo")
        assert found is not None and [b.username for b in found] == ["zoe@a.example", "ann@a.example"]
        assert directory._index is not index
        # refetched: the same length and end rows (equal by value), another mailbox between them
        client.boxes = [_box("zed@b.example", "Zed"), _box("amy@a.example"), _box("zoe@a.example")]
        found = directory.search("amy")
        assert found is not None and [b.username for b in found] == ["amy@a.example"]
