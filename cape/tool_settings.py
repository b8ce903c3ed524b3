"""Operator settings of tools and sandboxes (a mixin of `Settings`, same `CAPE_` prefix).

List values are read from the environment as JSON (`CAPE_SHELL_DENY='["ssh","sudo"]'`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

MiB = 1024 * 1024


class ToolSettings(BaseSettings):
    """Sandbox ceilings and defaults, allow-lists and the credentials platform tools use."""

    # Sandbox: `auto` uses bubblewrap when it works here; without it (or with `rlimits`) tools
    # that run code are refused, unless `unsafe-rlimits` runs them uncontained (trusted setups).
    sandbox_mode: Literal["auto", "bwrap", "rlimits", "unsafe-rlimits"] = "auto"
    sandbox_uid: int = Field(64000, ge=1, description="Unprivileged uid that owns workspaces.")
    sandbox_gid: int = Field(64000, ge=1)
    sandbox_wall_seconds: float = Field(60.0, gt=0)
    sandbox_idle_seconds: float = Field(30.0, gt=0)
    sandbox_cpu_seconds: int = Field(60, ge=1)
    sandbox_memory_mb: int = Field(512, ge=16)
    sandbox_pids: int = Field(128, ge=8)
    sandbox_file_size_mb: int = Field(64, ge=1)
    sandbox_open_files: int = Field(256, ge=16)
    # Ceilings: an agent may ask for more than the defaults, never more than these.
    sandbox_max_wall_seconds: float = Field(900.0, gt=0)
    sandbox_max_idle_seconds: float = Field(300.0, gt=0)
    sandbox_max_cpu_seconds: int = Field(600, ge=1)
    sandbox_max_memory_mb: int = Field(4096, ge=16)
    sandbox_max_pids: int = Field(512, ge=8)
    sandbox_max_file_size_mb: int = Field(1024, ge=1)
    sandbox_max_open_files: int = Field(1024, ge=16)
    tool_output_chars: int = Field(16 * 1024, ge=256, description="Head+tail the model sees.")
    # Streamed output (`tool-output-delta` events), in stored bytes (JSON): see docs/tools.md.
    tool_stream_event_bytes: int = Field(64 * 1024, ge=1024, description="One event at most.")
    tool_stream_step_bytes: int = Field(2 * MiB, ge=4096, description="One tool step's events.")
    tool_stream_task_bytes: int = Field(32 * MiB, ge=4096, description="One task's events.")
    sandbox_python: Path = Field(Path("/usr/bin/python3"), description="Python for task venvs.")

    shell_allow: list[str] = Field(default_factory=list, description="Empty: any program.")
    shell_deny: list[str] = Field(
        default_factory=lambda: ["sudo", "su", "mount", "umount", "ssh", "scp", "nc", "ncat"]
    )
    pip_allow: list[str] = Field(default_factory=list, description="Empty: nothing installs.")
    pip_index_url: str = ""

    host_id: str = Field("", description="This worker's host name for workspace task queues.")
    host_timeout_seconds: float = Field(60.0, gt=0, description="Wait for a workspace's host.")
    workspace_quota_mb: int = Field(1024, ge=1)
    workspace_snapshots: bool = Field(True, description="Snapshot after steps that change it.")
    workspace_snapshot_max_files: int = Field(100_000, ge=1, description="Else no snapshot.")
    workspace_snapshot_max_mb: int = Field(2048, ge=1, description="Else no snapshot.")
    workspace_retention_hours: float = Field(168.0, ge=0)
    workspace_sweep_minutes: float = Field(60.0, ge=0, description="0: never sweep.")
    artifact_dir: Path | None = None
    artifact_max_upload_mb: int = Field(50, ge=1)
    task_files_max_count: int = Field(20, ge=1, description="Input files of one task.")
    task_files_max_mb: int = Field(100, ge=1, description="All input files of one task.")
    artifact_upload_types: list[str] = Field(
        default_factory=lambda: [
            "text/*",
            "application/json",
            "application/pdf",
            "application/zip",
            "application/gzip",
            "application/x-tar",
            "image/png",
            "image/jpeg",
            "text/csv",
        ]
    )

    search_backend: Literal["ddgs", "searxng"] = "ddgs"
    searxng_url: str = ""
    search_per_minute: int = Field(20, ge=1)
    search_cache_seconds: float = Field(3600.0, ge=0)
    fetch_allow_private: bool = False
    fetch_allow_networks: list[str] = Field(
        default_factory=list, description="CIDRs allowed even though private (e.g. an intranet)."
    )
    fetch_max_bytes: int = Field(5 * MiB, ge=1024)
    fetch_timeout_seconds: float = Field(20.0, gt=0)
    research_max_pages: int = Field(5, ge=1, le=20, description="Pages one research call reads.")
    research_max_bytes: int = Field(8 * MiB, ge=1024, description="Bytes one research call reads.")
    research_timeout_seconds: float = Field(90.0, gt=0, description="One research call's time.")

    github_token: SecretStr = SecretStr("")
    github_api_url: str = "https://api.github.com"
    github_git_url: str = Field("https://github.com", description="Base of clone URLs.")

    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_from: str = ""
    smtp_ca_file: Path | None = Field(None, description="Extra CA bundle to verify the server.")
    smtp_timeout_seconds: float = Field(30.0, gt=0)
