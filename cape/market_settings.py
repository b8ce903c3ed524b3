"""Operator settings of the marketplace (a mixin of `Settings`, same `CAPE_` prefix)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
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
