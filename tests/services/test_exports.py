"""Streaming exports write exactly what the export_names renderers write, transfer by transfer."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from sqlalchemy import text

from mutualcredit.domain import export_names as names
from mutualcredit.domain.errors import UsageError
from mutualcredit.services.exports import export
from tests.services.test_reports import at
from tests.services.test_reports import story as story  # noqa: F401 - the fixture
from tests.support import Net

HOSTILE = '(x) a; b "q" \\ 🎸 שלום'


def expected(net: Net, *, beancount: bool) -> list[str]:
    """Each posted transfer rendered by export_names from what the database holds."""
    from zoneinfo import ZoneInfo

    from mutualcredit.services.reports import LocalDays

    days = LocalDays(ZoneInfo(net.ledger.network.timezone))
    blocks = []
    with net.ledger.read() as connection:
        for row in connection.execute(
            text(
                "SELECT id, kind, created_at, memo, body FROM transfer WHERE kind != 'hold' "
                "ORDER BY id"
            )
        ):
            postings = connection.execute(
                text(
                    "SELECT a.name, p.currency, p.amount FROM posting p JOIN account a "
                    "ON a.id = p.account_id WHERE p.transfer_id = :id ORDER BY p.id"
                ),
                {"id": row.id},
            ).all()
            hours = json.loads(row.body)["meta"].get("hours")
            transaction = names.ExportTransaction(
                date=date.fromisoformat(days.day(row.created_at)),
                memo=row.memo,
                transfer_id=str(row.id),
                hours=hours,
                metadata=(("kind", row.kind),),
                postings=tuple(
                    names.ExportPosting(
                        account=name, currency=currency, amount=int(amount), scale=2
                    )
                    for name, currency, amount in postings
                ),
            )
            render = (
                names.render_beancount_transaction
                if beancount
                else names.render_hledger_transaction
            )
            blocks.append(render(transaction))
    return blocks


def transactions(journal: str) -> list[str]:
    return [block + "\n" for block in journal.split("\n\n") if " * " in block.split("\n")[0]]


@pytest.mark.parametrize("beancount", [False, True], ids=["hledger", "beancount"])
def test_export_equals_the_renderers(story: Net, monkeypatch, beancount: bool) -> None:  # noqa: F811
    at(monkeypatch, "2026-11-10T10:00:00-03:00")
    story.pay("ana", "bia", "1.00", memo=HOSTILE, meta={"hours": "0.25"})
    out = io.StringIO()
    summary = export(story.ledger, "beancount" if beancount else "hledger", out)
    assert transactions(out.getvalue()) == expected(story, beancount=beancount)
    assert (summary.transfers, summary.first, summary.last) == (6, "2026-10-31", "2026-12-01")


def test_a_period_selects_local_days(story: Net) -> None:  # noqa: F811
    out = io.StringIO()
    summary = export(story.ledger, "csv", out, first=date(2026, 11, 5), last=date(2026, 11, 30))
    # ana -> caio at 23:30 on the 5th (02:30 UTC on the 6th) and caio -> bia at 23:59 on the
    # 30th (02:59 UTC on December 1st) are in; bia -> ana at 00:30 on December 1st is not.
    assert (summary.transfers, summary.postings) == (2, 12)
    assert out.getvalue().splitlines()[0] == (
        "transfer_id,date,created_at,kind,memo,hours,account,currency,amount"
    )
    with pytest.raises(UsageError) as raised:
        export(story.ledger, "csv", out, first=date(2026, 11, 5), last=date(2026, 11, 4))
    assert raised.value.message == (
        "the period is empty: --to 2026-11-04 is before --from 2026-11-05"
    )
