"""User text reaches the terminal as typed: no rich markup, no emoji codes.

Rich reads ``[bold]…[/bold]`` as markup and ``:a:`` as the emoji 🅰, so
``collectives:a:clearing`` printed as ``collectives🅰clearing`` and a memo could
restyle or hide the rest of a line.  Every console the CLI makes comes from
:func:`cli.common.console`, which turns both off.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import pytest

from mutualcredit.services import network as setup
from mutualcredit_cli import common
from mutualcredit_cli.money import balance_table
from tests.support import make_network, run_cli

PASS = "s3cret-pass"
MEMO = "[bold]x[/bold] :smile: [link=http://evil]y[/link]"


def rendered(renderable: object) -> str:
    buffer = io.StringIO()
    common.console(buffer).print(renderable)
    return buffer.getvalue()


def test_plain_strings_in_tables_and_prints_keep_colons_and_brackets() -> None:
    grid = common.table("account", "memo", title="collectives:a:clearing")
    grid.add_row("collectives:a:clearing", MEMO)  # raw strings, not Text: the console decides
    shown = rendered(grid)
    assert shown.count("collectives:a:clearing") == 2
    assert MEMO in shown
    assert "🅰" not in shown and "😄" not in shown
    assert rendered("network:clearing:a and :a: [red]r[/red]") == (
        "network:clearing:a and :a: [red]r[/red]\n"
    )


def test_text_cells_are_never_markup() -> None:
    assert rendered(common.text(MEMO)) == MEMO + "\n"


def test_the_balance_table_of_the_cli_shows_the_name_as_stored() -> None:
    row = {
        "account": "collectives:a:clearing",
        "currency": "CARD",
        "balance": "-30.00",
        "available": None,
        "pending_debits": "0.00",
        "pending_credits": "0.00",
        "limit_lower": "-100.00",
        "limit_upper": None,
    }
    shown = rendered(balance_table([row]))
    assert "collectives:a:clearing" in shown and "🅰" not in shown


def test_a_stderr_console_is_plain_too(capsys: pytest.CaptureFixture[str]) -> None:
    common.console(stderr=True).print("members:a:b [bold]c[/bold]")
    assert capsys.readouterr().err == "members:a:b [bold]c[/bold]\n"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mutualcredit.services.keys import KeyStore

    root = tmp_path_factory.mktemp("rich")
    net = make_network(str(root / "ledger.db"))
    setup.add_collective(
        net.ledger, net["banco"], slug="a", name="A", currency="ACUR", rate=Fraction(1)
    )
    net.pay("ana", "bia", "3.00", memo=MEMO)
    KeyStore(root / "home", net.ledger.network.id, kdf_n=2**10).write(net["banco"], PASS)
    net.ledger.engine.dispose()
    return root


def mc(root: Path, *args: str):  # type: ignore[no-untyped-def]
    result = run_cli(
        "--db",
        str(root / "ledger.db"),
        *args,
        env={"MUTUALCREDIT_HOME": str(root / "home"), "MUTUALCREDIT_PASSPHRASE": PASS},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_cli_balance_of_collectives_a_clearing(home: Path) -> None:
    shown = mc(home, "balance", "collectives:a:clearing")
    assert "collectives:a:clearing" in shown and "🅰" not in shown


def test_cli_statement_shows_the_memo_literally(home: Path) -> None:
    shown = mc(home, "statement", "ana")
    assert MEMO in shown and "😄" not in shown
