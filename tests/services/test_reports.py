"""Settlement report figures on a small network worked out by hand (SQLite and PostgreSQL).

The story, in São Paulo time (the network's zone):

- 2026-10-31 12:00  the cubo fund pays ana 50.00 (ana opens November with 50.00)
- 2026-11-02 10:00  ana pays bia 30.00 for 2.5 hours
- 2026-11-05 23:30  ana pays caio 105.00 for 1 hour (02:30 UTC on the 6th: still the 5th here)
- 2026-11-30 23:59  caio pays bia 5.00 (03:00 UTC on December 1st minus a minute)
- 2026-12-01 00:30  bia pays ana 1.00 (December)
- 2026-12-01 10:00  ana's credit line goes from 100.00 to 200.00

November, by hand — ana: 50.00 − 30.00 − 105.00 = −85.00, 85 % of her line of
100.00 (in force at the end of November); bia: 30.00 + 5.00 = 35.00; caio:
105.00 − 5.00 = 100.00.  Cubo's accounts in CUBO (ana, bia, fund): opening
50.00 + 0 − 50.00 = 0.00, in 35.00, out 135.00, closing −100.00, which is its
position; palafita is owed 100.00.  Netting: cubo pays palafita 100.00.
"""

from __future__ import annotations

from datetime import date

import pytest

from mutualcredit.domain.errors import InvalidDate, NotFound
from mutualcredit.schema_files import validate
from mutualcredit.services import network as setup
from mutualcredit.services import reports
from tests.support import Net, make_network


def at(monkeypatch: pytest.MonkeyPatch, moment: str) -> None:
    monkeypatch.setenv("MUTUALCREDIT_NOW", moment)


@pytest.fixture
def story(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Net:
    at(monkeypatch, "2026-10-01T09:00:00-03:00")
    net = make_network(db_url)
    net.add_member("davi", "cubo", "0")  # never trades: inactive
    at(monkeypatch, "2026-10-31T12:00:00-03:00")
    net.pay("collectives:cubo:fund", "ana", "50.00", memo="produção")
    at(monkeypatch, "2026-11-02T10:00:00-03:00")
    net.pay("ana", "bia", "30.00", memo="ensaio", meta={"hours": "2.50"})
    at(monkeypatch, "2026-11-05T23:30:00-03:00")
    net.pay("ana", "caio", "105.00", memo="mixagem", meta={"hours": "1.00"})
    at(monkeypatch, "2026-11-30T23:59:00-03:00")
    net.pay("caio", "bia", "5.00", memo="café")
    at(monkeypatch, "2026-12-01T00:30:00-03:00")
    net.pay("bia", "ana", "1.00", memo="troco")
    at(monkeypatch, "2026-12-01T10:00:00-03:00")
    setup.set_limit(
        net.ledger,
        net["banco"],
        account="members:ana",
        reason="more festivals",
        limit_lower=-20_000,
    )
    at(monkeypatch, "2026-12-02T12:00:00-03:00")
    return net


def november(net: Net) -> reports.Period:
    return reports.parse_period(net.ledger, period="2026-11")


def test_periods_are_local_days_both_included(story: Net) -> None:
    period = november(story)
    assert (period.first, period.last) == (date(2026, 11, 1), date(2026, 11, 30))
    assert (period.start, period.end) == (
        "2026-11-01T03:00:00.000000Z",
        "2026-12-01T03:00:00.000000Z",
    )
    same = reports.parse_period(story.ledger, first="2026-11-01", last="2026-11-30")
    assert same == period


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (
            {},
            reports.InvalidPeriod,
            "the period is empty: give --period YYYY-MM or --from DATE --to DATE",
        ),
        (
            {"first": "2026-11-30", "last": "2026-11-01"},
            reports.InvalidPeriod,
            "the period is empty: --to 2026-11-01 is before --from 2026-11-30",
        ),
        (
            {"first": "2026-11-01"},
            reports.InvalidPeriod,
            "the period needs --to too (both days are included)",
        ),
        (
            {"period": "2026-13"},
            reports.InvalidPeriod,
            "--period '2026-13' is not a month: write YYYY-MM, e.g. 2026-11",
        ),
        (
            {"first": "2026-02-31", "last": "2026-03-01"},
            InvalidDate,
            "--from '2026-02-31' is not a date (YYYY-MM-DD)",
        ),
        (
            {"period": "2026-12"},
            reports.PeriodNotOver,
            "the period 2026-12-01 to 2026-12-31 ends after today (2026-12-02 in "
            "America/Sao_Paulo); "
            "choose one that ends today or earlier",
        ),
    ],
)
def test_bad_periods_are_refused(story: Net, arguments: dict, error: type, message: str) -> None:
    with pytest.raises(error) as raised:
        reports.parse_period(story.ledger, **arguments)
    assert raised.value.message == message


