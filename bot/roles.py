"""Who may do what: viewer (anyone in an allowed channel), operator (may request changes), approver.

CONTRACT: `CHATOPS_OPERATORS` empty means every member of an allowed channel is an operator;
`CHATOPS_APPROVERS` empty means nobody can approve, so destructive commands cannot run (deny by
default). Entries may be user-group IDs (`S…`); their members come from `usergroups.users.list`,
cached briefly so the guard on the ack path rarely waits for Slack.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from enum import StrEnum

from cachetools import TTLCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"

    @property
    def noun(self) -> str:
        return {
            "viewer": "a member of an allowed channel",
            "operator": "an operator",
            "approver": "an approver",
        }[self.value]


class RoleResolver:
    """Maps a Slack user to their roles from the settings' user and user-group IDs."""

    def __init__(
        self,
        client: WebClient,
        operators: Iterable[str],
        approvers: Iterable[str],
        *,
        group_ttl: float = 60.0,
    ) -> None:
        self._client = client
        self._operators = frozenset(operators)
        self._approvers = frozenset(approvers)
        self._groups: TTLCache[str, frozenset[str]] = TTLCache(maxsize=256, ttl=group_ttl)
        self._lock = threading.Lock()

    @property
    def approvers_configured(self) -> bool:
        return bool(self._approvers)

    def roles_of(self, user_id: str) -> frozenset[Role]:
        roles = {Role.VIEWER}
        if not self._operators or self._member(user_id, self._operators):
            roles.add(Role.OPERATOR)
        if self._member(user_id, self._approvers):
            roles.add(Role.APPROVER)
        return frozenset(roles)

    def has(self, user_id: str, role: Role) -> bool:
        return role in self.roles_of(user_id)

    def _member(self, user_id: str, principals: frozenset[str]) -> bool:
        if user_id in principals:
            return True
        return any(user_id in self._group_members(p) for p in principals if p.startswith("S"))

    def _group_members(self, group_id: str) -> frozenset[str]:
        with self._lock:
            cached = self._groups.get(group_id)
        if cached is not None:
            return cached
        try:
            response = self._client.usergroups_users_list(usergroup=group_id)
            members = frozenset(response.get("users") or [])
        except (SlackApiError, SlackClientError, OSError) as error:
            # Deny by default: an unreadable group grants nothing. Cache briefly to avoid hammering Slack.
            log.warning("cannot read members of user group %s: %s", group_id, error)
            members = frozenset()
        with self._lock:
            self._groups[group_id] = members
        return members

    def warm(self) -> None:
        """Fetch every configured group once, so the first click does not wait for Slack."""
        for principal in self._operators | self._approvers:
            if principal.startswith("S"):
                self._group_members(principal)
