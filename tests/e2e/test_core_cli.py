"""End to end through the installed ``mutualcredit`` command: exact outputs and exit codes."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from mutualcredit.schema_files import validate
from tests.support import run_cli

PASS = "s3cret-pass"


class Cli:
    def __init__(self, root: Path, db: str) -> None:
        self.root = root
        self.db = db
        self.env = {"MUTUALCREDIT_HOME": str(root / "home"), "MUTUALCREDIT_PASSPHRASE": PASS}

    def __call__(self, *args: str, code: int = 0, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        result = run_cli("--db", self.db, *args, env={**self.env, **(env or {})})
        assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
        return result

    def json(self, *args: str, schema: str | None = None, code: int = 0):  # type: ignore[no-untyped-def]
        result = self(*args, "--json", code=code)
        if code:
            error = json.loads(result.stderr)
            validate(error, "error.schema.json")
            assert result.stdout == ""
            return error
        document = json.loads(result.stdout)
        if schema:
            validate(document, schema)
        return document


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    root = tmp_path_factory.mktemp("core")
    cli = Cli(root, str(root / "ledger.db"))
    created = cli.json(
        "init",
        "--network",
        "Rede Teste",
        "--currency",
        "CARD",
        "--admin",
        "banco",
        schema="created.schema.json",
    )
    assert created["admin"] == "banco" and len(created["id"]) == 32
    cli("collective", "add", "cubo", "--name", "Espaço Cubo", "--currency", "CUBO")
    cli("collective", "add", "palafita", "--name", "Palafita", "--currency", "PALA")
    cli("member", "add", "ana", "--collective", "cubo", "--limit", "100", "--coordinator")
    cli("member", "add", "bia", "--collective", "cubo", "--name", 'Bia "Baixo" 🎸 בִּיָּה')
    cli("member", "add", "caio", "--collective", "palafita", "--limit", "50")
    return cli


@pytest.fixture
def cli(built: Cli, tmp_path: Path) -> Cli:
    """A private copy of the built network (database and keys) for one test."""
    shutil.copytree(built.root, tmp_path / "copy")
    return Cli(tmp_path / "copy", str(tmp_path / "copy" / "ledger.db"))


def test_pay_balance_statement_reverse(cli: Cli) -> None:
    paid = cli("pay", "ana", "bia", "12,50", "--memo", "1h de estúdio")
    assert paid.stdout == "transfer 1: members:ana paid members:bia 12.50 CUBO\n"
    assert paid.stderr == ""
    across = cli.json("pay", "ana", "caio", "10", "--memo", "roadie", schema="transfer.schema.json")
    assert across["id"] == 2 and across["status"] == "posted" and across["author"] == "ana"
    assert [(p["account"], p["amount"]) for p in across["postings"]] == [
        ("members:ana", "-10.00"),
        ("collectives:cubo:clearing", "10.00"),
        ("network:clearing:cubo", "-10.00"),
        ("network:clearing:palafita", "10.00"),
        ("collectives:palafita:clearing", "-10.00"),
        ("members:caio", "10.00"),
    ]
    balance = cli.json("balance", "ana", schema="balance.schema.json")
    assert {
        k: balance[k]
        for k in (
            "account",
            "currency",
            "balance",
            "available",
            "pending_debits",
            "pending_credits",
            "limit_lower",
            "limit_upper",
        )
    } == {
        "account": "members:ana",
        "currency": "CUBO",
        "balance": "-22.50",
        "available": "77.50",
        "pending_debits": "0.00",
        "pending_credits": "0.00",
        "limit_lower": "-100.00",
        "limit_upper": None,
    }
    statement = cli.json("statement", "ana", schema="statement.schema.json")
    assert [
        (e["transfer_id"], e["memo"], e["amount"], e["balance_after"]) for e in statement["entries"]
    ] == [(1, "1h de estúdio", "-12.50", "-12.50"), (2, "roadie", "-10.00", "-22.50")]
    reversed_ = (
        cli.json(
            "--as", "ana", "reverse", "1", "--reason", "wrong studio", schema="transfer.schema.json"
        )
        if False
        else None
    )
    del reversed_
    result = cli("--as", "ana", "reverse", "1", "--reason", "wrong studio", "--json")
    reversal = json.loads(result.stdout)
    validate(reversal, "transfer.schema.json")
    assert reversal["kind"] == "reversal" and reversal["refs"] == {"reverses": 1}
    assert cli.json("balance", "bia")["balance"] == "0.00"
    again = cli.json("--as", "ana", "reverse", "1", "--reason", "again", code=1)
    assert again["error"]["code"] == "already_reversed"
    shown = cli.json("tx", "show", "1", schema="transfer.schema.json")
    assert shown["reversed_by"] == reversal["id"]
    accounts = cli.json("account", "list", schema="account-list.schema.json")
    names = [a["account"] for a in accounts]
    assert "network:clearing:cubo" in names and "collectives:palafita:fund" in names
    assert sum(int(a["balance"].replace(".", "")) for a in accounts if a["currency"] == "CARD") == 0


def test_balance_table_is_plain_text(cli: Cli) -> None:
    cli("pay", "ana", "bia", "5")
    out = cli("balance", "bia").stdout
    assert "members:bia" in out and "5.00" in out and "\x1b[" not in out


def test_idempotency_key_on_the_command_line(cli: Cli) -> None:
    first = cli.json("pay", "ana", "bia", "3", "--key", "order-7")
    second = cli.json("pay", "ana", "bia", "3", "--key", "order-7")
    assert second["id"] == first["id"] and second["replayed"] is True
    conflict = cli.json("pay", "ana", "bia", "4", "--key", "order-7", code=1)
    assert conflict["error"]["code"] == "idempotency_conflict"
    assert cli.json("balance", "ana")["balance"] == "-3.00"


@pytest.mark.parametrize(
    "amount",
    ["abc", "NaN", "inf", "1e3", "-5", "0", "12.345", "1.234,56", "99999999999999999999", ""],
)
def test_bad_amounts_exit_2_and_write_nothing(cli: Cli, amount: str) -> None:
    error = cli.json("pay", "ana", "bia", amount, code=2)
    # Issue 15: an amount past AMOUNT_MAX has its own code (still exit 2, still a bad amount).
    expected = "amount_too_large" if amount == "99999999999999999999" else "invalid_amount"
    assert error["error"]["code"] == expected
    assert amount in error["error"]["message"] or amount == ""
    plain = cli("pay", "ana", "bia", amount, code=2)
    assert plain.stderr.startswith("error: amount ") and plain.stderr.count("\n") == 1
    assert cli.json("balance", "ana")["balance"] == "0.00"


def test_refused_for_the_limit_exits_1_with_the_numbers(cli: Cli) -> None:
    result = cli("pay", "caio", "ana", "50.01", code=1)
    assert result.stderr == "error: members:caio would reach -50.01 PALA; limit is -50.00 PALA\n"


@pytest.mark.parametrize(
    ("args", "code", "error_code"),
    [
        (("pay", "ana", "zed", "1"), 4, "account_not_found"),
        (("pay", "ana", "collectives:nope:fund", "1"), 4, "account_not_found"),
        (("balance", "zed"), 4, "account_not_found"),
        (("statement", "zed"), 4, "account_not_found"),
        (("tx", "show", "999"), 4, "transfer_not_found"),
        (("reverse", "999", "--reason", "x"), 4, "transfer_not_found"),
        (("member", "add", "dora", "--collective", "nope"), 4, "collective_not_found"),
        (("limit", "history", "zed"), 4, "account_not_found"),
        (("pay", "ana", "ana", "1"), 1, "self_payment"),
        (("member", "add", "Dora", "--collective", "cubo"), 2, "invalid_name"),
        (("pay", "ana", "bia", "1", "--memo", "line\nbreak"), 2, "invalid_text"),
    ],
)
def test_errors_have_codes_and_exit_codes(
    cli: Cli, args: tuple[str, ...], code: int, error_code: str
) -> None:
    assert cli.json(*args, code=code)["error"]["code"] == error_code


def test_invalid_handle_says_what_is_allowed(cli: Cli) -> None:
    result = cli("member", "add", "Dora Lima", "--collective", "cubo", code=2)
    assert result.stderr == (
        "error: handle 'Dora Lima' is not valid: use 1 to 32 characters "
        "from a-z, 0-9, '.', '_' and '-', starting with a letter or digit\n"
    )


def test_memos_and_names_are_stored_and_shown_faithfully(cli: Cli) -> None:
    memo = 'aluguel "sala 2"; DROP TABLE transfer; -- 🎸 שלום [bold]x[/bold]'
    paid = cli.json("pay", "ana", "bia", "1", "--memo", memo)
    assert cli.json("tx", "show", str(paid["id"]))["memo"] == memo
    assert memo in cli("statement", "ana").stdout
    members = cli.json("member", "list", schema="member-list.schema.json")
    assert {m["handle"]: m["name"] for m in members}["bia"] == 'Bia "Baixo" 🎸 בִּיָּה'


def test_closed_member_cannot_be_paid(cli: Cli) -> None:
    cli("member", "add", "dora", "--collective", "cubo")
    cli("member", "close", "dora")
    assert cli.json("pay", "ana", "dora", "1", code=1)["error"]["code"] == "account_closed"


def test_account_in_another_currency(cli: Cli) -> None:
    cli("currency", "add", "BRL", "--scale", "2", "--rate", "1")
    cli(
        "account", "add", "collectives:cubo:cash:bilheteria", "--currency", "BRL", "--owner", "cubo"
    )
    error = cli.json("pay", "ana", "collectives:cubo:cash:bilheteria", "1", code=1)
    assert error["error"] == {
        "code": "currency_mismatch",
        "message": "collectives:cubo:cash:bilheteria is in BRL but this payment "
        "moves CUBO from members:ana",
        "data": {"account": "collectives:cubo:cash:bilheteria"},
    }


def test_limits_are_signed_events_with_history(cli: Cli) -> None:
    cli("limit", "set", "bia", "--limit", "30", "--reason", "trusted after 3 months")
    cli("limit", "set", "bia", "--upper", "500", "--reason", "cap")
    history = cli.json("limit", "history", "bia", schema="limit-history.schema.json")
    assert [
        (c["author"], c["old_lower"], c["new_lower"], c["new_upper"], c["reason"])
        for c in history["changes"]
    ] == [
        ("banco", "0.00", "-30.00", None, "trusted after 3 months"),
        ("banco", "-30.00", "-30.00", "500.00", "cap"),
    ]
    cli("pay", "bia", "ana", "30")
    assert cli.json("pay", "bia", "ana", "0.01", code=1)["error"]["code"] == "limit_lower_exceeded"
    denied = cli.json(
        "--as", "bia", "limit", "set", "bia", "--limit", "1000", "--reason", "me", code=1
    )
    assert denied["error"]["code"] == "not_authorised"


def test_a_limit_refusal_carries_the_numbers_of_its_message_as_data(cli: Cli) -> None:
    cli("pay", "ana", "bia", "30")
    error = cli.json("pay", "ana", "bia", "70.01", code=1)["error"]
    assert error["code"] == "limit_lower_exceeded"
    assert error["message"] == "members:ana would reach -100.01 CUBO; limit is -100.00 CUBO"
    assert error["data"] == {
        "account": "members:ana",
        "currency": "CUBO",
        "limit": "-100.00",
        "would_be": "-100.01",
        "available": "70.00",
    }
    shown = re.findall(r"(\S+) would reach (-?[\d.]+) (\w+); limit is (-?[\d.]+)", error["message"])
    data = error["data"]
    assert shown == [(data["account"], data["would_be"], data["currency"], data["limit"])]
    cli("limit", "set", "bia", "--upper", "40", "--reason", "cap")
    upper = cli.json("pay", "ana", "bia", "10.01", code=1)["error"]
    assert (upper["code"], upper["message"]) == (
        "limit_upper_exceeded",
        "members:bia would reach 40.01 CUBO; upper limit is 40.00 CUBO",
    )
    assert upper["data"] == {
        "account": "members:bia",
        "currency": "CUBO",
        "limit": "40.00",
        "would_be": "40.01",
        "available": "10.00",
    }


def test_other_refusals_carry_data_as_strings_and_an_empty_object_when_none(cli: Cli) -> None:
    large = cli.json("pay", "ana", "bia", "1" * 19, code=2)["error"]
    assert large["code"] == "amount_too_large"
    assert large["data"] == {"text": "1" * 19, "limit": "10000000000000.00"}
    assert large["message"].endswith(f"at most {large['data']['limit']}")
    missing = cli.json("pay", "ana", "nobody", "1", code=4)["error"]
    assert (missing["code"], missing["data"]) == (
        "account_not_found",
        {"account": "members:nobody"},
    )
    usage = cli.json("pay", "ana", code=2)["error"]
    assert usage["code"] == "usage" and usage["data"] == {}


def test_wrong_passphrase_and_missing_or_corrupted_key(cli: Cli) -> None:
    wrong = cli("pay", "ana", "bia", "1", code=1, env={"MUTUALCREDIT_PASSPHRASE": "wrong-pass"})
    assert wrong.stderr.startswith("error: wrong passphrase for ")
    keys = next((cli.root / "home" / "keys").iterdir())
    (keys / "bia.key").write_text("garbage")
    corrupted = cli("pay", "bia", "ana", "1", code=3)
    assert "is not a mutualcredit key file" in corrupted.stderr
    (keys / "bia.key").unlink()
    missing = cli("pay", "bia", "ana", "1", code=4)
    assert "no key file for bia on this machine" in missing.stderr
    shutil.copy(keys / "ana.key", keys / "caio.key")
    foreign = cli("pay", "caio", "ana", "1", code=3)
    assert "is the key of ana, not of caio" in foreign.stderr
    assert cli.json("balance", "ana")["balance"] == "0.00"


def test_member_makes_their_own_key_and_hands_over_the_public_half(
    cli: Cli, tmp_path: Path
) -> None:
    network_id = cli.json("whoami")["network_id"]
    member_home = {"MUTUALCREDIT_HOME": str(tmp_path / "member-laptop")}
    made = json.loads(
        run_cli(
            "key",
            "new",
            "dora",
            "--network",
            network_id,
            "--json",
            env={**member_home, "MUTUALCREDIT_PASSPHRASE": "dora-pass"},
        ).stdout
    )
    assert Path(made["key_file"]).stat().st_mode & 0o777 == 0o600
    cli("member", "add", "dora", "--collective", "cubo", "--pubkey", made["public_key"])
    # the coordinator's machine holds no private key for dora
    assert not (next((cli.root / "home" / "keys").iterdir()) / "dora.key").exists()
    cli("pay", "ana", "dora", "5")
    paid = run_cli(
        "--db",
        cli.db,
        "pay",
        "dora",
        "ana",
        "1",
        "--json",
        env={**member_home, "MUTUALCREDIT_PASSPHRASE": "dora-pass"},
    )
    assert paid.returncode == 0, paid.stderr
    assert json.loads(paid.stdout)["author"] == "dora"


def test_key_rotation_and_revocation(cli: Cli, tmp_path: Path) -> None:
    rotated = cli.json("key", "rotate", "bia")
    cli("pay", "ana", "bia", "2")
    cli("pay", "bia", "ana", "1")
    cli.json("key", "revoke", "bia")
    revoked = cli.json("pay", "bia", "ana", "1", code=1)
    assert revoked["error"]["code"] == "key_revoked"
    assert rotated["public_key"] != ""
    exported = tmp_path / "ana-export.key"
    cli("key", "export", "ana", "--out", str(exported))
    assert exported.stat().st_mode & 0o777 == 0o600


def test_change_passphrase(cli: Cli) -> None:
    cli("key", "passphrase", "ana", env={"MUTUALCREDIT_NEW_PASSPHRASE": "brand-new"})
    cli("pay", "ana", "bia", "1", code=1)
    cli("pay", "ana", "bia", "1", env={"MUTUALCREDIT_PASSPHRASE": "brand-new"})


def test_a_database_that_is_not_a_ledger(tmp_path: Path) -> None:
    plain = tmp_path / "other.db"
    sqlite3.connect(plain).execute("CREATE TABLE x (y)").connection.commit()
    result = run_cli("--db", str(plain), "balance", "ana")
    assert result.returncode == 3
    assert (
        result.stderr == f"error: {plain} is not a mutualcredit ledger (no schema version); "
        "create one with 'mutualcredit init'\n"
    )
    text_file = tmp_path / "notes.db"
    text_file.write_text("hello, this is not sqlite at all" * 10)
    assert run_cli("--db", str(text_file), "balance", "ana").returncode == 3
    missing = run_cli("--db", str(tmp_path / "nope.db"), "balance", "ana")
    assert missing.returncode == 4 and "no ledger at" in missing.stderr


def test_a_ledger_of_a_newer_schema_is_refused(cli: Cli) -> None:
    connection = sqlite3.connect(cli.db)
    connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.commit()
    result = cli("balance", "ana", code=3)
    assert "is at schema revision 9999, newer than this program knows" in result.stderr


def test_backup_is_a_working_ledger(cli: Cli, tmp_path: Path) -> None:
    cli("pay", "ana", "bia", "7")
    target = tmp_path / "backup.db"
    cli("db", "backup", str(target))
    copy = run_cli("--db", str(target), "balance", "bia", "--json")
    assert json.loads(copy.stdout)["balance"] == "7.00"
    assert cli("db", "backup", str(target), code=1).stderr.endswith("not overwriting it\n")


def test_help_for_every_command() -> None:
    top = run_cli("--help")
    assert top.returncode == 0
    for command in ("init", "pay", "balance", "statement", "reverse", "whoami", "demo"):
        assert command in top.stdout
        result = run_cli(command, "--help")
        assert result.returncode == 0 and "Usage" in result.stdout
    for group, sub in (
        ("member", "add"),
        ("account", "list"),
        ("key", "new"),
        ("limit", "set"),
        ("tx", "show"),
        ("role", "grant"),
        ("db", "backup"),
        ("currency", "add"),
        ("collective", "add"),
    ):
        result = run_cli(group, sub, "--help")
        assert result.returncode == 0 and "Usage" in result.stdout, (group, sub)
