"""Only ASCII digits are numbers: ``\\d`` and ``int()`` take Arabic-Indic and other digits.

``int("١٢٣") == 123`` and ``re.match(r"\\d", "١")`` in Python, so a parser
built on them reads ``١٢٣`` as 123.  Every parser here reads 0-9 only.
"""

from __future__ import annotations

import pytest

from mutualcredit.domain.amounts import parse_amount
from mutualcredit.domain.checkpoints import TIME_RE
from mutualcredit.domain.durations import parse_duration
from mutualcredit.domain.errors import InvalidAmount, InvalidDuration
from mutualcredit.imports import load_rules
from mutualcredit.imports.rows import AmountParser, DateParser, FieldInvalid
from tests.e2e.test_import_cli import GOOD, TICKET_RULES, cli, ledger_dir, tickets
from tests.imports.test_rows import BAR, TICKETS
from tests.support import run_cli

__all__ = ["ledger_dir"]  # the fixture, shared with the import tests

ARABIC_INDIC = "١٢٣"  # U+0661 U+0662 U+0663
OTHER_DIGITS = [ARABIC_INDIC, "۱۲۳", "१२३", "１２３", "𝟏𝟐𝟑"]


def test_python_really_reads_these_as_numbers() -> None:
    # The reason for this file: if this ever stops holding, the guards are still harmless.
    assert int(ARABIC_INDIC) == 123 and ARABIC_INDIC.isdigit()


@pytest.mark.parametrize("digits", OTHER_DIGITS)
def test_durations_refuse_other_digits(digits: str) -> None:
    for text in (f"{digits}d", f"{digits[0]}h30m", f"PT{digits}H", f"1h{digits[0]}m"):
        with pytest.raises(InvalidDuration, match="is not valid: write e.g. 30m"):
            parse_duration(text)
    assert parse_duration("1d").days == 1  # ASCII still works


@pytest.mark.parametrize("digits", OTHER_DIGITS)
def test_amounts_refuse_other_digits(digits: str) -> None:
    for text in (digits, f"1.{digits[:2]}", f"{digits},00"):
        with pytest.raises(InvalidAmount):
            parse_amount(text, scale=2)


@pytest.mark.parametrize("digits", OTHER_DIGITS)
def test_import_amounts_refuse_other_digits_and_say_why(digits: str) -> None:
    parse = AmountParser(load_rules(TICKETS))
    with pytest.raises(FieldInvalid) as raised:
        parse(f"{digits},00")
    assert raised.value.message == (
        f"amount '{digits},00' contains '{digits[0]}'; expected digits with ',' as decimal "
        "mark and '.' between thousands, e.g. 1.234,55; only the digits 0-9 are read"
    )
    with pytest.raises(FieldInvalid):
        parse(f"1.{digits}")  # the thousands groups too


def test_import_dates_refuse_other_digits_in_patterns_and_iso() -> None:
    with pytest.raises(FieldInvalid, match="does not match the format"):
        DateParser(load_rules(TICKETS))("١٣/11/2026 12:19")
    with pytest.raises(FieldInvalid, match="is not an ISO 8601 date"):
        DateParser(load_rules(BAR))("٢٠٢٦-11-21T21:08:56-04:00")


def test_checkpoint_times_are_ascii() -> None:
    assert TIME_RE.fullmatch("2026-11-21T21:08:56Z")
    assert not TIME_RE.fullmatch("٢٠٢٦-11-21T21:08:56Z")


def test_cli_expires_with_arabic_indic_digits_is_usage(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(
        "--db",
        str(tmp_path / "ledger.db"),
        "request",
        "ana",
        "bia",
        "1.00",
        "--memo",
        "m",
        "--expires",
        "١d",
        env={"MUTUALCREDIT_HOME": str(tmp_path)},
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: duration '١d' is not valid: write e.g. 30m, 3h, 2d, 1h30m or PT3H\n"
    )


def test_cli_import_amount_in_arabic_indic_digits_is_a_malformed_row(ledger_dir, tmp_path):  # type: ignore[no-untyped-def]
    path = tickets(tmp_path / "bad.csv", GOOD.replace("40,00", ARABIC_INDIC))
    result = cli(ledger_dir, "import", path, "--rules", TICKET_RULES)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.splitlines()[0] == (
        f"{path}:2:39: amount '{ARABIC_INDIC}' contains '١'; expected digits with ',' as "
        "decimal mark and '.' between thousands, e.g. 1.234,55; only the digits 0-9 are read"
    )
    assert result.stdout == ""


def test_cli_import_size_limit_in_other_digits_is_usage(ledger_dir, tmp_path):  # type: ignore[no-untyped-def]
    path = tickets(tmp_path / "good.csv", GOOD)
    result = cli(
        ledger_dir, "import", path, "--rules", TICKET_RULES, "--dry-run", size_limit=ARABIC_INDIC
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"error: MUTUALCREDIT_IMPORT_SIZE_LIMIT '{ARABIC_INDIC}' is not a number of bytes\n"
    )


@pytest.mark.parametrize(
    "args",
    [("tx", "show", ARABIC_INDIC), ("verify", "--workers", "٢"), ("reverse", "١", "--reason", "x")],
)
def test_cli_integer_arguments_refuse_other_digits(tmp_path, args) -> None:  # type: ignore[no-untyped-def]
    # Typer reads int arguments strictly; this guards it (int("١٢٣") would be transfer 123).
    result = run_cli(
        "--db", str(tmp_path / "none.db"), *args, env={"MUTUALCREDIT_HOME": str(tmp_path)}
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert "Input should be a valid integer" in result.stderr
    assert not (tmp_path / "none.db").exists()
