"""Settling a period: one atomic step, at most n-1 card transfers, refused when settled."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from mutualcredit.domain.errors import Refused
from mutualcredit.schema_files import validate
from mutualcredit.services import network as setup
from mutualcredit.services import reports
from mutualcredit.services.posting import NotAuthorised
from mutualcredit.services.settlement import AlreadySettled, SettlementLimit, settle
from tests.services.test_reports import at
from tests.services.test_reports import story as story  # noqa: F401 - the fixture
from tests.support import Net


def november(net: Net) -> reports.Period:
    return reports.parse_period(net.ledger, period="2026-11")


def settlements(net: Net) -> list[tuple]:
    with net.ledger.read() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    "SELECT first_day, last_day, settled_by, transfers, total, positions "
                    "FROM settlement ORDER BY id"
                )
            )
        ]


def test_dry_run_shows_the_transfers_and_writes_nothing(story: Net) -> None:  # noqa: F811
    document = settle(story.ledger, story["banco"], november(story), dry_run=True)
    assert document["transfers"] == [
        {"id": None, "from": "cubo", "to": "palafita", "amount": "100.00", "currency": "CARD"}
    ]
    assert document["dry_run"] is True and document["id"] is None
    validate(document, "settle-result.schema.json")
    assert settlements(story) == []
    assert story.balance("network:clearing:cubo") == "-100.00"


def test_settle_brings_every_position_to_zero_atomically(story: Net) -> None:  # noqa: F811
    document = settle(story.ledger, story["banco"], november(story))
    validate(document, "settle-result.schema.json")
    [transfer] = document["transfers"]
    assert (transfer["from"], transfer["to"], transfer["amount"]) == ("cubo", "palafita", "100.00")
    assert story.balance("network:clearing:cubo") == "0.00"
    assert story.balance("network:clearing:palafita") == "0.00"
    assert settlements(story) == [
        (
            "2026-11-01",
            "2026-11-30",
            "banco",
            1,
            10_000,
            json.dumps({"cubo": -10_000, "palafita": 10_000}),
        )
    ]
    with story.ledger.read() as connection:
        kind, batch_kind, body = connection.execute(
            text(
                "SELECT t.kind, b.kind, t.body FROM transfer t JOIN batch b ON b.id = t.batch_id "
                "WHERE t.id = :id"
            ),
            {"id": transfer["id"]},
        ).one()
        record = connection.execute(
            text("SELECT r.type, r.author FROM record r JOIN settlement s ON s.record_id = r.id")
        ).one()
    assert (kind, batch_kind, tuple(record)) == (
        "settlement",
        "settlement",
        ("settlement", "banco"),
    )
    assert json.loads(body)["meta"] == {"settlement": {"first": "2026-11-01", "last": "2026-11-30"}}
    story.assert_consistent()
    # November still shows what was owed, and that it was settled; December starts at zero.
    report = reports.settlement_report(story.ledger, november(story))
    assert [row["position"] for row in report["positions"]] == ["-100.00", "100.00"]
    assert [(row["first"], row["last"], row["settled_by"]) for row in report["settlements"]] == [
        ("2026-11-01", "2026-11-30", "banco")
    ]
    december = reports.settlement_report(
        story.ledger, reports.parse_period(story.ledger, first="2026-12-01", last="2026-12-02")
    )
    assert [row["position"] for row in december["positions"]] == ["0.00", "0.00"]
    assert december["netting"] == []


def test_an_overlapping_or_earlier_period_is_refused_naming_when_and_by_whom(story: Net) -> None:  # noqa: F811
    done = settle(story.ledger, story["banco"], november(story))
    with pytest.raises(AlreadySettled) as raised:
        settle(
            story.ledger,
            story["banco"],
            reports.parse_period(story.ledger, first="2026-11-15", last="2026-12-01"),
        )
    assert raised.value.message == (
        "the period 2026-11-15 to 2026-12-01 overlaps the period 2026-11-01 to 2026-11-30, "
        f"settled at {done['settled_at']} by banco"
    )
    assert raised.value.exit_code == 1
    with pytest.raises(AlreadySettled) as raised:
        settle(
            story.ledger,
            story["banco"],
            reports.parse_period(story.ledger, period="2026-10"),
            dry_run=True,
        )
    assert raised.value.message == (
        f"positions up to 2026-11-30 were settled at {done['settled_at']} by banco (period "
        "2026-11-01 to 2026-11-30); settle a period that starts after 2026-11-30"
    )
    assert len(settlements(story)) == 1


def test_only_an_admin_settles(story: Net) -> None:  # noqa: F811
    with pytest.raises(NotAuthorised):
        settle(story.ledger, story["ana"], november(story))
    assert settlements(story) == []


def test_a_settlement_past_a_limit_is_refused_saying_what_to_change(
    story: Net, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: F811
    # Palafita may not be owed less than 0.00 from now on, and in December caio spends
    # 60.00 in cubo: its position is 40.00, so paying back November's 100.00 would take
    # it to -60.00.
    setup.set_limit(
        story.ledger,
        story["banco"],
        account="network:clearing:palafita",
        reason="palafita may not owe",
        limit_lower=0,
    )
    story.pay("caio", "bia", "60.00")
    with pytest.raises(SettlementLimit) as raised:
        settle(story.ledger, story["banco"], november(story))
    assert raised.value.message == (
        "settling would break a limit: network:clearing:palafita would reach -60.00 CARD; "
        "limit is 0.00 CARD; change it first (mutualcredit limit set "
        "network:clearing:palafita --limit 60.00 --reason ...) and settle again"
    )
    assert isinstance(raised.value, Refused) and raised.value.exit_code == 1
    assert settlements(story) == []
    assert story.balance("network:clearing:palafita") == "40.00"
    story.assert_consistent()


def test_zero_positions_settle_with_no_transfers(story: Net) -> None:  # noqa: F811
    settle(story.ledger, story["banco"], november(story))
    period = reports.parse_period(story.ledger, first="2026-12-01", last="2026-12-02")
    document = settle(story.ledger, story["banco"], period)
    assert document["transfers"] == [] and document["id"] is not None
    assert [row[:4] for row in settlements(story)] == [
        ("2026-11-01", "2026-11-30", "banco", 1),
        ("2026-12-01", "2026-12-02", "banco", 0),
    ]
    story.assert_consistent()


def test_three_collectives_need_at_most_two_transfers(story: Net, monkeypatch) -> None:  # noqa: F811
    from fractions import Fraction

    at(monkeypatch, "2026-10-01T10:00:00-03:00")
    setup.add_collective(
        story.ledger, story["banco"], slug="massa", name="Massa", currency="MASSA", rate=Fraction(1)
    )
    story.add_member("iara", "massa", "100")
    at(monkeypatch, "2026-11-10T10:00:00-03:00")
    story.pay("iara", "ana", "40.00")  # massa -40, cubo -60
    at(monkeypatch, "2026-12-02T12:00:00-03:00")
    document = settle(story.ledger, story["banco"], november(story))
    assert [(row["from"], row["to"], row["amount"]) for row in document["transfers"]] == [
        ("cubo", "palafita", "60.00"),
        ("massa", "palafita", "40.00"),
    ]
    for slug in ("cubo", "palafita", "massa"):
        assert story.balance(f"network:clearing:{slug}") == "0.00"
    story.assert_consistent()
