"""Festival income import through the library: samples end to end, exactly once, conflicts.

Totals of the samples, worked out by hand from the files (and asserted here):

- tickets: 241 orders; 193 ``Aprovado`` (45 paid at the box office for
  1,815.00, 148 through the platform for 6,755.00: 8,570.00 in all) and 48
  filtered (18 Estornado, 17 Pendente, 13 Cancelado).  Each order splits 90% to
  the cash box and 10% to the network fund; every price is a multiple of
  0.10, so the split is exact: box office 1,633.50, platform 6,079.50, fund 857.00.
- bar: 180 sales, 6,501.00; caixa-1 93 sales 3,366.00, caixa-2 87 sales
  3,135.00; Cubo issues 6,501.00 CUBO into its fund at 1:1.
"""

from __future__ import annotations

import json
import os
import time
from fractions import Fraction
from pathlib import Path

import pytest
from sqlalchemy import text

from mutualcredit.domain.transfers import batch_bytes
from mutualcredit.imports import service
from mutualcredit.imports.demo import add_festival_accounts
from mutualcredit.imports.examples import (
    RULES_BAR,
    RULES_TICKETS,
    SAMPLE_BAR,
    SAMPLE_TICKETS,
    example,
)
from mutualcredit.imports.report import income_report
from mutualcredit.imports.service import ImportRefused, import_file
from mutualcredit.services import network as setup
from mutualcredit.services.keys import Signer, verify_signature
from mutualcredit.services.posting import AccountNotFound, NotAuthorised

TICKETS, BAR = example(SAMPLE_TICKETS), example(SAMPLE_BAR)
TICKET_RULES, BAR_RULES = example(RULES_TICKETS), example(RULES_BAR)
HEADER = (
    "Número do pedido;Data do pedido;Nome do comprador;E-mail;Tipo de ingresso;"
    "Valor do ingresso;Taxa de conveniência;Status do pedido;Forma de pagamento"
)


@pytest.fixture
def festival(net):  # type: ignore[no-untyped-def]
    """The test network plus BRL, the accounts the example rules expect and an importer."""
    admin = net["banco"]
    add_festival_accounts(net.ledger, admin)
    net.add_member("robo", "cubo")
    setup.change_role(
        net.ledger, admin, handle="robo", role="importer", collective="cubo", grant=True
    )
    return net


def balances(net) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from mutualcredit.services.queries import list_accounts

    return {
        row["account"]: row["balance"]
        for row in list_accounts(net.ledger)
        if row["balance"] not in ("0.00", None)
    }


def count(net, sql: str) -> int:  # type: ignore[no-untyped-def]
    with net.ledger.read() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def totals(summary) -> dict[tuple[str, str], int]:  # type: ignore[no-untyped-def]
    return dict(summary.totals)


def ticket_lines() -> list[str]:
    return TICKETS.read_text(encoding="utf-8-sig").splitlines()[1:]


def write_tickets(path: Path, lines: list[str]) -> Path:
    path.write_bytes(("\ufeff" + "\r\n".join([HEADER, *lines]) + "\r\n").encode("utf-8"))
    return path


def test_tickets_sample_end_to_end(festival):  # type: ignore[no-untyped-def]
    summary = import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES)
    assert summary.counts() == {
        "read": 241,
        "imported": 193,
        "filtered": 48,
        "already_imported": 0,
        "conflicts": 0,
        "rejected": 0,
    }
    assert summary.filtered_reasons == {
        "Status do pedido is 'Estornado'": 18,
        "Status do pedido is 'Pendente'": 17,
        "Status do pedido is 'Cancelado'": 13,
    }
    assert totals(summary) == {
        ("income:festivals:grito-rock-2026", "BRL"): -857000,
        ("collectives:cubo:cash:bilheteria", "BRL"): 163350,
        ("collectives:cubo:cash:plataforma", "BRL"): 607950,
        ("network:fund:brl", "BRL"): 85700,
    }
    assert balances(festival) == {
        "income:festivals:grito-rock-2026": "-8570.00",
        "collectives:cubo:cash:bilheteria": "1633.50",
        "collectives:cubo:cash:plataforma": "6079.50",
        "network:fund:brl": "857.00",
    }
    assert summary.problems == [] and len(summary.batch_ids) == 1
    assert count(festival, "SELECT COUNT(*) FROM transfer WHERE kind = 'import'") == 193
    assert count(festival, "SELECT COUNT(*) FROM import_row") == 193
    festival.assert_consistent()


