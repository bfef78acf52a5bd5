"""PostgreSQL: a lone payment, hold or fee is checked and written by ONE statement.

``posting._post_one_statement`` must write exactly the rows the full path
writes (same ids, bodies, postings, totals, events and chain hashes), and when
its guard fails — a used idempotency key, a closed account, a limit, a revoked
key — write nothing at all and draw no id, so that the full path answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from mutualcredit.domain.errors import MutualCreditError
from mutualcredit.domain.transfers import TransferDraft
from mutualcredit.services import key_events, network, posting
from mutualcredit.services.clock import iso
from mutualcredit.services.context import Ledger
from mutualcredit.services.copy import copy_ledger
from mutualcredit.services.payments import new_key, resolve_account, route
from mutualcredit.services.posting import PostResult, SignedTransfer, post_signed, sign
from mutualcredit.services.verify import verify_ledger
from tests.support import Net, drop_postgres_schema, make_network, postgres_schema_url

pytestmark = pytest.mark.postgres


def signed_payment(
    net: Net,
    author: str,
    payer: str,
    payee: str,
    amount: int,
    *,
    kind: str = "payment",
    key: str | None = None,
    expires_in: timedelta | None = None,
) -> SignedTransfer:
    ledger = net.ledger
    moment = datetime.now(UTC)
    postings = route(ledger, resolve_account(ledger, payer), resolve_account(ledger, payee), amount)
    draft = TransferDraft(
        network=ledger.network.id,
        kind=kind,
        author=author,
        key=key or new_key(),
        postings=postings,
        created_at=iso(moment),
        memo=f"{kind} {amount}",
        meta={"from": payer, "to": payee},
        expires_at=iso(moment + expires_in) if expires_in else None,
    )
    return sign(ledger, draft, net[author])


def table_rows(ledger: Ledger) -> dict[str, list[tuple]]:
    """Every row the posting function writes, in a stable order."""
    queries = {
        "transfer": "SELECT * FROM transfer ORDER BY id",
        "posting": "SELECT * FROM posting ORDER BY id",
        "event": "SELECT * FROM event ORDER BY seq",
        "chain_head": "SELECT * FROM chain_head",
        "account": "SELECT * FROM account ORDER BY id",
        "transfer_ids": "SELECT last_value, is_called FROM transfer_id_seq",
    }
    with ledger.read() as connection:
        return {
            table: [tuple(row) for row in connection.execute(text(sql))]
            for table, sql in queries.items()
        }


@pytest.fixture
def twin(pg_url: str) -> Iterator[tuple[Net, Ledger]]:
    """The test network, and an exact copy of it in a second schema."""
    net = make_network(pg_url)
    net.add_member("duda", "cubo", "0")
    url, schema = postgres_schema_url()
    try:
        copy_ledger(net.ledger, url)
        yield net, Ledger.open(url)
    finally:
        drop_postgres_schema(schema)


def answer(ledger: Ledger, signed: SignedTransfer) -> PostResult | str:
    try:
        return post_signed(ledger, signed)
    except MutualCreditError as error:
        return error.code


def test_one_statement_writes_exactly_what_the_full_path_writes(
    twin: tuple[Net, Ledger], monkeypatch: pytest.MonkeyPatch
) -> None:
    net, copy = twin
    written: list[PostResult | None] = []
    one_statement = posting._post_one_statement

    def spy(ledger: Ledger, signed: SignedTransfer) -> PostResult | None:
        result = one_statement(ledger, signed)
        written.append(result)
        return result

    monkeypatch.setattr(posting, "_post_one_statement", spy)
    first = signed_payment(net, "ana", "ana", "bia", 2_500)
    sequence = [
        first,
        signed_payment(net, "ana", "ana", "caio", 1_200),  # through clearing: six postings
        signed_payment(net, "bia", "bia", "ana", 700),
        signed_payment(net, "ana", "ana", "bia", 300, kind="hold", expires_in=timedelta(days=1)),
        signed_payment(net, "ana", "ana", "duda", 150, kind="fee"),
        first,  # a replay: the original transfer, nothing written
        signed_payment(net, "ana", "ana", "bia", 100, key=first.draft.key),  # key reused
        signed_payment(net, "duda", "duda", "ana", 151),  # duda has the fee of 1.50, limit 0
        signed_payment(net, "bia", "bia", "ana", 1_801),  # bia has 18.00; ana's hold adds none
        signed_payment(net, "caio", "caio", "ana", 4_900),  # through clearing, within 50.00
        signed_payment(net, "banco", "ana", "bia", 10),  # the admin's role decides
    ]
    answers = []
    for signed in sequence:
        monkeypatch.setattr(posting, "ONE_STATEMENT", True)
        mine = answer(net.ledger, signed)
        monkeypatch.setattr(posting, "ONE_STATEMENT", False)
        answers.append((mine, answer(copy, signed)))
    assert [mine for mine, _ in answers] == [full for _, full in answers]
    assert [
        type(mine).__name__ if isinstance(mine, PostResult) else mine for mine, _ in answers
    ] == [
        "PostResult",
        "PostResult",
        "PostResult",
        "PostResult",
        "PostResult",
        "PostResult",
        "idempotency_conflict",
        "limit_lower_exceeded",
        "limit_lower_exceeded",
        "PostResult",
        "PostResult",
    ]
    # Six written by the one statement; the replay and the refusals went down the full path
    # after a statement that wrote nothing, the admin's payment without one (roles decide).
    assert [result is not None for result in written] == [True] * 5 + [False] * 4 + [True, False]
    mine_rows, full_rows = table_rows(net.ledger), table_rows(copy)
    assert mine_rows == full_rows
    assert [row[2] for row in mine_rows["transfer"][-7:]] == ["posted"] * 3 + ["pending"] + [
        "posted"
    ] * 3
    assert verify_ledger(net.ledger, workers=1).problems == []
    net.assert_consistent()


def test_a_guard_that_fails_writes_nothing_and_draws_no_id(pg_url: str) -> None:
    net = make_network(pg_url)
    ledger = net.ledger
    net.add_member("duda", "cubo", "10")
    net.add_member("eva", "cubo", "0")
    assert post_signed(ledger, signed_payment(net, "ana", "ana", "bia", 100)).transfer_id
    used = signed_payment(net, "ana", "ana", "bia", 100)
    post_signed(ledger, used)
    network.set_limit(ledger, net["banco"], account="members:bia", reason="cap", limit_upper=2_000)
    refused = {
        "replay": used,
        "idempotency key taken": signed_payment(net, "ana", "ana", "bia", 5, key=used.draft.key),
        "lower limit": signed_payment(net, "duda", "duda", "ana", 1_001),
        "upper limit": signed_payment(net, "ana", "ana", "bia", 1_801),
        "hold counts against the limit": signed_payment(
            net, "duda", "duda", "ana", 1_000, kind="hold", expires_in=timedelta(hours=1)
        ),
    }
    post_signed(
        ledger,
        signed_payment(net, "duda", "duda", "ana", 1, kind="hold", expires_in=timedelta(hours=1)),
    )
    closing = signed_payment(net, "ana", "ana", "eva", 5)
    revoked = signed_payment(net, "caio", "caio", "ana", 5)
    network.close_account(ledger, net["banco"], name="members:eva")
    key_events.revoke_key(ledger, net["banco"], handle="caio")
    refused |= {"closed account": closing, "revoked key": revoked}
    before = table_rows(ledger)
    for what, signed in refused.items():
        assert posting._post_one_statement(ledger, signed) is None, what
        assert table_rows(ledger) == before, what
    # The full path then answers each as before there was a one-statement path.
    assert [answer(ledger, signed) for signed in refused.values()] == [
        post_signed(ledger, used),
        "idempotency_conflict",
        "limit_lower_exceeded",
        "limit_upper_exceeded",
        "limit_lower_exceeded",
        "account_closed",
        "key_revoked",
    ]
    # No id was drawn for any of them: the next transfer takes the next id, as on SQLite.
    last = before["transfer"][-1][0]
    assert post_signed(ledger, signed_payment(net, "ana", "ana", "bia", 5)).transfer_id == last + 1
    assert verify_ledger(ledger, workers=1).problems == []


def test_accounts_facts_are_read_once_and_missing_accounts_are_not_cached(pg_url: str) -> None:
    net = make_network(pg_url)
    ledger = net.ledger
    facts = posting.account_facts(ledger, ["members:ana", "members:nobody"])
    assert list(facts) == ["members:ana"]
    assert facts["members:ana"].owner == "ana" and facts["members:ana"].currency == "CUBO"
    assert ("facts", "members:nobody") not in ledger.cache
    ledger.write(
        lambda connection: connection.execute(
            text("UPDATE account SET owner = 'bia' WHERE name = 'members:ana'")
        )
    )  # facts never change
    assert posting.account_facts(ledger, ["members:ana"])["members:ana"].owner == "ana"
    net.add_member("nobody", "cubo", "0")
    assert list(posting.account_facts(ledger, ["members:nobody"])) == ["members:nobody"]
