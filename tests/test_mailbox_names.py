"""`MailcowClient.mailbox_names()`: the type-ahead's list of every mailbox, read from
`get/mailbox/reduced` and decoded element by element as the body streams in (bot/mailcow/client.py).
Against the stand-in for the server's answers, and over a transport that hands the body over in
chosen pieces for what a stream can split: a UTF-8 character, a number, the end of the array."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from bot.mailcow import MailboxName, MailcowAuthError, MailcowClient, MailcowUnavailable, calls
from tests.fakes.mailcow import FakeMailcow
from tests.test_mailcow_client import make_client


def test_every_mailbox_with_its_name_from_the_reduced_list_cached_until_a_write(
    fake_mailcow: FakeMailcow,
) -> None:
    with make_client(fake_mailcow) as client:
        names = client.mailbox_names()
        assert [(n.username, n.name, n.domain) for n in names] == [
            (m.username, m.name, m.domain) for m in client.mailboxes()
        ]
        assert all(isinstance(n, MailboxName) for n in names) and len(names) >= 3
        assert client.mailbox_names() == names
        assert len(fake_mailcow.calls("get/mailbox/reduced")) == 1, "the repeat came from the cache"
        client.write(calls.edit_alias(1, active=False))
        client.mailbox_names()
        assert len(fake_mailcow.calls("get/mailbox/reduced")) == 2, "a write drops the cache"


def test_the_server_answers_every_other_read_gets_are_judged_alike(fake_mailcow: FakeMailcow) -> None:
    with FakeMailcow() as empty, make_client(empty) as client:
        assert empty.calls("get/mailbox") == [] and client.mailbox_names() == []  # mailcow's `{}`
    with make_client(fake_mailcow, timeout=0.3) as client:
        fake_mailcow.fail_next("get/mailbox/reduced", "html500:database", times=2)
        assert client.mailbox_names(fresh=True), "a 500 is retried, as for every read"
        fake_mailcow.fail_next("get/mailbox/reduced", "empty")
        with pytest.raises(MailcowAuthError, match="never reached mailcow"):
            client.mailbox_names(fresh=True)
        fake_mailcow.fail_next("get/mailbox/reduced", "timeout")
        with pytest.raises(MailcowUnavailable, match=r"within 0\.3 s"):
            client.mailbox_names(fresh=True)
    with (
        make_client(fake_mailcow, key="WRONG0-000000-000000-000000-000000") as client,
        pytest.raises(MailcowAuthError) as refused,
    ):
        client.mailbox_names()
    assert refused.value.reason == "wrong_key"


ROWS = [
    {"username": "jurgen@example.org", "name": "Jürgen Groß", "domain": "example.org", "quota": 1073741824},
    {"username": "zoe@example.org", "name": "Zoë ✉", "domain": "example.org", "attributes": {"a": [1, 2]}},
]


def streaming(pieces: list[bytes], *, broken: bool = False, asked: list[int] | None = None) -> MailcowClient:
    """A client whose mailcow answers `get/mailbox/reduced` with `pieces`, one network read each; with
    `broken` the connection breaks after them. Each request appends to `asked`."""

    def body() -> Iterator[bytes]:
        yield from pieces
        if broken:
            raise httpx.ReadError("connection reset by peer")

    def answer(request: httpx.Request) -> httpx.Response:
        if asked is not None:
            asked.append(1)
        return httpx.Response(200, content=body(), headers={"content-type": "application/json"})

    client = MailcowClient(
        "http://mailcow.test", SecretStr("KEY"), backoff=0.0, transport=httpx.MockTransport(answer)
    )
    client.asked = asked  # type: ignore[attr-defined]
    return client


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
def test_any_split_of_the_body_decodes_the_same(size: int) -> None:
    encoded = b" \n" + json.dumps(ROWS, ensure_ascii=False, indent=1).encode() + b"\n"
    pieces = [encoded[i : i + size] for i in range(0, len(encoded), size)]
    with streaming(pieces) as client:
        assert client.mailbox_names() == [
            MailboxName("jurgen@example.org", "Jürgen Groß", "example.org"),
            MailboxName("zoe@example.org", "Zoë ✉", "example.org"),
        ]


@pytest.mark.parametrize(
    "body",
    [
        b'[{"username": "a@example.org"}',
        b'[{"username": "a@example.org"} {"username": "b@example.org"}]',
        b'[{"username": "a@example.org"}] trailing',
        b'[{"name": "no username"}]',
        b'{"type": "danger"}',
    ],
    ids=["cut short", "no comma", "after the end", "not a mailbox", "not a list"],
)
def test_a_body_that_is_not_a_list_of_mailboxes_is_a_bad_response(body: bytes) -> None:
    with streaming([body[:9], body[9:]]) as client, pytest.raises(MailcowUnavailable) as failed:
        client.mailbox_names()
    assert failed.value.reason == "bad_response"
    assert "mailcow answered get/mailbox/reduced with" in failed.value.user_message


def test_a_connection_that_breaks_mid_body_is_retried_like_any_read() -> None:
    asked: list[int] = []
    with (
        streaming([b'[{"username": "a@example.org"},'], broken=True, asked=asked) as client,
        pytest.raises(MailcowUnavailable, match="connection to mailcow broke") as failed,
    ):
        client.mailbox_names()
    assert failed.value.reason == "connection"
    assert len(asked) == 3, "one try and two retries"
