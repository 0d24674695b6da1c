"""What listeners share: settings, the Slack and mailcow clients, roles, the database, a worker pool,
and the scheduler of background jobs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slack_sdk import WebClient

from bot.mailcow import MailcowClient
from bot.roles import RoleResolver
from bot.scheduler import Scheduler
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.approvals.state import ApprovalStore
    from bot.store import Store


@dataclass
class Services:
    settings: Settings
    slack: WebClient
    mailcow: MailcowClient
    roles: RoleResolver
    executor: ThreadPoolExecutor
    store: Store | None = None
    approvals: ApprovalStore | None = None
    scheduler: Scheduler = field(default_factory=Scheduler)


@dataclass(frozen=True)
class Origin:
    """Where a request came from and where its answer goes.

    `thread_ts` set means "answer in that existing thread" (approval outcomes, watcher alerts);
    unset means "post a new parent message and put the details in its thread".
    """

    channel_id: str
    user_id: str
    command_text: str = ""
    correlation_id: str = "-"
    response_url: str | None = None
    thread_ts: str | None = None
