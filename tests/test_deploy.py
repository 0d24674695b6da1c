"""The deploy files and the Slack app manifest agree with the code.

- compose.yml and the Kubernetes manifests parse; every variable they set (or leave commented out for
  the operator to set) is a setting the code reads, and every required one (plus the token the chosen
  mode needs) is set, directly or through the env_file, ConfigMap or Secret they reference.
- compose.yml joins mailcow-dockerized's network and reaches nginx by its service name with the
  certificate checked against MAILCOW_TLS_SERVER_NAME; the README's stricter alternative (a network
  of its own, created by mailcow's docker-compose.override.yml) is what MAILCOW_NETWORK switches to.
- The Dockerfile pins Python, runs as a non-root user and checks /healthz on the port the deploy
  files serve.
- app_manifest.yml asks for exactly the scopes the code uses: the code is scanned for Slack Web API
  calls and Bolt listeners, and each is looked up in SCOPE_OF_METHOD. A call missing from the table
  fails the test, so a new Slack call forces a decision about its scope.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

from bot.check import BOT_SCOPES
from bot.settings import env_variables, load_settings, required_variables

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
MAILCOW_PROJECT = "mailcowdockerized"
"""mailcow's default COMPOSE_PROJECT_NAME (mailcow.conf); its network is `<project>_mailcow-network`."""
MAILCOW_SUBNET = "172.22.1.0/24"
"""mailcow-network's IPv4 range by default (IPV4_NETWORK=172.22.1 in mailcow.conf)."""
_COMMENTED_SETTING = re.compile(r"^\s*#\s*([A-Z][A-Z0-9_]+)\s*[=:]", re.MULTILINE)

SCOPE_OF_METHOD: dict[str, str | None] = {
    "auth_test": None,
    "apps_connections_open": None,  # the app-level token's connections:write, not a bot scope
    "chat_postMessage": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_update": "chat:write",
    "chat_delete": "chat:write",
    "chat_getPermalink": None,
    "conversations_open": "im:write",
    "files_upload_v2": "files:write",
    "usergroups_users_list": "usergroups:read",
    "views_open": None,
    "views_update": None,
    "views_push": None,
    "views_publish": None,
}
"""Slack Web API method (as WebClient spells it) → the bot scope it needs, None for none."""

SCOPE_OF_LISTENER: dict[str, str | None] = {
    "command": "commands",
    "shortcut": "commands",
    "event:app_home_opened": None,
}
"""Bolt listener registrations (`app.command(…)`, `app.event("…")`) → the bot scope they need."""

_WEB_METHODS = frozenset(name for name in dir(WebClient) if not name.startswith("_"))
_CALL = re.compile(r"\.([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+)\(")
_LISTENER = re.compile(r"\bapp\.(command|shortcut|message|event)\(\s*(?:\"([^\"]+)\"|'([^']+)')?")


def source_files() -> list[Path]:
    return sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "commands").rglob("*.py")])


def slack_calls() -> dict[str, set[str]]:
    """Every WebClient method called in bot/ and commands/, with the files calling it."""
    found: dict[str, set[str]] = {}
    for path in source_files():
        for match in _CALL.finditer(path.read_text()):
            if match.group(1) in _WEB_METHODS:
                found.setdefault(match.group(1), set()).add(str(path.relative_to(ROOT)))
    return found


def bolt_listeners() -> set[str]:
    found = set()
    for path in source_files():
        for match in _LISTENER.finditer(path.read_text()):
            kind, name = match.group(1), match.group(2) or match.group(3)
            found.add(f"event:{name}" if kind == "event" else kind)
    return found


