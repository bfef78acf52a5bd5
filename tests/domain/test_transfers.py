import hashlib

import pytest

from mutualcredit.domain.canonical import canonical_bytes, canonical_json
from mutualcredit.domain.limits import (
    AccountState,
    CreditLimitExceeded,
    UpperLimitExceeded,
    check_limits,
)
from mutualcredit.domain.transfers import (
    MalformedTransfer,
    Posting,
    TransferDraft,
    Unbalanced,
    body_bytes,
    body_document,
    check_balanced,
    check_draft,
    content_hash,
)


def draft(*postings: tuple[str, str, int], **overrides) -> TransferDraft:  # type: ignore[no-untyped-def]
    fields = dict(
        network="n1",
        kind="payment",
        author="ana",
        key="k1",
        postings=tuple(Posting(account=a, currency=c, amount=m) for a, c, m in postings),
        created_at="2026-11-27T10:00:00.000000Z",
        memo="estúdio",
    )
    fields.update(overrides)
    return TransferDraft(**fields)  # type: ignore[arg-type]


def test_balanced_transfer_passes() -> None:
    check_draft(draft(("members:ana", "CARD", -100), ("members:bia", "CARD", 100)))


def test_each_currency_must_sum_to_zero() -> None:
    with pytest.raises(Unbalanced, match=r"postings in CUBO sum to \+1 minor units"):
        check_balanced(
            (
                Posting(account="a:x", currency="CARD", amount=-5),
                Posting(account="a:y", currency="CARD", amount=5),
                Posting(account="a:z", currency="CUBO", amount=1),
            )
        )


def test_six_posting_route_balances_per_currency() -> None:
    check_draft(
        draft(
            ("members:ana", "CUBO", -1000),
            ("collectives:cubo:clearing", "CUBO", 1000),
            ("network:clearing:cubo", "CARD", -1000),
            ("network:clearing:palafita", "CARD", 1000),
            ("collectives:palafita:clearing", "PALA", -1000),
            ("members:caio", "PALA", 1000),
        )
    )


@pytest.mark.parametrize("bad", [0, 10**16, 1.5, True])
def test_posting_amounts_are_non_zero_integers(bad: object) -> None:
    with pytest.raises(MalformedTransfer):
        check_draft(draft(("members:ana", "CARD", bad), ("members:bia", "CARD", 0)))  # type: ignore[arg-type]


def test_an_account_may_appear_once() -> None:
    with pytest.raises(MalformedTransfer, match="appears twice"):
        check_draft(draft(("members:ana", "CARD", -1), ("members:ana", "CARD", 1)))


def test_unknown_kind_is_malformed() -> None:
    with pytest.raises(MalformedTransfer, match="transfer kind 'gift'"):
        check_draft(draft(("a:b", "CARD", -1), ("a:c", "CARD", 1), kind="gift"))


def test_canonical_bytes_sort_keys_and_keep_unicode() -> None:
    assert canonical_json({"b": 1, "a": "é🎸"}) == '{"a":"é🎸","b":1}'.encode()
    assert (
        canonical_bytes(b"mutualcredit/x/v1", {"z": [], "a": None})
        == b'mutualcredit/x/v1\n{"a":null,"z":[]}'
    )


def test_body_document_is_stable_and_amounts_are_strings() -> None:
    one = draft(("members:ana", "CARD", -1250), ("members:bia", "CARD", 1250))
    document = body_document(one, {"CARD": 2})
    assert document["postings"][0] == {
        "account": "members:ana",
        "currency": "CARD",
        "amount": "-12.50",
    }
    expected = (
        b'mutualcredit/transfer/v1\n{"author":"ana",'
        b'"created_at":"2026-11-27T10:00:00.000000Z",'
        b'"key":"k1","kind":"payment","memo":"est\xc3\xbadio","meta":{},"network":"n1",'
        b'"postings":[{"account":"members:ana","amount":"-12.50","currency":"CARD"},'
        b'{"account":"members:bia","amount":"12.50","currency":"CARD"}],"refs":{}}'
    )
    assert body_bytes(document) == expected
    assert hashlib.sha256(body_bytes(document)).hexdigest() == hashlib.sha256(expected).hexdigest()


def test_content_hash_ignores_creation_time_only() -> None:
    base = draft(("members:ana", "CARD", -1), ("members:bia", "CARD", 1))
    later = draft(
        ("members:ana", "CARD", -1),
        ("members:bia", "CARD", 1),
        created_at="2026-11-28T10:00:00.000000Z",
    )
    other_memo = draft(("members:ana", "CARD", -1), ("members:bia", "CARD", 1), memo="x")
    scales = {"CARD": 2}
    assert content_hash(body_document(base, scales)) == content_hash(body_document(later, scales))
    assert content_hash(body_document(base, scales)) != content_hash(
        body_document(other_memo, scales)
    )


def state(
    balance: int,
    *,
    lower: int | None = -10000,
    upper: int | None = None,
    pending_debits: int = 0,
    pending_credits: int = 0,
) -> AccountState:
    return AccountState(
        name="members:ana",
        currency="CARD",
        scale=2,
        balance=balance,
        pending_debits=pending_debits,
        pending_credits=pending_credits,
        limit_lower=lower,
        limit_upper=upper,
    )


def test_debit_exactly_to_the_limit_is_allowed() -> None:
    check_limits(state(0), amount=-10000)


def test_one_centavo_past_the_limit_is_refused_with_numbers() -> None:
    with pytest.raises(CreditLimitExceeded) as caught:
        check_limits(state(0), amount=-10001)
    assert str(caught.value) == "members:ana would reach -100.01 CARD; limit is -100.00 CARD"


def test_pending_debits_count_against_the_lower_limit() -> None:
    check_limits(state(0, pending_debits=4000), amount=-6000)
    with pytest.raises(
        CreditLimitExceeded,
        match=r"would reach -100.01 CARD \(counting 40.00 "
        r"CARD on hold\); limit is -100.00 CARD",
    ):
        check_limits(state(0, pending_debits=4000), amount=-6001)


def test_pending_credits_count_against_the_upper_limit_and_never_raise_spending() -> None:
    check_limits(state(0, upper=5000, pending_credits=4000), amount=1000)
    with pytest.raises(UpperLimitExceeded, match="would reach 50.01 CARD; upper limit is 50.00"):
        check_limits(state(0, upper=5000, pending_credits=4000), amount=1001)
    assert state(0, pending_credits=9999).available == 10000


def test_no_limit_means_no_bound() -> None:
    check_limits(state(0, lower=None), amount=-(10**15))
    assert state(0, lower=None).available is None
