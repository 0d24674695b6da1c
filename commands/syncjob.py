"""`/mailcow syncjob …`: the imapsync jobs that copy mail from other servers into mailboxes.

The question is usually "is the migration running, and did it work": each line says when the job
last ran and how it ended. The source password (`password1`) is never read: the client asks for the
list without it, and the model drops it even if mailcow sent it (SERVER-FACTS §4.10).

Adding a job needs that password, and a slash command's text is the wrong place for it (Slack's
client keeps it in its history, and the bot echoes the command above its answer). So `syncjob add`
and `syncjob edit ID password` take everything else from the command, check it, and ask for the
password in a modal only the requester sees. On submission the password is registered with the log
redactor and the job runs at once (it is not destructive); it never waits in a stored approval
request, so a deployment that lists these verbs in CHATOPS_EXTRA_APPROVALS is told to use mailcow's
UI instead. `syncjob edit ID k=v …` without a password runs at once; `syncjob delete ID` needs an
approval.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_sdk.models.views import View

from bot import logs
from bot.args import DOMAIN_RE, UsageError, flag, integer, ip
from bot.args import address as valid_address
from bot.args import domain as valid_domain
from bot.errors import ChatopsError
from bot.mailcow import SyncJob, calls
from bot.plans import GENERATED, Plan, needs_approval
from bot.render import code, context, duration, esc, section
from bot.reply import Reply
from bot.roles import Role
from bot.services import Services
from commands import Call, command, describe_area
from commands._modals import Invalid, Ready, Submission, form, modal, notice, open_form, text_input
from commands._tables import Table, active, not_found, parsed, record_reply, slash, yes_no
from commands._writes import Entries, built, delete_by_id, keyed, numeric_id, one, only_id

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
    key = only_id(call, TARGETS)
    job = next(iter(TARGETS.find(call.mailcow, key)), None)
    if job is None:
        return not_found(call, f"sync job `#{key}`", "syncjob list")
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


# --- writes --------------------------------------------------------------------------------------

MODAL_ID = "syncjob_password"
"""callback_id of the modal that asks for the source password."""
INPUT_ID = "password"
"""block_id and action_id of its one input."""
_TYPED_SECRET = re.compile(r"pass|secret", re.IGNORECASE)


def job_key(mailbox: str, user: str, host: str) -> str:
    """What mailcow refuses duplicates by: the target mailbox, the source user and host (§4.10)."""
    return f"{mailbox}|{user}|{host}"


def last_run_text(job: SyncJob) -> str:
    if job.is_running:
        return "running now"
    if not job.last_run:
        return "never ran"
    if job.success is None:
        return job.last_run
    return f"{job.last_run}, " + ("ok" if job.success else f"failed ({job.exit_status or 'no exit status'})")


TARGETS: Entries[SyncJob] = Entries(
    area="syncjob",
    noun="sync job",
    list_usage="syncjob list",
    find=keyed(lambda client: client.syncjobs(), lambda j: (j.id, job_key(j.user2, j.user1, j.host1))),
    facts=one(
        lambda j: {
            "source": f"{j.user1} on {j.host1}:{j.port1} ({j.enc1 or '?'})",
            "into": j.user2,
            "every": duration(j.mins_interval * 60),
            "state": active(j.active) + (", dry run" if j.dry else ""),
            "last run": last_run_text(j),
            "into subfolder": j.subfolder2 or "—",
            "excluded folders": j.exclude or "—",
            "only mail newer than": f"{j.maxage} days" if j.maxage else "no limit",
        }
    ),
    title=lambda j: f"#{j.id} ({j.user1} on {j.host1} → {j.user2})",
)


def host_name(value: str) -> str:
    try:
        return valid_domain(value, "IMAP host")
    except UsageError:
        try:
            return str(ip(value))
        except UsageError:
            raise UsageError(
                f"`{value}` is not an IMAP host; expected a name like `imap.example.net` or an IP address."
            ) from None


def encryption(value: str) -> str:
    upper = value.upper()
    if upper not in ("SSL", "TLS", "PLAIN"):
        raise UsageError(f"`enc` is SSL (port 993), TLS (STARTTLS, port 143) or PLAIN, not `{value}`.")
    return upper


def _number(name: str, low: int, high: int) -> Callable[[str], int]:
    return lambda value: integer(value, f"`{name}`", minimum=low, maximum=high)


def _text(value: str) -> str:
    return value


SETTINGS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "host": ("host", host_name),
    "user": ("user", _text),
    "port": ("port", _number("port", 1, 65535)),
    "enc": ("encryption", encryption),
    "interval": ("interval_minutes", _number("interval", 1, 43800)),
    "subfolder": ("subfolder", _text),
    "exclude": ("exclude", _text),
    "maxage": ("max_age_days", _number("maxage", 0, 32000)),
    "active": ("active", lambda value: flag(value, "`active`")),
}
"""Typed option → (builder argument, parser), for add and edit alike."""
ADD_ONLY: dict[str, tuple[str, Callable[[str], Any]]] = {
    "dry": ("dry_run", lambda value: flag(value, "`dry`"))
}
"""What mailcow's edit takes too, but the edit builder does not offer (yet)."""