def scopes_the_code_uses() -> set[str]:
    calls, listeners = slack_calls(), bolt_listeners()
    unknown = {m: sorted(files) for m, files in calls.items() if m not in SCOPE_OF_METHOD}
    unknown_listeners = listeners - SCOPE_OF_LISTENER.keys()
    assert not unknown, f"Slack calls missing from SCOPE_OF_METHOD (decide their scope): {unknown}"
    assert not unknown_listeners, f"listeners missing from SCOPE_OF_LISTENER: {unknown_listeners}"
    needed = [SCOPE_OF_METHOD[m] for m in calls] + [SCOPE_OF_LISTENER[k] for k in listeners]
    return {scope for scope in needed if scope}


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "app_manifest.yml").read_text())
    return data


# --- the Slack app manifest -----------------------------------------------------------------------


def test_the_scan_finds_the_calls_it_must() -> None:
    calls = slack_calls()
    for method in ("chat_postMessage", "chat_postEphemeral", "usergroups_users_list", "auth_test"):
        assert method in calls
    assert "command" in bolt_listeners()


def test_manifest_scopes_are_exactly_the_ones_the_code_uses() -> None:
    granted = set(manifest()["oauth_config"]["scopes"]["bot"])
    assert granted == scopes_the_code_uses()
    assert granted == BOT_SCOPES, "bot.check.BOT_SCOPES is what `check` compares the granted scopes with"


def test_manifest_declares_what_the_contract_and_later_issues_rely_on() -> None:
    app = manifest()
    [command] = app["features"]["slash_commands"]
    assert command["command"] == "/mailcow"
    assert command["should_escape"] is True
    url = "https://chatops.example.org/slack/events"
    assert command["url"] == url
    settings = app["settings"]
    assert settings["interactivity"] == {
        "is_enabled": True,
        "request_url": url,
        "message_menu_options_url": url,
    }
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert app["features"]["app_home"]["home_tab_enabled"] is True
    assert app["features"]["bot_user"]["display_name"]
    [shortcut] = app["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("global", "mailbox_create_shortcut")
    assert isinstance(settings["socket_mode_enabled"], bool)


# --- compose --------------------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; a committed `X.example` stands in for an `X` that holds real secrets."""
    if not path.exists():
        path = path.with_name(path.name + ".example")
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def mode_token(args: list[str]) -> str:
    """The setting the chosen mode cannot start without."""
    return {"socket": "SLACK_APP_TOKEN", "serve": "SLACK_SIGNING_SECRET"}[args[0]]


def port_of(args: list[str]) -> int:
    return int(args[args.index("--port") + 1]) if "--port" in args else 3000


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    return data


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env_files = service.get("env_file") or []
    values: dict[str, str] = {}
    for env_file in [env_files] if isinstance(env_files, str) else env_files:
        values.update(read_env_file(DEPLOY / env_file))
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    values.update({k: str(v) for k, v in environment.items()})
    return values


def test_compose_sets_only_known_settings_and_every_required_one(compose: dict[str, Any]) -> None:
    [service] = compose["services"].values()
    environment = compose_environment(service)
    assert set(environment) <= env_variables(), set(environment) - env_variables()
    needed = required_variables() | {mode_token(service["command"])}
    assert needed <= set(environment), needed - set(environment)


def test_compose_runs_socket_mode_beside_mailcow_with_sqlite_on_a_volume(compose: dict[str, Any]) -> None:
    [service] = compose["services"].values()
    assert service["command"][0] == "socket"
    environment = compose_environment(service)
    assert environment["MAILCOW_VERIFY_TLS"] == "true"
    database = environment["CHATOPS_DATABASE_URL"]
    assert database.startswith("sqlite:////")
    mounts = [volume.split(":")[1] for volume in service["volumes"]]
    assert any(database.removeprefix("sqlite:///").startswith(target + "/") for target in mounts)
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"


def compose_variable(value: str) -> tuple[str, str]:
    """`${NAME:-default}` → (NAME, default): a value compose takes from the shell or deploy/.env."""
    match = re.fullmatch(r"\$\{(\w+):-([^}]+)\}", value)
    assert match is not None, f"{value} is not of the form ${{NAME:-default}}"
    return match.group(1), match.group(2)


def readme_yaml(containing: str) -> Any:
    readme = (DEPLOY / "README.md").read_text()
    [snippet] = [s for s in re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL) if containing in s]
    return yaml.safe_load(snippet)