@pytest.mark.parametrize("fork", [True, False], ids=["forked-helper", "inline"])
def test_a_batch_records_provenance_and_one_signature_covers_it(festival, monkeypatch, fork):  # type: ignore[no-untyped-def]
    if not fork:  # where the system cannot fork, the bodies are built in the process itself
        monkeypatch.delattr(service.os, "fork")
    summary = import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES)
    with festival.ledger.read() as connection:
        batch = connection.execute(
            text("SELECT * FROM batch WHERE id = :id"), {"id": summary.batch_id}
        ).one()
        hashes = [
            row[0]
            for row in connection.execute(
                text("SELECT body_hash FROM transfer WHERE batch_id = :id ORDER BY id"),
                {"id": summary.batch_id},
            )
        ]
        body, meta = connection.execute(
            text(
                "SELECT body, memo FROM transfer WHERE idempotency_key = "
                "'grito-rock-2026-tickets:GR26-100007'"
            )
        ).one()
        register_hash = connection.execute(
            text("SELECT content_hash FROM import_row WHERE external_id = 'GR26-100007'")
        ).scalar_one()
    meta_document = json.loads(batch.meta)
    assert (batch.kind, batch.author, batch.size) == ("import", "robo", 193)
    assert meta_document["file_sha256"] == summary.file_sha256 == service._sha256_file(TICKETS)
    assert meta_document["rules_sha256"] == summary.rules_sha256
    assert meta_document["source"] == "grito-rock-2026-tickets"
    assert meta_document["counts"] == summary.counts()
    message = batch_bytes(network=festival.ledger.network.id, author="robo", body_hashes=hashes)
    assert verify_signature(festival["robo"].public_key, batch.signature, message)
    assert json.loads(body)["meta"] == {
        "source": "grito-rock-2026-tickets",
        "external_id": "GR26-100007",
        "line": 2,
        "occurred_at": "2026-11-13T16:19:00.000000Z",
        "row_hash": register_hash,
    }
    assert meta == "Solidário (1kg de alimento)"
    festival.assert_consistent()


def test_bar_sample_issues_cubo_against_the_reais(festival):  # type: ignore[no-untyped-def]
    summary = import_file(festival.ledger, festival["robo"], BAR, BAR_RULES)
    assert summary.counts() == {
        "read": 180,
        "imported": 180,
        "filtered": 0,
        "already_imported": 0,
        "conflicts": 0,
        "rejected": 0,
    }
    assert totals(summary) == {
        ("income:festivals:grito-rock-2026", "BRL"): -650100,
        ("collectives:cubo:cash:caixa-1", "BRL"): 336600,
        ("collectives:cubo:cash:caixa-2", "BRL"): 313500,
        ("collectives:cubo:issuance", "CUBO"): -650100,
        ("collectives:cubo:fund", "CUBO"): 650100,
    }
    report = income_report(festival.ledger)
    assert [(row["account"], row["rows"], row["amount"]) for row in report["cash_boxes"]] == [
        ("collectives:cubo:cash:caixa-1", 93, "3366.00"),
        ("collectives:cubo:cash:caixa-2", 87, "3135.00"),
    ]
    assert report["backing"] == [
        {
            "collective": "cubo",
            "currency": "CARD",
            "received": "6501.00",
            "issued": "6501.00",
            "backing_ratio": "1.0000",
        }
    ]
    festival.assert_consistent()