def _settings(call: Call, options: dict[str, tuple[str, Callable[[str], Any]]]) -> dict[str, Any]:
    """The typed `k=v` settings as builder arguments; a password typed into the command is refused."""
    typed = [key for key in call.args.options if _TYPED_SECRET.search(key)]
    if typed:
        raise ChatopsError(
            f"Leave the password out of the command (`{typed[0]}=`): Slack keeps command text in its "
            "history, and it would be shown above the answer. Run the command without it, and I ask "
            "for the password in a box only you see."
        )
    found: dict[str, Any] = {}
    for name, (argument, parse) in options.items():
        raw = call.args.option(name)
        if raw is not None:
            found[argument] = parsed(call, parse, raw)
    return found


def _add_plan(call: Call, job: dict[str, Any], password: str) -> Plan:
    api_call = built(call, lambda: calls.add_syncjob(password=password, **job))
    body = api_call.body
    every = duration(body["mins_interval"] * 60)
    notes = "".join(
        note
        for note, on in ((", as a dry run", body["dry"]), (", inactive for now", not body["active"]))
        if on
    )
    summary = (
        f"Add a sync job: copy mail from {body['user1']} on {body['host1']}:{body['port1']} "
        f"({body['enc1']}) into {body['username']} every {every}{notes}"
    )
    return TARGETS.plan(call, job_key(body["username"], body["user1"], body["host1"]), summary, api_call)


def _edit_plan(call: Call, job: dict[str, Any], password: str | None) -> Plan:
    job_id = job["id"]
    api_call = built(call, lambda: calls.edit_syncjob(job_id, password=password, **job["settings"]))
    what = ", ".join([*job["typed"], *(["a new source password"] if password else [])])
    return TARGETS.plan(call, job_id, f"Change sync job #{job_id}: {what}", api_call)


PLANS: dict[str, Callable[[Call, dict[str, Any], str], Plan]] = {"add": _add_plan, "edit": _edit_plan}


def _problem(call: Call, verb: str, job: dict[str, Any]) -> str | None:
    """What mailcow would refuse with a bare "access denied", said before the password is sent."""
    if verb == "edit":
        if not TARGETS.find(call.mailcow, job["id"]):
            listing = slash(call, "syncjob list")
            return f"There is no sync job #{job['id']} on this mailcow; {listing} lists them."
        return None
    if call.mailcow.mailbox(job["mailbox"]) is None:
        return f"There is no mailbox {code(job['mailbox'])} on this mailcow to copy the mail into."
    twins = TARGETS.find(call.mailcow, job_key(job["mailbox"], job["user"], job["host"]))
    if twins:
        return (
            f"Sync job #{twins[0].id} already copies that source into {code(job['mailbox'])} "
            f"({slash(call, f'syncjob show {twins[0].id}')})."
        )
    return None


@command(
    "syncjob",
    "add",
    usage=(
        "syncjob add MAILBOX host=HOST user=USER [enc=SSL|TLS|PLAIN] [port=993] [interval=MINUTES] "
        "[subfolder=External] [exclude=REGEX] [maxage=DAYS] [dry=no] [active=yes]"
    ),
    summary="copy mail from another IMAP server into a mailbox; the password is asked for privately",
    example="syncjob add alice@example.org host=imap.old-isp.example user=alice",
    role=Role.OPERATOR,
)
def add_job(call: Call) -> None:
    mailbox = parsed(call, lambda v: valid_address(v, "mailbox"), call.args.take("the mailbox to copy into"))
    job = {"mailbox": mailbox, **_settings(call, {**SETTINGS, **ADD_ONLY})}
    call.args.done()
    for needed in ("host", "user"):
        if needed not in job:
            raise call.args.error(f"`{needed}=` is missing: the source server's IMAP {needed}.")
    job.setdefault("port", 993 if job.get("encryption", "SSL") == "SSL" else 143)
    _ask_password(call, "add", job)


