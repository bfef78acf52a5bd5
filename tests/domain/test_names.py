import pytest

from mutualcredit.domain.errors import InvalidName, InvalidText
from mutualcredit.domain.names import (
    validate_account_name,
    validate_handle,
    validate_idempotency_key,
    validate_text,
)


@pytest.mark.parametrize("handle", ["ana", "a", "0", "joao.silva", "dj_ze-2", "a" * 32])
def test_valid_handles(handle: str) -> None:
    assert validate_handle(handle) == handle


@pytest.mark.parametrize(
    "handle",
    ["", "Ana", "-ana", ".ana", "a" * 33, "ana silva", "ana:b", "joão", "ana;drop", "ana\n"],
)
def test_invalid_handles_say_what_is_allowed(handle: str) -> None:
    with pytest.raises(InvalidName) as caught:
        validate_handle(handle)
    assert (
        "use 1 to 32 characters from a-z, 0-9, '.', '_' and '-', starting with a letter "
        "or digit" in str(caught.value)
    )


@pytest.mark.parametrize(
    "name",
    [
        "members:ana",
        "collectives:cubo:cash:bilheteria",
        "income:festivals:grito-rock-2026",
        "network:clearing:cubo",
    ],
)
def test_valid_account_names(name: str) -> None:
    assert validate_account_name(name) == name


@pytest.mark.parametrize(
    "name", ["ana", "members:", ":ana", "members:Ana", "a:b:c:d:e:f:g:h:i", "members::ana"]
)
def test_invalid_account_names(name: str) -> None:
    with pytest.raises(InvalidName, match="is not valid: use 2 to 8 segments"):
        validate_account_name(name)


@pytest.mark.parametrize(
    "text",
    [
        'aluguel "sala 2"',
        "'; DROP TABLE transfer; --",
        "🎸🥁",
        "שלום עולם",
        "مرحبا",
        "<b>bold</b> [red]x[/red]",
        "",
    ],
)
def test_memos_keep_any_printable_text(text: str) -> None:
    assert validate_text(text, what="memo") == text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("a\nb", "000A"),
        ("\x1b[31mred", "001B"),
        ("tab\there", "0009"),
        ("nul\x00", "0000"),
        ("del\x7f", "007F"),
    ],
)
def test_control_characters_are_refused(text: str, code: str) -> None:
    with pytest.raises(InvalidText, match=f"memo contains a control character \\(U\\+{code}\\)"):
        validate_text(text, what="memo")


def test_long_text_is_refused_with_its_length() -> None:
    with pytest.raises(InvalidText, match="memo is 501 characters long; at most 500"):
        validate_text("x" * 501, what="memo")


def test_idempotency_keys() -> None:
    assert validate_idempotency_key("order-42") == "order-42"
    for bad in ("", "x" * 201, "a\nb"):
        with pytest.raises(InvalidText):
            validate_idempotency_key(bad)