def test_members_figures_are_exact(story: Net) -> None:
    document = reports.settlement_report(story.ledger, november(story))
    members = {row["handle"]: row for row in document["members"]}
    assert members["ana"] == {
        "handle": "ana",
        "name": "ana",
        "collective": "cubo",
        "account": "members:ana",
        "currency": "CUBO",
        "opening": "50.00",
        "in": "0.00",
        "out": "135.00",
        "closing": "-85.00",
        "turnover": "135.00",
        "exchanges": 2,
        "hours": "3.50",
        "limit_lower": "-100.00",
        "limit_use": "85.00",
        "status": "near_limit",
    }
    assert {
        key: members["bia"][key]
        for key in (
            "opening",
            "in",
            "out",
            "closing",
            "turnover",
            "exchanges",
            "hours",
            "limit_lower",
            "limit_use",
            "status",
        )
    } == {
        "opening": "0.00",
        "in": "35.00",
        "out": "0.00",
        "closing": "35.00",
        "turnover": "35.00",
        "exchanges": 2,
        "hours": "2.50",
        "limit_lower": "0.00",
        "limit_use": None,
        "status": "ok",
    }
    assert {
        key: members["caio"][key]
        for key in (
            "currency",
            "opening",
            "in",
            "out",
            "closing",
            "exchanges",
            "hours",
            "limit_use",
        )
    } == {
        "currency": "PALA",
        "opening": "0.00",
        "in": "105.00",
        "out": "5.00",
        "closing": "100.00",
        "exchanges": 2,
        "hours": "1.00",
        "limit_use": "0.00",
    }
    assert members["davi"]["exchanges"] == 0
    assert document["inactive_members"] == ["davi"]
    assert document["limits"] == [
        {
            "handle": "ana",
            "collective": "cubo",
            "currency": "CUBO",
            "closing": "-85.00",
            "limit_lower": "-100.00",
            "limit_use": "85.00",
            "status": "near_limit",
        }
    ]
    validate(document, "settlement-report.schema.json")


def test_collectives_positions_netting_and_circulation(story: Net) -> None:
    document = reports.settlement_report(story.ledger, november(story))
    cubo, palafita = document["collectives"]
    assert cubo == {
        "slug": "cubo",
        "name": "Espaço Cubo",
        "members": 3,
        "currency": "CUBO",
        "opening": "0.00",
        "in": "35.00",
        "out": "135.00",
        "closing": "-100.00",
        "turnover": "170.00",
        "exchanges": 3,
        "hours": "3.50",
        "fund": "-50.00",
        "position": "-100.00",
        "position_limit": "1000.00",
    }
    assert (
        palafita["opening"],
        palafita["in"],
        palafita["out"],
        palafita["closing"],
        palafita["exchanges"],
        palafita["hours"],
        palafita["position"],
    ) == ("0.00", "105.00", "5.00", "100.00", 2, "1.00", "100.00")
    assert document["positions"] == [
        {"collective": "cubo", "currency": "CARD", "position": "-100.00"},
        {"collective": "palafita", "currency": "CARD", "position": "100.00"},
    ]
    assert document["netting"] == [
        {"from": "cubo", "to": "palafita", "amount": "100.00", "currency": "CARD"}
    ]
    # CUBO: positive balances bia 35.00; paid out: ana 135.00 -> velocity 3.857...
    assert document["circulation"] == [
        {"currency": "CUBO", "circulation": "35.00", "turnover": "135.00", "velocity": "3.86"},
        {"currency": "PALA", "circulation": "100.00", "turnover": "5.00", "velocity": "0.05"},
    ]
    assert document["turnover_per_day"] == [
        {"date": "2026-11-02", "currency": "CUBO", "amount": "30.00"},
        {"date": "2026-11-05", "currency": "CUBO", "amount": "105.00"},
        {"date": "2026-11-30", "currency": "PALA", "amount": "5.00"},
    ]
    story.assert_consistent()


def test_december_starts_from_november_and_uses_the_new_limit(story: Net) -> None:
    period = reports.parse_period(story.ledger, first="2026-12-01", last="2026-12-02")
    document = reports.settlement_report(story.ledger, period)
    ana = next(row for row in document["members"] if row["handle"] == "ana")
    assert (
        ana["opening"],
        ana["in"],
        ana["closing"],
        ana["limit_lower"],
        ana["limit_use"],
        ana["status"],
    ) == ("-85.00", "1.00", "-84.00", "-200.00", "42.00", "ok")
    assert [row["position"] for row in document["positions"]] == ["-100.00", "100.00"]


