from datetime import timedelta

import pytest

from mutualcredit.domain.durations import format_duration, parse_duration
from mutualcredit.domain.errors import InvalidDuration


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30m", timedelta(minutes=30)),
        ("3h", timedelta(hours=3)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("PT3H", timedelta(hours=3)),
        ("P2D", timedelta(days=2)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("1w", timedelta(7)),
    ],
)
def test_durations(text: str, value: timedelta) -> None:
    assert parse_duration(text) == value


@pytest.mark.parametrize("text", ["", "3", "h", "3x", "-3h", "0m", "PT", "P", "1.5h", "3 h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_duration(text)


def test_format_duration() -> None:
    assert format_duration(timedelta(days=1, hours=2, minutes=30)) == "1d2h30m"
    assert format_duration(timedelta(0)) == "0m"