def test_reimport_imports_nothing_and_writes_nothing(festival):  # type: ignore[no-untyped-def]
    import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES)
    events = count(festival, "SELECT COUNT(*) FROM event")
    again = import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES)
    assert again.counts() == {
        "read": 241,
        "imported": 0,
        "filtered": 48,
        "already_imported": 193,
        "conflicts": 0,
        "rejected": 0,
    }
    assert again.batch_ids == [] and again.totals == {}
    assert count(festival, "SELECT COUNT(*) FROM event") == events


def test_overlapping_reimport_imports_only_the_new_rows(festival, tmp_path):  # type: ignore[no-untyped-def]
    lines = ticket_lines()
    first = write_tickets(tmp_path / "monday.csv", lines[:120])
    second = write_tickets(tmp_path / "tuesday.csv", lines[100:])
    one = import_file(festival.ledger, festival["robo"], first, TICKET_RULES)
    two = import_file(festival.ledger, festival["robo"], second, TICKET_RULES)
    assert one.read + two.read - 20 == 241
    assert one.imported + two.imported == 193
    overlap_imported = sum(1 for line in lines[100:120] if ";Aprovado;" in line)
    assert two.already_imported == overlap_imported
    assert balances(festival)["income:festivals:grito-rock-2026"] == "-8570.00"
    festival.assert_consistent()


def test_exactly_once_whoever_imports(festival):  # type: ignore[no-untyped-def]
    import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES)
    again = import_file(festival.ledger, festival["banco"], TICKETS, TICKET_RULES)
    assert (again.imported, again.already_imported) == (0, 193)
    assert count(festival, "SELECT COUNT(*) FROM transfer WHERE kind = 'import'") == 193


def test_a_known_id_with_other_values_is_a_conflict_and_nothing_is_written(festival, tmp_path):  # type: ignore[no-untyped-def]
    lines = ticket_lines()
    import_file(
        festival.ledger,
        festival["robo"],
        write_tickets(tmp_path / "a.csv", lines[:10]),
        TICKET_RULES,
    )
    changed = lines[:20]
    assert changed[0].startswith("GR26-100007;") and ";25,00;" in changed[0]
    changed[0] = changed[0].replace(";25,00;", ";35,00;")
    path = write_tickets(tmp_path / "b.csv", changed)
    events = count(festival, "SELECT COUNT(*) FROM event")
    with pytest.raises(ImportRefused) as refused:
        import_file(festival.ledger, festival["robo"], path, TICKET_RULES)
    summary = refused.value.summary
    assert (summary.conflicts, summary.imported, summary.batch_ids) == (1, 0, [])
    transfer_id = count(
        festival, "SELECT transfer_id FROM import_row WHERE external_id = 'GR26-100007'"
    )
    assert [str(problem) for problem in summary.problems] == [
        f"{path}:2:1: external id 'GR26-100007' was already imported (transfer {transfer_id}) "
        "with different values"
    ]
    assert count(festival, "SELECT COUNT(*) FROM event") == events
    # With --skip-invalid the conflicting row is left out and copied to the rejects.
    rejects = tmp_path / "rejects.csv"
    summary = import_file(
        festival.ledger, festival["robo"], path, TICKET_RULES, skip_invalid=True, rejects=rejects
    )
    assert (summary.conflicts, summary.already_imported) == (
        1,
        9 - sum(1 for line in lines[1:10] if ";Aprovado;" not in line),
    )
    assert (
        rejects.read_bytes()
        == path.read_bytes().split(b"\r\n", 2)[0]
        + b"\r\n"
        + path.read_bytes().split(b"\r\n")[1]
        + b"\r\n"
    )
    festival.assert_consistent()


