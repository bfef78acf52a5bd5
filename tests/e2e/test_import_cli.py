"""``mutualcredit import`` and ``report income`` through the installed command.

The ledger is built through the library (fast key files: scrypt n = 2^10) and
then driven only through the CLI.  Every bad input of issue 5 gets one clear
``FILE:LINE:COLUMN: message`` on stderr, exit 1 and nothing written.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import jsonschema
import pytest

from mutualcredit.imports.demo import add_festival_accounts
from mutualcredit.imports.examples import (
    RULES_BAR,
    RULES_TICKETS,
    SAMPLE_BAR,
    SAMPLE_TICKETS,
    example,
)
from mutualcredit.services import network as setup
from mutualcredit.services.keys import KeyStore, Signer
from tests.support import run_cli

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "import-summary.schema.json").read_text())
TICKET_RULES, BAR_RULES = str(example(RULES_TICKETS)), str(example(RULES_BAR))
HEADER = (
    "Número do pedido;Data do pedido;Nome do comprador;E-mail;Tipo de ingresso;"
    "Valor do ingresso;Taxa de conveniência;Status do pedido;Forma de pagamento"
)
GOOD = "GR-1;01/11/2026 10:00;Ana;a@x;Inteira;40,00;4,00;Aprovado;Pix"


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A ledger with BRL, the festival accounts and an importer ``robo`` of cubo."""
    home = tmp_path_factory.mktemp("home")
    database = home / "ledger.db"
    admin = Signer.generate("banco")
    network_id = setup.new_network_id()
    store = KeyStore(home, network_id, kdf_n=2**10)
    ledger = setup.init_network(
        str(database),
        setup.NetworkSettings(name="Rede", card="CARD", admin="banco"),
        admin,
        network_id,
    )
    setup.add_collective(ledger, admin, slug="cubo", name="Cubo", currency="CUBO", rate=Fraction(1))
    add_festival_accounts(ledger, admin)
    robo = Signer.generate("robo")
    setup.add_member(ledger, admin, handle="robo", collective="cubo", public_key=robo.public_key)
    setup.change_role(ledger, admin, handle="robo", role="importer", collective="cubo", grant=True)
    for signer in (admin, robo):
        store.write(signer, "s3cret-pass")
    return home


def cli(home: Path, *args: str, db: Path | None = None, size_limit: str = ""):  # type: ignore[no-untyped-def]
    return run_cli(
        "--db",
        str(db or home / "ledger.db"),
        "--as",
        "robo",
        *args,
        env={
            "MUTUALCREDIT_HOME": str(home),
            "MUTUALCREDIT_PASSPHRASE": "s3cret-pass",
            "MUTUALCREDIT_IMPORT_SIZE_LIMIT": size_limit,
        },
    )


def tickets(path: Path, *lines: str, header: str = HEADER, encoding: str = "utf-8") -> str:
    path.write_bytes("\r\n".join([header, *lines, ""]).encode(encoding))
    return str(path)


def test_tickets_json_summary_then_reimport_then_report(ledger_dir, tmp_path):  # type: ignore[no-untyped-def]
    import shutil

    db = tmp_path / "copy.db"
    for suffix in ("", "-wal", "-shm"):
        if (ledger_dir / f"ledger.db{suffix}").exists():
            shutil.copy(ledger_dir / f"ledger.db{suffix}", f"{db}{suffix}")
    result = cli(
        ledger_dir, "import", str(example(SAMPLE_TICKETS)), "--rules", TICKET_RULES, "--json", db=db
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    assert {
        key: document[key]
        for key in ("read", "imported", "filtered", "already_imported", "conflicts", "rejected")
    } == {
        "read": 241,
        "imported": 193,
        "filtered": 48,
        "already_imported": 0,
        "conflicts": 0,
        "rejected": 0,
    }
    assert document["totals"] == [
        {"account": "collectives:cubo:cash:bilheteria", "currency": "BRL", "amount": "1633.50"},
        {"account": "collectives:cubo:cash:plataforma", "currency": "BRL", "amount": "6079.50"},
        {"account": "income:festivals:grito-rock-2026", "currency": "BRL", "amount": "-8570.00"},
        {"account": "network:fund:brl", "currency": "BRL", "amount": "857.00"},
    ]
    assert document["batch_id"] == document["batch_ids"][0] and document["importer"] == "robo"
    again = cli(ledger_dir, "import", str(example(SAMPLE_TICKETS)), "--rules", TICKET_RULES, db=db)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0].endswith(
        "241 rows read: 0 imported, 48 filtered, 193 already imported, 0 conflicts, 0 rejected"
    )
    bar = cli(ledger_dir, "import", str(example(SAMPLE_BAR)), "--rules", BAR_RULES, db=db)
    assert bar.returncode == 0, bar.stderr
    report = cli(ledger_dir, "report", "income", "--festival", "grito-rock-2026", "--json", db=db)
    assert report.returncode == 0, report.stderr
    backing = json.loads(report.stdout)["backing"]
    assert backing == [
        {
            "collective": "cubo",
            "currency": "CARD",
            "received": "14214.00",
            "issued": "6501.00",
            "backing_ratio": "2.1864",
        }
    ]