@command(
    "syncjob",
    "edit",
    usage="syncjob edit ID [password] [host=…] [user=…] [enc=…] [port=…] [interval=…] [active=yes|no] …",
    summary="change a sync job; the word `password` asks for a new source password privately",
    example="syncjob edit 4 interval=60 active=no",
    role=Role.OPERATOR,
)
def edit_job(call: Call) -> Plan | None:
    raw = call.args.take("the sync job ID")
    new_password = [word.lower() for word in call.args.positional] == ["password"]
    if new_password:
        call.args.rest()
    typed = [f"{key}={value}" for key, value in call.args.options.items() if key in SETTINGS]
    settings = _settings(call, SETTINGS)
    call.args.done()
    if "host" in settings and not DOMAIN_RE.match(settings["host"]):  # SERVER-FACTS §4.10
        raise call.args.error("mailcow changes a sync job's host only to a host name, not to an IP address.")
    job: dict[str, Any] = {"id": numeric_id(call, TARGETS, raw), "settings": settings, "typed": typed}
    if new_password:
        _ask_password(call, "edit", job)
        return None
    plan = _edit_plan(call, job, None)
    TARGETS.existing(call, job["id"])
    return plan


@command(
    "syncjob",
    "delete",
    usage='syncjob delete ID [reason="…"]',
    summary="delete a sync job: it stops copying; mail already copied stays in the mailbox",
    example="syncjob delete 4",
    destructive=True,
)
def delete_job(call: Call) -> Plan:
    return delete_by_id(call, TARGETS, calls.delete_syncjobs, ": it stops copying; mail already copied stays")


# --- the password modal --------------------------------------------------------------------------

TITLE = "Sync job password"


def _ask_password(call: Call, verb: str, job: dict[str, Any]) -> None:
    """Check everything but the password, then open the modal that asks for it (or, when mailcow
    would refuse the job anyway, one that says why)."""
    plan = PLANS[verb](call, job, GENERATED)  # every setting checked by the builder, before the password
    if needs_approval(plan, call.services.settings):
        raise ChatopsError(
            f"`{plan.name}` is set to need an approval (CHATOPS_EXTRA_APPROVALS), but the password it "
            "sends may not wait in a stored request. Nothing was requested: set the job up in mailcow's "
            "UI, or take it off that list."
        )
    if call.trigger_id is None:
        raise ChatopsError("The source password is asked for in a Slack modal; run this command in Slack.")

    def build(problem: str | None) -> View:
        if problem:
            return notice(TITLE, f":warning: {problem} Nothing was sent to mailcow.")
        return password_modal(call, verb, job, plan.summary)

    open_form(call.services, call.trigger_id, TITLE, lambda: _problem(call, verb, job), build)


def password_modal(call: Call, verb: str, job: dict[str, Any], summary: str) -> View:
    """The box for the source password; `private_metadata` carries the channel (for the guard), the
    command and the checked settings, never the password."""
    whose = f"{job['user']} on {job['host']}" if verb == "add" else f"the source of sync job #{job['id']}"
    return modal(
        MODAL_ID,
        TITLE,
        [
            section(esc(summary)),
            text_input(INPUT_ID, f"Password of {whose}", max_length=500),
            context(
                "Sent to mailcow only: it never appears in Slack, the audit trail, a stored request or "
                "a log. Slack shows what you type here, so mind who can see your screen."
            ),
        ],
        submit="Create sync job" if verb == "add" else "Save password",
        metadata={
            "channel": call.origin.channel_id,
            "command": call.origin.command_text,
            "verb": verb,
            "job": job,
        },
    )


def _check(services: Services, submission: Submission) -> Ready:
    """The submission, on the ack path: the password as typed, and what mailcow would refuse."""
    password = str(submission.values.get(INPUT_ID) or "")  # not stripped: a space may belong to it
    if not password:
        raise Invalid({INPUT_ID: "Enter the password of the source mailbox."})
    logs.register_secret(password)
    verb, job, typed = (submission.metadata[key] for key in ("verb", "job", "command"))
    call = submission.call(services, f"syncjob.{verb}", typed)
    problem = _problem(call, verb, job)
    if problem:
        raise Invalid({INPUT_ID: problem})
    return Ready(PLANS[verb](call, job, password), typed)


def register(app: App, services: Services) -> None:
    form(app, services, MODAL_ID, _check)
