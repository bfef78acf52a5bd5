"""The installed command on PostgreSQL: the core flows, moving a ledger, and bad databases.

The core flow runs on a SQLite file and on a fresh PostgreSQL schema with the
clock fixed (``MUTUALCREDIT_NOW``), and every command must print exactly the
same thing on both — same behaviour, whatever the database.  Bad input (an
unreachable server, an unknown user, a database that is not a ledger, a newer
schema, an interrupted copy) gives one clear error line, a documented exit
code, and writes nothing.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import psycopg
import pytest

from mutualcredit.schema_files import validate
from tests.support import (
    PG_ADMIN_URL,
    run_cli,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

PASS = "s3cret-pass"
NOW = "2026-03-14T15:00:00-03:00"
CLOSED_PORT = "postgresql+psycopg://postgres@127.0.0.1:1/test"


def schema_of(url: str) -> str:
    return url.rsplit("%3D", 1)[1]


def tables_in(schema: str) -> dict[str, int]:
    """Every table of a PostgreSQL schema with its row count (to show nothing was written)."""
    with psycopg.connect(
        PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as connection:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        ]
        return {
            name: connection.execute(f'SELECT COUNT(*) FROM "{schema}"."{name}"').fetchone()[0]
            for name in sorted(names)
        }


class Cli:
    def __init__(self, home: Path, db: str) -> None:
        self.db = db
        self.env = {
            "MUTUALCREDIT_HOME": str(home),
            "MUTUALCREDIT_PASSPHRASE": PASS,
            "MUTUALCREDIT_NOW": NOW,
        }

    def __call__(self, *args: str, code: int = 0):  # type: ignore[no-untyped-def]
        result = run_cli("--db", self.db, *args, env=self.env)
        assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
        return result


def core_flow(cli: Cli) -> list[str]:
    """init → collectives → members → pay (same and across collectives) → balance →
    statement → reverse, with refusals; returns every output after ``init``."""
    created = json.loads(
        cli(
            "init", "--network", "Rede Teste", "--currency", "CARD", "--admin", "banco", "--json"
        ).stdout
    )
    validate(created, "created.schema.json")
    outputs = []

    def run(*args: str, code: int = 0) -> str:
        result = cli(*args, code=code)
        shown = (result.stdout + result.stderr).replace(cli.env["MUTUALCREDIT_HOME"], "HOME")
        shown = shown.replace(created["id"], "NETWORK").replace(cli.db, "DB")
        outputs.append(re.sub(r'"key": "[0-9a-f]{24}"', '"key": "RANDOM"', shown))
        return result.stdout + result.stderr

    run("collective", "add", "cubo", "--name", "Espaço Cubo", "--currency", "CUBO")
    run("collective", "add", "palafita", "--name", "Palafita", "--currency", "PALA")
    run("member", "add", "ana", "--collective", "cubo", "--limit", "100", "--coordinator")
    run("member", "add", "bia", "--collective", "cubo")
    run("member", "add", "caio", "--collective", "palafita", "--limit", "50")
    assert (
        run("pay", "ana", "bia", "12,50", "--memo", "1h de estúdio")
        == "transfer 1: members:ana paid members:bia 12.50 CUBO\n"
    )
    across = json.loads(run("pay", "ana", "caio", "10", "--memo", "roadie", "--json"))
    validate(across, "transfer.schema.json")
    assert [(p["account"], p["amount"]) for p in across["postings"]] == [
        ("members:ana", "-10.00"),
        ("collectives:cubo:clearing", "10.00"),
        ("network:clearing:cubo", "-10.00"),
        ("network:clearing:palafita", "10.00"),
        ("collectives:palafita:clearing", "-10.00"),
        ("members:caio", "10.00"),
    ]
    balance = json.loads(run("balance", "ana", "--json"))
    assert (balance["balance"], balance["available"]) == ("-22.50", "77.50")
    assert (
        run("pay", "ana", "bia", "1", "--key", "k-1")
        == "transfer 3: members:ana paid members:bia 1.00 CUBO\n"
    )
    assert (
        run("pay", "ana", "bia", "1", "--key", "k-1")
        == "transfer 3: members:ana paid members:bia 1.00 CUBO (already recorded; nothing new "
        "written)\n"
    )
    refused = run("pay", "ana", "bia", "76.51", code=1)
    assert refused.startswith("error: members:ana would reach -100.01 CUBO")
    statement = json.loads(run("statement", "ana", "--json"))
    assert [(e["transfer_id"], e["amount"], e["balance_after"]) for e in statement["entries"]] == [
        (1, "-12.50", "-12.50"),
        (2, "-10.00", "-22.50"),
        (3, "-1.00", "-23.50"),
    ]
    assert run("reverse", "1", "--reason", "paid twice") == "transfer 4 reverses transfer 1\n"
    assert "already reversed" in run("reverse", "1", "--reason", "again", code=1)
    run("balance", "bia")
    run("statement", "bia")
    run("tx", "show", "2")
    assert json.loads(run("db", "status", "--json"))["up_to_date"] is True
    return outputs


@pytest.fixture(scope="module")
def flow_on_sqlite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The core flow run once on a SQLite file: its folder (ledger and keys) and outputs."""
    root = tmp_path_factory.mktemp("flow")
    return root, core_flow(Cli(root / "home", str(root / "ledger.db")))


