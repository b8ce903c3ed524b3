"""Operator settings of the marketplace (a mixin of `Settings`, same `CAPE_` prefix)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

MiB = 1024 * 1024


class MarketplaceSettings(BaseSettings):
    """Upload and archive limits, and the advisory file of the pip vulnerability check."""

    marketplace_max_upload_bytes: int = Field(
        5 * MiB, ge=1024, description="Largest package upload; a larger body is a 413."
    )
    marketplace_max_unpacked_bytes: int = Field(
        20 * MiB, ge=1024, description="Most bytes one archive may unpack to (zip bombs)."
    )
    marketplace_max_ratio: float = Field(
        100.0, gt=1, description="Most uncompressed bytes per compressed byte of an archive."
    )
    marketplace_max_files: int = Field(500, ge=1, description="Most files in one archive.")
    marketplace_advisories: Path | None = Field(
        None, description="JSON file of pip advisories the publishing pipeline checks against."
    )
    marketplace_url: str = Field(
        "",
        description="Read the catalogue of another CapeControl instance (its base URL) instead "
        "of this one's; installs fetch from it and verify hashes and signatures.",
    )
    marketplace_api_key: SecretStr | None = Field(
        None, description="The API key this instance reads the other marketplace with."
    )
    marketplace_timeout_seconds: float = Field(
        15.0, gt=0, description="How long one request to the other marketplace may take."
    )
    marketplace_test_model: str = Field(
        "",
        description="The scripted model a package's test cases run against at publish (e.g. "
        "`script:package-tests` served by the operator's scripted OpenAI-compatible server); "
        "empty: test cases are not run.",
    )
    marketplace_test_max_steps: int = Field(
        6, ge=1, le=50, description="Most steps one package test case's task may take."
    )
