"""Who may move which money, and who may sign which record: the one authority model.

The posting function asks it with the roles the ``role`` table grants now;
``verify`` asks it with the roles the chain's signed records had granted the
author at that event, so an edited ``role`` table changes nothing it finds.
Both call the same functions here, and nothing else decides who may debit.

The rules, by kind of transfer (the README has the same table):

* **payment, hold, fee** — each debited account is the author's own (a
  member's account), or a collective's account (not its issuance account)
  of which the author is a coordinator.  Clearing legs appear only as the
  exact route of one payment between the one debited and the one credited
  account (:func:`route_postings`), never alone.
* **import** — signed by an importer or coordinator of a collective: it
  debits that collective's income and cash accounts, credits only that
  collective's accounts or network accounts (no clearing), and moves the
  collective's issuance account only as the signed issuance record says: at
  its rate, against income in its currency, into its account.
* **reversal** — by a coordinator of a collective the transfer touches (it
  must be the exact opposite of the original: :func:`reverses_exactly`);
  forced (past limits) only when everything it touches is that collective's.
* **settlement, issuance** — the admin only.
* **post_hold, void_hold, expire_hold** — :func:`may_resolve`; a posting is
  the hold scaled by one factor (:func:`scaled_exactly`).
* The admin may sign anything.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any, NamedTuple, Protocol

from mutualcredit.domain.amounts import Currency, parse_rate
from mutualcredit.domain.errors import MutualCreditError, Refused
from mutualcredit.domain.transfers import RESOLUTION_KINDS

CLEARING_KINDS = ("clearing", "network_clearing")
# The kinds of transfer that may carry a payment's route through clearing.
ROUTED_KINDS = ("payment", "hold", "fee")
ADMIN_ONLY_KINDS = ("settlement", "issuance")
Roles = Iterable[tuple[str, str | None]]


class OwnedAccount(Protocol):
    """What authority depends on in an account."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def owner_kind(self) -> str: ...

    @property
    def owner(self) -> str | None: ...

    @property
    def collective(self) -> str | None: ...


class Leg(NamedTuple):
    """A posting with the facts of its account."""

    account: OwnedAccount
    currency: str
    amount: int


class Issuance(NamedTuple):
    """A collective's card issued against income, as the admin's signed record fixes it:
    ``rate`` card units per unit of ``against`` received, credited to ``into``."""

    collective: str
    against: str
    rate: Fraction
    into: str


class Denial(NamedTuple):
    """Why a transfer is not authorised: the account concerned (if one) and a sentence."""

    account: str | None
    message: str


def roles_at(windows: Iterable[Sequence[Any]], seq: int) -> tuple[tuple[str, str | None], ...]:
    """The (role, collective) pairs of ``windows`` — ``(role, collective, granted at event,
    revoked at event or None)`` — in force at event ``seq``: granted before it, not yet
    revoked."""
    return tuple(
        (role, collective)
        for role, collective, start, until in windows
        if start < seq and (until is None or seq < until)
    )


def is_admin(roles: Roles) -> bool:
    return any(role == "admin" for role, _ in roles)


def coordinates(roles: Roles, collective: str | None) -> bool:
    """Is the holder of ``roles`` the admin or a coordinator of ``collective``?  The one form
    of "the admin, or a coordinator of that collective"."""
    return any(
        role == "admin"
        or (role == "coordinator" and collective is not None and scope == collective)
        for role, scope in roles
    )


def may_debit(author: str, roles: Roles, account: OwnedAccount, kind: str) -> bool:
    """May ``author``, holding ``roles`` (role, collective), move money out of ``account`` in
    a transfer of ``kind``, leaving aside clearing routes, issuance and reversals, which
    :func:`transfer_denial` decides on the whole transfer?

    A member moves their own money; the admin anyone's; a coordinator their collective's
    accounts; an importer, inside an import, the income and cash accounts of its
    collective (or, with no collective, the network's).
    """
    if account.kind in CLEARING_KINDS or account.kind == "issuance":
        return is_admin(roles)
    if account.owner_kind == "member" and account.owner == author:
        return True
    for role, collective in roles:
        if role == "admin":
            return True
        if (
            role == "coordinator"
            and collective is not None
            and account.owner_kind == "collective"
            and account.collective == collective
        ):
            return True
        if (
            role == "importer"
            and kind == "import"
            and account.kind in ("income", "cash")
            and (
                (collective is None and account.owner_kind == "network")
                or (
                    collective is not None
                    and account.owner_kind == "collective"
                    and account.collective == collective
                )
            )
        ):
            return True
    return False


