"""The rule for moving money out of an account, shared by the posting function and verify."""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import pytest

from mutualcredit.domain.amounts import Currency
from mutualcredit.domain.authority import (
    Issuance,
    Leg,
    RoutePoint,
    account_shape_problem,
    may_debit,
    may_resolve,
    may_sign_record,
    record_rule,
    reverses_exactly,
    roles_at,
    route_postings,
    scaled_exactly,
    transfer_denial,
)


class Account(NamedTuple):
    name: str
    kind: str
    owner_kind: str
    owner: str | None
    collective: str | None


ANA = Account("members:ana", "member", "member", "ana", "cubo")
CUBO_FUND = Account("collectives:cubo:fund", "fund", "collective", "cubo", "cubo")
CUBO_CASH = Account("collectives:cubo:cash:bar", "cash", "collective", "cubo", "cubo")
CUBO_ISSUANCE = Account("collectives:cubo:issuance", "issuance", "collective", "cubo", "cubo")
CUBO_INCOME = Account("income:festivals:grito", "income", "collective", "cubo", "cubo")
NETWORK_INCOME = Account("income:network", "income", "network", None, None)


@pytest.mark.parametrize(
    ("author", "roles", "account", "kind", "allowed"),
    [
        ("ana", [], ANA, "payment", True),  # her own money
        ("bia", [], ANA, "payment", False),
        ("bia", [("admin", None)], ANA, "payment", True),
        ("bia", [("coordinator", "cubo")], ANA, "payment", False),  # not a member's money
        ("bia", [("coordinator", "cubo")], CUBO_FUND, "payment", True),
        ("bia", [("coordinator", "palafita")], CUBO_FUND, "payment", False),
        ("bia", [("importer", None)], NETWORK_INCOME, "import", True),
        ("bia", [("importer", None)], CUBO_INCOME, "import", False),  # not the network's
        ("bia", [("importer", "cubo")], CUBO_CASH, "import", True),
        ("bia", [("importer", "cubo")], CUBO_CASH, "payment", False),  # only inside an import
        ("bia", [("importer", "palafita")], CUBO_CASH, "import", False),
        ("bia", [("importer", "cubo")], CUBO_ISSUANCE, "import", False),  # the issuance rule's
        ("bia", [("coordinator", "cubo")], CUBO_ISSUANCE, "payment", False),  # no minting
        ("bia", [("importer", "cubo")], CUBO_FUND, "import", False),
    ],
)
def test_who_may_debit(author, roles, account, kind, allowed) -> None:  # type: ignore[no-untyped-def]
    assert may_debit(author, roles, account, kind) is allowed


def test_roles_in_force_at_an_event() -> None:
    windows = [["coordinator", "cubo", 5, 9], ["admin", None, 0, None]]
    assert roles_at(windows, 5) == (("admin", None),)  # granted by event 5: from event 6
    assert roles_at(windows, 6) == (("coordinator", "cubo"), ("admin", None))
    assert roles_at(windows, 9) == (("admin", None),)  # revoked by event 9


CARD = Currency(code="CARD", scale=2)
CUBO = Currency(code="CUBO", scale=2, rate=Fraction(1, 2))
PALA = Currency(code="PALA", scale=2)
BRL = Currency(code="BRL", scale=2)
CURRENCIES = {"CARD": CARD, "CUBO": CUBO, "PALA": PALA, "BRL": BRL}
CAIO = Account("members:caio", "member", "member", "caio", "pala")
MAL = Account("members:mal", "member", "member", "mal", "c")


def clearing(collective: str) -> tuple[Account, Account]:
    return (
        Account(
            f"collectives:{collective}:clearing", "clearing", "collective", collective, collective
        ),
        Account(f"network:clearing:{collective}", "network_clearing", "network", None, collective),
    )


CUBO_CLEARING, NET_CUBO = clearing("cubo")
PALA_CLEARING, NET_PALA = clearing("pala")
A_CLEARING, NET_A = clearing("a")
D_CLEARING, NET_D = clearing("d")
ISSUANCE = Issuance(
    collective="cubo", against="BRL", rate=Fraction(1), into="collectives:cubo:fund"
)
CUBO_BOX = Account("collectives:cubo:cash:caixa-1", "cash", "collective", "cubo", "cubo")
MASSA_BOX = Account("collectives:massa:cash:box", "cash", "collective", "massa", "massa")
NETWORK_FUND = Account("network:fund:brl", "other", "network", None, None)
IMPORTER = [("importer", "cubo")]