def test_compose_joins_mailcows_network_and_reaches_nginx_by_service_name(compose: dict[str, Any]) -> None:
    [service] = compose["services"].values()
    [network] = [compose["networks"][key] for key in service["networks"]]
    assert network["external"] is True, "mailcow's compose project owns the network"
    variable, default = compose_variable(network["name"])
    assert default == f"{MAILCOW_PROJECT}_mailcow-network"
    environment = compose_environment(service)
    assert variable not in environment and variable not in env_variables(), "for compose, not the bot"
    assert environment["MAILCOW_URL"] == "https://nginx-mailcow"
    assert environment["MAILCOW_VERIFY_TLS"] == "true"
    settings = load_settings(**environment, _env_file=None)
    assert settings.mailcow_tls_server_name == "mail.example.org", "the name on nginx's certificate"


def test_the_readme_tells_to_allow_mailcows_network_in_the_api_settings() -> None:
    readme = (DEPLOY / "README.md").read_text()
    assert MAILCOW_SUBNET in readme
    assert f"docker network inspect {MAILCOW_PROJECT}_mailcow-network" in readme


def test_the_readmes_stricter_network_is_what_mailcow_network_switches_to(compose: dict[str, Any]) -> None:
    """The override for mailcow's docker-compose creates a network with nginx-mailcow on it, and the
    README sets MAILCOW_NETWORK to exactly that network's name; MAILCOW_URL needs no change."""
    [service] = compose["services"].values()
    [network] = [compose["networks"][key] for key in service["networks"]]
    variable, _ = compose_variable(network["name"])
    override = readme_yaml("nginx-mailcow")
    [(key, created)] = override["networks"].items()
    assert key in override["services"]["nginx-mailcow"]["networks"]
    assert f"`{variable}={created['name']}`" in (DEPLOY / "README.md").read_text()
    host = re.match(r"https://([^/:]+)", compose_environment(service)["MAILCOW_URL"])
    assert host is not None and host.group(1) in override["services"]
    [subnet] = [ipaddress.ip_network(item["subnet"]) for item in created["ipam"]["config"]]
    assert subnet.is_private and not subnet.overlaps(ipaddress.ip_network(MAILCOW_SUBNET))
    assert f"Allow `{subnet}` in the API settings" in (DEPLOY / "README.md").read_text()


def test_the_readmes_private_ca_mount_is_what_verify_tls_points_at() -> None:
    example = readme_yaml("MAILCOW_VERIFY_TLS")
    targets = [volume.split(":")[1] for volume in example["volumes"]]
    assert example["environment"]["MAILCOW_VERIFY_TLS"] in targets


def test_settings_left_commented_out_are_known_settings() -> None:
    """Uncommenting one of them must work: each is a variable the settings read."""
    for path in (DEPLOY / "chatops.env.example", *(DEPLOY / "kubernetes").glob("*.yaml")):
        names = set(_COMMENTED_SETTING.findall(path.read_text()))
        assert names <= env_variables(), (path.name, names - env_variables())
    assert "MAILCOW_TLS_SERVER_NAME" in _COMMENTED_SETTING.findall(
        (DEPLOY / "kubernetes" / "configmap.yaml").read_text()
    )


# --- Kubernetes -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict[str, Any]]:
    """Every object in deploy/kubernetes/*.yaml, keyed `Kind/name`."""
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                objects[f"{document['kind']}/{document['metadata']['name']}"] = document
    return objects