def test_skip_invalid_imports_good_rows_and_copies_bad_ones_verbatim(festival, tmp_path):  # type: ignore[no-untyped-def]
    lines = ticket_lines()[:6]
    lines[1] = lines[1].replace(";40,00;", ";12,5,0;")
    lines[3] = lines[3].replace("04/10/2026", "31/02/2026")
    path = tmp_path / "bad.csv"
    raw = (
        ("\ufeff" + HEADER + "\r\n").encode()
        + b"".join(line.encode("utf-8") + b"\r\n" for line in lines[:4])
        + "GR26-1;01/11/2026 10:00;Jo\xe3o;j@x;Inteira;40,00;4,00;Aprovado;Pix\r\n".encode(
            "latin-1"
        )
        + b"".join(line.encode() + b"\r\n" for line in lines[4:])
    )
    path.write_bytes(raw)
    with pytest.raises(ImportRefused) as refused:
        import_file(festival.ledger, festival["robo"], path, TICKET_RULES)
    assert refused.value.summary.rejected == 3
    assert count(festival, "SELECT COUNT(*) FROM transfer WHERE kind = 'import'") == 0
    rejects = tmp_path / "rejects.csv"
    summary = import_file(
        festival.ledger, festival["robo"], path, TICKET_RULES, skip_invalid=True, rejects=rejects
    )
    assert summary.counts() == {
        "read": 7,
        "imported": 4,
        "filtered": 0,
        "already_imported": 0,
        "conflicts": 0,
        "rejected": 3,
    }
    kept = raw.split(b"\r\n")
    assert rejects.read_bytes() == b"\r\n".join([kept[0], kept[2], kept[4], kept[5]]) + b"\r\n"
    festival.assert_consistent()


def test_a_split_of_100_three_ways_loses_no_centavo(festival, tmp_path):  # type: ignore[no-untyped-def]
    rules = TICKET_RULES.read_text(encoding="utf-8")
    rules = rules.replace(
        '[[accounts.split]]\naccount = "network:fund:brl"\npercent = 10\n',
        '[[accounts.split]]\naccount = "network:fund:brl"\npercent = "33.33"\n\n'
        '[[accounts.split]]\naccount = "collectives:cubo:cash:caixa-1"\npercent = "33.33"\n',
    ).replace("percent = 90", 'percent = "33.34"')
    rules_path = tmp_path / "thirds.toml"
    rules_path.write_text(rules, encoding="utf-8")
    path = write_tickets(
        tmp_path / "one.csv",
        [
            "T-1;01/11/2026 10:00;Ana;a@x;Inteira;100,00;4,00;Aprovado;Pix",
            "T-2;01/11/2026 10:00;Ana;a@x;Inteira;0,01;0,00;Aprovado;Pix",
        ],
    )
    summary = import_file(festival.ledger, festival["robo"], path, rules_path)
    assert totals(summary) == {
        ("income:festivals:grito-rock-2026", "BRL"): -10001,
        ("collectives:cubo:cash:plataforma", "BRL"): 3335,
        ("network:fund:brl", "BRL"): 3333,
        ("collectives:cubo:cash:caixa-1", "BRL"): 3333,
    }
    festival.assert_consistent()


def test_dry_run_counts_like_the_real_run_and_writes_nothing(festival):  # type: ignore[no-untyped-def]
    events = count(festival, "SELECT COUNT(*) FROM event")
    dry = import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES, dry_run=True)
    assert count(festival, "SELECT COUNT(*) FROM event") == events
    real = import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES)
    assert dry.counts() == real.counts() and dry.totals == real.totals
    assert dry.batch_ids == []


def test_large_files_post_in_several_whole_batches(festival, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(service, "IMPORT_BATCH_ROWS", 50)
    summary = import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES)
    assert len(summary.batch_ids) == 4
    with festival.ledger.read() as connection:
        sizes = [
            row[0]
            for row in connection.execute(
                text("SELECT size FROM batch WHERE kind = 'import' ORDER BY id")
            )
        ]
    assert sizes == [50, 50, 50, 43]
    with festival.ledger.read() as connection:
        metas = [
            json.loads(row[0])
            for row in connection.execute(
                text("SELECT meta FROM batch WHERE kind = 'import' ORDER BY id")
            )
        ]
    # Streamed or not, every part knows the run's parts and final counts.
    assert [(meta["part"], meta["parts"], meta["rows"]) for meta in metas] == [
        (1, 4, 50),
        (2, 4, 50),
        (3, 4, 50),
        (4, 4, 43),
    ]
    assert all(meta["counts"] == summary.counts() for meta in metas)
    assert all(meta["file_sha256"] == summary.file_sha256 for meta in metas)
    festival.assert_consistent()