def denied(
    author: str,
    roles,
    kind: str,
    *legs: tuple[Account, str, int],  # type: ignore[no-untyped-def]
    force: bool = False,
    issuance: Issuance | None = ISSUANCE,
) -> bool:
    return (
        transfer_denial(
            author=author,
            roles=roles,
            kind=kind,
            legs=[Leg(*leg) for leg in legs],
            currencies=CURRENCIES,
            card=CARD,
            issuance=lambda collective: issuance if collective == "cubo" else None,
            force=force,
        )
        is not None
    )


# ana (CUBO, worth half a CARD) pays caio (PALA) 10.00 CUBO: the route of DESIGN.md.
ROUTE = (
    (ANA, "CUBO", -1000),
    (CUBO_CLEARING, "CUBO", 1000),
    (NET_CUBO, "CARD", -500),
    (NET_PALA, "CARD", 500),
    (PALA_CLEARING, "PALA", -500),
    (CAIO, "PALA", 500),
)


def test_a_payment_routed_through_clearing_is_the_payers_to_sign() -> None:
    assert not denied("ana", [], "payment", *ROUTE)
    assert not denied("ana", [], "hold", *ROUTE)
    assert denied("caio", [], "payment", *ROUTE)  # not his money


def test_route_postings_is_the_route() -> None:
    legs = route_postings(
        RoutePoint("members:ana", "cubo", "CUBO"),
        RoutePoint("members:caio", "pala", "PALA"),
        1000,
        CURRENCIES,
        CARD,
    )
    assert sorted(legs) == sorted((a.name, c, v) for a, c, v in ROUTE)


@pytest.mark.parametrize(
    "legs",
    [
        # issue 15, case 1: with no role, mal moves debt between collectives a and d
        ((NET_A, "CARD", -40000), (A_CLEARING, "CARD", 40000)),
        ((D_CLEARING, "CARD", -40000), (NET_D, "CARD", 40000)),
        # ... and both in one four-leg transfer, a and d sharing a currency
        (
            (NET_A, "CARD", -40000),
            (A_CLEARING, "CARD", 40000),
            (D_CLEARING, "CARD", -40000),
            (NET_D, "CARD", 40000),
        ),
        # a route padded with a second mirrored pair
        ROUTE + ((NET_A, "CARD", -100), (A_CLEARING, "CARD", 100)),
        # a route whose payee side is one centavo more than the rates give
        ROUTE[:4] + ((PALA_CLEARING, "PALA", -501), (CAIO, "PALA", 501)),
        # a one-sided clearing transfer: the positions no longer sum to zero
        ((ANA, "CUBO", -1000), (CUBO_CLEARING, "CUBO", 1000)),
    ],
)
def test_clearing_legs_move_only_as_one_payments_route(legs) -> None:  # type: ignore[no-untyped-def]
    owner = legs[0][0].owner if legs[0][0].owner_kind == "member" else "mal"
    assert denied(owner or "mal", [], "payment", *legs)
    assert denied("mal", [("coordinator", "a"), ("coordinator", "d")], "payment", *legs)


def test_clearing_legs_alone_are_the_admins_settlement() -> None:
    legs = ((NET_A, "CARD", -1000), (NET_D, "CARD", 1000))
    assert denied("bia", [("coordinator", "a")], "settlement", *legs)
    assert not denied("banco", [("admin", None)], "settlement", *legs)
    assert denied("bia", IMPORTER, "import", (NET_CUBO, "CARD", -1), (NETWORK_FUND, "CARD", 1))


SALE = ((CUBO_INCOME, "BRL", -10000), (CUBO_BOX, "BRL", 10000))


def test_an_import_issues_the_card_as_the_signed_record_says() -> None:
    issued = ((CUBO_ISSUANCE, "CUBO", -10000), (CUBO_FUND, "CUBO", 10000))
    assert not denied("imp", IMPORTER, "import", *SALE, *issued)
    assert not denied("imp", IMPORTER, "import", *SALE)  # issuing nothing is allowed
    # issue 15, case 2: a rate of 1000 in the rules file
    assert denied(
        "imp",
        IMPORTER,
        "import",
        *SALE,
        (CUBO_ISSUANCE, "CUBO", -10000000),
        (CUBO_FUND, "CUBO", 10000000),
    )
    # ... issued into the importer's own account
    assert denied(
        "imp",
        IMPORTER,
        "import",
        *SALE,
        (CUBO_ISSUANCE, "CUBO", -10000),
        (Account("members:imp", "member", "member", "imp", "cubo"), "CUBO", 10000),
    )
    # ... issuance with no income leg at all
    assert denied(
        "imp", IMPORTER, "import", (CUBO_ISSUANCE, "CUBO", -10000), (CUBO_FUND, "CUBO", 10000)
    )
    # ... with no signed record, or by a coordinator outside an import
    assert denied("imp", IMPORTER, "import", *SALE, *issued, issuance=None)
    assert denied("bia", [("coordinator", "cubo")], "payment", *issued)


