"""Bidi controls and line/paragraph separators are refused in free text, like control characters.

A right-to-left override makes ``pay for gpj.exe`` read as something else; a
U+2028 breaks a line in many viewers and could forge a line of output.
"""

from __future__ import annotations

import pytest

from mutualcredit.domain.errors import InvalidText
from mutualcredit.domain.names import REFUSED_FORMAT_CHARACTERS, validate_text
from tests.hardening.test_empty_acting import home, mc, transfers

__all__ = ["home"]  # the fixture: a small network with keys, shared

REFUSED = [
    0x202A,
    0x202B,
    0x202C,
    0x202D,
    0x202E,
    0x2066,
    0x2067,
    0x2068,
    0x2069,
    0x200E,
    0x200F,
    0x061C,
    0x2028,
    0x2029,
]


def test_the_refused_set_is_exactly_the_bidi_controls_and_separators() -> None:
    assert sorted(ord(char) for char in REFUSED_FORMAT_CHARACTERS) == sorted(REFUSED)


@pytest.mark.parametrize("point", REFUSED, ids=lambda point: f"U+{point:04X}")
def test_each_is_refused_with_its_code_point_and_position(point: int) -> None:
    with pytest.raises(InvalidText) as caught:
        validate_text(f"ab{chr(point)}c", what="memo")
    assert caught.value.message == (
        f"memo contains a control character (U+{point:04X}) at position 3; "
        "control characters are not allowed"
    )


@pytest.mark.parametrize(
    "text", ["👨\u200d👩\u200d👧", "a\u200bb", "שלום abc مرحبا", "soft\u00adhyphen"]
)
def test_other_format_characters_and_mixed_scripts_stay_allowed(text: str) -> None:
    assert validate_text(text, what="memo") == text


@pytest.mark.parametrize("point", [0x202E, 0x2028])
def test_the_cli_refuses_such_a_memo_and_writes_nothing(home, point: int) -> None:  # type: ignore[no-untyped-def]
    before = transfers(home)
    result = mc(home, "pay", "ana", "bia", "1.00", "--memo", f"pay{chr(point)}x")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: memo contains a control character (U+{point:04X}) at "
        "position 4; control characters are not allowed\n"
    )
    assert transfers(home) == before