def transfer_denial(
    *,
    author: str,
    roles: Roles,
    kind: str,
    legs: Sequence[Leg],
    currencies: Mapping[str, Currency],
    card: Currency,
    issuance: Callable[[str], Issuance | None],
    force: bool = False,
) -> Denial | None:
    """Why ``author``, holding ``roles``, may not sign a transfer of ``kind`` moving ``legs``
    (None: they may).  ``issuance`` gives a collective's signed issuance record; ``force``
    says a reversal is forced past limits.  Hold resolutions are :func:`may_resolve`'s."""
    assert kind not in RESOLUTION_KINDS, kind
    roles = tuple(roles)
    if is_admin(roles):
        return None
    if kind in ADMIN_ONLY_KINDS:
        return Denial(None, f"only the admin may sign a {kind} transfer; {author} is not the admin")
    if kind == "reversal":
        return _reversal_denial(author, roles, legs, force)
    clearing = [leg for leg in legs if leg.account.kind in CLEARING_KINDS]
    if clearing and (kind not in ROUTED_KINDS or not is_route(legs, currencies, card)):
        return Denial(
            clearing[0].account.name,
            f"{author} may not move money out of {clearing[0].account.name}: clearing "
            "accounts "
            "move only as the route of one payment between two collectives",
        )
    if kind == "import":
        return _import_denial(author, roles, legs, currencies, card, issuance)
    for leg in legs:
        if (
            leg.amount < 0
            and leg.account.kind not in CLEARING_KINDS
            and not may_debit(author, roles, leg.account, kind)
        ):
            return Denial(
                leg.account.name, f"{author} may not move money out of {leg.account.name}"
            )
    return None


def _reversal_denial(
    author: str, roles: tuple[tuple[str, str | None], ...], legs: Sequence[Leg], force: bool
) -> Denial | None:
    """A coordinator of an affected collective may reverse (the reversal is the original's
    exact opposite, checked with it); forced past limits only if every account it touches
    is that collective's own."""
    if all(leg.account.kind in CLEARING_KINDS for leg in legs):
        # Reversing a settlement moves clearing legs alone: the admin's, as settling is.
        return Denial(
            None,
            f"{author} may not reverse a transfer of clearing legs alone (a "
            "settlement): only the admin may",
        )
    affected = {leg.account.collective for leg in legs if leg.account.collective}
    coordinated = {scope for role, scope in roles if role == "coordinator" and scope}
    if not affected & coordinated:
        return Denial(
            None,
            f"{author} may not reverse this transfer: it needs the admin or "
            "a coordinator of an affected collective",
        )
    if force and not all(
        leg.account.collective in coordinated and leg.account.owner_kind != "network"
        for leg in legs
    ):
        return Denial(
            None,
            f"{author} may not force a reversal of a transfer that touches "
            "another collective or the network: only the admin may",
        )
    return None


