"""Payment requests: asked by the payee, accepted (signed) or declined by the payer, once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from mutualcredit.domain.durations import parse_duration
from mutualcredit.domain.errors import Refused
from mutualcredit.services import requests as rq
from mutualcredit.services.payments import transfer_row
from mutualcredit.services.verify import verify_ledger
from tests.support import Net

T0 = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)


def ask(net: Net, payer: str = "ana", payee: str = "bia", amount: str = "25.00", **kw):  # type: ignore[no-untyped-def]
    signer = kw.pop("signer", payee)
    return rq.create_request(
        net.ledger,
        net[signer],
        payer=payer,
        payee=payee,
        amount=net.amount(amount),
        memo=kw.pop("memo", "fotos do show"),
        **kw,
    )


def assert_verified(net: Net) -> None:
    net.assert_consistent()
    report = verify_ledger(net.ledger, workers=1)
    assert report.problems == []


def test_accept_pays_and_the_ledger_holds_both_signatures(net: Net) -> None:
    request = ask(net)
    assert (
        request.id,
        request.status,
        request.payer,
        request.payee,
        request.amount,
        request.currency,
        request.author,
    ) == (1, "open", "members:ana", "members:bia", 2500, "CUBO", "bia")
    accepted, result = rq.accept_request(net.ledger, net["ana"], request_id=request.id)
    assert (accepted.status, accepted.transfer_id, accepted.resolved_by) == (
        "accepted",
        result.transfer_id,
        "ana",
    )
    assert net.balance("ana") == "-25.00" and net.balance("bia") == "25.00"
    row = transfer_row(net.ledger, result.transfer_id)
    body = json.loads(row.body)
    assert row.author == "ana" and row.idempotency_key == "request-1"
    assert body["refs"] == {"request": 1}
    assert body["meta"]["request_hash"] == request.body_hash
    with net.ledger.read() as connection:
        record = connection.execute(
            text(
                "SELECT r.type, r.author, r.signature FROM record r JOIN payment_request q "
                "ON q.record_id = r.id WHERE q.id = 1"
            )
        ).one()
    assert record.type == "payment_request" and record.author == "bia" and record.signature
    assert_verified(net)


def test_across_collectives_the_amount_is_in_the_payers_currency(net: Net) -> None:
    request = ask(net, payer="ana", payee="caio", amount="10.00")
    assert request.currency == "CUBO"
    rq.accept_request(net.ledger, net["ana"], request_id=request.id)
    assert net.balance("caio") == "10.00"
    assert net.balance("network:clearing:cubo") == "-10.00"
    assert_verified(net)


def test_only_the_payer_accepts_or_declines_and_only_the_payee_asks_or_withdraws(net: Net) -> None:
    with pytest.raises(rq.NotParty, match="ana may not act as the payee members:bia; only bia"):
        ask(net, signer="ana")
    request = ask(net)
    for intruder in ("bia", "caio", "banco"):  # the payee, a stranger, even the admin
        with pytest.raises(rq.NotParty) as caught:
            rq.accept_request(net.ledger, net[intruder], request_id=request.id)
        assert caught.value.code == "not_party"
        with pytest.raises(rq.NotParty):
            rq.decline_request(net.ledger, net[intruder], request_id=request.id, reason="não")
    with pytest.raises(rq.NotParty):
        rq.withdraw_request(net.ledger, net["ana"], request_id=request.id)
    assert rq.get_request(net.ledger, request.id).status == "open"
    assert net.balance("ana") == "0.00"
    assert_verified(net)


def test_a_collective_account_is_asked_for_by_its_coordinator(net: Net) -> None:
    net.pay("ana", "collectives:cubo:fund", "5.00")
    with pytest.raises(rq.NotParty):
        ask(net, payer="bia", payee="collectives:cubo:fund", amount="1.00", signer="bia")
    request = ask(net, payer="caio", payee="collectives:cubo:fund", amount="3.00", signer="ana")
    rq.accept_request(net.ledger, net["caio"], request_id=request.id)
    assert net.balance("collectives:cubo:fund") == "8.00"
    assert_verified(net)


def test_a_request_resolves_once(net: Net) -> None:
    first, second, third = ask(net), ask(net, memo="roadie"), ask(net, memo="som")
    rq.accept_request(net.ledger, net["ana"], request_id=first.id)
    with pytest.raises(rq.RequestNotOpen, match=r"request 1 is already accepted \(transfer 1\)"):
        rq.accept_request(net.ledger, net["ana"], request_id=first.id)
    with pytest.raises(rq.RequestNotOpen):
        rq.decline_request(net.ledger, net["ana"], request_id=first.id, reason="tarde")
    declined = rq.decline_request(
        net.ledger, net["ana"], request_id=second.id, reason="não combinamos isso"
    )
    assert (declined.status, declined.reason) == ("declined", "não combinamos isso")
    with pytest.raises(rq.RequestNotOpen, match="request 2 is already declined"):
        rq.accept_request(net.ledger, net["ana"], request_id=second.id)
    assert rq.withdraw_request(net.ledger, net["bia"], request_id=third.id).status == "withdrawn"
    with pytest.raises(rq.RequestNotOpen, match="already withdrawn"):
        rq.withdraw_request(net.ledger, net["bia"], request_id=third.id)
    assert net.balance("bia") == "25.00"
    assert_verified(net)


def test_an_expired_request_cannot_be_accepted_declined_or_withdrawn(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = ask(net, expires_in=parse_duration("1h30m"), at=T0)
    assert request.expires_at == "2026-11-27T14:30:00.000000Z"
    for action in (
        lambda at: rq.accept_request(net.ledger, net["ana"], request_id=request.id, at=at),
        lambda at: rq.decline_request(
            net.ledger, net["ana"], request_id=request.id, reason="x", at=at
        ),
        lambda at: rq.withdraw_request(net.ledger, net["bia"], request_id=request.id, at=at),
    ):
        with pytest.raises(rq.RequestExpired, match="request 1 expired at 2026-11-27T14:30"):
            action(T0 + timedelta(hours=1, minutes=30))
    monkeypatch.setenv("MUTUALCREDIT_NOW", "2026-11-27T14:30:00Z")
    assert [r.id for r in rq.list_requests(net.ledger, status="expired")] == [1]
    assert rq.get_request(net.ledger, request.id).status == "expired"
    assert rq.list_requests(net.ledger, status="open") == []
    on_time = ask(net, expires_in=parse_duration("PT3H"), at=T0)
    _, result = rq.accept_request(
        net.ledger, net["ana"], request_id=on_time.id, at=T0 + timedelta(hours=2, minutes=59)
    )
    assert result.transfer_id == 1
    monkeypatch.delenv("MUTUALCREDIT_NOW")
    assert_verified(net)


def test_all_ledger_checks_apply_on_accept(net: Net) -> None:
    request = ask(net, amount="100.01")  # ana's credit line is 100.00
    with pytest.raises(Refused) as caught:
        rq.accept_request(net.ledger, net["ana"], request_id=request.id)
    assert caught.value.code == "limit_lower_exceeded"
    assert rq.get_request(net.ledger, request.id).status == "open"
    assert net.balance("ana") == "0.00"
    with pytest.raises(Refused) as caught:
        ask(net, payer="bia", payee="bia")
    assert caught.value.code == "self_payment"
    assert_verified(net)


def test_listing_by_member_and_status(net: Net) -> None:
    ask(net)
    ask(net, payer="caio", payee="ana", amount="3.00")
    ask(net, payer="bia", payee="caio", amount="1.00", signer="caio")
    rq.decline_request(net.ledger, net["caio"], request_id=2, reason="não")
    assert [r.id for r in rq.list_requests(net.ledger)] == [1, 2, 3]
    assert [r.id for r in rq.list_requests(net.ledger, reference="ana")] == [1, 2]
    assert [r.id for r in rq.list_requests(net.ledger, reference="caio", status="open")] == [3]
    assert [r.id for r in rq.list_requests(net.ledger, status="declined")] == [2]
    with pytest.raises(Exception, match="status 'paid' is not one of"):
        rq.list_requests(net.ledger, status="paid")
    with pytest.raises(rq.RequestNotFound, match="request 9 does not exist"):
        rq.get_request(net.ledger, 9)


def test_concurrent_accepts_pay_once(net: Net) -> None:
    request = ask(net, amount="1.00")
    outcomes: list[str] = []

    def accept() -> None:
        try:
            rq.accept_request(net.ledger, net["ana"], request_id=request.id)
            outcomes.append("accepted")
        except Refused as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=accept) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("accepted") == 1
    assert set(outcomes) <= {"accepted", "request_not_open", "idempotency_conflict"}
    assert net.balance("bia") == "1.00"
    assert_verified(net)