def test_an_importer_touches_only_its_collectives_accounts() -> None:
    # issue 15, case 3: cubo's Reais sent to massa's cash box
    assert denied("imp", IMPORTER, "import", (CUBO_BOX, "BRL", -100), (MASSA_BOX, "BRL", 100))
    assert not denied(
        "imp", IMPORTER, "import", (CUBO_INCOME, "BRL", -100), (NETWORK_FUND, "BRL", 100)
    )  # the network fund's share
    assert denied("imp", IMPORTER, "payment", (CUBO_BOX, "BRL", -100), (ANA, "BRL", 100))
    assert denied("ana", [], "import", *SALE)  # an import needs an importer or coordinator


def test_reversals_by_a_coordinator_of_an_affected_collective() -> None:
    reversal = tuple((account, currency, -amount) for account, currency, amount in ROUTE)
    assert not denied("bia", [("coordinator", "cubo")], "reversal", *reversal)
    assert denied("bia", [("coordinator", "massa")], "reversal", *reversal)
    # issue 15, case 7: forcing it past pala's member's limit is the admin's
    assert denied("bia", [("coordinator", "cubo")], "reversal", *reversal, force=True)
    assert not denied("banco", [("admin", None)], "reversal", *reversal, force=True)
    inside = ((CUBO_FUND, "CUBO", -100), (ANA, "CUBO", 100))
    assert not denied("bia", [("coordinator", "cubo")], "reversal", *inside, force=True)


def test_a_reversal_is_the_exact_opposite() -> None:
    original = [("members:ana", "CUBO", -100), ("members:bia", "CUBO", 100)]
    assert reverses_exactly(original, [("members:bia", "CUBO", -100), ("members:ana", "CUBO", 100)])
    assert not reverses_exactly(
        original, [("members:caio", "CUBO", -100), ("members:ana", "CUBO", 100)]
    )


