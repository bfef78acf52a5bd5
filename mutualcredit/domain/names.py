"""Names and free text.

Handles of members and slugs of collectives and resources are
``[a-z0-9][a-z0-9._-]{0,31}``.  Account names are colon-separated segments of
the same alphabet (``collectives:cubo:cash:bilheteria``).  Display names and
memos are free text, stored and shown faithfully, but control characters are
refused so that nothing can rewrite a terminal or forge a line of output.  So
are the bidirectional controls (which reorder what a reader sees: ``U+202E``
shows ``gpj.exe`` as ``exe.jpg``) and the line and paragraph separators
``U+2028``/``U+2029`` (which break a line in many viewers): they are not
category ``Cc`` but do the same harm.  Other format characters, such as the
zero-width joiner inside emoji, stay allowed.
"""

from __future__ import annotations

import re
import unicodedata

from mutualcredit.domain.errors import InvalidName, InvalidText

HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
# A network id names a folder (``keys/<network id>/``): no separator, no leading dot.
NETWORK_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ACCOUNT_SEGMENTS_MAX = 8
MEMO_LENGTH_MAX = 500
DISPLAY_NAME_LENGTH_MAX = 120
IDEMPOTENCY_KEY_LENGTH_MAX = 200
# Refused like control characters: bidi embeddings, overrides and isolates, the
# left-to-right, right-to-left and Arabic letter marks, and the line/paragraph separators.
REFUSED_FORMAT_CHARACTERS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u200e", "\u200f", "\u061c", "\u2028", "\u2029"]
)


def validate_handle(text: str, *, what: str = "handle") -> str:
    if not HANDLE_RE.fullmatch(text):
        raise InvalidName(
            f"{what} {text[:80]!r} is not valid: use 1 to 32 characters from a-z, 0-9, '.', '_' "
            "and '-', starting with a letter or digit",
            text=text,
        )
    return text


def validate_network_id(text: str, *, what: str = "network id") -> str:
    if not NETWORK_ID_RE.fullmatch(text):
        raise InvalidName(
            f"{what} {text[:80]!r} is not valid: use 1 to 64 characters from A-Z, a-z, 0-9, "
            "'.', '_' and '-', starting with a letter or digit",
            text=text,
        )
    return text


def validate_account_name(text: str) -> str:
    segments = text.split(":")
    if (
        len(segments) < 2
        or len(segments) > ACCOUNT_SEGMENTS_MAX
        or not all(HANDLE_RE.fullmatch(segment) for segment in segments)
    ):
        raise InvalidName(
            f"account name {text!r} is not valid: use 2 to {ACCOUNT_SEGMENTS_MAX} segments "
            "joined by ':', each 1 to 32 characters from a-z, 0-9, '.', '_' and '-' "
            "(e.g. collectives:cubo:cash:bilheteria)",
            text=text,
        )
    return text


def validate_text(text: str, *, what: str, length_max: int = MEMO_LENGTH_MAX) -> str:
    """Accept any printable Unicode text; refuse control characters and overlong text.

    Bidi controls and line/paragraph separators (:data:`REFUSED_FORMAT_CHARACTERS`)
    count as control characters.
    """
    if len(text) > length_max:
        raise InvalidText(f"{what} is {len(text)} characters long; at most {length_max}")
    if text.isprintable():  # no control character is printable: the common case, in C
        return text
    for position, char in enumerate(text, start=1):
        if unicodedata.category(char) == "Cc" or char in REFUSED_FORMAT_CHARACTERS:
            raise InvalidText(
                f"{what} contains a control character (U+{ord(char):04X}) at position "
                f"{position}; control characters are not allowed"
            )
    return text


def validate_idempotency_key(text: str) -> str:
    if not text or len(text) > IDEMPOTENCY_KEY_LENGTH_MAX or not text.isprintable():
        raise InvalidText(
            f"idempotency key must be 1 to {IDEMPOTENCY_KEY_LENGTH_MAX} printable characters"
        )
    return text
