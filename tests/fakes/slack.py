"""A Slack Web API stand-in on loopback that records every call and answers like Slack.

The app talks to it through a real `WebClient(base_url=…)`, so retries, 429 handling, JSON and form
encodings and file uploads all run for real. Messages are validated against Slack's Block Kit limits
and refused with `invalid_blocks` like Slack refuses them, so an oversize message fails a test.
Response URLs (`/response/<id>`) and the file upload URL live on the same server and are recorded too.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BOT_USER = "U0BOT"
SCOPES = "commands,chat:write,files:write,usergroups:read,im:write"


@dataclass
class SlackCall:
    method: str  # "chat.postMessage", or "response_url" / "upload" for the other endpoints
    args: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)
    path: str = ""
    raw: bytes = b""

    def text_content(self) -> str:
        """Everything a person could read in this call, for secret scans."""
        return json.dumps(self.args, ensure_ascii=False) + self.raw.decode("utf-8", errors="replace")


@dataclass
class _Failure:
    method: str
    error: str | None
    retry_after: int | None
    times: int


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[SlackCall] = []
        self.messages: dict[
            str, dict[str, Any]
        ] = {}  # ts -> current message (channel, text, blocks, thread_ts)
        self.views: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.violations: list[str] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # ----- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base}/response/{name}"

    # ----- test controls ---------------------------------------------------------------------
    def fail_next(self, method: str, error: str, times: int = 1) -> None:
        """The next `times` calls of `method` answer `{"ok": false, "error": error}`."""
        with self._lock:
            self._failures.append(_Failure(method, error, None, times))

    def rate_limit_next(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` calls of `method` answer 429 with Retry-After."""
        with self._lock:
            self._failures.append(_Failure(method, None, retry_after, times))

    def clear_failures(self) -> None:
        """Drop every injected failure not yet used (e.g. the bot was invited after all)."""
        with self._lock:
            self._failures.clear()

    def calls_to(self, method: str) -> list[SlackCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Callable[[FakeSlack], Any], timeout: float = 5.0) -> Any:
        """Poll until `predicate(self)` is truthy (lazy listeners answer after the ack)."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self)
            if result:
                return result
            if time.monotonic() > deadline:
                methods = [c.method for c in self.calls]
                raise AssertionError(f"timed out waiting; calls so far: {methods}")
            time.sleep(0.01)

    def wait_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[SlackCall]:
        return self.wait_for(
            lambda s: (calls := s.calls_to(method)) and len(calls) >= count and calls, timeout
        )  # type: ignore[no-any-return]

    def posts(self, channel: str | None = None) -> list[SlackCall]:
        return [
            c
            for c in self.calls_to("chat.postMessage")
            if channel is None or c.args.get("channel") == channel
        ]

    def thread(self, parent_ts: str) -> list[SlackCall]:
        return [c for c in self.calls_to("chat.postMessage") if c.args.get("thread_ts") == parent_ts]

    def ephemerals(self) -> list[SlackCall]:
        return [c for c in self.calls if c.method in {"chat.postEphemeral", "response_url"}]

    def all_text(self) -> str:
        with self._lock:
            return "\n".join(c.text_content() for c in self.calls)

    # ----- the server ------------------------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in request.headers.items()}
        args = self._parse_args(parsed.query, raw, headers.get("content-type", ""))
        if parsed.path.startswith("/api/"):
            method = parsed.path.removeprefix("/api/")
        elif parsed.path.startswith("/response/"):
            method = "response_url"
        elif parsed.path.startswith("/upload/"):
            method = "upload"
        else:
            self._send(request, 404, {"ok": False, "error": "unknown_path"})
            return
        call = SlackCall(method, args, headers, path=parsed.path, raw=raw if method == "upload" else b"")
        with self._lock:
            self.calls.append(call)
            failure = next((f for f in self._failures if f.method == method and f.times > 0), None)
            if failure is not None:
                failure.times -= 1
        if failure is not None and failure.retry_after is not None:
            self._send(
                request, 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(failure.retry_after)}
            )
            return
        if failure is not None:
            self._send(request, 200, {"ok": False, "error": failure.error})
            return
        if method == "response_url":
            problems = validate_blocks(args.get("blocks") or [], "message")
            self._record_violations(method, problems)
            self._send(
                request,
                200 if not problems else 400,
                {"ok": not problems},
                raw_text="ok" if not problems else "invalid_blocks",
            )
            return
        if method == "upload":
            self.uploads[parsed.path.rsplit("/", 1)[-1]] = raw
            self._send(request, 200, {"ok": True}, raw_text="OK - 1")
            return
        if request.headers.get("Authorization", "") != "Bearer xoxb-test-token":
            self._send(request, 200, {"ok": False, "error": "invalid_auth"})
            return
        self._send(request, 200, self._answer(method, args), {"x-oauth-scopes": SCOPES})

    @staticmethod
    def _parse_args(query: str, raw: bytes, content_type: str) -> dict[str, Any]:
        args: dict[str, Any] = dict(urllib.parse.parse_qsl(query))
        if not raw:
            return args
        if "application/json" in content_type:
            args.update(json.loads(raw))
        elif "application/x-www-form-urlencoded" in content_type:
            args.update(urllib.parse.parse_qsl(raw.decode()))
        for key in ("blocks", "view", "attachments", "files"):
            if isinstance(args.get(key), str):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(args[key])
        return args

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method in {"chat.postMessage", "chat.update", "chat.postEphemeral"}:
            problems = validate_blocks(args.get("blocks") or [], "message")
            if len(str(args.get("text") or "")) > 40_000:
                problems.append("text longer than 40000")
            if problems:
                self._record_violations(method, problems)
                return {"ok": False, "error": "invalid_blocks", "errors": problems}
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": BOT_USER,
                "bot_id": "B0BOT",
                "team_id": "T0TEAM",
                "team": "Test",
                "user": "mailcow",
            }
        if method == "chat.postMessage":
            ts = f"{1_700_000_000 + next(self._ts)}.000100"
            message = {
                "channel": args.get("channel"),
                "text": args.get("text"),
                "blocks": args.get("blocks"),
                "thread_ts": args.get("thread_ts"),
                "ts": ts,
            }
            with self._lock:
                self.messages[ts] = message
            return {"ok": True, "channel": args.get("channel"), "ts": ts, "message": message}
        if method == "chat.update":
            ts = str(args.get("ts"))
            with self._lock:
                if ts not in self.messages:
                    return {"ok": False, "error": "message_not_found"}
                self.messages[ts].update({"text": args.get("text"), "blocks": args.get("blocks")})
            return {"ok": True, "channel": args.get("channel"), "ts": ts}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{time.time():.6f}"}
        if method == "chat.getPermalink":
            return {
                "ok": True,
                "permalink": "https://test.slack.com/archives/{}/p{}".format(
                    args.get("channel"), str(args.get("message_ts")).replace(".", "")
                ),
            }
        if method == "usergroups.users.list":
            group = str(args.get("usergroup"))
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": self.usergroups[group]}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", "")).lstrip("UW")}}
        if method in {"views.open", "views.update", "views.push", "views.publish"}:
            view = args.get("view") or {}
            problems = validate_view(view)
            if problems:
                self._record_violations(method, problems)
                return {
                    "ok": False,
                    "error": "invalid_arguments",
                    "response_metadata": {"messages": problems},
                }
            view_id = str(args.get("view_id") or f"V{next(self._ts):08d}")
            stored = {**view, "id": view_id, "hash": f"h{next(self._ts)}"}
            with self._lock:
                self.views[view_id] = stored
            return {"ok": True, "view": stored}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):08d}"
            return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            return {
                "ok": True,
                "files": [{"id": f.get("id"), "title": f.get("title")} for f in args.get("files") or []],
            }
        return {"ok": True}

    def _record_violations(self, method: str, problems: list[str]) -> None:
        if problems:
            with self._lock:
                self.violations.extend(f"{method}: {p}" for p in problems)

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        raw_text: str | None = None,
    ) -> None:
        data = raw_text.encode() if raw_text is not None else json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "text/plain" if raw_text is not None else "application/json")
        request.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.end_headers()
        request.wfile.write(data)


def _text_of(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else str(obj or "")


def validate_blocks(blocks: list[dict[str, Any]], surface: str) -> list[str]:
    """Slack's Block Kit limits that matter to this app; an empty list means Slack would accept it."""
    problems: list[str] = []
    limit = 50 if surface == "message" else 100
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks (limit {limit})")
    action_ids: set[str] = set()
    for index, block in enumerate(blocks):
        kind = block.get("type")
        where = f"block {index} ({kind})"
        if len(str(block.get("block_id") or "")) > 255:
            problems.append(f"{where}: block_id longer than 255")
        if kind == "section":
            if len(_text_of(block.get("text"))) > 3000:
                problems.append(f"{where}: text {len(_text_of(block.get('text')))} > 3000")
            fields = block.get("fields") or []
            if len(fields) > 10:
                problems.append(f"{where}: {len(fields)} fields > 10")
            problems.extend(f"{where}: field > 2000" for f in fields if len(_text_of(f)) > 2000)
            if not block.get("text") and not fields:
                problems.append(f"{where}: section without text or fields")
        elif kind == "header" and len(_text_of(block.get("text"))) > 150:
            problems.append(f"{where}: header > 150")
        elif kind == "context":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 10:
                problems.append(f"{where}: {len(elements)} context elements")
        elif kind == "actions":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 25:
                problems.append(f"{where}: {len(elements)} action elements")
            for element in elements:
                action_id = str(element.get("action_id") or "")
                if action_id in action_ids:
                    problems.append(f"{where}: duplicate action_id {action_id}")
                action_ids.add(action_id)
                if len(str(element.get("value") or "")) > 2000:
                    problems.append(f"{where}: button value > 2000")
                if len(_text_of(element.get("text"))) > 75:
                    problems.append(f"{where}: button text > 75")
    return problems


def validate_view(view: dict[str, Any]) -> list[str]:
    problems = validate_blocks(view.get("blocks") or [], "modal")
    if len(_text_of(view.get("title"))) > 24:
        problems.append("view title longer than 24")
    if len(str(view.get("private_metadata") or "")) > 3000:
        problems.append("private_metadata longer than 3000")
    if view.get("type") not in {"modal", "home"}:
        problems.append(f"view type {view.get('type')!r}")
    return problems