def sqlite_only(net) -> None:  # type: ignore[no-untyped-def]
    if net.ledger.is_postgres or not hasattr(os, "fork"):
        pytest.skip("imports stream on SQLite, where fork is (PostgreSQL takes two passes)")


def wait_at_line(monkeypatch, line: int, marker: Path) -> None:  # type: ignore[no-untyped-def]
    """The row parser (in the helper reading the file) waits at ``line`` for ``marker``
    (up to 20 s; a row the reader refuses never reaches the parser)."""
    parse = service.RowParser.parse_checked

    def waiting(self, record):  # type: ignore[no-untyped-def]
        if record.line == line:
            deadline = time.monotonic() + 20
            while not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return parse(self, record)

    monkeypatch.setattr(service.RowParser, "parse_checked", waiting)
    monkeypatch.setattr(service, "IMPORT_BATCH_ROWS", 50)
    monkeypatch.setattr(service, "CHUNK_ROWS", 10)
    monkeypatch.setattr(service, "SPOOL_CHUNK_ROWS", 10)


def test_a_problem_read_after_batches_were_posted_rolls_them_back(festival, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    # On SQLite the helper reads the file while this process posts: batches are written
    # in the run's one transaction before the last line is read, and its problem undoes them.
    sqlite_only(festival)
    lines = ticket_lines()
    lines[-1] = lines[-1].replace(";Aprovado;", ";Aprovado;;")  # an extra delimiter
    path = write_tickets(tmp_path / "late.csv", lines)
    marker = tmp_path / "posted"
    wait_at_line(monkeypatch, len(lines), marker)  # the row before the bad one
    events = count(festival, "SELECT COUNT(*) FROM event")
    phases = []

    def progress(phase: str, done: int, total: int | None) -> None:
        phases.append(phase)
        if phase == "posting":
            marker.touch()

    with pytest.raises(ImportRefused) as refused:
        import_file(festival.ledger, festival["robo"], path, TICKET_RULES, progress=progress)
    assert "posting" in phases and marker.exists()  # a batch was written, then undone
    assert [problem.line for problem in refused.value.summary.problems] == [len(lines) + 1]
    # Nothing was written, and the summary says so.
    assert (
        refused.value.summary.imported,
        refused.value.summary.batch_ids,
        refused.value.summary.totals,
    ) == (0, [], {})
    assert count(festival, "SELECT COUNT(*) FROM batch") == 0
    assert count(festival, "SELECT COUNT(*) FROM transfer") == 0
    assert count(festival, "SELECT COUNT(*) FROM posting") == 0
    assert count(festival, "SELECT COUNT(*) FROM import_row") == 0
    assert count(festival, "SELECT COUNT(*) FROM event") == events
    assert festival.ledger.engine.pool.checkedout() == 0
    # The same file without its bad line imports whole.
    summary = import_file(
        festival.ledger,
        festival["robo"],
        write_tickets(tmp_path / "good.csv", lines[:-1]),
        TICKET_RULES,
    )
    assert summary.imported == 192
    festival.assert_consistent()


def test_the_files_problems_come_before_what_posting_ran_into(festival, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    # A batch is refused by the ledger (an account that does not exist) while the helper is
    # still reading; the run reports the file's problems first, as when it validated first.
    sqlite_only(festival)
    lines = ticket_lines()
    lines[-1] = lines[-1].replace(";Aprovado;", ";Aprovado;;")
    path = write_tickets(tmp_path / "late.csv", lines)
    marker = tmp_path / "refused"
    wait_at_line(monkeypatch, len(lines), marker)  # the row before the bad one
    check = service._check_accounts

    def missing(ledger, accounts):  # type: ignore[no-untyped-def]
        marker.touch()
        raise AccountNotFound(
            "account collectives:cubo:cash:plataforma does not exist",
            account="collectives:cubo:cash:plataforma",
        )

    monkeypatch.setattr(service, "_check_accounts", missing)
    with pytest.raises(ImportRefused) as refused:
        import_file(festival.ledger, festival["robo"], path, TICKET_RULES)
    assert refused.value.summary.rejected == 1 and marker.exists()
    with pytest.raises(AccountNotFound):  # the same file without its problem: the refusal
        import_file(
            festival.ledger,
            festival["robo"],
            write_tickets(tmp_path / "good.csv", lines[:-1]),
            TICKET_RULES,
        )
    assert count(festival, "SELECT COUNT(*) FROM transfer") == 0
    monkeypatch.setattr(service, "_check_accounts", check)
    assert (
        import_file(
            festival.ledger, festival["robo"], path, TICKET_RULES, skip_invalid=True
        ).imported
        == 192
    )
    festival.assert_consistent()


def test_a_connection_in_use_makes_the_run_take_two_passes(festival):  # type: ignore[no-untyped-def]
    # No SQLite connection may cross a fork: with one in use the run does not stream.
    with festival.ledger.read() as connection:
        connection.execute(text("SELECT 1"))
        assert not service._streams(festival.ledger)
        summary = import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES)
    assert summary.imported == 193
    festival.assert_consistent()


def test_an_error_while_signing_refuses_the_file_before_anything_is_written(festival, monkeypatch):  # type: ignore[no-untyped-def]
    # The bodies are built (in the forked helper where there is fork) while pass 1 runs:
    # a failure there reaches the caller, and no batch is written.
    monkeypatch.setattr(service, "IMPORT_BATCH_ROWS", 50)
    build = service._Drafts.__call__

    def failing(self, row):  # type: ignore[no-untyped-def]
        if row[1] == 150:
            raise ValueError(f"cannot draft line {row[1]}")
        return build(self, row)

    monkeypatch.setattr(service._Drafts, "__call__", failing)
    with pytest.raises(ValueError, match="cannot draft line 150"):
        import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES)
    assert count(festival, "SELECT COUNT(*) FROM transfer WHERE kind = 'import'") == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the helper is forked only where fork is")
