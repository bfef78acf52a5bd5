"""Bookings end to end through the installed command: exact outputs, exit codes, schemas.

The clock is fixed with MUTUALCREDIT_NOW (Tuesday 2026-12-01 09:00 in São Paulo,
UTC-03:00 all year) and moved per call where a path needs time to pass.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mutualcredit.schema_files import validate
from tests.support import run_cli

PASS = "s3cret-pass"
NOW = "2026-12-01T12:00Z"
ZONE = "America/Sao_Paulo"


class Cli:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = str(root / "ledger.db")
        self.env = {
            "MUTUALCREDIT_HOME": str(root / "home"),
            "MUTUALCREDIT_PASSPHRASE": PASS,
            "MUTUALCREDIT_NOW": NOW,
        }

    def __call__(self, *args: str, code: int = 0, now: str | None = None):  # type: ignore[no-untyped-def]
        env = {**self.env, **({"MUTUALCREDIT_NOW": now} if now else {})}
        result = run_cli("--db", self.db, *args, env=env)
        assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
        if code:
            assert result.stdout == "" and result.stderr.count("\n") == 1, result
        return result

    def json(self, *args: str, schema: str | None = None, code: int = 0, now: str | None = None):  # type: ignore[no-untyped-def]
        result = self(*args, "--json", code=code, now=now)
        if code:
            error = json.loads(result.stderr)
            validate(error, "error.schema.json")
            return error["error"]
        document = json.loads(result.stdout)
        if schema:
            validate(document, schema)
        return document

    def error(self, *args: str, code: int, now: str | None = None) -> str:
        """The one-line diagnostic of a refused command, without ``error: ``."""
        stderr = self(*args, code=code, now=now).stderr
        assert stderr.startswith("error: ")
        return stderr[len("error: ") : -1]

    def rows(self, table: str) -> int:
        with sqlite3.connect(self.db) as connection:
            return int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    cli = Cli(tmp_path_factory.mktemp("bookings"))
    cli("init", "--network", "Rede Teste", "--currency", "CARD", "--admin", "banco")
    cli("collective", "add", "cubo", "--name", "Espaço Cubo", "--currency", "CUBO")
    cli("collective", "add", "palafita", "--name", "Palafita", "--currency", "PALA")
    cli("member", "add", "ana", "--collective", "cubo", "--limit", "100", "--coordinator")
    cli("member", "add", "bia", "--collective", "cubo")
    cli("member", "add", "caio", "--collective", "palafita", "--limit", "50", "--coordinator")
    added = cli(
        "--as",
        "ana",
        "resource",
        "add",
        "studio",
        "--collective",
        "cubo",
        "--name",
        "Estúdio do Cubo",
        "--price",
        "15",
        "--per",
        "hour",
        "--min",
        "1h",
        "--max",
        "8h",
        "--lead",
        "2h",
        "--cancel-window",
        "48h",
        "--cancel-fee",
        "30",
    )
    assert added.stdout == (
        "resource studio of cubo: 15.00 CUBO per hour, 1 unit; account "
        "collectives:cubo:resources:studio\n"
    )
    van = cli.json(
        "--as",
        "caio",
        "resource",
        "add",
        "van",
        "--collective",
        "palafita",
        "--name",
        "Van da Palafita",
        "--price",
        "20,00",
        "--per",
        "day",
        "--units",
        "2",
        "--grace",
        "P2D",
        schema="resource.schema.json",
    )
    assert (van["price"], van["units"], van["grace"], van["min"], van["cancel_window"]) == (
        "20.00",
        2,
        "2d",
        None,
        "0m",
    )
    return cli


@pytest.fixture
def cli(built: Cli, tmp_path: Path) -> Cli:
    """A private copy of the built network (database and keys) for one test."""
    shutil.copytree(built.root, tmp_path / "copy")
    return Cli(tmp_path / "copy")


def book(cli: Cli, who: str, start: str, end: str, resource: str = "studio") -> int:
    made = cli.json(
        "book", resource, "--by", who, "--from", start, "--to", end, schema="booking.schema.json"
    )
    return int(made["id"])


# -- resources -----------------------------------------------------------------------------------


def test_resource_list_and_show(cli: Cli) -> None:
    listed = cli.json("resource", "list", schema="resources.schema.json")
    assert [(r["slug"], r["collective"], r["price"], r["currency"], r["per"]) for r in listed] == [
        ("studio", "cubo", "15.00", "CUBO", "hour"),
        ("van", "palafita", "20.00", "PALA", "day"),
    ]
    studio = cli.json("resource", "show", "studio", schema="resource.schema.json")
    assert {
        k: studio[k]
        for k in (
            "min",
            "max",
            "lead",
            "cancel_window",
            "cancel_fee_percent",
            "grace",
            "status",
            "created_by",
        )
    } == {
        "min": "1h",
        "max": "8h",
        "lead": "2h",
        "cancel_window": "2d",
        "cancel_fee_percent": 30,
        "grace": "7d",
        "status": "open",
        "created_by": "ana",
    }
    shown = cli("resource", "show", "studio").stdout
    assert "30% inside 2d of the start" in shown and "Estúdio do Cubo" in shown
    assert cli.json("resource", "list", "--collective", "palafita")[0]["slug"] == "van"
    assert cli.error("resource", "show", "nope", code=4) == "resource nope does not exist"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            (
                "--as",
                "bia",
                "resource",
                "add",
                "amp",
                "--collective",
                "cubo",
                "--name",
                "Amp",
                "--price",
                "5",
                "--per",
                "hour",
            ),
            1,
            "bia may not add resources of cubo: it needs the admin or a coordinator of cubo",
        ),
        (
            (
                "resource",
                "add",
                "amp",
                "--collective",
                "cubo",
                "--name",
                "Amp",
                "--price",
                "5",
                "--per",
                "week",
            ),
            2,
            "resource rules are not valid: price is per 'week'; use 'hour' or 'day'",
        ),
        (
            (
                "resource",
                "add",
                "amp",
                "--collective",
                "cubo",
                "--name",
                "Amp",
                "--price",
                "5",
                "--per",
                "hour",
                "--cancel-window",
                "1d",
                "--cancel-fee",
                "101",
            ),
            2,
            "--cancel-fee '101' is not valid: write a whole percentage from 0 to 100, e.g. 30",
        ),
        (
            (
                "resource",
                "add",
                "amp",
                "--collective",
                "cubo",
                "--name",
                "Amp",
                "--price",
                "5",
                "--per",
                "hour",
                "--cancel-window",
                "1d",
            ),
            2,
            "--cancel-window and --cancel-fee go together: give both or neither",
        ),
        (
            (
                "resource",
                "add",
                "amp",
                "--collective",
                "cubo",
                "--name",
                "Amp",
                "--price",
                "5",
                "--per",
                "hour",
                "--min",
                "soon",
            ),
            2,
            "--min: duration 'soon' is not valid: write e.g. 30m, 3h, 2d, 1h30m or PT3H",
        ),
        (
            (
                "resource",
                "add",
                "amp",
                "--collective",
                "nope",
                "--name",
                "Amp",
                "--price",
                "5",
                "--per",
                "hour",
            ),
            4,
            "collective nope does not exist",
        ),
        (
            (
                "resource",
                "add",
                "studio",
                "--collective",
                "cubo",
                "--name",
                "Amp",
                "--price",
                "5",
                "--per",
                "hour",
            ),
            1,
            "resource studio already exists (of cubo); resource slugs are unique in the network",
        ),
    ],
)
def test_bad_resources_are_refused_and_nothing_is_written(
    cli: Cli, args: tuple[str, ...], code: int, message: str
) -> None:
    assert cli.error(*args, code=code) == message
    assert cli.rows("resource") == 2 and cli.rows("account") == 11


# -- the story of the issue ----------------------------------------------------------------------


def test_book_overlap_free_slots_and_complete(cli: Cli) -> None:
    made = cli(
        "book", "studio", "--by", "ana", "--from", "2026-12-05T14:00", "--to", "2026-12-05T17:00"
    )
    assert made.stdout == (
        "booking 1: studio for ana, 2026-12-05 14:00–17:00 (America/Sao_Paulo); 45.00 CUBO "
        "held from ana's available credit (transfer 1)\n"
        "ana: balance 0.00 CUBO (unchanged), available 55.00 CUBO\n"
    )
    balance = cli.json("balance", "ana", schema="balance.schema.json")
    assert (balance["balance"], balance["available"], balance["pending_debits"]) == (
        "0.00",
        "55.00",
        "45.00",
    )
    refused = cli.json(
        "book",
        "studio",
        "--by",
        "caio",
        "--from",
        "2026-12-05T16:00",
        "--to",
        "2026-12-05T18:00",
        code=1,
    )
    assert refused == {
        "code": "booking_unavailable",
        "message": (
            "studio is not free from 2026-12-05 16:00 (America/Sao_Paulo) to 2026-12-05 18:00 "
            "(America/Sao_Paulo): its only unit is booked at some time in that range; free on "
            "2026-12-05: 00:00–14:00, 17:00–24:00"
        ),
        "data": {"resource": "studio", "free.2026-12-05": "00:00–14:00, 17:00–24:00"},
    }
    second = cli.json(
        "book",
        "studio",
        "--by",
        "caio",
        "--from",
        "2026-12-05T17:00-03:00",
        "--for",
        "1h",
        "--memo",
        "ensaio",
        schema="booking.schema.json",
    )
    assert {
        k: second[k]
        for k in (
            "id",
            "resource",
            "by",
            "start",
            "end",
            "status",
            "price",
            "currency",
            "hold",
            "memo",
        )
    } == {
        "id": 2,
        "resource": "studio",
        "by": "caio",
        "start": "2026-12-05T17:00:00-03:00",
        "end": "2026-12-05T18:00:00-03:00",
        "status": "held",
        "price": "15.00",
        "currency": "CUBO",
        "hold": 2,
        "memo": "ensaio",
    }
    listed = cli.json("bookings", "--resource", "studio", schema="bookings.schema.json")
    assert [(b["id"], b["by"], b["start"], b["end"], b["status"], b["price"]) for b in listed] == [
        (1, "ana", "2026-12-05T14:00:00-03:00", "2026-12-05T17:00:00-03:00", "held", "45.00"),
        (2, "caio", "2026-12-05T17:00:00-03:00", "2026-12-05T18:00:00-03:00", "held", "15.00"),
    ]
    assert cli.error("--as", "ana", "booking", "complete", "1", code=1) == (
        "the booking starts at 2026-12-05 17:00 UTC; it can be completed only after it starts"
    )
    after = "2026-12-05T21:00Z"
    assert cli.error("--as", "bia", "booking", "complete", "1", code=1, now=after) == (
        "bia may not complete booking 1: it needs the admin or a coordinator of cubo"
    )
    done = cli("--as", "ana", "booking", "complete", "1", now=after)
    assert done.stdout == (
        "booking 1 completed: 45.00 CUBO posted to collectives:cubo:resources:studio (transfer 3)\n"
    )
    assert cli.json("--as", "ana", "booking", "complete", "1", code=1, now=after) == {
        "code": "booking_not_held",
        "message": "booking 1 is already completed; only a held booking can be completed",
        "data": {"booking": "1", "status": "completed"},
    }
    assert cli.error(
        "--as", "ana", "booking", "complete", "2", "--amount", "15.01", code=1, now=after
    ) == ("cannot complete for 15.01 CUBO; the booking holds only 15.00 CUBO")
    assert (
        cli.error("--as", "ana", "booking", "complete", "2", "--amount", "1,234", code=2, now=after)
        == "amount '1,234' has 3 decimals; at most 2 are allowed"
    )
    less = cli("--as", "ana", "booking", "complete", "2", "--amount", "10", now=after)
    assert less.stdout == (
        "booking 2 completed: 10.00 CUBO posted to "
        "collectives:cubo:resources:studio (transfer 4); 5.00 CUBO released\n"
    )
    assert cli.json("balance", "collectives:cubo:resources:studio")["balance"] == "55.00"
    assert cli.json("balance", "caio")["balance"] == "-10.00"
    assert [b["charged"] for b in cli.json("bookings", "--status", "completed")] == [
        "45.00",
        "10.00",
    ]
    assert (
        cli.error("--as", "ana", "booking", "complete", "9", code=4) == "booking 9 does not exist"
    )


def test_cancel_void_fee_twice_and_after_the_start(cli: Cli) -> None:
    first = book(cli, "ana", "2026-12-05T14:00", "2026-12-05T17:00")
    second = book(cli, "caio", "2026-12-04T10:00", "2026-12-04T11:00")
    third = book(cli, "ana", "2026-12-06T10:00", "2026-12-06T11:00")
    assert cli.error("--as", "bia", "booking", "cancel", str(first), code=1) == (
        "bia may not cancel booking 1: it needs its booker (ana), the admin or a coordinator "
        "of cubo"
    )
    void = cli("--as", "ana", "booking", "cancel", str(first))
    assert void.stdout == "booking 1 cancelled: hold voided, 45.00 CUBO released (transfer 4)\n"
    assert cli.error("--as", "ana", "booking", "cancel", str(first), code=1) == (
        "booking 1 is already cancelled; only a held booking can be cancelled"
    )
    fee = cli("--as", "caio", "booking", "cancel", str(second), now="2026-12-03T12:00Z")
    assert fee.stdout == (
        "booking 2 cancelled inside the cancellation window: fee 4.50 CUBO posted to "
        "collectives:cubo:resources:studio, 10.50 CUBO released (transfer 5)\n"
    )
    caio = cli.json("balance", "caio")
    assert (caio["balance"], caio["available"]) == ("-4.50", "45.50")
    assert cli.error(
        "--as", "ana", "booking", "cancel", str(third), code=1, now="2026-12-06T13:00Z"
    ) == (
        "the booking started at 2026-12-06 13:00 UTC; a started booking cannot be cancelled, "
        "only completed (possibly for a smaller amount)"
    )
    cancelled = cli.json("bookings", "--status", "cancelled", schema="bookings.schema.json")
    assert [(b["id"], b["charged"], b["resolved_by"]) for b in cancelled] == [
        (second, "4.50", "caio"),
        (first, None, "ana"),
    ]
    # The freed slot can be booked again.
    assert book(cli, "caio", "2026-12-05T14:00", "2026-12-05T15:00") == 4


def test_expire_then_close(cli: Cli) -> None:
    book(cli, "ana", "2026-12-05T14:00", "2026-12-05T17:00")
    assert cli.error("--as", "ana", "resource", "close", "studio", code=1) == (
        "resource studio cannot be closed: 1 booking is held ahead (the first is booking 1); "
        "cancel or complete them first"
    )
    assert cli("--as", "ana", "booking", "expire").stdout == "no bookings to expire\n"
    assert cli.error("--as", "bia", "booking", "expire", code=1) == (
        "bia may not expire bookings: it needs the admin or a coordinator"
    )
    expired = cli.json(
        "--as", "ana", "booking", "expire", now="2026-12-12T20:00Z", schema="bookings.schema.json"
    )
    assert [(b["id"], b["status"], b["resolved_by"]) for b in expired] == [(1, "expired", "ana")]
    assert cli.json("tx", "show", "1")["status"] == "expired"
    assert cli.json("balance", "ana")["available"] == "100.00"
    assert (
        cli("--as", "ana", "resource", "close", "studio").stdout
        == "resource studio is closed to new bookings\n"
    )
    assert (
        cli.error(
            "book", "studio", "--by", "ana", "--from", "2026-12-09T14:00", "--for", "1h", code=1
        )
        == "resource studio is closed to new bookings"
    )
    assert cli.json("resource", "show", "studio")["status"] == "closed"


def test_n_units_and_through_clearing(cli: Cli) -> None:
    book(cli, "caio", "2026-12-05T08:00", "2026-12-05T20:00", resource="van")
    made = cli.json("book", "van", "--by", "ana", "--from", "2026-12-05T10:00", "--for", "PT2H")
    assert made["price"] == "20.00" and made["currency"] == "PALA"
    held = cli.json("tx", "show", str(made["hold"]))
    assert [p["account"] for p in held["postings"]] == [
        "members:ana",
        "collectives:cubo:clearing",
        "network:clearing:cubo",
        "network:clearing:palafita",
        "collectives:palafita:clearing",
        "collectives:palafita:resources:van",
    ]
    assert cli.error(
        "book", "van", "--by", "ana", "--from", "2026-12-05T11:00", "--for", "2h", code=1
    ) == (
        "van is not free from 2026-12-05 11:00 (America/Sao_Paulo) to 2026-12-05 13:00 "
        "(America/Sao_Paulo): all 2 units are booked at some time in that range; free on "
        "2026-12-05: 00:00–10:00, 12:00–24:00"
    )
    assert cli.error(
        "book", "studio", "--by", "bia", "--from", "2026-12-05T10:00", "--for", "1h", code=1
    ) == (
        "not enough available credit: booking studio costs "
        "15.00 CUBO and bia has 0.00 CUBO available"
    )


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "error_code", "message"),
    [
        (
            ("--from", "2026-12-05T14:00", "--to", "2026-12-05T13:00"),
            2,
            "booking_end_before_start",
            "the booking ends (2026-12-05 13:00 (America/Sao_Paulo)) before it starts "
            "(2026-12-05 14:00 (America/Sao_Paulo))",
        ),
        (
            ("--from", "2026-12-05T14:00", "--to", "2026-12-05T14:00"),
            2,
            "booking_zero_duration",
            "the booking starts and ends at 2026-12-05 14:00 (America/Sao_Paulo); it must last "
            "longer than zero",
        ),
        (
            ("--from", "2026-12-05T14:00", "--for", "0m"),
            2,
            "invalid_duration",
            "--for: duration '0m' must be longer than zero",
        ),
        (
            ("--from", "2026-12-05T14:00", "--for", "-1h"),
            2,
            "invalid_duration",
            "--for: duration '-1h' is not valid: write e.g. 30m, 3h, 2d, 1h30m or PT3H",
        ),
        (
            ("--from", "2026-12-05T14:00", "--for", "30m"),
            1,
            "booking_too_short",
            "the booking lasts 30m; this resource is booked for at least 1h",
        ),
        (
            ("--from", "2026-12-05T14:00", "--for", "8h1m"),
            1,
            "booking_too_long",
            "the booking lasts 8h1m; this resource is booked for at most 8h",
        ),
        (
            ("--from", "2026-11-30T14:00", "--for", "1h"),
            1,
            "booking_in_past",
            "the booking starts at 2026-11-30 14:00 (America/Sao_Paulo), which is in the past "
            "(now is "
            "2026-12-01 09:00 (America/Sao_Paulo))",
        ),
        (
            ("--from", "2026-12-01T10:00", "--for", "1h"),
            1,
            "booking_inside_lead_time",
            "this resource is booked at least 2h ahead; 2026-12-01 10:00 (America/Sao_Paulo) is "
            "only "
            "1h from now; the earliest start is 2026-12-01 11:00 (America/Sao_Paulo)",
        ),
        (
            ("--from", "2026-12-05 14h", "--for", "1h"),
            2,
            "invalid_datetime",
            "--from: date and time '2026-12-05 14h' is not valid: write ISO 8601 such as "
            "2026-12-05T14:00 (in the network's time zone) or 2026-12-05T14:00-03:00",
        ),
        (
            ("--from", "2026-12-05T14:00", "--to", "tomorrow"),
            2,
            "invalid_datetime",
            "--to: date and time 'tomorrow' is not valid: write ISO 8601 such as 2026-12-05T14:00 "
            "(in "
            "the network's time zone) or 2026-12-05T14:00-03:00",
        ),
        (
            ("--from", "2018-11-04T00:30", "--for", "1h"),
            2,
            "nonexistent_local_time",
            "--from: 2018-11-04T00:30 does not exist in America/Sao_Paulo: the clocks jump from "
            "00:00 "
            "to 01:00 that day; write a time outside that gap or give an offset",
        ),
        (
            ("--from", "2026-12-05T14:00"),
            2,
            "usage",
            "give the end of the booking with --to or its length with --for (one of them)",
        ),
        (
            ("--from", "2026-12-05T14:00:30", "--for", "1h"),
            2,
            "booking_not_whole_minutes",
            "booking times are whole minutes; 2026-12-05 14:00:30 (America/Sao_Paulo) is not",
        ),
    ],
)
def test_bad_bookings_exit_with_one_clear_error_and_write_nothing(
    cli: Cli, args: tuple[str, ...], code: int, error_code: str, message: str
) -> None:
    error = cli.json("book", "studio", "--by", "ana", *args, code=code)
    assert (error["code"], error["message"]) == (error_code, message)
    assert set(error) == {"code", "message", "data"}  # data: strings, checked by the schema
    assert cli.rows("booking") == 0 and cli.rows("transfer") == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("book", "nope", "--by", "ana", "--from", "2026-12-05T14:00", "--for", "1h"),
            4,
            "resource nope does not exist",
        ),
        (
            ("book", "studio", "--by", "zed", "--from", "2026-12-05T14:00", "--for", "1h"),
            4,
            "member zed does not exist",
        ),
        (
            ("bookings", "--status", "done"),
            2,
            "status 'done' is not one of held, completed, cancelled, expired",
        ),
        (
            ("bookings", "--from", "2026-13-01"),
            2,
            "--from: date '2026-13-01' is not valid: write YYYY-MM-DD, e.g. 2026-12-05",
        ),
        (
            ("bookings", "--from", "2026-12-05", "--to", "2026-12-01"),
            2,
            "--to 2026-12-01 is before --from 2026-12-05",
        ),
        (("bookings", "export"), 2, "choose the export format: --ics"),
        (("calendar", "nope"), 4, "resource nope does not exist"),
        (("booking", "cancel", "7"), 4, "booking 7 does not exist"),
    ],
)
def test_bad_lookups(cli: Cli, args: tuple[str, ...], code: int, message: str) -> None:
    assert cli.error(*args, code=code) == message


# -- views ---------------------------------------------------------------------------------------


def test_calendar_grid_and_json(cli: Cli) -> None:
    book(cli, "ana", "2026-12-05T14:00", "2026-12-05T16:30")
    cancelled = book(cli, "caio", "2026-12-03T10:00", "2026-12-03T11:00")
    cli("--as", "caio", "booking", "cancel", str(cancelled))
    grid = cli("calendar", "studio", "--week", "2026-12-02").stdout
    lines = grid.splitlines()
    assert "Estúdio do Cubo — week of 2026-11-30 (1 unit)" in lines[0]
    header = next(line for line in lines if "hour" in line)
    assert header.split("┃")[2:-1] == [
        " Mon 30/11 ",
        " Tue 01/12 ",
        " Wed 02/12 ",
        " Thu 03/12 ",
        " Fri 04/12 ",
        " Sat 05/12 ",
        " Sun 06/12 ",
    ]

    def row(hour: str) -> list[str]:
        line = next(line for line in lines if line.startswith(f"│ {hour}"))
        return [cell.strip() for cell in line.split("│")[2:-1]]

    assert row("08:00") == ["free"] * 7
    assert row("10:00") == ["free"] * 7  # the cancelled booking frees its hour
    assert row("15:00") == ["free"] * 5 + ["ana", "free"]
    assert row("16:00") == ["free"] * 5 + ["ana", "free"]
    assert not any(line.startswith("│ 07:00") for line in lines)
    week = cli.json("calendar", "studio", "--week", "2026-12-06", schema="calendar.schema.json")
    assert week["week"] == "2026-11-30" and week["zone"] == ZONE and week["units"] == 1
    cells = {row["hour"]: row["cells"] for row in week["rows"]}
    assert cells["16:00"][5] == {"state": "busy", "by": ["ana"], "busiest": 1}
    assert cells["14:00"][5] == {"state": "full", "by": ["ana"], "busiest": 1}
    assert cells["10:00"][3] == {"state": "free", "by": [], "busiest": 0}
    assert [b["status"] for b in week["bookings"]] == ["cancelled", "held"]


def test_ics_export_parsed_back_field_by_field(cli: Cli) -> None:
    from icalendar import Calendar

    network = cli.json("resource", "show", "studio")  # any call: the network id is in the UIDs
    del network
    first = book(cli, "ana", "2026-12-05T14:00", "2026-12-05T17:00")
    second = book(cli, "caio", "2026-12-03T10:00", "2026-12-03T11:00")
    cli("--as", "caio", "booking", "cancel", str(second))
    exported = cli("bookings", "export", "--ics")
    calendar = Calendar.from_ical(exported.stdout)
    assert str(calendar["PRODID"]) == "-//mutualcredit//bookings//EN"
    assert str(calendar["X-WR-CALNAME"]) == "Rede Teste bookings"
    events = calendar.walk("VEVENT")
    with sqlite3.connect(cli.db) as connection:
        network_id = connection.execute("SELECT id FROM network").fetchone()[0]

    def fields(event) -> dict[str, object]:  # type: ignore[no-untyped-def]
        return {
            "uid": str(event["UID"]),
            "start": event["DTSTART"].dt,
            "end": event["DTEND"].dt,
            "stamp": event["DTSTAMP"].dt,
            "summary": str(event["SUMMARY"]),
            "description": str(event["DESCRIPTION"]),
            "status": str(event["STATUS"]),
            "sequence": int(event["SEQUENCE"]),
            "transp": str(event["TRANSP"]),
            "categories": [str(c) for c in event["CATEGORIES"].cats],
            "x_status": str(event["X-MUTUALCREDIT-STATUS"]),
        }

    stamp = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert [fields(e) for e in events] == [
        {
            "uid": f"booking-{second}@{network_id}",
            "start": datetime(2026, 12, 3, 13, tzinfo=UTC),
            "end": datetime(2026, 12, 3, 14, tzinfo=UTC),
            "stamp": stamp,
            "summary": "Estúdio do Cubo — caio",
            "description": f"Booking {second} of studio by caio (cancelled)\nPrice: 15.00 CUBO",
            "status": "CANCELLED",
            "sequence": 1,
            "transp": "TRANSPARENT",
            "categories": ["studio"],
            "x_status": "cancelled",
        },
        {
            "uid": f"booking-{first}@{network_id}",
            "start": datetime(2026, 12, 5, 17, tzinfo=UTC),
            "end": datetime(2026, 12, 5, 20, tzinfo=UTC),
            "stamp": stamp,
            "summary": "Estúdio do Cubo — ana",
            "description": f"Booking {first} of studio by ana (held)\nPrice: 45.00 CUBO",
            "status": "CONFIRMED",
            "sequence": 0,
            "transp": "OPAQUE",
            "categories": ["studio"],
            "x_status": "held",
        },
    ]
    # An update is reflected on re-export: same UID, a higher SEQUENCE, the new status.
    cli("--as", "ana", "booking", "complete", str(first), now="2026-12-05T20:00Z")
    again = Calendar.from_ical(
        cli("bookings", "export", "--ics", "--resource", "studio", now="2026-12-06T00:00Z").stdout
    ).walk("VEVENT")
    completed = fields(again[1])
    assert (
        completed["uid"],
        completed["sequence"],
        completed["status"],
        completed["x_status"],
        completed["stamp"],
    ) == (
        f"booking-{first}@{network_id}",
        1,
        "CONFIRMED",
        "completed",
        datetime(2026, 12, 6, tzinfo=UTC),
    )
    assert (
        Calendar.from_ical(cli("bookings", "export", "--ics", "--resource", "van").stdout).walk(
            "VEVENT"
        )
        == []
    )


def test_bookings_table_and_filters(cli: Cli) -> None:
    book(cli, "ana", "2026-12-05T14:00", "2026-12-05T17:00")
    book(cli, "caio", "2026-12-07T22:00", "2026-12-08T02:00", resource="van")
    table = cli("bookings").stdout
    assert "2026-12-05 14:00–17:00" in table and "2026-12-07 22:00 – 2026-12-08 02:00" in table
    assert "20.00 PALA" in table
    by_day = cli.json("bookings", "--from", "2026-12-08", "--to", "2026-12-08")
    assert [b["resource"] for b in by_day] == ["van"]
    assert [b["by"] for b in cli.json("bookings", "--by", "ana")] == ["ana"]
    assert cli.json("booking", "show", "2", schema="booking.schema.json")["resource"] == "van"
    series = cli.json(
        "book",
        "studio",
        "--by",
        "ana",
        "--from",
        "2026-12-06T10:00",
        "--for",
        "1h",
        "--weekly",
        "3",
        "--memo",
        "ensaio semanal",
        schema="bookings.schema.json",
    )
    assert [(b["id"], b["start"], b["price"]) for b in series] == [
        (3, "2026-12-06T10:00:00-03:00", "15.00"),
        (4, "2026-12-13T10:00:00-03:00", "15.00"),
        (5, "2026-12-20T10:00:00-03:00", "15.00"),
    ]
    assert cli.error(
        "book",
        "studio",
        "--by",
        "ana",
        "--from",
        "2026-12-05T16:00",
        "--for",
        "1h",
        "--weekly",
        "2",
        code=1,
    ).startswith("studio is not free from 2026-12-05 16:00")
    assert cli.rows("booking") == 5