def _import_denial(
    author: str,
    roles: tuple[tuple[str, str | None], ...],
    legs: Sequence[Leg],
    currencies: Mapping[str, Currency],
    card: Currency,
    issuance: Callable[[str], Issuance | None],
) -> Denial | None:
    """An import moves only its signer's collective's accounts (network ones: credits, and
    an importer with no collective the network's income and cash), and its issuance account
    only as the signed issuance record says."""
    scopes = {scope for role, scope in roles if role in ("importer", "coordinator") and scope}
    network = any(role == "importer" and scope is None for role, scope in roles)
    for leg in legs:
        account = leg.account
        if account.kind == "issuance":
            continue
        ours = (account.owner_kind == "collective" and account.collective in scopes) or (
            network and account.owner_kind == "network"
        )
        # The README's table: an import debits income and cash, a coordinator's too (their
        # collective's other accounts move in payments, not in imports).
        if leg.amount < 0 and not (ours and account.kind in ("income", "cash")):
            return Denial(account.name, f"{author} may not move money out of {account.name}")
        if leg.amount > 0 and not (ours or account.owner_kind == "network"):
            return Denial(
                account.name,
                f"an import by {author} may not credit "
                f"{account.name}, which is not its collective's",
            )
    issuing = sorted(
        {leg.account.collective or "" for leg in legs if leg.account.kind == "issuance"}
    )
    for collective in issuing:
        if collective not in scopes:
            return Denial(
                f"collectives:{collective}:issuance", f"{author} may not issue {collective}'s card"
            )
        denial = _issuance_denial(collective, legs, currencies, issuance(collective))
        if denial is not None:
            return denial
    return None


def _issuance_denial(
    collective: str,
    legs: Sequence[Leg],
    currencies: Mapping[str, Currency],
    record: Issuance | None,
) -> Denial | None:
    name = f"collectives:{collective}:issuance"
    if record is None:
        return Denial(
            name,
            f"{collective} has no signed issuance record: only the admin "
            "fixes the rate and the account its card is issued into",
        )
    issued = [leg for leg in legs if leg.account.kind == "issuance"]
    card_currency = issued[0].currency
    received = -sum(
        leg.amount
        for leg in legs
        if leg.currency == record.against
        and leg.account.kind == "income"
        and leg.account.collective == collective
    )
    expected = issuance_amount(received, record, currencies, card_currency)
    wanted = sorted([(name, -expected), (record.into, expected)]) if expected else []
    moved = sorted((leg.account.name, leg.amount) for leg in legs if leg.currency == card_currency)
    if moved != wanted:
        return Denial(
            name,
            f"the {card_currency} this import issues is not what "
            f"{collective}'s signed issuance record allows: "
            f"{record.rate} per {record.against} of income, into {record.into}",
        )
    return None


def issuance_amount(
    received: int, record: Issuance, currencies: Mapping[str, Currency], card_currency: str
) -> int:
    """The card (minor units of ``card_currency``) issued for ``received`` minor units of the
    record's currency: at its rate, rounded toward zero (never more card than income)."""
    factor = record.rate * Fraction(10) ** (
        currencies[card_currency].scale - currencies[record.against].scale
    )
    issued = abs(received) * factor.numerator // factor.denominator
    return -issued if received < 0 else issued


class RoutePoint(NamedTuple):
    """One end of a payment: an account name, its collective (None: the network's) and its
    currency (the collective's own, or the card for the network's)."""

    name: str
    collective: str | None
    currency: str


def route_postings(
    payer: RoutePoint,
    payee: RoutePoint,
    amount: int,
    currencies: Mapping[str, Currency],
    card: Currency,
) -> tuple[tuple[str, str, int], ...]:
    """The postings ``(account, currency, amount)`` of a payment of ``amount`` (minor units
    of the payer's currency) from ``payer`` to ``payee``: two legs within a collective,
    otherwise through clearing, converted exactly at the fixed rates::

        payer's currency:  payer                   -a   collectives:P:clearing   +a
        card:              network:clearing:P      -c   network:clearing:Q       +c
        payee's currency:  collectives:Q:clearing  -b   payee                    +b

    (a collective's side is left out where that end is the network's).  Raises
    ``Refused`` (``inexact_conversion``) where an amount does not convert exactly.
    """
    if payer.collective == payee.collective:
        return ((payer.name, payer.currency, -amount), (payee.name, payee.currency, amount))
    postings = [(payer.name, payer.currency, -amount)]
    if payer.collective is None:
        card_amount = amount
    else:
        card_amount = currencies[payer.currency].to_card_minor(amount, card=card)
        postings += [
            (f"collectives:{payer.collective}:clearing", payer.currency, amount),
            (f"network:clearing:{payer.collective}", card.code, -card_amount),
        ]
    if payee.collective is None:
        postings.append((payee.name, card.code, card_amount))
        return tuple(postings)
    payee_amount = currencies[payee.currency].from_card_minor(card_amount, card=card)
    postings += [
        (f"network:clearing:{payee.collective}", card.code, card_amount),
        (f"collectives:{payee.collective}:clearing", payee.currency, -payee_amount),
        (payee.name, payee.currency, payee_amount),
    ]
    return tuple(postings)


