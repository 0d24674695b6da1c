"""Settings read from the environment or a `.env` file (CONTRACT.md, "Settings").

Every secret is a `SecretStr`, so it prints as `**********` in reprs, logs and tracebacks.
`load_settings()` turns validation errors into one line that names the variables, because an
operator starting the bot at 3 a.m. needs the variable name, not a pydantic traceback.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Annotated, Any

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
PRINCIPAL_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_BOOLEANS = {  # what pydantic reads as a bool, so MAILCOW_VERIFY_TLS keeps accepting what it did
    **dict.fromkeys(("true", "t", "1", "yes", "y", "on"), True),
    **dict.fromkeys(("false", "f", "0", "no", "n", "off"), False),
}

CsvList = Annotated[list[str], NoDecode]


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variables."""


def _split_csv(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part).strip() for part in value if str(part).strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    slack_bot_token: SecretStr = Field(validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias="SLACK_API_URL")

    mailcow_url: str = Field(validation_alias="MAILCOW_URL")
    mailcow_api_key: SecretStr = Field(validation_alias="MAILCOW_API_KEY")
    mailcow_verify_tls: bool | Path = Field(default=True, validation_alias="MAILCOW_VERIFY_TLS")
    mailcow_tls_server_name: str | None = Field(default=None, validation_alias="MAILCOW_TLS_SERVER_NAME")
    mailcow_timeout: float = Field(default=10.0, gt=0, le=600, validation_alias="MAILCOW_TIMEOUT")

    command: str = Field(default="/mailcow", validation_alias="CHATOPS_COMMAND")
    allowed_channels: CsvList = Field(validation_alias="CHATOPS_ALLOWED_CHANNELS")
    operators: CsvList = Field(default_factory=list, validation_alias="CHATOPS_OPERATORS")
    approvers: CsvList = Field(default_factory=list, validation_alias="CHATOPS_APPROVERS")
    approval_ttl: int = Field(default=900, ge=30, le=7 * 86400, validation_alias="CHATOPS_APPROVAL_TTL")
    database_url: str = Field(default="sqlite:///mailcow-chatops.db", validation_alias="CHATOPS_DATABASE_URL")
    secret_key: SecretStr | None = Field(default=None, validation_alias="CHATOPS_SECRET_KEY")

    extra_approvals: CsvList = Field(default_factory=list, validation_alias="CHATOPS_EXTRA_APPROVALS")
    cache_ttl: float = Field(default=30.0, ge=0, le=3600, validation_alias="CHATOPS_CACHE_TTL")
    log_level: str = Field(default="INFO", validation_alias="CHATOPS_LOG_LEVEL")
    log_format: str = Field(default="json", pattern="^(json|text)$", validation_alias="CHATOPS_LOG_FORMAT")
    # `serve` only: processes that run the work after each ack (bot/workers.py); 0 runs it on threads
    # of the serving process. Socket Mode always uses threads.
    workers: int = Field(default=2, ge=0, le=16, validation_alias="CHATOPS_WORKERS")

    # On-call watches (bot/watch.py): how often one replica checks, and the thresholds a new watch
    # starts with (0 turns a threshold off; `/mailcow queue watch deferred=…` overrides per watch).
    watch_interval: float = Field(default=60.0, ge=10, le=3600, validation_alias="CHATOPS_WATCH_INTERVAL")
    watch_queue_total: int = Field(default=500, ge=0, validation_alias="CHATOPS_WATCH_QUEUE_TOTAL")
    watch_queue_deferred: int = Field(default=200, ge=0, validation_alias="CHATOPS_WATCH_QUEUE_DEFERRED")
    watch_queue_age_minutes: int = Field(
        default=240, ge=0, validation_alias="CHATOPS_WATCH_QUEUE_AGE_MINUTES"
    )
    watch_bans: int = Field(default=50, ge=0, validation_alias="CHATOPS_WATCH_BANS")

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("mailcow_url")
    @classmethod
    def _mailcow_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+$", value.removesuffix("/api/v1")):
            raise ValueError("must be the base URL of the mailcow host, e.g. https://mail.example.org")
        return value.removesuffix("/api/v1")

    @field_validator("mailcow_verify_tls", mode="before")
    @classmethod
    def _verify_tls(cls, value: Any) -> bool | Path:
        # A path trusts that CA bundle for mailcow alone: SSL_CERT_FILE would also replace the CAs
        # the Slack connection trusts.
        if isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.lower() in _BOOLEANS:
            return _BOOLEANS[text.lower()]
        path = Path(text)
        try:
            ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError):
            raise ValueError(
                f"must be true, false or the path of a CA certificate file (PEM); {text} is not a readable "
                "PEM certificate file"
            ) from None
        return path

    @field_validator("mailcow_tls_server_name", mode="before")
    @classmethod
    def _tls_server_name(cls, value: Any, info: ValidationInfo) -> str | None:
        name = str(value or "").strip().lower().removesuffix(".")
        if not name:
            return None
        if not HOST_NAME.match(name) or name.replace(".", "").isdigit():
            raise ValueError(
                "must be the host name on mailcow's certificate, e.g. mail.example.org (no https://, no port)"
            )
        if str(info.data.get("mailcow_url", "https://")).startswith("http://"):
            raise ValueError("needs an https:// MAILCOW_URL: plain HTTP has no certificate to check")
        return name

    @field_validator("mailcow_api_key")
    @classmethod
    def _api_key(cls, value: SecretStr) -> SecretStr:
        # mailcow strips everything outside [A-Za-z0-9-] from the header (SERVER-FACTS 1.1), so a key
        # with other characters can never match and would only feed fail2ban.
        if not re.fullmatch(r"[A-Za-z0-9-]+", value.get_secret_value()):
            raise ValueError("must contain only letters, digits and dashes")
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: str) -> str:
        if not re.fullmatch(r"/[a-z0-9_-]{1,31}", value):
            raise ValueError("must look like /mailcow")
        return value

    @field_validator("allowed_channels", mode="before")
    @classmethod
    def _channels(cls, value: Any) -> list[str]:
        channels = _split_csv(value)
        if not channels:
            raise ValueError("must list at least one channel ID (C… or G…)")
        bad = [c for c in channels if not CHANNEL_ID.match(c)]
        if bad:
            raise ValueError(f"{', '.join(bad)} is not a channel ID (C… or G…)")
        return channels

    @field_validator("operators", "approvers", mode="before")
    @classmethod
    def _principals(cls, value: Any) -> list[str]:
        ids = _split_csv(value)
        bad = [i for i in ids if not PRINCIPAL_ID.match(i)]
        if bad:
            raise ValueError(f"{', '.join(bad)} is not a user (U…/W…) or user-group (S…) ID")
        return ids

    @field_validator("extra_approvals", mode="before")
    @classmethod
    def _verbs(cls, value: Any) -> list[str]:
        verbs = _split_csv(value)
        bad = [v for v in verbs if not re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+", v)]
        if bad:
            raise ValueError(f"{', '.join(bad)} is not of the form area.verb (e.g. mailbox.edit)")
        return verbs

    @field_validator("secret_key", mode="before")
    @classmethod
    def _secret_key(cls, value: Any) -> Any:
        # Seals a password typed into the reset form while its request waits for approval (bot/plans.py).
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None or not str(text).strip():
            return None
        try:
            Fernet(str(text).strip().encode())
        except ValueError:
            raise ValueError(
                "must be a Fernet key (44 characters of URL-safe base64); make one with: python -c "
                "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from None
        return str(text).strip()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        # Checked here so a typo stops start-up with this one line, not a traceback from the store.
        scheme = value.partition("://")[0].lower()
        if scheme not in {"sqlite", "postgresql", "postgres", "postgresql+psycopg"} or "://" not in value:
            raise ValueError("must be sqlite:///path/to/file.db or postgresql://user@host/db")
        if scheme == "sqlite" and not value.startswith("sqlite:///"):
            raise ValueError("must be sqlite:///path/to/file.db (three slashes, then the path)")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        info = Settings.model_fields.get(field)
        alias = (
            info.validation_alias if info is not None and isinstance(info.validation_alias, str) else field
        )
        if item["type"] == "missing":
            parts.append(f"{alias} is not set")
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            parts.append(f"{alias} {message}")
    return "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, raising SettingsError with one line that names every bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(f"bad settings: {_describe(error)}") from None


def env_variables() -> set[str]:
    """Every environment variable the settings read (deploy files are checked against this)."""
    return {
        str(info.validation_alias)
        for info in Settings.model_fields.values()
        if isinstance(info.validation_alias, str)
    }


def required_variables() -> set[str]:
    return {
        str(info.validation_alias)
        for info in Settings.model_fields.values()
        if info.is_required() and isinstance(info.validation_alias, str)
    }
