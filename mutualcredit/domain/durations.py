"""Durations as people write them: ``30m``, ``3h``, ``2d``, ``1h30m``, or ISO 8601 ``PT3H``.

Durations are returned as :class:`datetime.timedelta`; a duration is a length
of time, never a calendar span, so ``1d`` is exactly 24 hours.
"""

from __future__ import annotations

import re
from datetime import timedelta

from mutualcredit.domain.errors import InvalidDuration

_SHORT_RE = re.compile(r"^(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")
_ISO_RE = re.compile(
    r"^P(?:([0-9]+)W)?(?:([0-9]+)D)?(?:T(?=[0-9])(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?)?$"
)
DURATION_MAX = timedelta(days=3660)


def parse_duration(text: str, *, allow_zero: bool = False) -> timedelta:
    """Parse ``30m``, ``3h``, ``2d``, ``1h30m``, ``1w`` or ISO 8601 (``PT3H``, ``P2D``)."""
    cleaned = text.strip()
    if cleaned[:1] == "P":
        match = _ISO_RE.fullmatch(cleaned)
    else:
        match = _SHORT_RE.fullmatch(cleaned.lower())
    if not cleaned or not match or not any(match.groups()):
        raise InvalidDuration(
            f"duration {text!r} is not valid: write e.g. 30m, 3h, 2d, 1h30m or PT3H"
        )
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    if max(weeks, days, hours, minutes, seconds) > 10**7:
        raise InvalidDuration(f"duration {text!r} is too long")
    duration = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    if duration > DURATION_MAX:
        raise InvalidDuration(f"duration {text!r} is too long; at most {DURATION_MAX.days} days")
    if duration <= timedelta(0) and not allow_zero:
        raise InvalidDuration(f"duration {text!r} must be longer than zero")
    return duration


def format_duration(duration: timedelta) -> str:
    """Format a duration the short way: ``1d2h30m`` (``0m`` for zero)."""
    total = int(duration.total_seconds())
    assert total >= 0, duration
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    text = "".join(f"{value}{unit}" for value, unit in parts if value)
    return text or "0m"
