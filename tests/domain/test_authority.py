"""The rule for moving money out of an account, shared by the posting function and verify."""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import pytest

from mutualcredit.domain.amounts import Currency
from mutualcredit.domain.authority import (
    may_debit,
    may_resolve,
    may_sign_record,
    mirrored,
    record_rule,
    roles_at,
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
INCOME = Account("income:festivals:grito", "income", "network", None, None)


def nobody() -> set[str]:
    raise AssertionError("the affected collectives are asked only for a reversal")


@pytest.mark.parametrize(("author", "roles", "account", "kind", "allowed"), [
    ("ana", [], ANA, "payment", True),  # her own money
    ("bia", [], ANA, "payment", False),
    ("bia", [("admin", None)], ANA, "payment", True),
    ("bia", [("coordinator", "cubo")], ANA, "payment", False),  # not a member's money
    ("bia", [("coordinator", "cubo")], CUBO_FUND, "payment", True),
    ("bia", [("coordinator", "palafita")], CUBO_FUND, "payment", False),
    ("bia", [("importer", None)], INCOME, "import", True),
    ("bia", [("importer", "cubo")], CUBO_CASH, "import", True),
    ("bia", [("importer", "palafita")], CUBO_CASH, "import", False),
    ("bia", [("importer", "cubo")], CUBO_ISSUANCE, "import", True),
    ("bia", [("importer", "cubo")], CUBO_ISSUANCE, "payment", False),  # only inside an import
    ("bia", [("importer", None)], CUBO_ISSUANCE, "import", False),  # only the collective's
    ("bia", [("importer", "cubo")], CUBO_FUND, "import", False),
])
def test_who_may_debit(author, roles, account, kind, allowed) -> None:  # type: ignore[no-untyped-def]
    assert may_debit(author, roles, account, kind, nobody) is allowed


def test_a_coordinator_of_an_affected_collective_may_reverse_any_of_its_accounts() -> None:
    coordinator = [("coordinator", "cubo")]
    assert may_debit("bia", coordinator, ANA, "reversal", lambda: {"cubo"})
    assert not may_debit("bia", coordinator, ANA, "reversal", lambda: {"palafita"})


def test_roles_in_force_at_an_event() -> None:
    windows = [["coordinator", "cubo", 5, 9], ["admin", None, 0, None]]
    assert roles_at(windows, 5) == (("admin", None),)  # granted by event 5: from event 6
    assert roles_at(windows, 6) == (("coordinator", "cubo"), ("admin", None))
    assert roles_at(windows, 9) == (("admin", None),)  # revoked by event 9


CARD = Currency(code="CARD", scale=2)
CUBO = Currency(code="CUBO", scale=2, rate=Fraction(1, 2))


def kinds(name: str) -> str:
    return "clearing" if name.startswith("collectives:") else "network_clearing"


@pytest.mark.parametrize(("own", "network", "kind", "expected"), [
    (-1000, 500, "payment", True),  # 10.00 CUBO are worth 5.00 CARD
    (-1000, 400, "payment", False),
    (-1000, 500, "settlement", False),  # only payments route through clearing
])
def test_clearing_legs_mirror(own, network, kind, expected) -> None:  # type: ignore[no-untyped-def]
    # The collective's leg moves one way and the network's the other, by the same card value.
    postings = {"collectives:cubo:clearing": ("CUBO", own),
                "network:clearing:cubo": ("CARD", network)}
    assert mirrored(kind, "cubo", postings, {"CUBO": CUBO, "CARD": CARD}, CARD,
                    kinds) is expected
    assert not mirrored(kind, "palafita", postings, {"CUBO": CUBO, "CARD": CARD}, CARD, kinds)


LOOKUPS = {"member_collective": {"bia": "cubo"}.get,
           "account_collective": {"members:bia": "cubo", "income:x": None}.get,
           "resource_collective": {"estudio": "cubo"}.get}
ADMIN, COORDINATOR, OTHER = [("admin", None)], [("coordinator", "cubo")], [("coordinator", "pala")]


@pytest.mark.parametrize(("kind", "body", "author", "allowed"), [
    ("currency_added", {}, ADMIN, True),
    ("currency_added", {}, COORDINATOR, False),
    ("member_added", {"handle": "novo", "collective": "cubo"}, COORDINATOR, True),
    ("member_added", {"handle": "novo", "collective": "cubo"}, OTHER, False),
    ("role_granted", {"handle": "bia", "role": "coordinator", "collective": "cubo"},
     COORDINATOR, True),
    ("role_granted", {"handle": "bia", "role": "admin", "collective": None}, COORDINATOR, False),
    ("key_registered", {"handle": "bia"}, COORDINATOR, True),
    ("key_registered", {"handle": "bia"}, OTHER, False),
    ("limit_change", {"account": "members:bia"}, COORDINATOR, True),
    ("limit_change", {"account": "income:x"}, COORDINATOR, False),  # a network account
    ("account_added", {"owner": "network"}, COORDINATOR, False),
    ("account_added", {"owner": "cubo"}, COORDINATOR, True),
    ("resource_closed", {"slug": "estudio"}, COORDINATOR, True),
    ("resource_closed", {"slug": "estudio"}, OTHER, False),
])
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


@pytest.mark.parametrize(("kind", "author", "roles", "allowed"), [
    ("expire_hold", "anyone", [], True),  # when it is due: verify checks that apart
    ("void_hold", "ana", [], True),  # the hold's own author
    ("post_hold", "ana", [], True),
    ("void_hold", "bia", [], True),  # the member it credits
    ("post_hold", "caio", [], False),
    ("void_hold", "caio", [("coordinator", "palafita")], False),
    ("void_hold", "caio", [("coordinator", "cubo")], True),  # of the credited account
    ("void_hold", "caio", [("admin", None)], True),
])
def test_who_may_resolve_a_hold(kind, author, roles, allowed) -> None:  # type: ignore[no-untyped-def]
    assert may_resolve(kind, author, "ana", [BIA], roles) is allowed
