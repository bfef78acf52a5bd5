"""End to end: payment requests, verify, checkpoints and proofs through the installed command."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from mutualcredit.schema_files import validate
from tests.support import run_cli

PASS = "s3cret-pass"
pytestmark = pytest.mark.e2e


class Cli:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = str(root / "ledger.db")
        self.env = {"MUTUALCREDIT_HOME": str(root / "home"), "MUTUALCREDIT_PASSPHRASE": PASS}

    def __call__(self, *args: str, code: int = 0, db: str | None = None):  # type: ignore[no-untyped-def]
        result = run_cli("--db", db or self.db, *args, env=self.env)
        assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
        return result

    def json(self, *args: str, schema: str, code: int = 0, db: str | None = None):  # type: ignore[no-untyped-def]
        document = json.loads(self(*args, "--json", code=code, db=db).stdout)
        validate(document, schema)
        return document

    def path(self, name: str) -> str:
        return str(self.root / name)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    cli = Cli(tmp_path_factory.mktemp("audit"))
    cli("init", "--network", "Rede Teste", "--currency", "CARD", "--admin", "banco")
    cli("collective", "add", "cubo", "--name", "Espaço Cubo", "--currency", "CUBO")
    cli("member", "add", "ana", "--collective", "cubo", "--limit", "100", "--coordinator")
    cli("member", "add", "bia", "--collective", "cubo")
    return cli


@pytest.fixture
def cli(built: Cli, tmp_path: Path) -> Cli:
    shutil.copytree(built.root, tmp_path / "copy")
    return Cli(tmp_path / "copy")


def test_requests_end_to_end(cli: Cli) -> None:
    asked = cli.json(
        "request", "ana", "bia", "25,00", "--memo", "fotos do show", schema="request.schema.json"
    )
    assert (
        asked["id"],
        asked["payer"],
        asked["payee"],
        asked["amount"],
        asked["author"],
        asked["status"],
    ) == (1, "members:ana", "members:bia", "25.00", "bia", "open")
    result = cli("accept", "1")
    assert result.stdout == (
        "request 1 accepted: transfer 1, members:ana paid members:bia 25.00 CUBO\n"
    )
    again = cli("accept", "1", code=1)
    assert again.stderr == "error: request 1 is already accepted (transfer 1)\n"
    cli("request", "ana", "bia", "5", "--memo", "roadie", "--expires", "1h30m")
    refused = cli("--as", "bia", "decline", "2", "--reason", "x", code=1)
    assert "bia may not act as the payer members:ana; only ana may" in refused.stderr
    declined = cli.json("decline", "2", "--reason", "não combinamos", schema="request.schema.json")
    assert (declined["status"], declined["reason"]) == ("declined", "não combinamos")
    cli("request", "ana", "bia", "1", "--memo", "som", "--expires", "PT3H")
    assert cli("request", "withdraw", "3").stdout == "request 3 withdrawn\n"
    listed = cli.json("requests", "ana", schema="request-list.schema.json")
    assert [(r["id"], r["status"]) for r in listed] == [
        (1, "accepted"),
        (2, "declined"),
        (3, "withdrawn"),
    ]
    assert cli.json("requests", "--status", "open", schema="request-list.schema.json") == []
    table = cli("requests", "bia").stdout
    assert "fotos do show" in table and "withdrawn" in table
    bad = cli("request", "ana", "bia", "5", "--memo", "x", "--expires", "2 days", code=2)
    assert "duration '2 days' is not valid" in bad.stderr
    assert cli("verify").stdout.endswith("signatures checked: clean\n")
    help_text = cli("request", "--help").stdout
    assert "FROM TO AMOUNT --memo TEXT [--expires DURATION]" in help_text
    assert "withdraw" in help_text


def test_checkpoints_proofs_and_verify(cli: Cli) -> None:
    cli("pay", "ana", "bia", "10", "--memo", "ensaio")
    report = cli.json("verify", schema="verify-report.schema.json")
    assert report["clean"] and report["transfers"] == 1 and report["problems"] == []
    cp1 = cli.path("cp1.json")
    created = cli("checkpoint", "create", "--out", cp1)
    assert created.stdout.startswith("checkpoint of 5 events (root ")
    cosigned = cli("--as", "ana", "checkpoint", "cosign", cp1)
    assert "signed by banco, ana, written to" in cosigned.stdout
    checkpoint = json.loads(Path(cp1).read_text())
    validate(checkpoint, "checkpoint.schema.json")
    refused = cli("--as", "bia", "checkpoint", "create", code=1)
    assert "bia may not sign checkpoints" in refused.stderr
    cli("pay", "ana", "bia", "1", "--memo", "depois")
    cp2 = cli.path("cp2.json")
    Path(cp2).write_text(cli("checkpoint", "create").stdout)
    proof = cli.path("proof.json")
    cli("proof", "1", "--checkpoint", cp1, "--out", proof)
    validate(json.loads(Path(proof).read_text()), "proof.schema.json")
    nowhere = cli.path("no-such.db")  # proofs are checked with no database at all
    checked = cli.json(
        "verify-proof", proof, "--checkpoint", cp1, db=nowhere, schema="proof-check.schema.json"
    )
    assert checked["body"]["memo"] == "ensaio" and checked["seq"] == 5
    assert [s["signer"] for s in checked["checkpoint"]["signers"]] == ["banco", "ana"]
    text = cli("verify-proof", proof, "--checkpoint", cp1, db=nowhere).stdout
    assert text.startswith("valid: event 5 (transfer) is in the ledger of 5 events")
    wrong = cli("verify-proof", proof, "--checkpoint", cp2, db=nowhere, code=3)
    assert "made for the checkpoint of size 5, not this checkpoint of size 6" in wrong.stderr
    forged = json.loads(Path(proof).read_text())
    forged["body"]["postings"][1]["amount"] = "100.00"
    Path(cli.path("forged.json")).write_text(json.dumps(forged))
    cli("verify-proof", cli.path("forged.json"), "--checkpoint", cp1, db=nowhere, code=3)
    Path(cli.path("garbage.json")).write_text("{not json")
    garbage = cli("verify-proof", cli.path("garbage.json"), "--checkpoint", cp1, code=3)
    assert "is not valid JSON" in garbage.stderr
    foreign = dict(checkpoint, network="another-network")
    Path(cli.path("foreign.json")).write_text(json.dumps(foreign))
    cli("verify-proof", proof, "--checkpoint", cli.path("foreign.json"), db=nowhere, code=3)
    cli("checkpoint", "cosign", cli.path("foreign.json"), code=3)
    extension = cli.json("checkpoint", "verify", cp1, cp2, schema="extension-check.schema.json")
    assert (extension["mode"], extension["old_size"], extension["new_size"]) == ("ledger", 5, 6)
    consistency = cli.path("consistency.json")
    cli("checkpoint", "prove", cp1, cp2, "--out", consistency)
    validate(json.loads(Path(consistency).read_text()), "consistency-proof.schema.json")
    offline = cli("checkpoint", "verify", cp1, cp2, "--proof", consistency, db=nowhere)
    assert offline.stdout == (
        "valid: the ledger of 6 events extends the ledger of 5 events (checked with the proof)\n"
    )
    cli("checkpoint", "verify", cp2, cp1, "--proof", consistency, db=nowhere, code=3)
    validate(json.loads(cli("checkpoint", "list", "--json").stdout), "checkpoint-list.schema.json")
    since = cli.json("verify", "--since-checkpoint", cp1, schema="verify-report.schema.json")
    assert since["clean"] and [c["outcome"] for c in since["checkpoints"]][0] == "matches"


def test_verify_names_an_edit_and_exits_3(cli: Cli) -> None:
    cli("pay", "ana", "bia", "10", "--memo", "ensaio")
    cp = cli.path("cp.json")
    cli("checkpoint", "create", "--out", cp)
    with sqlite3.connect(cli.db) as connection:
        connection.execute("UPDATE transfer SET memo = 'aluguel' WHERE id = 1")
        connection.execute("DELETE FROM checkpoint")
    failed = cli("verify", code=3)
    assert failed.stderr == ("error: the ledger failed verification: 1 problem (memo_mismatch)\n")
    assert "memo_mismatch" in failed.stdout and "transfer 1" in failed.stdout
    result = cli("verify", "--json", code=3)
    report = json.loads(result.stdout)
    validate(report, "verify-report.schema.json")
    validate(json.loads(result.stderr), "error.schema.json")
    assert [(p["code"], p["subject"], p["event"]) for p in report["problems"]] == [
        ("memo_mismatch", "transfer 1", 5)
    ]
    with sqlite3.connect(cli.db) as connection:
        connection.execute("UPDATE transfer SET memo = 'ensaio' WHERE id = 1")
        connection.execute("DELETE FROM posting WHERE transfer_id = 1")
        connection.execute("DELETE FROM transfer WHERE id = 1")
        connection.execute("DELETE FROM event WHERE seq = 5")
        connection.execute(
            "UPDATE chain_head SET seq = 4, chain_hash = (SELECT chain_hash "
            "FROM event WHERE seq = 4)"
        )
        connection.execute("UPDATE account SET posted_debits = 0, posted_credits = 0")
    cli("verify")  # a clean cut of the last event: only a checkpoint can tell
    behind = json.loads(cli("verify", "--checkpoint", cp, "--json", code=3).stdout)
    assert [p["code"] for p in behind["problems"]] == ["ledger_behind_checkpoint"]
    assert "events were dropped" in cli("checkpoint", "verify", cp, cp, code=3).stderr
