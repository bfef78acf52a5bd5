"""Roles, account closing, whoami, and moving a key file between machines."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_core_cli import Cli, built, cli  # noqa: F401  (fixtures)
from tests.support import run_cli


def test_roles_grant_and_revoke(cli: Cli) -> None:  # noqa: F811
    denied = cli.json("--as", "bia", "pay", "collectives:cubo:fund", "ana", "5", code=1)
    assert denied["error"]["code"] == "not_authorised"
    cli("role", "grant", "bia", "coordinator", "--collective", "cubo")
    assert "coordinator:cubo" in cli.json("--as", "bia", "whoami")["roles"]
    cli("--as", "bia", "pay", "collectives:cubo:fund", "ana", "5")
    assert (
        cli.json("role", "grant", "bia", "coordinator", "--collective", "cubo", code=1)["error"][
            "code"
        ]
        == "already_exists"
    )
    cli("role", "revoke", "bia", "coordinator", "--collective", "cubo")
    assert (
        cli.json("--as", "bia", "pay", "collectives:cubo:fund", "ana", "5", code=1)["error"]["code"]
        == "not_authorised"
    )
    assert cli.json("role", "grant", "bia", "treasurer", code=2)["error"]["code"] == "invalid_role"


def test_whoami_says_who_acts_where(cli: Cli) -> None:  # noqa: F811
    document = cli.json("--as", "ana", "whoami")
    assert document["handle"] == "ana" and document["key_file_present"] is True
    assert document["database"] == cli.db and len(document["network_id"]) == 32


def test_account_close(cli: Cli) -> None:  # noqa: F811
    cli("currency", "add", "BRL", "--scale", "2", "--rate", "1")
    cli("account", "add", "collectives:cubo:cash:bar", "--currency", "BRL", "--owner", "cubo")
    closed = cli.json("account", "close", "collectives:cubo:cash:bar")
    assert closed["status"] == "closed"
    listed = {a["account"]: a["status"] for a in cli.json("account", "list")}
    assert listed["collectives:cubo:cash:bar"] == "closed"
    assert (
        cli.json("account", "close", "collectives:cubo:fund", code=1)["error"]["code"]
        == "not_closable"
    )


def test_key_export_and_import_move_a_key_to_the_members_machine(
    cli: Cli,  # noqa: F811
    tmp_path: Path,
) -> None:
    exported = tmp_path / "bia.key"
    cli("key", "export", "bia", "--out", str(exported))
    laptop = {
        "MUTUALCREDIT_HOME": str(tmp_path / "laptop"),
        "MUTUALCREDIT_PASSPHRASE": "wrong-pass",
    }
    wrong = run_cli("--db", cli.db, "key", "import", str(exported), env=laptop)
    assert wrong.returncode == 1 and "wrong passphrase" in wrong.stderr
    laptop["MUTUALCREDIT_PASSPHRASE"] = "s3cret-pass"
    imported = run_cli("--db", cli.db, "key", "import", str(exported), "--json", env=laptop)
    assert imported.returncode == 0, imported.stderr
    key_file = Path(json.loads(imported.stdout)["key_file"])
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.parent.stat().st_mode & 0o777 == 0o700  # keys/<network id>/
    assert key_file.parent.parent.stat().st_mode & 0o777 == 0o700  # keys/
    again = run_cli("--db", cli.db, "key", "import", str(exported), env=laptop)
    assert again.returncode == 1 and "not overwriting a key file" in again.stderr
    cli("pay", "ana", "bia", "3")
    paid = run_cli("--db", cli.db, "pay", "bia", "ana", "1", env=laptop)
    assert paid.returncode == 0, paid.stderr
    garbage = tmp_path / "garbage.key"
    garbage.write_text("{}")
    bad = run_cli("--db", cli.db, "key", "import", str(garbage), env=laptop)
    assert bad.returncode == 3 and "is not a mutualcredit key file" in bad.stderr
