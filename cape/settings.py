"""The one settings object: every knob of CapeControl, read from the environment."""

from __future__ import annotations

import hashlib
import json
import socket
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from cape.auth_settings import AuthSettings
from cape.contracts.names import DEFAULT_TASK_QUEUE
from cape.contracts.names import SEARCH_ATTRIBUTES as SEARCH_ATTRIBUTES  # re-exported
from cape.event_settings import EventSettings
from cape.limit_settings import LimitSettings
from cape.llm_settings import LlmSettings
from cape.market_settings import MarketplaceSettings
from cape.ops_settings import OpsSettings
from cape.telemetry_settings import TelemetrySettings
from cape.tool_settings import ToolSettings


class Settings(
    ToolSettings,
    LlmSettings,
    OpsSettings,
    AuthSettings,
    TelemetrySettings,
    LimitSettings,
    EventSettings,
    MarketplaceSettings,
):
    """CapeControl settings.

    Environment variables use the `CAPE_` prefix except for the names other tools share
    (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `OPENAI_API_KEY`, `OPENAI_BASE_URL`).
    Secrets are `SecretStr`, so they never show in a log line or a repr.
    """

    model_config = SettingsConfigDict(env_prefix="CAPE_", extra="ignore", populate_by_name=True)

    data_dir: Path = Path(".cape")
    database_url: str = ""
    temporal_address: str = Field("127.0.0.1:7233", validation_alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field("default", validation_alias="TEMPORAL_NAMESPACE")
    task_queue: str = DEFAULT_TASK_QUEUE

    openai_api_key: SecretStr = Field(SecretStr(""), validation_alias="OPENAI_API_KEY")
    openai_base_url: str = Field("https://api.openai.com/v1", validation_alias="OPENAI_BASE_URL")
    default_model: str = "gpt-4o-mini"

    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    temporal_port: int = Field(7233, ge=1, le=65535)
    temporal_ui_port: int = Field(8233, ge=1, le=65535)
    public_url: str = Field("", description="Base URL clients use; default http://host:port.")
    temporal_ui_url: str = Field("", description="Temporal Web UI; default http://host:ui-port.")
    trace_url_template: str = Field(
        "", description="A trace's page in a trace UI, with `{trace_id}`; empty: no link."
    )

    max_body_bytes: int = Field(1024 * 1024, gt=0)
    max_steps: int = Field(20, ge=1, le=10_000)
    token_coalesce_ms: int = Field(50, ge=0)
    sse_ping_seconds: float = Field(15.0, gt=0)
    sse_poll_seconds: float = Field(0.05, gt=0)

    # Activity timeouts and retries are settings so tests can shrink them: the time-skipping
    # test server is not available, so real time must be short where a test waits on it.
    llm_timeout_seconds: float = Field(120.0, gt=0)
    # Above the sandbox wall-clock ceiling (900 s): the sandbox, not Temporal, stops a command.
    tool_timeout_seconds: float = Field(1200.0, gt=0)
    heartbeat_timeout_seconds: float = Field(10.0, gt=0)
    retry_initial_seconds: float = Field(1.0, gt=0)
    retry_max_attempts: int = Field(8, ge=1)
    max_concurrent_activities: int = Field(1000, ge=1)
    # Worker processes `cape worker` (and `cape dev`) runs on this host; 0: one per core.
    worker_processes: int = Field(0, ge=0)
    # Database pool per process: many activities in flight share it, so a step may wait for a
    # connection rather than fail (bench/slow_llm.py: 1,000 concurrent tasks).
    db_pool_size: int = Field(20, ge=1)
    db_max_overflow: int = Field(20, ge=0)
    db_pool_timeout_seconds: float = Field(120.0, gt=0)
    # SQLite writers queue in turn instead of sleeping in SQLite's busy handler (cape/db/gate.py).
    # Opt-in: bounds the POST tail but slows the median step (docs/performance.md, round two).
    db_sqlite_write_gate: bool = False

    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("CAPE_DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL")
        return value

    @field_validator("trace_url_template")
    @classmethod
    def _names_the_trace(cls, value: str) -> str:
        if value and "{trace_id}" not in value:
            raise ValueError("CAPE_TRACE_URL_TEMPLATE must contain {trace_id}")
        return value

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'cape.db').resolve()}"
        if not self.host_id:
            self.host_id = socket.gethostname()
        if self.artifact_dir is None:
            self.artifact_dir = (self.data_dir / "artifacts").resolve()
        return self

    @property
    def host_label(self) -> str:
        """This worker's name as clients see it (step outputs, events, errors).

        `CAPE_HOST_ID` when the operator chose one; the machine's own host name never leaves
        the worker, so a default host id is shown as an opaque `host-<hash>`.
        """
        if self.host_id != socket.gethostname():
            return self.host_id
        return "host-" + hashlib.sha256(self.host_id.encode()).hexdigest()[:12]

    @property
    def base_url(self) -> str:
        """The API's URL as clients see it (for links in responses)."""
        return self.public_url or f"http://{self.api_host}:{self.api_port}"

    def to_env(self) -> dict[str, str]:
        """Environment variables that give a child process exactly these settings.

        Used to start `cape worker` and `cape api` children; empty strings are left out so
        derived defaults (the public URL) stay derived in the child.
        """
        env: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, bool):
                text = str(value).lower()
            elif isinstance(value, list | dict):
                text = json.dumps(_plain(value))
            else:
                text = "" if value is None else str(value)
            if text:
                alias = field.validation_alias
                env[alias if isinstance(alias, str) else f"CAPE_{name.upper()}"] = text
        return env

    @property
    def async_database_url(self) -> str:
        """The URL with an asyncio driver (aiosqlite or psycopg 3)."""
        url = self.database_url
        if url.startswith("sqlite:"):
            return "sqlite+aiosqlite:" + url.removeprefix("sqlite:")
        if url.startswith(("postgresql:", "postgresql+psycopg2:")):
            return "postgresql+psycopg:" + url.split(":", 1)[1]
        return url

    @property
    def sync_database_url(self) -> str:
        """The URL with a blocking driver, for Alembic."""
        url = self.async_database_url
        if url.startswith("sqlite+aiosqlite:"):
            return "sqlite:" + url.removeprefix("sqlite+aiosqlite:")
        return url

    @property
    def is_sqlite(self) -> bool:
        """Whether the app database is SQLite (events are then polled, not notified)."""
        return self.async_database_url.startswith("sqlite")

    @property
    def ui_url(self) -> str:
        """The Temporal Web UI's base URL, for links to a task's workflow."""
        return self.temporal_ui_url or f"http://{self.api_host}:{self.temporal_ui_port}"

    def workflow_link(self, workflow_id: str) -> str:
        """The task's page in the Temporal Web UI."""
        return f"{self.ui_url}/namespaces/{self.temporal_namespace}/workflows/{workflow_id}"

    @property
    def artifact_root(self) -> Path:
        """Where artifact files live (a shared volume when workers run on several hosts)."""
        assert self.artifact_dir is not None, "set by the validator"
        return self.artifact_dir

    @property
    def workspace_root(self) -> Path:
        """Where per-task workspaces live."""
        return (self.data_dir / "workspaces").resolve()


def _plain(value: object) -> object:
    """JSON-ready: nested models dumped with their secrets revealed (for a child's env)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return {k: _plain(getattr(value, k)) for k in type(value).model_fields}
    return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
