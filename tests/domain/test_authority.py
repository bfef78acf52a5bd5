"""The rule for moving money out of an account, shared by the posting function and verify."""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import pytest

from mutualcredit.domain.amounts import Currency
from mutualcredit.domain.authority import may_debit, mirrored, roles_at


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