def test_collective_filter_and_unknown_collective(story: Net) -> None:
    document = reports.settlement_report(
        story.ledger, november(story), collective="palafita", threshold=1
    )
    assert [row["handle"] for row in document["members"]] == ["caio"]
    assert [row["slug"] for row in document["collectives"]] == ["palafita"]
    assert len(document["positions"]) == 2  # netting needs every position
    with pytest.raises(NotFound) as raised:
        reports.settlement_report(story.ledger, november(story), collective="nowhere")
    assert (raised.value.message, raised.value.exit_code) == (
        "collective nowhere does not exist",
        4,
    )


def test_summaries_fold_new_transfers_once_and_in_any_chunk_size(
    story: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = reports.settlement_report(story.ledger, november(story))
    again = reports.settlement_report(story.ledger, november(story))
    assert again["members"] == first["members"]
    # A late transfer dated in November (e.g. an import replayed with its own date) counts.
    at(monkeypatch, "2026-11-20T12:00:00-03:00")
    story.pay("bia", "ana", "10.00", meta={"hours": "0.125"})
    at(monkeypatch, "2026-12-02T12:00:00-03:00")
    later = reports.settlement_report(story.ledger, november(story))
    ana = next(row for row in later["members"] if row["handle"] == "ana")
    assert (ana["in"], ana["closing"], ana["hours"], ana["exchanges"]) == (
        "10.00",
        "-75.00",
        "3.625",
        3,
    )
    # Rebuilding the summaries one event at a time gives exactly the same report.
    with story.ledger.engine.begin() as connection:
        for table in (
            "report_account_day",
            "report_account_month",
            "report_collective_day",
            "report_currency_day",
        ):
            connection.exec_driver_sql(f"DELETE FROM {table}")
        connection.exec_driver_sql("UPDATE report_watermark SET event_seq = 0")
    monkeypatch.setattr(reports, "FOLD_EVENTS_PER_TRANSACTION", 1)
    rebuilt = reports.settlement_report(story.ledger, november(story))
    for key in ("members", "collectives", "positions", "circulation", "turnover_per_day"):
        assert rebuilt[key] == later[key]


def test_resources_and_income_come_from_accounts(story: Net, monkeypatch) -> None:
    at(monkeypatch, "2026-10-02T09:00:00-03:00")
    setup.add_account(
        story.ledger,
        story["banco"],
        name="collectives:cubo:resources:studio",
        currency="CUBO",
        owner="cubo",
        limit_lower=None,
        limit_upper=None,
    )
    at(monkeypatch, "2026-11-10T15:00:00-03:00")
    story.pay("bia", "collectives:cubo:resources:studio", "15.00", memo="1h de estúdio")
    at(monkeypatch, "2026-12-02T12:00:00-03:00")
    document = reports.settlement_report(story.ledger, november(story))
    studio = next(row for row in document["resources"] if row["resource"] == "studio")
    assert (studio["account"], studio["collective"], studio["revenue"]) == (
        "collectives:cubo:resources:studio",
        "cubo",
        "15.00",
    )
    assert document["income"] == {
        "accounts": [],
        "issued": [],
        "import_batches": 0,
        "imported_transfers": 0,
    }


def test_hours_parse_and_format_exactly() -> None:
    assert reports.parse_hours("2.5") == 2_500_000
    assert reports.parse_hours("0.000001") == 1
    assert reports.parse_hours("-1") is None
    assert reports.parse_hours("1e3") is None
    assert reports.parse_hours(True) is None
    assert reports.format_hours(3_500_000) == "3.50"
    assert reports.format_hours(3_625_000) == "3.625"
    assert reports.format_hours(0) == "0.00"


def test_csv_rows_carry_every_figure_of_the_json(story: Net) -> None:
    import csv
    import io

    document = reports.settlement_report(story.ledger, november(story))
    buffer = io.StringIO()
    reports.write_report_csv(document, buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    members = [row for row in rows if row["section"] == "member"]
    assert [row["member"] for row in members] == [row["handle"] for row in document["members"]]
    assert members[0]["closing"] == "-85.00" and members[0]["hours"] == "3.50"
    assert [
        (row["from"], row["to"], row["amount"]) for row in rows if row["section"] == "netting"
    ] == [("cubo", "palafita", "100.00")]