def test_dry_run_and_skip_invalid_with_rejects(ledger_dir, tmp_path):  # type: ignore[no-untyped-def]
    path = tickets(
        tmp_path / "t.csv", GOOD, GOOD.replace("GR-1;", "GR-2;").replace("40,00", "R$ 40,00")
    )
    dry = cli(ledger_dir, "import", path, "--rules", TICKET_RULES, "--dry-run", "--json")
    assert dry.returncode == 1
    assert json.loads(dry.stdout)["rejected"] == 1
    rejects = tmp_path / "rejects.csv"
    result = cli(
        ledger_dir,
        "import",
        path,
        "--rules",
        TICKET_RULES,
        "--dry-run",
        "--skip-invalid",
        "--rejects",
        str(rejects),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        f"{path}: 2 rows read: 1 would import, 0 filtered, 0 already imported, 0 conflicts, "
        "1 rejected"
    )
    assert rejects.read_bytes() == Path(path).read_bytes().replace((GOOD + "\r\n").encode(), b"")
    usage = cli(ledger_dir, "import", path, "--rules", TICKET_RULES, "--skip-invalid")
    assert usage.returncode == 2
    assert usage.stderr == (
        "error: --skip-invalid and --rejects go together: bad rows are copied to the rejects file\n"
    )


