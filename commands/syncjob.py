"""`/mailcow syncjob …`: the imapsync jobs that copy mail from other servers into mailboxes.

The question is usually "is the migration running, and did it work": each line says when the job
last ran and how it ended. The source password (`password1`) is never read: the client asks for the
list without it, and the model drops it even if mailcow sent it (SERVER-FACTS §4.10).
"""

from __future__ import annotations

import re

from bot.args import address as valid_address
from bot.mailcow import SyncJob
from bot.render import code, duration, esc
from bot.reply import Reply
from commands import Call, command, describe_area
from commands._tables import Table, active, not_found, parsed, record_reply, yes_no

describe_area(
    "syncjob",
    "imapsync jobs copying mail in from other servers: source, target, last run, result",
    aliases=("sync-job", "sync-jobs", "syncjobs"),
)

WITHHELD = "The source password is stored in mailcow and never shown here."
_PASSWORD_PARAM = re.compile(r"(--\S*pass\S*?[= ])\S+", re.IGNORECASE)
_OPTIONS = (
    ("delete2duplicates", "delete duplicates on target"),
    ("delete1", "delete from source after copying"),
    ("delete2", "delete on target what is gone from source"),
    ("automap", "map folder names"),
    ("skipcrossduplicates", "skip duplicates across folders"),
    ("subscribeall", "subscribe all folders"),
    ("dry", "dry run"),
)


def last_result(job: SyncJob) -> str:
    if job.is_running:
        return ":arrows_counterclockwise: running now"
    if not job.last_run:
        return "never ran"
    if job.success is None:
        return f"last run {esc(job.last_run)}"
    outcome = "ok" if job.success else f":x: failed ({esc(job.exit_status or 'no exit status')})"
    return f"last run {esc(job.last_run)}: {outcome}"


def source(job: SyncJob) -> str:
    return f"{code(job.user1)} on {code(f'{job.host1}:{job.port1}')} ({esc(job.enc1 or '?')})"


def job_line(job: SyncJob) -> str:
    flags = "".join(f" · {label}" for label, on in (("inactive", not job.active), ("dry run", job.dry)) if on)
    return (
        f"`#{job.id}` {source(job)} → {code(job.user2)} · every {duration(job.mins_interval * 60)} · "
        f"{last_result(job)}{flags}"
    )


JOBS: Table[SyncJob] = Table(
    plural="Sync jobs",
    line=job_line,
    columns=(
        "id",
        "target_mailbox",
        "source_host",
        "source_port",
        "encryption",
        "source_user",
        "interval_minutes",
        "active",
        "is_running",
        "last_run",
        "success",
        "exit_status",
    ),
    cells=lambda j: (
        j.id,
        j.user2,
        j.host1,
        j.port1,
        j.enc1,
        j.user1,
        j.mins_interval,
        j.active,
        int(j.is_running),
        j.last_run,
        "" if j.success is None else int(j.success),
        j.exit_status,
    ),
    filename="sync-jobs.csv",
)


@command(
    "syncjob",
    "list",
    usage="syncjob list [MAILBOX]",
    summary="sync jobs (all, or into one mailbox): source, interval, last run and result",
    example="syncjob list alice@example.org",
    default=True,
)
def list_jobs(call: Call) -> Reply:
    raw = call.args.take_optional()
    call.args.done()
    jobs = call.mailcow.syncjobs()
    scope = ""
    if raw is not None:
        mailbox = parsed(call, lambda text: valid_address(text, "mailbox"), raw)
        jobs = [j for j in jobs if j.user2.lower() == mailbox]
        scope = f"into {mailbox}"
    failed = sum(1 for j in jobs if j.success is False and not j.is_running)
    running = sum(1 for j in jobs if j.is_running)
    return JOBS.reply(
        jobs,
        scope=scope,
        summary=(f"{failed} failed last run" if failed else "", f"{running} running" if running else ""),
        notes=(WITHHELD,),
        status="warn" if failed else "info",
    )


@command(
    "syncjob",
    "show",
    usage="syncjob show ID",
    summary="one sync job: source, target, schedule, options, last run and exit status",
    example="syncjob show 4",
)
def show_job(call: Call) -> Reply:
    raw = call.args.take("the sync job ID")
    call.args.done()
    if not raw.isdigit():
        raise call.args.error(
            f"`{raw}` is not a sync job ID; expected a number like `4` (see `syncjob list`)."
        )
    job = next((j for j in call.mailcow.syncjobs() if j.id == int(raw)), None)
    if job is None:
        return not_found(call, f"sync job `#{raw}`", "syncjob list")
    options = [label for name, label in _OPTIONS if getattr(job, name)]
    return record_reply(
        f"Sync job `#{job.id}` into {code(job.user2)}: {last_result(job)}",
        [
            ("Source", source(job)),
            ("Target mailbox", code(job.user2)),
            ("Every", duration(job.mins_interval * 60)),
            ("State", active(job.active)),
            ("Last run", last_result(job)),
            ("Exit status", code(job.exit_status) if job.exit_status else "—"),
            ("Running", yes_no(job.is_running)),
            ("Options", ", ".join(options) or "none"),
            ("Only mail newer than", f"{job.maxage} days" if job.maxage else "no limit"),
            ("Into subfolder", code(job.subfolder2) if job.subfolder2 else "—"),
            ("Excluded folders", code(job.exclude) if job.exclude else "—"),
            (
                "Extra imapsync options",
                code(_PASSWORD_PARAM.sub(r"\1••••", job.custom_params)) if job.custom_params else "—",
            ),
            ("Created", esc(job.created or "?")),
            ("Modified", esc(job.modified or "—")),
        ],
        WITHHELD,
        status="warn" if job.success is False and not job.is_running else "info",
    )