def is_route(legs: Sequence[Leg], currencies: Mapping[str, Currency], card: Currency) -> bool:
    """Are ``legs`` exactly the route (:func:`route_postings`) of one payment between the one
    account they debit and the one they credit, outside clearing?"""
    ends = [leg for leg in legs if leg.account.kind not in CLEARING_KINDS]
    debits = [leg for leg in ends if leg.amount < 0]
    credits = [leg for leg in ends if leg.amount > 0]
    if len(debits) != 1 or len(credits) != 1 or len(ends) != 2:
        return False
    payer, payee = debits[0], credits[0]
    if payer.currency not in currencies or payee.currency not in currencies:
        return False
    try:
        expected = route_postings(
            RoutePoint(payer.account.name, payer.account.collective, payer.currency),
            RoutePoint(payee.account.name, payee.account.collective, payee.currency),
            -payer.amount,
            currencies,
            card,
        )
    except Refused:
        return False
    return sorted(expected) == sorted((leg.account.name, leg.currency, leg.amount) for leg in legs)


def reverses_exactly(
    original: Iterable[tuple[Any, str, int]], reversal: Iterable[tuple[Any, str, int]]
) -> bool:
    """Is ``reversal`` (account, currency, amount) the exact opposite of ``original``?  (An
    account is named or numbered, the same way on both sides.)"""
    return sorted((account, currency, -amount) for account, currency, amount in original) == sorted(
        reversal
    )


def scaled_exactly(
    held: Sequence[tuple[Any, str, int]], posted: Sequence[tuple[Any, str, int]]
) -> bool:
    """Are the postings ``posted`` of a hold's resolution the ``held`` postings scaled by one
    factor in (0, 1] — the same accounts, in proportion — as a partial posting is?"""
    held_by = {(account, currency): amount for account, currency, amount in held}
    posted_by = {(account, currency): amount for account, currency, amount in posted}
    if (
        not held
        or len(held_by) != len(held)
        or set(posted_by) != set(held_by)
        or len(posted_by) != len(posted)
    ):
        return False
    reference = (held[0][0], held[0][1])
    base, part = held_by[reference], posted_by[reference]
    if (base < 0) != (part < 0) or part == 0 or abs(part) > abs(base):
        return False
    return all(amount * base == held_by[key] * part for key, amount in posted_by.items())


def may_resolve(
    kind: str, author: str, hold_author: str, credited: Iterable[OwnedAccount], roles: Roles
) -> bool:
    """May ``author`` resolve (``post_hold``, ``void_hold``, ``expire_hold``) a hold placed by
    ``hold_author`` that credits ``credited``?  Anyone may expire one (``verify`` checks it
    was due); its author may post or void it (placing it already needed the right to debit
    the payer, and posting moves no more than that); so may a member it credits, the admin,
    or a coordinator of a collective whose account it credits."""
    if kind == "expire_hold" or author == hold_author:
        return True
    credited = list(credited)
    if any(account.owner_kind == "member" and account.owner == author for account in credited):
        return True
    roles = tuple(roles)
    return is_admin(roles) or any(coordinates(roles, account.collective) for account in credited)


def parse_issuance(body: Mapping[str, Any], collective: str) -> Issuance | None:
    """The :class:`Issuance` an ``issuance_set`` record's body fixes for ``collective``."""
    if body.get("collective") != collective:
        return None
    try:
        return Issuance(
            collective=collective,
            against=str(body["against"]),
            rate=parse_rate(str(body["rate"])),
            into=str(body["into"]),
        )
    except (KeyError, ValueError, MutualCreditError):
        return None


