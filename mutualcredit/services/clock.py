"""Time comes from the clock, or from ``MUTUALCREDIT_NOW`` (ISO 8601) for tests and demos."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from mutualcredit.domain.errors import InvalidDate


def now() -> datetime:
    """The current time, aware, in UTC."""
    fixed = os.environ.get("MUTUALCREDIT_NOW")
    if not fixed:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(fixed.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidDate(f"MUTUALCREDIT_NOW {fixed!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InvalidDate(f"MUTUALCREDIT_NOW {fixed!r} needs an offset, e.g. 2026-11-27T10:00Z")
    return moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """The stored form of a time: UTC with microseconds, sortable as text."""
    assert moment.tzinfo is not None, moment
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
