"""The command registry: every `/mailcow <area> <verb>` with its grammar, role, help and handler.

Each area module (`commands/queue.py`, `commands/mailbox.py`, …) declares its verbs with the
`@command` decorator right next to their parsing and Block Kit, so `/mailcow queue flush` lives in
`commands/queue.py`. `load_all()` imports every module once; help, the guard and the dispatcher all
read the same registry, so what help shows is exactly what runs.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.args import Args, tokenize
from bot.roles import Role

if TYPE_CHECKING:
    from bot.mailcow import MailcowClient
    from bot.services import Origin, Services

Handler = Callable[["Call"], Any]

VERB_SYNONYMS = {
    "ls": "list",
    "rm": "delete",
    "del": "delete",
    "remove": "delete",
    "get": "show",
    "info": "show",
    "new": "add",
    "create": "add",
    "add": "create",
    "set": "edit",
    "update": "edit",
}


@dataclass(frozen=True)
class Command:
    area: str
    verb: str
    usage: str
    summary: str
    example: str
    handler: Handler
    role: Role = Role.VIEWER
    destructive: bool = False
    default: bool = False
    accepts: Callable[[str], bool] | None = None

    @property
    def name(self) -> str:
        return f"{self.area}.{self.verb}"


@dataclass
class Call:
    """One run of a command: who, where, the parsed arguments and the shared services."""

    command: Command
    args: Args
    origin: Origin
    roles: frozenset[Role]
    services: Services
    page: int = 1
    trigger_id: str | None = None

    @property
    def mailcow(self) -> MailcowClient:
        return self.services.mailcow


@dataclass
class Resolution:
    command: Command | None
    tokens: list[str] = field(default_factory=list)
    problem: str = ""


class Registry:
    def __init__(self) -> None:
        self.by_area: dict[str, dict[str, Command]] = {}
        self.phrases: dict[str, Command] = {}
        self.area_aliases: dict[str, str] = {}
        self.area_help: dict[str, str] = {}

    def add(self, cmd: Command, phrases: tuple[str, ...] = ()) -> None:
        verbs = self.by_area.setdefault(cmd.area, {})
        if cmd.verb in verbs:
            raise ValueError(f"command {cmd.name} is registered twice")
        verbs[cmd.verb] = cmd
        for phrase in phrases:
            self.phrases[phrase] = cmd

    @property
    def areas(self) -> list[str]:
        return sorted(self.by_area)

    def all(self) -> list[Command]:
        return [cmd for area in self.areas for cmd in self.by_area[area].values()]

    def verbs(self, area: str) -> list[Command]:
        return list(self.by_area.get(area, {}).values())

    def get(self, name: str) -> Command | None:
        area, _, verb = name.partition(".")
        return self.by_area.get(area, {}).get(verb)

    def resolve(self, text: str) -> Resolution:
        """Find the command in `text`, or say what was wrong and the closest valid form."""
        return self._lookup(tokenize(text))

    def role_for(self, text: str) -> Role:
        """The role the command in `text` needs, from a plain split: cheap enough for the ack path.

        Unknown commands need only a viewer: the answer is a suggestion, and nothing runs.
        """
        cmd = self._lookup(text.split(maxsplit=2), explain=False).command
        return cmd.role if cmd else Role.VIEWER

    def _lookup(self, tokens: list[str], *, explain: bool = True) -> Resolution:
        if not tokens:
            return Resolution(self.get("help.show"), [])
        first = tokens[0].lower()
        if first in self.phrases:
            return Resolution(self.phrases[first], tokens[1:])
        first = self.area_aliases.get(first, first)
        verbs = self.by_area.get(first)
        if not verbs:
            return Resolution(None, tokens, self._unknown_area(first) if explain else "")
        rest = tokens[1:]
        if not rest:
            default = next((c for c in verbs.values() if c.default), None)
            if default is not None:
                return Resolution(default, [])
            return Resolution(None, tokens, f"`{first}` needs a verb: {self._verb_list(first)}.")
        verb = rest[0].lower()
        verb = verb if verb in verbs else VERB_SYNONYMS.get(verb, verb)
        if verb in verbs:
            return Resolution(verbs[verb], rest[1:])
        catch_all = next((c for c in verbs.values() if c.accepts is not None and c.accepts(rest[0])), None)
        if catch_all is not None:
            return Resolution(catch_all, rest)
        if not explain:
            return Resolution(None, tokens)
        close = difflib.get_close_matches(verb, list(verbs), n=1, cutoff=0.6)
        hint = f" Did you mean `{verbs[close[0]].usage}`?" if close else ""
        return Resolution(
            None, tokens, f"`{first}` has no verb `{rest[0]}`.{hint} Try: {self._verb_list(first)}."
        )

    def _verb_list(self, area: str) -> str:
        return ", ".join(f"`{c.usage}`" for c in self.verbs(area))

    def _unknown_area(self, word: str) -> str:
        close = difflib.get_close_matches(
            word, [*self.areas, *self.phrases, *self.area_aliases], n=1, cutoff=0.5
        )
        if not close:
            return f"I don't know `{word}`. `/mailcow help` lists every command."
        match = self.area_aliases.get(close[0], close[0])
        example = self.phrases[match].usage if match in self.phrases else self.verbs(match)[0].usage
        return f"I don't know `{word}`. Did you mean `{example}`? `/mailcow help` lists everything."


REGISTRY = Registry()


def command(
    area: str,
    verb: str,
    *,
    usage: str,
    summary: str,
    example: str,
    role: Role = Role.VIEWER,
    destructive: bool = False,
    default: bool = False,
    accepts: Callable[[str], bool] | None = None,
    phrases: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """Register a handler as `/mailcow <area> <verb>`; destructive commands always need an approval."""

    def register(handler: Handler) -> Handler:
        required = Role.OPERATOR if destructive and role == Role.VIEWER else role
        REGISTRY.add(
            Command(area, verb, usage, summary, example, handler, required, destructive, default, accepts),
            phrases,
        )
        return handler

    return register


def describe_area(area: str, text: str, *, aliases: tuple[str, ...] = ()) -> None:
    """One line of help for an area (shown by `/mailcow help`), and other names people type for it."""
    REGISTRY.area_help[area] = text
    for alias in aliases:
        REGISTRY.area_aliases[alias] = area


_loaded = False


def load_all() -> Registry:
    """Import every command module once, so their `@command` declarations run."""
    global _loaded  # noqa: PLW0603 - a process-wide, idempotent import of the command modules
    if not _loaded:
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True
    return REGISTRY