def pod_environment(objects: dict[str, dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """What the container's environment holds: `env` and every ConfigMap/Secret behind `envFrom`."""
    values: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            values.update(objects[f"ConfigMap/{source['configMapRef']['name']}"]["data"])
        if "secretRef" in source:
            secret = objects[f"Secret/{source['secretRef']['name']}"]
            values.update(secret.get("stringData") or secret.get("data") or {})
    for item in container.get("env") or []:
        values[item["name"]] = str(item.get("value", "<from a reference>"))
    return values


def the_container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [deployment] = [o for o in objects.values() if o["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_kubernetes_objects_parse(k8s: dict[str, dict[str, Any]]) -> None:
    kinds = {o["kind"] for o in k8s.values()}
    assert {"Deployment", "Service", "Secret", "ConfigMap", "PodDisruptionBudget"} <= kinds


def test_kubernetes_sets_only_known_settings_and_every_required_one(k8s: dict[str, dict[str, Any]]) -> None:
    container = the_container(k8s)
    environment = pod_environment(k8s, container)
    assert set(environment) <= env_variables(), set(environment) - env_variables()
    needed = required_variables() | {mode_token(container["args"])}
    assert needed <= set(environment), needed - set(environment)


def test_kubernetes_runs_two_replicas_on_postgresql_from_the_secret(k8s: dict[str, dict[str, Any]]) -> None:
    [deployment] = [o for o in k8s.values() if o["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 2
    [secret] = [o for o in k8s.values() if o["kind"] == "Secret"]
    assert secret["stringData"]["CHATOPS_DATABASE_URL"].startswith("postgresql://")
    for name, value in secret["stringData"].items():
        assert "REPLACE-ME" in value, f"{name} in the Secret must be a marked placeholder"
    configmap = next(o for o in k8s.values() if o["kind"] == "ConfigMap")
    assert not set(configmap["data"]) & set(secret["stringData"]), "each setting in one place"
    assert {"SLACK_BOT_TOKEN", "MAILCOW_API_KEY"} <= set(secret["stringData"])


def test_kubernetes_probes_resources_and_security(k8s: dict[str, dict[str, Any]]) -> None:
    container = the_container(k8s)
    port = port_of(container["args"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        check = container[probe]["httpGet"]
        assert check["path"] == "/healthz"
        assert ports.get(check["port"], check["port"]) == port
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    [deployment] = [o for o in k8s.values() if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    [service] = [o for o in k8s.values() if o["kind"] == "Service"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] in ports


# --- the image ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """Instructions, one per entry, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def test_dockerfile_pins_python(dockerfile: list[str]) -> None:
    bases = [line.split()[1] for line in dockerfile if line.startswith("FROM ")]
    assert bases
    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    floor = tuple(int(x) for x in wanted.removeprefix(">=").split("."))
    for base in bases:
        pinned = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim-\w+(@sha256:[0-9a-f]{64})?", base)
        assert pinned, f"{base} does not pin the Python release"
        assert (int(pinned.group(1)), int(pinned.group(2))) >= floor


def test_dockerfile_runs_as_non_root_and_checks_healthz(
    dockerfile: list[str], compose: dict[str, Any]
) -> None:
    users = [line.split()[1] for line in dockerfile if line.startswith("USER ")]
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    [healthcheck] = [line for line in dockerfile if line.startswith("HEALTHCHECK ")]
    served = re.search(r"http://127\.0\.0\.1:(\d+)/healthz", healthcheck)
    assert served, healthcheck
    [cmd] = [line for line in dockerfile if line.startswith("CMD ")]
    default_args = yaml.safe_load(cmd.removeprefix("CMD "))
    [service] = compose["services"].values()
    assert int(served.group(1)) == port_of(default_args) == port_of(service["command"])
    [entrypoint] = [line for line in dockerfile if line.startswith("ENTRYPOINT ")]
    assert yaml.safe_load(entrypoint.removeprefix("ENTRYPOINT ")) == ["mailcow-chatops"]


def test_dockerignore_keeps_secrets_out_and_the_sources_in(dockerfile: list[str]) -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".git", ".venv", "*.db"} <= ignored
    copied = {
        source
        for line in dockerfile
        if line.startswith("COPY ") and "--from=" not in line
        for source in shlex.split(line)[1:-1]
    }
    assert copied == {"pyproject.toml", "README.md", "bot", "commands"}
    assert not copied & ignored
