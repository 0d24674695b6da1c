"""The mailbox forms as Block Kit: create, reset password, edit. Pure: what to show comes in as
arguments, so the commands, the shortcut and a redraw after picking a domain all draw the same form.

Ids the CONTRACT fixes: the create form is `mailbox_create` with inputs `local_part`, `domain`,
`name`, `quota_mb`, `password`; the reset form is `password_reset` with inputs `mailbox` and
`password`. An empty password means "generate one".
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.mailcow import Domain, Mailbox
from bot.render import ago, context, esc, number, section, size
from commands._modals import (
    channel_input,
    checkboxes_input,
    modal,
    notice,
    number_input,
    radio_input,
    search_input,
    select_input,
    text_input,
)

CREATE = "mailbox_create"
RESET = "password_reset"
EDIT = "mailbox_edit"
SHORTCUT = "mailbox_create_shortcut"
MAILBOX = "mailbox"
"""The mailbox menu of the reset form; its options come from the type-ahead."""
DOMAIN = "domain"
"""The domain menu of the create form: picking one redraws the quota for it."""
CREATE_TITLE = "Create a mailbox"
RESET_TITLE = "Reset a password"
EDIT_TITLE = "Edit a mailbox"
STATIC_LIMIT = 100
"""Slack's limit for a static menu; with more domains the menu searches as one types."""
SHOWN_AS_TYPED = "Slack shows what is typed here, so prefer leaving it empty."


def refusal(title: str, text: str) -> View:
    return notice(title, f":no_entry: {esc(text)}")


def create_view(
    domains: Sequence[Domain],
    *,
    channel: str | None,
    channels: Sequence[str],
    chosen: str | None = None,
    quota: int | None = None,
    quota_hint: str | None = None,
) -> View:
    """The create form; without a `channel` (the global shortcut) it asks for one of `channels`.

    The quota input's block_id carries the chosen domain, so picking another domain resets it to
    that domain's default (Slack keeps a typed value only while the block_id stays the same).
    """
    if not domains:
        return refusal(CREATE_TITLE, "There is no domain on this mailcow yet: add one first (domain add).")
    names = sorted(d.domain_name for d in domains)
    blocks: list[Block] = list(channel_input(channels)) if channel is None else []
    blocks.append(
        text_input("local_part", "Address: the part before @", placeholder="jane.doe", max_length=64)
    )
    if len(names) <= STATIC_LIMIT:
        blocks.append(select_input(DOMAIN, "Domain", [(n, n) for n in names], initial=chosen, dispatch=True))
    else:
        blocks.append(search_input(DOMAIN, "Domain", initial=chosen, min_query_length=0, dispatch=True))
    blocks += [
        text_input("name", "Full name", optional=True, max_length=255),
        number_input(
            "quota_mb",
            "Quota (MiB)",
            initial=quota,
            minimum=1,
            optional=True,
            block_id=f"quota_mb.{chosen}" if chosen else "quota_mb",
            hint=quota_hint or "Empty: the domain's default. Pick the domain to see its default and maximum.",
        ),
        text_input(
            "password",
            "Password",
            optional=True,
            hint=f"Empty: a strong one is generated and shown once, only to you. {SHOWN_AS_TYPED}",
        ),
        checkboxes_input(
            "flags",
            "Options",
            [
                ("active", "Active: may log in and receives mail"),
                ("force_pw_update", "Must choose a new password at the first login"),
            ],
            checked=["active"],
        ),
    ]
    return modal(CREATE, CREATE_TITLE, blocks, submit="Create", metadata={"channel": channel})


def reset_view(*, channel: str, can_type: bool, box: Mailbox | None = None) -> View:
    """The reset form, on `box` when the command named one (any mailbox can be picked instead)."""
    intro = (
        "A second person approves before the password changes. A generated password goes to you alone, "
        "in a direct message, once."
    )
    blocks: list[Block] = [section(intro)]
    blocks.append(
        search_input(
            MAILBOX,
            "Mailbox",
            initial=box.username if box else None,
            placeholder="Type part of an address or a name",
        )
    )
    if box is not None:
        changed = box.attributes.get("passwd_update") or "unknown"
        blocks.append(
            context(
                f"{esc(box.username)}{f' ({esc(box.name)})' if box.name else ''}: password changed "
                f"{esc(changed)} · last login {ago(box.last_login)}"
            )
        )
    hint = (
        f"Empty: a strong one is generated when the reset runs. {SHOWN_AS_TYPED}"
        if can_type
        else "Leave it empty: this bot has no CHATOPS_SECRET_KEY to keep a typed password safe until the "
        "approval, so a strong one is generated when the reset runs."
    )
    blocks += [
        text_input("password", "New password", optional=True, hint=hint),
        checkboxes_input(
            "force_pw_update",
            "At the next login",
            [("yes", "They must choose a new password (logins other than the web UI wait until then)")],
            checked=["yes"],
        ),
        text_input("reason", "Reason, for the approver", optional=True, max_length=500),
    ]
    return modal(RESET, RESET_TITLE, blocks, submit="Request reset", metadata={"channel": channel})


def edit_view(box: Mailbox, quota_hint: str, *, channel: str) -> View:
    """The edit form, filled in from the mailbox as it is; only what is changed is sent."""
    blocks: list[Block] = [
        section(
            f"*{esc(box.username)}*: {size(box.quota_used)} in {number(box.messages)} messages, "
            f"last login {ago(box.last_login)}"
        ),
        text_input("name", "Full name", initial=box.name, optional=True, max_length=255),
        number_input("quota_mb", "Quota (MiB)", initial=box.quota_mib, hint=quota_hint),
        radio_input(
            "active",
            "State",
            [
                ("1", "Active"),
                ("2", "Login disabled, mail still accepted"),
                ("0", "Inactive: no logins, no mail"),
            ],
            initial=str(box.active),
        ),
    ]
    return modal(
        EDIT, EDIT_TITLE, blocks, submit="Save", metadata={"channel": channel, "mailbox": box.username}
    )
