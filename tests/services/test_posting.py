"""Every rejection reason of the posting function, at the boundary, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from mutualcredit.domain.errors import ExitCode, NotFound, Refused
from mutualcredit.domain.limits import CreditLimitExceeded, UpperLimitExceeded
from mutualcredit.domain.transfers import MalformedTransfer, Posting, TransferDraft, Unbalanced
from mutualcredit.services import network as setup
from mutualcredit.services import payments
from mutualcredit.services.clock import iso
from mutualcredit.services.context import begin_write
from mutualcredit.services.keys import Signer
from mutualcredit.services.posting import (
    AccountClosed,
    AccountNotFound,
    CurrencyMismatch,
    IdempotencyConflict,
    KeyRevoked,
    KeyUnknown,
    NotAuthorised,
    SignatureInvalid,
    post_batch,
    post_signed,
    post_signed_batch,
    sign,
)
from tests.support import Net


def draft(net: Net, author: str, *postings: tuple[str, str, int], **fields) -> TransferDraft:  # type: ignore[no-untyped-def]
    values = dict(
        network=net.ledger.network.id,
        kind="payment",
        author=author,
        key=fields.pop("key", f"k-{datetime.now(UTC).timestamp()}"),
        postings=tuple(Posting(account=a, currency=c, amount=m) for a, c, m in postings),
        created_at=iso(datetime.now(UTC)),
    )
    values.update(fields)
    return TransferDraft(**values)  # type: ignore[arg-type]


def count_transfers(net: Net) -> int:
    with net.ledger.read() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM transfer")).scalar_one())


def test_exactly_at_the_credit_line_is_accepted_one_centavo_past_is_refused(net: Net) -> None:
    net.pay("ana", "bia", "100.00")
    assert net.balance("ana") == "-100.00"
    assert net.available("ana") == "0.00"
    before = count_transfers(net)
    with pytest.raises(CreditLimitExceeded) as caught:
        net.pay("ana", "bia", "0.01")
    assert caught.value.message == "members:ana would reach -100.01 CUBO; limit is -100.00 CUBO"
    assert caught.value.code == "limit_lower_exceeded"
    assert caught.value.exit_code == ExitCode.REFUSED
    assert count_transfers(net) == before
    net.assert_consistent()


def test_holds_count_and_a_void_frees_them(net: Net) -> None:
    hold = net.hold("ana", "bia", "60.00")
    assert net.balance("ana") == "0.00"
    assert net.available("ana") == "40.00"
    with pytest.raises(CreditLimitExceeded, match=r"counting 60.00 CUBO on hold") as caught:
        net.pay("ana", "bia", "40.01")
    assert caught.value.data == {
        "account": "members:ana",
        "currency": "CUBO",
        "limit": "-100.00",
        "would_be": "-100.01",
        "available": "40.00",
    }
    assert (caught.value.would_reach, caught.value.limit_minor) == (-10001, -10000)
    payments.resolve_hold(net.ledger, net["ana"], hold_id=hold.transfer_id, action="void")
    assert net.available("ana") == "100.00"
    net.pay("ana", "bia", "100.00")
    net.assert_consistent()


def test_incoming_holds_never_raise_spending_power(net: Net) -> None:
    net.hold("ana", "bia", "50.00")
    assert net.available("bia") == "0.00"
    with pytest.raises(CreditLimitExceeded):
        net.pay("bia", "ana", "0.01")


def test_upper_limit_counts_pending_credits(net: Net) -> None:
    setup.set_limit(
        net.ledger,
        net["banco"],
        account="members:bia",
        reason="cap",
        limit_upper=net.amount("50.00"),
    )
    net.hold("ana", "bia", "30.00")
    net.pay("ana", "bia", "20.00")
    with pytest.raises(
        UpperLimitExceeded, match="members:bia would reach 50.01 CUBO; upper limit is 50.00 CUBO"
    ):
        net.pay("ana", "bia", "0.01")


def test_unbalanced_and_malformed_transfers_are_refused_before_anything(net: Net) -> None:
    with pytest.raises(Unbalanced):
        sign(
            net.ledger,
            draft(net, "ana", ("members:ana", "CUBO", -100), ("members:bia", "CUBO", 99)),
            net["ana"],
        )
    with pytest.raises(MalformedTransfer):
        sign(
            net.ledger,
            draft(net, "ana", ("members:ana", "CUBO", 0), ("members:bia", "CUBO", 0)),
            net["ana"],
        )


def test_unknown_and_closed_accounts(net: Net) -> None:
    signed = sign(
        net.ledger,
        draft(net, "ana", ("members:ana", "CUBO", -100), ("members:nobody", "CUBO", 100)),
        net["ana"],
    )
    with pytest.raises(AccountNotFound) as caught:
        post_signed(net.ledger, signed)
    assert caught.value.exit_code == ExitCode.NOT_FOUND
    with pytest.raises(NotFound, match="member zed does not exist"):
        net.pay("ana", "zed", "1.00")
    net.add_member("dora", "cubo")
    setup.close_member(net.ledger, net["banco"], handle="dora")
    with pytest.raises(AccountClosed, match="account members:dora is closed"):
        net.pay("ana", "dora", "1.00")


def test_closing_needs_a_zero_balance(net: Net) -> None:
    net.pay("ana", "bia", "1.00")
    with pytest.raises(Refused, match="still has a balance"):
        setup.close_member(net.ledger, net["banco"], handle="bia")


def test_currency_the_transfer_does_not_use(net: Net) -> None:
    setup.add_currency(
        net.ledger, net["banco"], code="BRL", scale=2, rate=__import__("fractions").Fraction(1)
    )
    setup.add_account(
        net.ledger,
        net["banco"],
        name="collectives:cubo:cash:bilheteria",
        currency="BRL",
        owner="cubo",
        limit_lower=None,
        limit_upper=None,
    )
    with pytest.raises(
        CurrencyMismatch,
        match="collectives:cubo:cash:bilheteria is in BRL but this payment moves CUBO",
    ):
        net.pay("ana", "collectives:cubo:cash:bilheteria", "1.00")
    signed = sign(
        net.ledger,
        draft(net, "ana", ("members:ana", "BRL", -100), ("members:bia", "BRL", 100)),
        net["ana"],
    )
    with pytest.raises(CurrencyMismatch, match="account members:ana is in CUBO, not BRL"):
        post_signed(net.ledger, signed)


def test_paying_yourself_is_refused(net: Net) -> None:
    with pytest.raises(payments.SelfPayment, match="members:ana cannot pay itself"):
        net.pay("ana", "ana", "1.00")


def test_a_forged_signature_is_refused(net: Net) -> None:
    signed = sign(
        net.ledger,
        draft(net, "ana", ("members:ana", "CUBO", -100), ("members:bia", "CUBO", 100)),
        net["ana"],
    )
    tampered = replace(signed, body=signed.body.replace(b"-1.00", b"-2.00"))
    with pytest.raises(SignatureInvalid):
        post_signed(net.ledger, tampered)
    impostor = Signer.generate("ana")
    with pytest.raises(KeyUnknown, match="not a key of ana"):
        post_signed(
            net.ledger,
            sign(
                net.ledger,
                draft(net, "ana", ("members:ana", "CUBO", -1), ("members:bia", "CUBO", 1)),
                impostor,
            ),
        )


def test_a_revoked_key_cannot_sign(net: Net) -> None:
    from mutualcredit.services.key_events import revoke_key

    revoke_key(net.ledger, net["banco"], handle="bia")
    with pytest.raises(KeyRevoked, match="the key of bia that signed was revoked"):
        net.pay("bia", "ana", "0.00" if False else "1.00")


def test_only_the_owner_may_debit_a_member_account(net: Net) -> None:
    signed = sign(
        net.ledger,
        draft(net, "bia", ("members:ana", "CUBO", -100), ("members:bia", "CUBO", 100)),
        net["bia"],
    )
    with pytest.raises(NotAuthorised, match="bia may not move money out of members:ana"):
        post_signed(net.ledger, signed)


def test_coordinators_pay_from_their_collective_fund_not_others(net: Net) -> None:
    net.pay("collectives:cubo:fund", "bia", "10.00", signer="ana")
    assert net.balance("collectives:cubo:fund") == "-10.00"
    with pytest.raises(NotAuthorised, match="caio may not move money out of collectives:cubo:fund"):
        net.pay("collectives:cubo:fund", "bia", "10.00", signer="caio")


def test_clearing_accounts_cannot_be_drained_outside_a_mirrored_route(net: Net) -> None:
    signed = sign(
        net.ledger,
        draft(
            net,
            "bia",
            ("network:clearing:cubo", "CARD", -100),
            ("network:clearing:palafita", "CARD", 100),
        ),
        net["bia"],
    )
    with pytest.raises(NotAuthorised, match="bia may not move money out of network:clearing:cubo"):
        post_signed(net.ledger, signed)


def test_cross_collective_payment_posts_six_balanced_postings(net: Net) -> None:
    result = net.pay("ana", "caio", "10.00", memo="roadie")
    postings = payments.postings_of(net.ledger, result.transfer_id)
    assert [(p.account, p.currency, p.amount) for p in postings] == [
        ("members:ana", "CUBO", -1000),
        ("collectives:cubo:clearing", "CUBO", 1000),
        ("network:clearing:cubo", "CARD", -1000),
        ("network:clearing:palafita", "CARD", 1000),
        ("collectives:palafita:clearing", "PALA", -1000),
        ("members:caio", "PALA", 1000),
    ]
    assert net.balance("network:clearing:cubo") == "-10.00"
    assert net.balance("network:clearing:palafita") == "10.00"
    net.assert_consistent()


def test_positions_are_bounded_by_the_clearing_limit(net: Net) -> None:
    setup.set_limit(
        net.ledger,
        net["banco"],
        account="network:clearing:cubo",
        reason="tight",
        limit_lower=-net.amount("15.00"),
    )
    net.pay("ana", "caio", "15.00")
    with pytest.raises(CreditLimitExceeded, match="network:clearing:cubo would reach -15.01 CARD"):
        net.pay("ana", "caio", "0.01")


def test_idempotent_replay_returns_the_original_and_writes_nothing(net: Net) -> None:
    first = net.pay("ana", "bia", "10.00", memo="x", key="order-1")
    before = count_transfers(net)
    again = net.pay("ana", "bia", "10.00", memo="x", key="order-1")
    assert again.transfer_id == first.transfer_id and again.replayed
    assert count_transfers(net) == before
    assert net.balance("ana") == "-10.00"
    with pytest.raises(IdempotencyConflict, match="already used for transfer"):
        net.pay("ana", "bia", "11.00", memo="x", key="order-1")


def test_a_reused_key_is_a_conflict_before_its_accounts_are_looked_up(net: Net) -> None:
    def issuance(account: str) -> TransferDraft:
        return TransferDraft(
            network=net.ledger.network.id,
            kind="issuance",
            author="banco",
            key="issue-1",
            created_at=iso(datetime.now(UTC)),
            postings=(
                Posting(account="collectives:cubo:fund", currency="CUBO", amount=-100),
                Posting(account=account, currency="CUBO", amount=100),
            ),
        )

    post_batch(net.ledger, [issuance("members:bia")], net["banco"], kind="import")
    with pytest.raises(IdempotencyConflict):
        post_batch(net.ledger, [issuance("members:ninguem")], net["banco"], kind="import")
    with pytest.raises(AccountNotFound, match="account members:ninguem does not exist"):
        post_batch(
            net.ledger,
            [replace(issuance("members:ninguem"), key="issue-2")],
            net["banco"],
            kind="import",
        )


def test_replay_returns_the_original_even_after_the_limit_moved(net: Net) -> None:
    first = net.pay("ana", "bia", "100.00", key="all-in")
    assert net.pay("ana", "bia", "100.00", key="all-in").transfer_id == first.transfer_id


def test_keys_are_scoped_to_their_author(net: Net) -> None:
    net.pay("ana", "bia", "1.00", key="same")
    net.pay("caio", "ana", "1.00", key="same")


def test_partial_post_of_a_hold_releases_the_rest(net: Net) -> None:
    hold = net.hold("ana", "caio", "40.00")
    result = payments.resolve_hold(
        net.ledger, net["caio"], hold_id=hold.transfer_id, action="post", amount=net.amount("25.00")
    )
    assert not result.replayed
    assert net.balance("ana") == "-25.00"
    assert net.available("ana") == "75.00"
    assert net.balance("caio") == "25.00"
    with pytest.raises(Refused) as caught:
        payments.resolve_hold(
            net.ledger, net["caio"], hold_id=hold.transfer_id, action="void", key="void-again"
        )
    assert caught.value.code == "hold_not_pending"
    net.assert_consistent()


def test_a_hold_cannot_be_posted_for_more_than_held(net: Net) -> None:
    hold = net.hold("ana", "bia", "10.00")
    with pytest.raises(Refused, match="holds 10.00 CUBO; cannot post 10.01") as caught:
        payments.resolve_hold(
            net.ledger, net["banco"], hold_id=hold.transfer_id, action="post", amount=1001
        )
    assert caught.value.data == {
        "hold": str(hold.transfer_id),
        "currency": "CUBO",
        "held": "10.00",
        "amount": "10.01",
    }


def test_expiry_only_at_or_after_the_expiry_time(net: Net) -> None:
    hold = net.hold("ana", "bia", "10.00", hours=1)
    with pytest.raises(Refused, match="not yet"):
        payments.resolve_hold(net.ledger, net["banco"], hold_id=hold.transfer_id, action="expire")
    expired = payments.expire_holds(
        net.ledger, net["banco"], at=datetime.now(UTC) + timedelta(hours=2)
    )
    assert expired == [hold.transfer_id]
    assert net.available("ana") == "100.00"
    assert payments.transfer_row(net.ledger, hold.transfer_id).status == "expired"
    net.assert_consistent()


def test_only_the_payee_side_or_admin_posts_a_hold(net: Net) -> None:
    hold = net.hold("ana", "caio", "10.00")
    with pytest.raises(NotAuthorised):
        payments.resolve_hold(net.ledger, net["bia"], hold_id=hold.transfer_id, action="post")


def test_reversal_once_by_a_coordinator_and_refused_past_a_limit_unless_forced(net: Net) -> None:
    paid = net.pay("ana", "bia", "30.00")
    net.pay("bia", "ana", "30.00")  # bia spends what she received: a reversal would overdraw
    with pytest.raises(CreditLimitExceeded, match="members:bia would reach -30.00 CUBO"):
        payments.reverse(net.ledger, net["ana"], transfer_id=paid.transfer_id, reason="mistake")
    with pytest.raises(NotAuthorised):
        payments.reverse(net.ledger, net["bia"], transfer_id=paid.transfer_id, reason="mine")
    reversal = payments.reverse(
        net.ledger, net["ana"], transfer_id=paid.transfer_id, reason="mistake", force=True
    )
    assert net.balance("bia") == "-30.00"
    with pytest.raises(Refused) as caught:
        payments.reverse(
            net.ledger,
            net["banco"],
            transfer_id=paid.transfer_id,
            reason="again",
            key="another-key",
        )
    assert caught.value.code == "already_reversed"
    assert reversal.transfer_id != paid.transfer_id
    with pytest.raises(Refused, match="cannot be reversed"):
        payments.reverse(net.ledger, net["banco"], transfer_id=reversal.transfer_id, reason="x")


def test_batch_is_one_signature_and_all_or_nothing(net: Net) -> None:
    drafts = [
        draft(
            net,
            "banco",
            ("collectives:cubo:fund", "CUBO", -100),
            ("members:bia", "CUBO", 100),
            key=f"b{i}",
        )
        for i in range(5)
    ]
    results = post_batch(net.ledger, drafts, net["banco"], kind="issuance")
    assert len({r.transfer_id for r in results}) == 5
    assert net.balance("bia") == "5.00"
    again = post_batch(net.ledger, drafts, net["banco"], kind="issuance")
    assert [r.transfer_id for r in again] == [r.transfer_id for r in results]
    assert all(r.replayed for r in again)
    bad = [
        draft(
            net,
            "banco",
            ("collectives:cubo:fund", "CUBO", -100),
            ("members:bia", "CUBO", 100),
            key="c1",
        ),
        draft(
            net, "banco", ("members:ana", "CUBO", -20000), ("members:bia", "CUBO", 20000), key="c2"
        ),
    ]
    before = count_transfers(net)
    with pytest.raises(CreditLimitExceeded):
        post_batch(net.ledger, bad, net["banco"], kind="issuance")
    assert count_transfers(net) == before
    net.assert_consistent()


def test_batches_in_the_callers_transaction_are_written_by_its_commit(net: Net) -> None:
    # A streamed import posts many batches in one transaction it commits itself: nothing
    # may wait for run_write's COMMIT (on PostgreSQL a write's last statement goes with it).
    items = [
        [
            sign(
                net.ledger,
                draft(
                    net,
                    "banco",
                    ("collectives:cubo:fund", "CUBO", -100),
                    ("members:bia", "CUBO", 100),
                    key=f"t{part}-{i}",
                ),
                net["banco"],
                in_batch=True,
            )
            for i in range(3)
        ]
        for part in range(2)
    ]
    before = count_transfers(net)
    connection, transaction = begin_write(net.ledger.engine)
    try:
        for batch in items:
            post_signed_batch(
                net.ledger, batch, net["banco"], kind="issuance", connection=connection
            )
        transaction.commit()
    finally:
        connection.close()
    assert count_transfers(net) == before + 6
    assert net.balance("bia") == "6.00"
    connection, transaction = begin_write(net.ledger.engine)  # and a rollback undoes them
    try:
        post_signed_batch(
            net.ledger,
            [
                sign(
                    net.ledger,
                    draft(
                        net,
                        "banco",
                        ("collectives:cubo:fund", "CUBO", -100),
                        ("members:bia", "CUBO", 100),
                        key="t-undone",
                    ),
                    net["banco"],
                    in_batch=True,
                )
            ],
            net["banco"],
            kind="issuance",
            connection=connection,
        )
        transaction.rollback()
    finally:
        connection.close()
    assert count_transfers(net) == before + 6
    net.assert_consistent()


def test_every_write_appends_to_the_chain(net: Net) -> None:
    with net.ledger.read() as connection:
        seq_before = connection.execute(text("SELECT seq FROM chain_head")).scalar_one()
    result = net.pay("ana", "bia", "1.00")
    with net.ledger.read() as connection:
        head = connection.execute(text("SELECT seq, chain_hash FROM chain_head")).one()
        event = connection.execute(
            text("SELECT * FROM event WHERE seq = :s"), {"s": head.seq}
        ).one()
    assert head.seq == seq_before + 1
    assert event.type == "transfer" and event.subject_id == result.transfer_id
    assert event.chain_hash == head.chain_hash


def test_a_limit_that_would_already_be_passed_is_refused(net: Net) -> None:
    net.pay("ana", "bia", "60.00")
    with pytest.raises(Refused) as caught:
        setup.set_limit(
            net.ledger,
            net["banco"],
            account="members:ana",
            reason="tighten",
            limit_lower=-net.amount("50.00"),
        )
    assert caught.value.code == "limit_already_passed"
    assert caught.value.message == (
        "members:ana is at -60.00 CUBO counting holds; a lower limit of -50.00 CUBO would "
        "already be passed (the tightest possible now is -60.00 CUBO)"
    )
    assert caught.value.data == {
        "account": "members:ana",
        "currency": "CUBO",
        "limit": "-50.00",
        "at": "-60.00",
    }
    setup.set_limit(
        net.ledger,
        net["banco"],
        account="members:ana",
        reason="freeze",
        limit_lower=-net.amount("60.00"),
    )
    with pytest.raises(CreditLimitExceeded):
        net.pay("ana", "bia", "0.01")