CSV_CASES = {
    "latin1_read_as_utf8": (
        lambda p: tickets(p, GOOD.replace("Ana", "João"), encoding="latin-1"),
        "1:2: byte 0xFA at byte 1 of the file is not valid utf-8-sig; the file may be "
        "cp1252/latin-1: set encoding in the rules",
    ),
    "missing_column": (
        lambda p: tickets(p, GOOD.rsplit(";", 1)[0], header=HEADER.rsplit(";", 1)[0]),
        "1:1: column 'Forma de pagamento' is not in the header; the header has 'Número do "
        "pedido', 'Data do pedido', 'Nome do comprador', 'E-mail', 'Tipo de ingresso', 'Valor "
        "do ingresso', 'Taxa de conveniência', 'Status do pedido'",
    ),
    "row_cut_short": (
        lambda p: tickets(p, GOOD, "GR-2;01/11/2026 10:00;Ana;a@x"),
        "3:30: the row has 4 fields but the header has 9; is the row cut short?",
    ),
    "extra_delimiter": (
        lambda p: tickets(p, GOOD.replace("Ana;", "Ana;;")),
        "2:59: the row has 10 fields but the header has 9; an extra ';'?",
    ),
    "empty_amount": (lambda p: tickets(p, GOOD.replace("40,00", "")), "2:39: the amount is empty"),
    "two_decimal_marks": (
        lambda p: tickets(p, GOOD.replace("40,00", "12,5,0")),
        "2:39: amount '12,5,0' has more than one decimal mark ','",
    ),
    "currency_symbol": (
        lambda p: tickets(p, GOOD.replace("40,00", "R$ 40,00")),
        "2:39: amount 'R$ 40,00' contains 'R'; expected digits with ',' as decimal mark and "
        "'.' between thousands, e.g. 1.234,55; amounts.strip can remove a currency symbol",
    ),
    "negative_amount": (
        lambda p: tickets(p, GOOD.replace("40,00", "-40,00")),
        "2:39: amount '-40,00' is negative; the rules refuse negative amounts (amounts.negative)",
    ),
    "date_that_does_not_exist": (
        lambda p: tickets(p, GOOD.replace("01/11/2026", "31/02/2026")),
        "2:6: date '31/02/2026 10:00' does not exist (day is out of range for month)",
    ),
    "external_id_twice": (
        lambda p: tickets(p, GOOD, GOOD),
        "3:1: external id 'GR-1' appears twice in this file (first on line 2)",
    ),
    "empty_file": (lambda p: (p.write_bytes(b""), str(p))[1], "1:1: the file is empty"),
    "header_only": (lambda p: tickets(p), "2:1: the file has a header but no rows"),
    "binary_file": (
        lambda p: (p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00"), str(p))[1],
        "3:1: the file looks binary (a NUL byte at byte 8); expected text in utf-8-sig",
    ),
    "over_the_size_limit": (
        lambda p: tickets(p, *[GOOD.replace("GR-1", f"GR-{n}") for n in range(400)]),
        "1:1: the file is 26042 bytes; the limit is 20000 bytes",
    ),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_bad_ticket_exports_name_line_and_column(ledger_dir, tmp_path, case):  # type: ignore[no-untyped-def]
    make, expected = CSV_CASES[case]
    path = make(tmp_path / "bad.csv")
    result = cli(ledger_dir, "import", path, "--rules", TICKET_RULES, size_limit="20000")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.splitlines()[0] == f"{path}:{expected}"
    assert result.stdout == ""


def test_reordered_columns_are_fine(ledger_dir, tmp_path):  # type: ignore[no-untyped-def]
    fields = HEADER.split(";")
    values = GOOD.replace("GR-1", "GR-R").split(";")
    order = list(reversed(range(len(fields))))
    path = tickets(
        tmp_path / "r.csv",
        ";".join(values[i] for i in order),
        header=";".join(fields[i] for i in order),
    )
    result = cli(ledger_dir, "import", path, "--rules", TICKET_RULES, "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["imported"] == 1


JSON_LINE = (
    '{"sale_id": "B-1", "at": "2026-11-21T21:08:56-04:00", "item": "Água", "qty": 2, '
    '"total": "8.00", "payment": "card", "cashier": "caixa-1"}'
)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([JSON_LINE, '{"sale_id": "B-2", "at": '], "2:26: invalid JSON: Expecting value"),
        (
            [JSON_LINE.replace("-04:00", "")],
            "1:26: date '2026-11-21T21:08:56' has no time zone offset and the rules set no "
            "dates.time_zone",
        ),
        (
            [JSON_LINE.replace("Água", "\udce1gua")],
            "1:64: byte 0xE1 at byte 63 of the file is not valid utf-8; the file may be "
            "cp1252/latin-1: set encoding in the rules",
        ),
    ],
    ids=["invalid_json_line", "date_without_zone", "latin1_in_json"],
)
def test_bad_bar_exports(ledger_dir, tmp_path, lines, expected):  # type: ignore[no-untyped-def]
    path = tmp_path / "bar.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    result = cli(ledger_dir, "import", str(path), "--rules", BAR_RULES, "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    first = document["problems"][0]
    assert (
        f"{first['file']}:{first['line']}:{first['column']}: {first['message']}"
        == f"{path}:{expected}"
    )
    assert json.loads(result.stderr)["error"]["code"] == "import_refused"


def test_utf8_read_as_cp1252_and_a_bad_rules_file(ledger_dir, tmp_path):  # type: ignore[no-untyped-def]
    rules = tmp_path / "cp.toml"
    rules.write_text(
        Path(TICKET_RULES)
        .read_text(encoding="utf-8")
        .replace('encoding = "utf-8-sig"', 'encoding = "cp1252"'),
        encoding="utf-8",
    )
    path = tickets(
        tmp_path / "u.csv",
        GOOD.replace("Ana", "João"),
        header=HEADER.encode("utf-8").decode("cp1252"),
        encoding="cp1252",
    )
    Path(path).write_bytes(
        Path(path)
        .read_bytes()
        .replace(b"Jo", b"Jo", 1)
        .replace("João".encode("cp1252"), "João".encode())
    )
    result = cli(ledger_dir, "import", path, "--rules", str(rules))
    assert result.returncode == 1
    assert "looks like UTF-8 read as cp1252" in result.stderr.splitlines()[0]
    bad = tmp_path / "bad.toml"
    bad.write_text(
        Path(TICKET_RULES).read_text(encoding="utf-8").replace('format = "csv"', 'format = "xlsx"'),
        encoding="utf-8",
    )
    result = cli(ledger_dir, "import", path, "--rules", str(bad))
    assert result.returncode == 2
    assert result.stderr == (
        f'error: {bad}: source.format: "xlsx" is not one of "csv", "jsonl", "json"\n'
    )