def test_rows_sent_after_the_helper_failed_raise_its_error(festival, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    # The parent may still be sending rows when the helper has stopped on an error: the
    # error it sent back is raised, not the broken pipe the parent ran into.
    def failing(self, row):  # type: ignore[no-untyped-def]
        raise ValueError(f"cannot draft line {row[1]}")

    monkeypatch.setattr(service._Drafts, "__call__", failing)
    with open(tmp_path / "spool", "w+b") as spool:
        signing = service._Signing(festival.ledger, festival["robo"], "tickets", spool)
        try:
            with pytest.raises(ValueError, match="cannot draft line 1"):
                for _ in range(100):
                    signing.add([("GR-1", 1, "2026-01-01T00:00:00Z", "x", ())])
                    time.sleep(0.02)
                signing.finish()
        finally:
            signing.close()
    assert signing.pid is None


def test_rows_registered_meanwhile_are_caught_under_the_lock(festival, monkeypatch):  # type: ignore[no-untyped-def]
    import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES)
    # Pretend pass 1 saw an empty register (another run commits between the passes).
    monkeypatch.setattr(service._Validation, "_known", lambda self, ids: {})
    again = import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES)
    assert (again.imported, again.already_imported, again.batch_ids) == (0, 193, [])
    assert count(festival, "SELECT COUNT(*) FROM transfer WHERE kind = 'import'") == 193


def test_only_importers_of_the_collective_may_debit_its_accounts(festival):  # type: ignore[no-untyped-def]
    festival.add_member("palo", "palafita")
    setup.change_role(
        festival.ledger,
        festival["banco"],
        handle="palo",
        role="importer",
        collective="palafita",
        grant=True,
    )
    with pytest.raises(NotAuthorised, match="palo may not move money out of"):
        import_file(festival.ledger, festival["palo"], BAR, BAR_RULES)
    with pytest.raises(NotAuthorised, match="bia may not import"):
        import_file(festival.ledger, festival["bia"], BAR, BAR_RULES)
    assert count(festival, "SELECT COUNT(*) FROM transfer WHERE kind = 'import'") == 0


