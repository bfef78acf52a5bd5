"""Who may move money out of an account: the one rule the posting function enforces and
``verify`` checks again.

The posting function asks it with the roles the ``role`` table grants now;
``verify`` asks it with the roles the chain's signed records had granted the
author at that event, so an edited ``role`` table changes nothing it finds.
Hold resolutions take their right from the hold, and are not decided here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from mutualcredit.domain.amounts import Currency

CLEARING_KINDS = ("clearing", "network_clearing")
# The kinds of transfer that route a payment through clearing (see :func:`mirrored`).
ROUTED_KINDS = ("payment", "hold", "post_hold", "fee")


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


def roles_at(windows: Iterable[Sequence[Any]], seq: int) -> tuple[tuple[str, str | None], ...]:
    """The (role, collective) pairs of ``windows`` — ``(role, collective, granted at event,
    revoked at event or None)`` — in force at event ``seq``: granted before it, not yet
    revoked."""
    return tuple((role, collective) for role, collective, start, until in windows
                 if start < seq and (until is None or seq < until))


def may_debit(author: str, roles: Iterable[tuple[str, str | None]], account: OwnedAccount,
              kind: str, affected: Callable[[], Collection[str]]) -> bool:
    """May ``author``, holding ``roles`` (role, collective), move money out of ``account`` in
    a transfer of ``kind``?  ``affected`` gives the collectives of the transfer's accounts
    (asked only for a reversal).  A clearing account's debit is decided by :func:`mirrored`.

    A member moves their own money; the admin anyone's; a coordinator their collective's
    accounts, and, reversing a transfer, any account of it if their collective is affected;
    an importer the income and cash accounts (of their collective, if they have one), and
    their collective's issuance account inside an import.
    """
    if account.owner_kind == "member" and account.owner == author:
        return True
    for role, collective in roles:
        if role == "admin":
            return True
        if role == "coordinator" and collective is not None:
            if account.owner_kind == "collective" and account.collective == collective:
                return True
            if kind == "reversal" and collective in affected():
                return True
        if role == "importer" and account.kind in ("income", "cash") and (
                collective is None or collective == account.collective):
            return True
        if (role == "importer" and account.kind == "issuance" and kind == "import"
                and collective is not None and collective == account.collective):
            return True
    return False


def may_resolve(kind: str, author: str, hold_author: str, credited: Iterable[OwnedAccount],
                roles: Iterable[tuple[str, str | None]]) -> bool:
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
    return any(role == "admin" or (role == "coordinator" and any(
        account.collective == collective for account in credited))
        for role, collective in roles)


def mirrored(kind: str, collective: str | None, postings: Mapping[str, tuple[str, int]],
             currencies: Mapping[str, Currency], card: Currency,
             account_kind: Callable[[str], str | None]) -> bool:
    """A clearing account may be debited when its collective's two clearing accounts mirror.

    In a payment routed through clearing, ``collectives:X:clearing`` moves in X's
    currency by exactly the opposite card value of ``network:clearing:X``; that
    pairing is what makes the debit part of the payer's consented route.
    ``postings`` maps the transfer's account names to (currency, amount);
    ``account_kind`` gives an account's kind by name.
    """
    if collective is None or kind not in ROUTED_KINDS:
        return False
    own = f"collectives:{collective}:clearing"
    network = f"network:clearing:{collective}"
    if own not in postings or network not in postings:
        return False
    currency, amount = postings[own]
    if currency not in currencies:
        return False
    card_value = currencies[currency].to_card_minor(amount, card=card)
    return card_value == -postings[network][1] and account_kind(own) == "clearing"


# -- records ----------------------------------------------------------------------------------

class RecordRule(NamedTuple):
    """Who may sign a record: the member it is about (if ``subject_may``), and, if
    ``roles_may``, the admin or a coordinator of ``collective`` (None: the admin only)."""

    collective: str | None
    subject_may: bool = False
    roles_may: bool = True


def record_rule(kind: str, body: Mapping[str, Any], *,
                member_collective: Callable[[str], str | None],
                account_collective: Callable[[str], str | None],
                resource_collective: Callable[[str], str | None]) -> RecordRule | None:
    """The rule the service that writes a record of ``kind`` applies; None for records
    decided elsewhere (the network's creation; payment requests and their resolutions,
    whose parties verify checks with the request)."""
    handle = str(body.get("handle"))
    if kind in ("currency_added", "collective_added", "settlement"):
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
        return RecordRule(account_collective(str(body.get("account"))))
    if kind == "resource_added":
        return RecordRule(_text(body.get("collective")))
    if kind == "resource_closed":
        return RecordRule(resource_collective(str(body.get("slug"))))
    return None


def may_sign_record(author: str, roles: Iterable[tuple[str, str | None]], rule: RecordRule,
                    subject: str | None) -> bool:
    """Does ``rule`` let ``author``, holding ``roles``, sign a record about ``subject``?"""
    if rule.subject_may and author == subject:
        return True
    return rule.roles_may and any(
        role == "admin" or (role == "coordinator" and rule.collective is not None
                            and collective == rule.collective)
        for role, collective in roles)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
