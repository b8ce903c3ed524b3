"""Keyset cursors of the listings: `(created_at, id)` of the last row, URL-safe base64."""

from __future__ import annotations

import base64
from datetime import datetime

from cape.errors import InvalidInput


def encode_cursor(created_at: datetime, row_id: str) -> str:
    """The cursor that continues a listing after the row (`created_at`, `row_id`)."""
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) position a list cursor encodes; a bad cursor is a 422."""
    try:
        stamp, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(stamp), row_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(
            "cursor is not valid", details=[{"field": "query.cursor", "message": "malformed"}]
        ) from None