def test_a_posted_hold_moves_its_postings_in_one_proportion() -> None:
    held = [(a.name, c, v) for a, c, v in ROUTE]
    assert scaled_exactly(held, held)
    assert scaled_exactly(held, [(a, c, v // 2) for a, c, v in held])
    # the payee posting only the CARD legs of a hold moves debt between collectives
    assert not scaled_exactly(held, held[2:4])
    assert not scaled_exactly(held, [(a, c, v * 2) for a, c, v in held])
    assert not scaled_exactly(held, [held[0], held[1], *((a, c, v // 2) for a, c, v in held[2:])])


@pytest.mark.parametrize(
    ("name", "owner", "currency", "problem"),
    [
        ("collectives:cubo:fund2", "massa", "MASSA", True),  # issue 15, case 4: lies about owner
        ("income:massa:x", "massa", "CUBO", True),  # another collective's card
        ("income:massa:x", "massa", "MASSA", False),
        ("income:massa:x", "massa", "BRL", False),  # a currency the admin added
        ("income:massa:x", "massa", "CARD", False),
        ("network:fund:x", "cubo", "CARD", True),
        ("network:fund:cubo", "network", "CUBO", True),
        ("collectives:cubo:cash:box", "cubo", "BRL", False),
    ],
)
def test_an_accounts_name_owner_and_currency_agree(name, owner, currency, problem) -> None:  # type: ignore[no-untyped-def]
    issuers = {"CUBO": {"cubo"}, "MASSA": {"massa"}, "CARD": {"x"}}
    found = account_shape_problem(
        name, owner, currency, issuers=lambda code: issuers.get(code, set()), network_card="CARD"
    )
    assert (found is not None) is problem


LOOKUPS = {
    "member_collective": {"bia": "cubo"}.get,
    "account_collective": {"members:bia": "cubo", "income:x": None}.get,
    "resource_collective": {"estudio": "cubo"}.get,
}
ADMIN, COORDINATOR, OTHER = [("admin", None)], [("coordinator", "cubo")], [("coordinator", "pala")]


@pytest.mark.parametrize(
    ("kind", "body", "author", "allowed"),
    [
        ("currency_added", {}, ADMIN, True),
        ("currency_added", {}, COORDINATOR, False),
        ("member_added", {"handle": "novo", "collective": "cubo"}, COORDINATOR, True),
        ("member_added", {"handle": "novo", "collective": "cubo"}, OTHER, False),
        (
            "role_granted",
            {"handle": "bia", "role": "coordinator", "collective": "cubo"},
            COORDINATOR,
            True,
        ),
        (
            "role_granted",
            {"handle": "bia", "role": "admin", "collective": None},
            COORDINATOR,
            False,
        ),
        ("key_registered", {"handle": "bia"}, COORDINATOR, True),
        ("key_registered", {"handle": "bia"}, OTHER, False),
        ("limit_change", {"account": "members:bia"}, COORDINATOR, True),
        ("limit_change", {"account": "income:x"}, COORDINATOR, False),  # a network account
        # issue 15, case 6: a collective's clearing limit is the network's risk
        ("limit_change", {"account": "network:clearing:cubo"}, COORDINATOR, False),
        ("limit_change", {"account": "network:clearing:cubo"}, ADMIN, True),
        ("limit_change", {"account": "collectives:cubo:clearing"}, COORDINATOR, False),
        ("issuance_set", {"collective": "cubo"}, COORDINATOR, False),
        ("issuance_set", {"collective": "cubo"}, ADMIN, True),
        ("account_added", {"owner": "network"}, COORDINATOR, False),
        ("account_added", {"owner": "cubo"}, COORDINATOR, True),
        ("resource_closed", {"slug": "estudio"}, COORDINATOR, True),
        ("resource_closed", {"slug": "estudio"}, OTHER, False),
    ],
)
def test_who_may_sign_a_record(kind, body, author, allowed) -> None:  # type: ignore[no-untyped-def]
    rule = record_rule(kind, body, **LOOKUPS)
    assert rule is not None
    assert may_sign_record("someone", author, rule, body.get("handle")) is allowed


def test_a_key_is_rotated_by_its_holder_only_and_revoked_by_them_too() -> None:
    rotated = record_rule("key_rotated", {"handle": "bia"}, **LOOKUPS)
    revoked = record_rule("key_revoked", {"handle": "bia"}, **LOOKUPS)
    assert rotated is not None and revoked is not None
    assert may_sign_record("bia", [], rotated, "bia")
    assert not may_sign_record("banco", ADMIN, rotated, "bia")
    assert may_sign_record("bia", [], revoked, "bia")
    assert may_sign_record("ana", COORDINATOR, revoked, "bia")
    assert not may_sign_record("caio", [], revoked, "bia")


def test_requests_are_not_decided_here() -> None:
    assert record_rule("payment_request", {}, **LOOKUPS) is None


BIA = Account("members:bia", "member", "member", "bia", "cubo")


@pytest.mark.parametrize(
    ("kind", "author", "roles", "allowed"),
    [
        ("expire_hold", "anyone", [], True),  # when it is due: verify checks that apart
        ("void_hold", "ana", [], True),  # the hold's own author
        ("post_hold", "ana", [], True),
        ("void_hold", "bia", [], True),  # the member it credits
        ("post_hold", "caio", [], False),
        ("void_hold", "caio", [("coordinator", "palafita")], False),
        ("void_hold", "caio", [("coordinator", "cubo")], True),  # of the credited account
        ("void_hold", "caio", [("admin", None)], True),
    ],
)
def test_who_may_resolve_a_hold(kind, author, roles, allowed) -> None:  # type: ignore[no-untyped-def]
    assert may_resolve(kind, author, "ana", [BIA], roles) is allowed


def test_a_coordinator_may_not_reverse_a_settlement() -> None:
    # Found by the differential property (tests/property/test_authority_differential.py): a
    # settlement's reversal is a transfer of clearing legs alone, which only the admin signs;
    # a coordinator of a collective it touches could undo the admin's settlement.
    settlement = ((NET_A, "CARD", -1000), (NET_D, "CARD", 1000))
    reversal = tuple((account, currency, -amount) for account, currency, amount in settlement)
    assert denied("bia", [("coordinator", "a")], "reversal", *reversal)
    assert denied("bia", [("coordinator", "a"), ("coordinator", "d")], "reversal", *reversal)
    assert not denied("banco", [("admin", None)], "reversal", *reversal)


def test_an_import_debits_only_income_and_cash_even_a_coordinators() -> None:
    # Found by the differential property: the README's table says an import "debits that
    # collective's income and cash"; a coordinator's import debited its fund.
    coordinator = [("coordinator", "cubo")]
    assert denied("ana", coordinator, "import", (CUBO_FUND, "CUBO", -100), (CUBO_CASH, "CUBO", 100))
    assert not denied("ana", coordinator, "import", *SALE)
    assert not denied(
        "ana", coordinator, "payment", (CUBO_FUND, "CUBO", -100), (CUBO_CASH, "CUBO", 100)
    )  # a payment still may