@pytest.fixture
def sqlite_ledger(flow_on_sqlite: tuple[Path, list[str]], tmp_path: Path) -> Cli:
    """A private copy of the SQLite ledger after the core flow, for one test."""
    shutil.copytree(flow_on_sqlite[0], tmp_path / "flow")
    return Cli(tmp_path / "flow" / "home", str(tmp_path / "flow" / "ledger.db"))


def test_core_flow_prints_the_same_on_sqlite_and_postgresql(
    tmp_path: Path, pg_url: str, flow_on_sqlite: tuple[Path, list[str]]
) -> None:
    on_postgres = core_flow(Cli(tmp_path / "home-pg", pg_url))
    assert len(on_postgres) == 18
    assert on_postgres == flow_on_sqlite[1]
    assert tables_in(schema_of(pg_url))["transfer"] == 4


def test_db_copy_moves_a_ledger_to_postgresql_and_back(
    tmp_path: Path, pg_url: str, sqlite_ledger: Cli
) -> None:
    sqlite = sqlite_ledger
    copied = json.loads(sqlite("db", "copy", "--to", pg_url, "--json").stdout)
    validate(copied, "db-copy.schema.json")
    assert copied["tables"]["transfer"] == 4 and copied["target"] == pg_url
    assert copied["checks"][:5] == [
        "row counts",
        "account totals",
        "chain head",
        "hash chain",
        "invariants",
    ]
    on_pg = Cli(Path(sqlite.env["MUTUALCREDIT_HOME"]), pg_url)  # the same keys sign on it
    assert on_pg("balance", "ana").stdout == sqlite("balance", "ana").stdout
    assert (
        on_pg("pay", "bia", "ana", "1").stdout
        == "transfer 5: members:bia paid members:ana 1.00 CUBO\n"
    )
    back = tmp_path / "back.db"
    text = on_pg("db", "copy", "--to", str(back)).stdout
    assert text.startswith(f"copied {pg_url} to {back}: ")
    assert re.search(
        r": \d+ tables, \d+ rows, 5 transfers, 11 events; verified: row counts, "
        r"account totals, chain head, hash chain, invariants(, verify)?\n$",
        text,
    )
    returned = Cli(Path(sqlite.env["MUTUALCREDIT_HOME"]), str(back))
    assert returned("statement", "ana").stdout == on_pg("statement", "ana").stdout


def test_db_copy_refuses_a_non_empty_target(pg_url: str, sqlite_ledger: Cli) -> None:
    sqlite = sqlite_ledger
    sqlite("db", "copy", "--to", pg_url)
    before = tables_in(schema_of(pg_url))
    result = sqlite("db", "copy", "--to", pg_url, "--json", code=1)
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "target_not_empty"
    assert error["message"].startswith(f"{pg_url} is not empty (")
    assert tables_in(schema_of(pg_url)) == before


