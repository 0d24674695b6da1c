"""Approvals: a destructive plan waits, stored in the database, for a second person's Approve click.

`state` is the state machine (no Slack); `blocks` draws the request message; `listeners` posts it
and handles the Approve and Deny clicks; `sweeper` expires requests and closes interrupted runs.
"""

from bot.approvals.state import (
    INTERRUPTED_OUTCOME,
    Approval,
    ApprovalStore,
    Created,
    Decision,
    State,
    Verdict,
    describe,
    describe_changes,
    fingerprint,
    new_runner_id,
)

__all__ = [
    "INTERRUPTED_OUTCOME",
    "Approval",
    "ApprovalStore",
    "Created",
    "Decision",
    "State",
    "Verdict",
    "describe",
    "describe_changes",
    "fingerprint",
    "new_runner_id",
]