def test_a_network_wide_importer_may_not_issue_a_collectives_card(festival):  # type: ignore[no-untyped-def]
    festival.add_member("rede", "palafita")
    setup.change_role(
        festival.ledger,
        festival["banco"],
        handle="rede",
        role="importer",
        collective=None,
        grant=True,
    )
    # Issue 15: an importer touches only its own collective's accounts; one with no
    # collective, only the network's — not Cubo's income, nor (so) Cubo's card.
    for export, rules in ((TICKETS, TICKET_RULES), (BAR, BAR_RULES)):
        with pytest.raises(
            NotAuthorised, match="rede may not move money out of income:festivals:grito-rock-2026"
        ):
            import_file(festival.ledger, festival["rede"], export, rules)
    assert count(festival, "SELECT count(*) FROM transfer WHERE kind = 'import'") == 0


def test_a_missing_account_is_named_before_anything_is_written(net):  # type: ignore[no-untyped-def]
    setup.add_currency(net.ledger, net["banco"], code="BRL", scale=2, rate=Fraction(1))
    with pytest.raises(
        AccountNotFound,
        match="accounts collectives:cubo:cash:bilheteria, "
        "collectives:cubo:cash:plataforma, "
        "income:festivals:grito-rock-2026, "
        "network:fund:brl do not exist",
    ):
        import_file(net.ledger, net["banco"], TICKETS, TICKET_RULES)


def test_signer_must_be_the_acting_key(festival):  # type: ignore[no-untyped-def]
    from mutualcredit.services.posting import KeyUnknown

    stranger = Signer.generate("robo")
    with pytest.raises(KeyUnknown):
        import_file(festival.ledger, stranger, BAR, BAR_RULES)
    assert count(festival, "SELECT COUNT(*) FROM import_row") == 0


@pytest.mark.parametrize("per_query", [1, 3, 500])
def test_the_register_lookup_finds_exactly_the_ids_asked_for(festival, monkeypatch, per_query):  # type: ignore[no-untyped-def]
    import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES)
    monkeypatch.setattr(service, "LOOKUP_ROWS", per_query)
    monkeypatch.setattr(service, "RANGE_LOOKUP_FROM", per_query)
    with festival.ledger.read() as connection:
        source = connection.execute(text("SELECT DISTINCT source FROM import_row")).scalar_one()
        stored = {
            external_id: (content_hash, transfer_id)
            for external_id, content_hash, transfer_id in connection.execute(
                text("SELECT external_id, content_hash, transfer_id FROM import_row")
            )
        }
        ids = sorted(stored)
        # Dense and in order, reversed, sparse, far apart, and ids that were never imported.
        for asked in (
            ids,
            ids[::-1],
            ids[::7],
            [ids[3], ids[-1]],
            ids[:5] + ["GR26-0", "zz"],
            ["GR26-0"],
            [ids[0], ids[0] + "x", ids[1]],
        ):
            found = service.registered(connection, source, asked)
            assert found == {
                external_id: stored[external_id] for external_id in asked if external_id in stored
            }


def test_a_ledger_of_imports_by_an_importer_verifies_clean(festival):  # type: ignore[no-untyped-def]
    # robo is Cubo's importer, not a coordinator: verify applies the importer's rights (income
    # and cash accounts, and Cubo's issuance inside an import) as the chain granted them.
    from mutualcredit.services.verify import verify_ledger

    import_file(festival.ledger, festival["robo"], TICKETS, TICKET_RULES)
    import_file(festival.ledger, festival["robo"], BAR, BAR_RULES)
    report = verify_ledger(festival.ledger, workers=1)
    assert report.problems == [] and report.transfers >= 193 + 180