def test_an_interrupted_copy_is_refused_by_every_command(pg_url: str, sqlite_ledger: Cli) -> None:
    """Left as an interrupted copy leaves it (the marker written first), never half-used.
    (tests/services/test_copy.py interrupts real copies in the middle of a table.)"""
    sqlite = sqlite_ledger
    sqlite("db", "copy", "--to", pg_url)
    with psycopg.connect(
        PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as connection:
        connection.execute(
            f"UPDATE {schema_of(pg_url)}.alembic_version SET version_num = 'copy-in-progress'"
        )
    before = tables_in(schema_of(pg_url))
    on_pg = Cli(Path(sqlite.env["MUTUALCREDIT_HOME"]), pg_url)
    message = (
        f"error: {pg_url} holds an incomplete copy of a ledger ('mutualcredit db copy' "
        "did not finish); empty it and copy again\n"
    )
    assert on_pg("balance", "ana", code=3).stderr == message
    assert on_pg("pay", "ana", "bia", "1", code=3).stderr == message
    assert "incomplete copy" in on_pg("db", "upgrade", code=3).stderr
    assert tables_in(schema_of(pg_url)) == before


# -- bad databases --------------------------------------------------------------------------


def test_an_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home", CLOSED_PORT)
    for args in (("balance", "ana"), ("db", "status"), ("db", "upgrade")):
        result = cli(*args, code=5)
        assert result.stderr.startswith(f"error: cannot use the database {CLOSED_PORT}: ")
        assert result.stderr.count("\n") == 1 and result.stdout == ""
    error = json.loads(cli("balance", "ana", "--json", code=5).stderr)
    validate(error, "error.schema.json")
    assert error["error"]["code"] == "database_unavailable"
    created = cli("init", "--network", "N", "--currency", "CARD", "--admin", "banco", code=5)
    assert created.stderr.startswith(f"error: cannot use the database {CLOSED_PORT}: ")
    assert list((tmp_path / "home").rglob("*.key")) == []  # the admin key is not kept


def test_wrong_credentials_are_one_clear_error_without_the_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody:hunter2@127.0.0.1:5432/test"
    result = Cli(tmp_path / "home", url)("balance", "ana", code=5)
    assert result.stderr.startswith(
        "error: cannot use the database postgresql+psycopg://nobody:***@127.0.0.1:5432/test: "
    )
    # trust authentication (this machine) names the role; password authentication the password
    assert re.search(
        r'role "nobody" does not exist|password authentication failed for user '
        r'"nobody"',
        result.stderr,
    )
    assert "hunter2" not in result.stderr


def test_a_postgresql_database_that_is_not_a_ledger(tmp_path: Path, pg_url: str) -> None:
    cli = Cli(tmp_path / "home", pg_url)
    assert cli("balance", "ana", code=3).stderr == (
        f"error: {pg_url} is not a mutualcredit ledger (no schema version); create one with "
        "'mutualcredit init'\n"
    )
    assert "is not a mutualcredit ledger" in cli("db", "upgrade", code=3).stderr
    with psycopg.connect(
        PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as connection:
        connection.execute(f"CREATE TABLE {schema_of(pg_url)}.tickets (id int)")
    assert cli("pay", "ana", "bia", "1", code=3).stderr.startswith(
        f"error: {pg_url} is not a mutualcredit ledger"
    )
    assert tables_in(schema_of(pg_url)) == {"tickets": 0}


def test_a_postgresql_ledger_of_a_newer_schema_is_refused(tmp_path: Path, pg_url: str) -> None:
    cli = Cli(tmp_path / "home", pg_url)
    cli("init", "--network", "N", "--currency", "CARD", "--admin", "banco")
    with psycopg.connect(
        PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as connection:
        connection.execute(f"UPDATE {schema_of(pg_url)}.alembic_version SET version_num = '9999'")
    before = tables_in(schema_of(pg_url))
    message = (
        f"error: {pg_url} is at schema revision 9999, newer than this program knows "
        "(up to 0005); upgrade mutualcredit\n"
    )
    assert cli("balance", "banco", code=3).stderr == message
    assert cli("member", "add", "ana", "--collective", "x", code=3).stderr == message
    assert "newer than this program knows" in cli("db", "upgrade", code=3).stderr
    assert tables_in(schema_of(pg_url)) == before