# -- accounts ---------------------------------------------------------------------------------


def is_clearing_name(name: str) -> bool:
    """``network:clearing:X`` and ``collectives:X:clearing``: their limits bound how much a
    collective may owe or be owed, the network's risk, which only the admin sets."""
    segments = name.split(":")
    return (segments[:2] == ["network", "clearing"] and len(segments) == 3) or (
        segments[0] == "collectives" and len(segments) == 3 and segments[2] == "clearing"
    )


def account_shape_problem(
    name: str,
    owner: str,
    currency: str,
    *,
    issuers: Callable[[str], Collection[str]],
    network_card: str,
) -> str | None:
    """Why an account ``name`` owned by ``owner`` (a collective's slug, or ``network``) in
    ``currency`` would lie about itself (None: it does not).  ``issuers`` gives the
    collectives whose own card a currency is (none for a currency the admin added).
    ``collectives:X:…`` is X's; ``network:…`` the network's; ``income:…`` and other names
    belong to the ``owner`` given.  An account holds its owner's own card, the network card
    or a currency the admin added — never another collective's card."""
    segments = name.split(":")
    if segments[0] == "collectives" and owner != segments[1]:
        return f"{name} names collective {segments[1]} but would be owned by {owner}"
    if segments[0] == "network" and owner != "network":
        return f"{name} is a network account but would be owned by {owner}"
    cards = issuers(currency)
    if currency != network_card and cards and owner not in cards:
        return (
            f"{name} would hold {currency}, the card of {', '.join(sorted(cards))}; an "
            "account holds its owner's own card, the network card or a currency the "
            "admin added"
        )
    return None


# -- records ----------------------------------------------------------------------------------


class RecordRule(NamedTuple):
    """Who may sign a record: the member it is about (if ``subject_may``), and, if
    ``roles_may``, the admin or a coordinator of ``collective`` (None: the admin only)."""

    collective: str | None
    subject_may: bool = False
    roles_may: bool = True


def record_rule(
    kind: str,
    body: Mapping[str, Any],
    *,
    member_collective: Callable[[str], str | None],
    account_collective: Callable[[str], str | None],
    resource_collective: Callable[[str], str | None],
) -> RecordRule | None:
    """The rule the service that writes a record of ``kind`` applies; None for records
    decided elsewhere (the network's creation; payment requests and their resolutions,
    whose parties verify checks with the request)."""
    handle = str(body.get("handle"))
    if kind in ("currency_added", "collective_added", "settlement", "issuance_set"):
        return RecordRule(None)
    if kind == "key_rotated":
        return RecordRule(None, subject_may=True, roles_may=False)  # by the key's holder
    if kind in ("key_registered", "member_closed"):
        return RecordRule(member_collective(handle))
    if kind == "key_revoked":
        return RecordRule(member_collective(handle), subject_may=True)
    if kind == "member_added":
        return RecordRule(_text(body.get("collective")))
    if kind in ("role_granted", "role_revoked"):
        return RecordRule(None if body.get("role") == "admin" else _text(body.get("collective")))
    if kind == "account_added":
        owner = _text(body.get("owner"))
        return RecordRule(None if owner == "network" else owner)
    if kind == "account_closed":
        return RecordRule(account_collective(str(body.get("name"))))
    if kind == "limit_change":
        account = str(body.get("account"))
        return RecordRule(None if is_clearing_name(account) else account_collective(account))
    if kind == "resource_added":
        return RecordRule(_text(body.get("collective")))
    if kind == "resource_closed":
        return RecordRule(resource_collective(str(body.get("slug"))))
    return None


def may_sign_record(
    author: str, roles: Iterable[tuple[str, str | None]], rule: RecordRule, subject: str | None
) -> bool:
    """Does ``rule`` let ``author``, holding ``roles``, sign a record about ``subject``?"""
    if rule.subject_may and author == subject:
        return True
    return rule.roles_may and coordinates(roles, rule.collective)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
