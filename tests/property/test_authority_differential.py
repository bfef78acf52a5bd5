"""The differential property of issue 15: the writer, ``verify`` and the README agree.

Hypothesis signs random transfers of every kind — payments, holds, fees,
imports (with and without issuance), settlements, issuance, reversals (forced
or not), hold postings and voids; two legs, many legs, payments routed through
clearing (exact, padded, one-sided, skewed) and clearing legs alone — by random
authors holding random roles, across three collectives, the network card and a
currency the admin added (BRL).  Each is signed with its author's registered
key and handed to the single writer (:func:`posting.post_signed`).  Then:

* the writer accepts a transfer exactly when :func:`readme_allows` — the
  README's table "Who may sign what", written out here from its words and
  nothing else (it does not call :mod:`mutualcredit.domain.authority`) — allows
  it, unless a reason the table does not decide refuses it (an already
  reversed transfer, a reversal that is not the opposite of its original, …),
  which the test predicts too and compares by code;
* a refused transfer, written straight into a copy of the database (signed,
  chained and with the totals made to agree, as someone holding the file
  would), is flagged by ``verify`` with the matching problem code;
* after the accepted ones, ``verify`` is clean.

Because sampling meets some combinations rarely (a coordinator's import of
their fund came up about once in 3000 steps), the same oracle is also checked
against the rule itself over every small transfer — every author, kind and
two-leg, routed or sale-shaped transfer of the base network, and every post
or void of such a hold — without the database.

The base network is built once per session; each example runs on a copy.
``MUTUALCREDIT_DIFFERENTIAL_EXAMPLES`` sets the number of examples (default
:data:`EXAMPLES`); the count that ran is printed at the end of the test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

from mutualcredit.domain.errors import MutualCreditError
from mutualcredit.domain.events import event_rows
from mutualcredit.domain.transfers import Posting, TransferDraft
from mutualcredit.services import network as setup
from mutualcredit.services.clock import iso, now
from mutualcredit.services.context import Ledger
from mutualcredit.services.keys import Signer
from mutualcredit.services.posting import (
    TRANSFER_COLUMNS,
    SignedTransfer,
    post_signed,
    sign,
    transfer_row,
)
from mutualcredit.services.verify import verify_ledger
from tests.tamper.test_tamper_kit import rebuild_totals

EXAMPLES = int(os.environ.get("MUTUALCREDIT_DIFFERENTIAL_EXAMPLES", "250"))
STEPS_MAX = 6
CARD = "CARD"
LINE = 10**12  # every member's credit line and the clearing bound: no limit ever decides

# -- the world: what the base network holds, as this test made it --------------------------

# slug -> (its card, that card's rate to the network card)
COLLECTIVES = {
    "cubo": ("CUBO", Fraction(1)),
    "palafita": ("PALA", Fraction(2)),
    "massa": (CARD, Fraction(1)),
}  # massa shares the network card
RATES = {CARD: Fraction(1), "CUBO": Fraction(1), "PALA": Fraction(2), "BRL": Fraction(1)}
# handle -> (collective, roles)
MEMBERS: dict[str, tuple[str, tuple[tuple[str, str | None], ...]]] = {
    "ana": ("cubo", (("coordinator", "cubo"),)),
    "bia": ("cubo", ()),
    "imp": ("cubo", (("importer", "cubo"),)),
    "caio": ("palafita", (("coordinator", "palafita"),)),
    "eli": ("palafita", ()),
    "pim": ("palafita", (("importer", "palafita"),)),
    "duda": ("massa", (("coordinator", "massa"),)),
    "gil": ("massa", ()),
    "net": ("massa", (("importer", None),)),  # the network's importer
    "mal": ("massa", (("coordinator", "massa"), ("importer", "cubo"))),
}
ADMIN = "banco"
ROLES = {ADMIN: (("admin", None),), **{handle: roles for handle, (_, roles) in MEMBERS.items()}}
HANDLES = tuple(ROLES)


@dataclass(frozen=True)
class Account:
    """An account as this test made it: ``owner`` is ``member:H``, ``collective:X`` or
    ``network``; ``of`` the collective it concerns (a member's, a clearing account's)."""

    name: str
    currency: str
    owner: str
    of: str | None
    kind: str  # member, fund, clearing, network_clearing, income, cash, issuance, other


def _accounts() -> dict[str, Account]:
    accounts = [
        Account(f"members:{h}", COLLECTIVES[c][0], f"member:{h}", c, "member")
        for h, (c, _) in MEMBERS.items()
    ]
    for slug, (card, _) in COLLECTIVES.items():
        accounts += [
            Account(f"collectives:{slug}:fund", card, f"collective:{slug}", slug, "fund"),
            Account(f"collectives:{slug}:clearing", card, f"collective:{slug}", slug, "clearing"),
            Account(f"network:clearing:{slug}", CARD, "network", slug, "network_clearing"),
        ]
    accounts += [
        Account(
            name,
            currency,
            "network" if owner == "network" else f"collective:{owner}",
            None if owner == "network" else owner,
            kind,
        )
        for name, currency, owner, kind in EXTRA_ACCOUNTS
    ]
    return {account.name: account for account in accounts}


# name, currency, owner (slug or network), kind — added by the admin
EXTRA_ACCOUNTS = (
    ("income:festivals:grito", "BRL", "cubo", "income"),
    ("collectives:cubo:cash:caixa-1", "BRL", "cubo", "cash"),
    ("collectives:cubo:issuance", "CUBO", "cubo", "issuance"),
    ("income:palafita:bar", "BRL", "palafita", "income"),
    ("collectives:palafita:cash:box", "BRL", "palafita", "cash"),
    ("collectives:palafita:issuance", "PALA", "palafita", "issuance"),
    ("collectives:palafita:reserve", "BRL", "palafita", "other"),
    ("collectives:massa:cash:box", "BRL", "massa", "cash"),
    ("collectives:massa:issuance", CARD, "massa", "issuance"),  # with no issuance record
    ("collectives:massa:bar", CARD, "massa", "other"),
    ("income:network", "BRL", "network", "income"),
    ("network:cash:brl", "BRL", "network", "cash"),
    ("network:fund:brl", "BRL", "network", "other"),
    ("network:fund:card", CARD, "network", "other"),
)
ACCOUNTS = _accounts()
NAMES = tuple(ACCOUNTS)
CLEARING = ("clearing", "network_clearing")
# collective -> (against, rate, into): the admin's signed issuance records
ISSUANCE = {
    "cubo": ("BRL", Fraction(1), "collectives:cubo:fund"),
    "palafita": ("BRL", Fraction(2), "collectives:palafita:fund"),
}


@dataclass
class Transfer:
    """A transfer the writer accepted (in the base or in an example)."""

    id: int
    kind: str
    author: str
    postings: tuple[tuple[str, str, int], ...]
    status: str = "posted"  # a hold: pending, posted, voided
    reversed: bool = False


# -- the oracle: the README's table, "Who may sign what", in its own words -----------------


def readme_allows(
    author: str,
    kind: str,
    postings: tuple[tuple[str, str, int], ...],
    *,
    force: bool = False,
    hold: Transfer | None = None,
) -> bool:
    """May ``author`` sign a transfer of ``kind`` moving ``postings``, by the README's table?

    ``hold`` is the hold a ``post_hold``/``void_hold`` resolves.  Written from the
    README's words, not from the code it checks."""
    roles = ROLES[author]
    # "anything | the admin"
    if ("admin", None) in roles:
        return True
    coordinated = {scope for role, scope in roles if role == "coordinator"}
    legs = [(ACCOUNTS[name], currency, amount) for name, currency, amount in postings]
    if kind in ("post_hold", "void_hold"):
        # "its author, a member it credits, a coordinator of a credited account's collective"
        assert hold is not None
        credited = [ACCOUNTS[name] for name, _, amount in hold.postings if amount > 0]
        return author == hold.author or any(
            account.owner == f"member:{author}" or account.of in coordinated for account in credited
        )
    # "settlement, issuance, clearing limits | the admin only"; clearing legs alone ("never
    # alone"; a reversal "of clearing legs alone (a settlement's reversal): the admin only")
    if kind in ("settlement", "issuance") or all(a.kind in CLEARING for a, _, _ in legs):
        return False
    if kind == "reversal":
        # "a coordinator of a collective the original touches; --force (past limits) only
        # when everything it touches is that collective's own"
        touched = {account.of for account, _, _ in legs if account.of}
        if not touched & coordinated:
            return False
        return not force or any(
            all(account.of == collective and account.owner != "network" for account, _, _ in legs)
            for collective in coordinated
        )
    if kind == "import":
        return _import_allowed(roles, legs)
    # "payment, hold, fee | a member: their own account; a coordinator: their collective's
    # accounts (not its issuance account).  Clearing accounts only as the exact route of one
    # payment between the one debited and the one credited account"
    if any(account.kind in CLEARING for account, _, _ in legs) and not is_exact_route(postings):
        return False
    for account, _, amount in legs:
        if (
            amount < 0
            and account.kind not in CLEARING
            and not (
                account.owner == f"member:{author}"
                or (
                    account.owner.startswith("collective:")
                    and account.of in coordinated
                    and account.kind != "issuance"
                )
            )
        ):
            return False
    return True


def _import_allowed(
    roles: tuple[tuple[str, str | None], ...], legs: list[tuple[Account, str, int]]
) -> bool:
    """ "import | an importer or coordinator of a collective (an importer of the network: the
    network's): debits that collective's income and cash; credits only that collective's
    accounts or network accounts (no clearing);
    issues the collective's card only at the rate, against the currency and into the account
    of the admin's signed record"."""
    scopes = {scope for role, scope in roles if role in ("importer", "coordinator") and scope}
    ours = {f"collective:{scope}" for scope in scopes}
    if ("importer", None) in roles:  # "an importer of the network: the network's"
        ours.add("network")
    for account, _, amount in legs:
        if account.kind in CLEARING:
            return False
        if account.kind == "issuance":
            continue  # the signed record decides, below
        if amount < 0 and not (account.owner in ours and account.kind in ("income", "cash")):
            return False
        if amount > 0 and not (account.owner in ours or account.owner == "network"):
            return False
    for collective in {account.of for account, _, _ in legs if account.kind == "issuance"}:
        if collective not in scopes or collective not in ISSUANCE:
            return False
        against, rate, into = ISSUANCE[collective]
        card = COLLECTIVES[collective][0]
        income = -sum(
            amount
            for account, currency, amount in legs
            if account.kind == "income" and account.of == collective and currency == against
        )
        issued = int(income * rate)  # the scales are equal: minor units convert at the rate
        expected = (
            sorted([(f"collectives:{collective}:issuance", -issued), (into, issued)])
            if issued
            else []
        )
        if (
            sorted((account.name, amount) for account, currency, amount in legs if currency == card)
            != expected
        ):
            return False
    return True


def route(payer: str, payee: str, amount: int) -> tuple[tuple[str, str, int], ...]:
    """A payment's postings as DESIGN.md draws them: within a collective two legs, else
    the payer's side, the network's card legs, the payee's side (amounts at the fixed
    rates; ``amount`` in the payer's currency)."""
    source, target = ACCOUNTS[payer], ACCOUNTS[payee]
    if source.of == target.of:
        return ((payer, source.currency, -amount), (payee, target.currency, amount))
    card_amount = amount * RATES[source.currency]
    legs = [(payer, source.currency, -amount)]
    if source.of is not None:
        legs += [
            (f"collectives:{source.of}:clearing", source.currency, amount),
            (f"network:clearing:{source.of}", CARD, -int(card_amount)),
        ]
    if target.of is None:
        return (*legs, (payee, CARD, int(card_amount)))
    paid = card_amount / RATES[target.currency]
    assert paid.denominator == 1, (payer, payee, amount)
    return (
        *legs,
        (f"network:clearing:{target.of}", CARD, int(card_amount)),
        (f"collectives:{target.of}:clearing", target.currency, -int(paid)),
        (payee, target.currency, int(paid)),
    )


def is_exact_route(postings: tuple[tuple[str, str, int], ...]) -> bool:
    """Are ``postings`` exactly :func:`route` between their one debited and one credited
    account outside clearing?"""
    ends = [p for p in postings if ACCOUNTS[p[0]].kind not in CLEARING]
    debits, credits = [p for p in ends if p[2] < 0], [p for p in ends if p[2] > 0]
    if (
        len(debits) != 1
        or len(credits) != 1
        or not routable(debits[0][0])
        or not routable(credits[0][0])
    ):
        return False
    payer, payee = debits[0], credits[0]
    try:
        expected = route(payer[0], payee[0], -payer[2])
    except AssertionError:
        return False
    return sorted(expected) == sorted(postings)


def routable(name: str) -> bool:
    """An account a route may start or end at: in its collective's own card (the network's
    accounts: in the network card), not a clearing account."""
    account = ACCOUNTS[name]
    home = CARD if account.of is None or account.owner == "network" else COLLECTIVES[account.of][0]
    return (
        account.kind not in CLEARING
        and account.currency == home
        and (account.owner != "network" or account.of is None)
    )


# -- the base network -------------------------------------------------------------------------


@dataclass
class Base:
    path: Path
    network: str
    signers: dict[str, Signer]
    transfers: list[Transfer]


def build_base(path: Path) -> Base:
    admin = Signer.generate(ADMIN)
    ledger = setup.init_network(
        str(path),
        setup.NetworkSettings(
            name="Rede diferencial",
            card=CARD,
            admin=ADMIN,
            member_limit_lower=-LINE,
            clearing_limit=LINE,
        ),
        admin,
        setup.new_network_id(),
    )
    signers = {ADMIN: admin}
    setup.add_currency(ledger, admin, code="BRL", scale=2, rate=Fraction(1))
    for slug, (card, rate) in COLLECTIVES.items():
        setup.add_collective(
            ledger,
            admin,
            slug=slug,
            name=slug.title(),
            currency=None if card == CARD else card,
            rate=rate,
        )
    for handle, (collective, roles) in MEMBERS.items():
        signers[handle] = Signer.generate(handle)
        setup.add_member(
            ledger,
            admin,
            handle=handle,
            collective=collective,
            public_key=signers[handle].public_key,
            limit_lower=-LINE,
        )
        for role, scope in roles:
            setup.change_role(ledger, admin, handle=handle, role=role, collective=scope, grant=True)
    for name, currency, owner, _ in EXTRA_ACCOUNTS:
        setup.add_account(
            ledger,
            admin,
            name=name,
            currency=currency,
            owner=owner,
            limit_lower=None,
            limit_upper=None,
        )
    for collective, (against, rate, into) in ISSUANCE.items():
        setup.set_issuance(
            ledger, admin, collective=collective, against=against, rate=rate, into=into
        )
    base = Base(path=path, network=ledger.network.id, signers=signers, transfers=[])
    history = [
        ("ana", "payment", route("members:ana", "members:caio", 1000)),
        ("bia", "payment", route("members:bia", "members:ana", 400)),
        ("duda", "payment", route("collectives:massa:fund", "members:gil", 800)),
        ("gil", "payment", route("members:gil", "members:eli", 600)),
        (
            ADMIN,
            "settlement",
            (("network:clearing:palafita", CARD, -1000), ("network:clearing:cubo", CARD, 1000)),
        ),
        (
            "imp",
            "import",
            (
                ("income:festivals:grito", "BRL", -5000),
                ("collectives:cubo:cash:caixa-1", "BRL", 5000),
                ("collectives:cubo:issuance", "CUBO", -5000),
                ("collectives:cubo:fund", "CUBO", 5000),
            ),
        ),
        ("net", "import", (("income:network", "BRL", -2000), ("network:cash:brl", "BRL", 2000))),
        (
            ADMIN,
            "issuance",
            (
                ("collectives:palafita:issuance", "PALA", -300),
                ("collectives:palafita:fund", "PALA", 300),
            ),
        ),
        ("bia", "hold", route("members:bia", "members:ana", 200)),
        ("eli", "hold", route("members:eli", "members:bia", 800)),
    ]
    for author, kind, postings in history:
        draft = make_draft(base, author, kind, postings)
        result = post_signed(ledger, sign(ledger, draft, signers[author]))
        base.transfers.append(
            Transfer(
                result.transfer_id,
                kind,
                author,
                postings,
                "pending" if kind == "hold" else "posted",
            )
        )
    reversal = make_draft(
        base,
        "ana",
        "reversal",
        opposite(base.transfers[1].postings),
        refs={"reverses": base.transfers[1].id},
    )
    result = post_signed(ledger, sign(ledger, reversal, signers["ana"]))
    base.transfers[1].reversed = True
    base.transfers.append(
        Transfer(result.transfer_id, "reversal", "ana", reversal_postings(reversal))
    )
    assert verify_ledger(ledger, workers=1).problems == []
    ledger.engine.dispose()
    return base


def opposite(postings: tuple[tuple[str, str, int], ...]) -> tuple[tuple[str, str, int], ...]:
    return tuple((name, currency, -amount) for name, currency, amount in postings)


def reversal_postings(draft: TransferDraft) -> tuple[tuple[str, str, int], ...]:
    return tuple((p.account, p.currency, p.amount) for p in draft.postings)


def make_draft(
    base: Base,
    author: str,
    kind: str,
    postings: tuple[tuple[str, str, int], ...],
    *,
    refs: dict[str, int] | None = None,
    force: bool = False,
) -> TransferDraft:
    moment = now()
    return TransferDraft(
        network=base.network,
        kind=kind,
        author=author,
        key=secrets.token_hex(8),
        postings=tuple(Posting(account=a, currency=c, amount=m) for a, c, m in postings),
        created_at=iso(moment),
        refs=refs or {},
        meta={"force": True} if force else {},
        expires_at=iso(moment + timedelta(days=1)) if kind == "hold" else None,
    )


@pytest.fixture(scope="session")
def base() -> Iterator[Base]:
    folder = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    yield build_base(folder / "base.db")
    shutil.rmtree(folder, ignore_errors=True)


# -- the generator ----------------------------------------------------------------------------

AMOUNTS = st.integers(1, 500).map(lambda n: 4 * n)  # halves and PALA's rate stay exact
TRANSFER_KINDS = ("payment", "hold", "fee", "import", "settlement", "issuance")
MUTATIONS = (
    "exact",
    "exact",
    "exact",
    "padded",
    "one-sided",
    "skewed",
    "inflated",
    "no-payer-side",
    "card-legs-only",
)


# The shapes each kind of transfer usually has (any kind may draw any shape).
SHAPES = ("pair", "route", "multi", "clearing", "sale", "issue")
USUAL = {
    "payment": ("pair", "route", "route", "multi"),
    "hold": ("route", "pair"),
    "fee": ("pair", "route"),
    "import": ("sale", "sale", "pair"),
    "settlement": ("clearing",),
    "issuance": ("issue",),
}


def near(author: str) -> list[str]:
    """The accounts ``author`` may plausibly move: their own, their collectives'."""
    scopes = {scope for _, scope in ROLES[author]}
    return [
        name
        for name, account in ACCOUNTS.items()
        if account.owner == f"member:{author}"
        or (account.owner.startswith("collective:") and account.of in scopes)
        or (account.owner == "network" and None in scopes)
    ] or list(NAMES)


@st.composite
def plain_postings(draw: st.DrawFn, author: str, kind: str) -> tuple[tuple[str, str, int], ...]:
    """Postings of one of many shapes, balanced in each currency, each account once."""
    usual = draw(st.integers(0, 3)) > 0
    shape = draw(st.sampled_from(USUAL[kind] if usual else SHAPES))
    amount = draw(AMOUNTS)
    payers = near(author) if draw(st.booleans()) else list(NAMES)
    if shape == "issue":  # a card issued from a collective's issuance account
        issuer = draw(st.sampled_from([n for n in NAMES if ACCOUNTS[n].kind == "issuance"]))
        card = ACCOUNTS[issuer].currency
        into = draw(
            st.sampled_from([n for n in NAMES if ACCOUNTS[n].currency == card and n != issuer])
        )
        return ((issuer, card, -amount), (into, card, amount))
    if shape == "pair":
        payer = draw(st.sampled_from(payers))
        currency = ACCOUNTS[payer].currency
        payees = [n for n in NAMES if n != payer and ACCOUNTS[n].currency == currency]
        close = [n for n in payees if n in payers or ACCOUNTS[n].owner == "network"]
        payee = draw(st.sampled_from(close if close and draw(st.booleans()) else payees))
        return ((payer, currency, -amount), (payee, currency, amount))
    if shape == "route":
        ends = [n for n in NAMES if routable(n)]
        payer = draw(st.sampled_from([n for n in payers if routable(n)] or ends))
        payee = draw(st.sampled_from([n for n in ends if ACCOUNTS[n].of != ACCOUNTS[payer].of]))
        return mutate(
            route(payer, payee, amount),
            draw(st.sampled_from(MUTATIONS)),
            draw(st.sampled_from(tuple(COLLECTIVES))),
        )
    if shape == "multi":
        currency = draw(st.sampled_from((CARD, "CUBO", "PALA", "BRL")))
        names = draw(
            st.lists(
                st.sampled_from([n for n in NAMES if ACCOUNTS[n].currency == currency]),
                min_size=3,
                max_size=5,
                unique=True,
            )
        )
        amounts = [draw(AMOUNTS) for _ in names[1:]]
        direction = -1 if draw(st.booleans()) else 1  # one debit and many credits, or back
        return (
            (names[0], currency, direction * sum(amounts)),
            *(
                (name, currency, -direction * part)
                for name, part in zip(names[1:], amounts, strict=True)
            ),
        )
    if shape == "clearing":
        one, other = draw(
            st.lists(st.sampled_from(tuple(COLLECTIVES)), min_size=2, max_size=2, unique=True)
        )
        pairs = [
            (
                (f"network:clearing:{one}", CARD, -amount),
                (f"network:clearing:{other}", CARD, amount),
            ),
            (
                ("network:clearing:massa", CARD, -amount),
                ("collectives:massa:clearing", CARD, amount),
            ),
            ((f"network:clearing:{one}", CARD, -amount), ("network:fund:card", CARD, amount)),
            (
                (f"collectives:{one}:clearing", COLLECTIVES[one][0], -amount),
                (f"collectives:{one}:fund", COLLECTIVES[one][0], amount),
            ),
        ]
        return draw(st.sampled_from(pairs))
    return draw(sales(amount))


@st.composite
def sales(draw: st.DrawFn, amount: int) -> tuple[tuple[str, str, int], ...]:
    """Import-shaped postings: income received into a BRL account, maybe issuing a card."""
    income = draw(st.sampled_from([n for n in NAMES if ACCOUNTS[n].kind in ("income", "cash")]))
    target = draw(
        st.sampled_from([n for n in NAMES if ACCOUNTS[n].currency == "BRL" and n != income])
    )
    legs = [(income, "BRL", -amount), (target, "BRL", amount)]
    issuing = draw(
        st.sampled_from(("none", "none", "record", "record", "rate", "into", "no-income", "other"))
    )
    collective = ACCOUNTS[income].of or draw(st.sampled_from(tuple(COLLECTIVES)))
    if issuing == "other":
        collective = draw(st.sampled_from(tuple(COLLECTIVES)))
    if issuing == "none":
        return tuple(legs)
    card = COLLECTIVES[collective][0]
    rate = ISSUANCE[collective][1] if collective in ISSUANCE else Fraction(1)
    into = ISSUANCE[collective][2] if collective in ISSUANCE else f"collectives:{collective}:fund"
    issued = int(amount * rate)
    if issuing == "rate":
        issued *= 1000
    if issuing == "into":
        into = draw(
            st.sampled_from(
                [
                    n
                    for n in NAMES
                    if ACCOUNTS[n].currency == card and n != into and ACCOUNTS[n].kind != "issuance"
                ]
            )
        )
    if issuing == "no-income":
        legs = []
    if card == "BRL" or any(name == into for name, _, _ in legs):
        return tuple(legs) or ((income, "BRL", -amount), (target, "BRL", amount))
    return (*legs, (f"collectives:{collective}:issuance", card, -issued), (into, card, issued))


def mutate(
    postings: tuple[tuple[str, str, int], ...], how: str, extra: str
) -> tuple[tuple[str, str, int], ...]:
    """A route, or one of the ways issue 15 found to bend one (still balanced)."""
    names = {name for name, _, _ in postings}
    clearing = [p for p in postings if ACCOUNTS[p[0]].kind in CLEARING]
    if how == "padded" and f"network:clearing:{extra}" not in names:
        card = COLLECTIVES[extra][0]
        if card == CARD:
            return (
                *postings,
                (f"network:clearing:{extra}", CARD, -100),
                (f"collectives:{extra}:clearing", CARD, 100),
            )
        return (
            (*postings, (f"network:clearing:{extra}", CARD, -100), ("network:fund:card", CARD, 100))
            if "network:fund:card" not in names
            else postings
        )
    if how == "one-sided" and len(postings) > 2:
        return postings[:2] if postings[0][1] == postings[1][1] else postings
    if how == "skewed" and len(postings) >= 4 and postings[-1][1] != CARD:
        *head, (clearing_name, currency, amount), (payee, _, paid) = postings
        return (*head, (clearing_name, currency, amount - 2), (payee, currency, paid + 2))
    if how == "inflated" and len(postings) == 6:  # the card legs move more debt than paid
        card_out, card_in = postings[2], postings[3]
        return (
            *postings[:2],
            (card_out[0], CARD, card_out[2] - 400),
            (card_in[0], CARD, card_in[2] + 400),
            *postings[4:],
        )
    if how == "no-payer-side" and len(postings) == 6:
        return postings[2:]  # the card legs and the payee's side: credit out of nowhere
    if how == "card-legs-only" and len(clearing) >= 2:
        card_legs = tuple(p for p in clearing if p[1] == CARD)
        if sum(p[2] for p in card_legs) == 0 and card_legs:
            return card_legs
    return postings


# -- one example ------------------------------------------------------------------------------

# What verify names for a transfer the writer refused with each code, written in anyway.
VERIFY_CODES = {
    "not_authorised": "not_authorised",
    "positions_unbalanced": "positions_unbalanced",
    "reversal_mismatch": "reversal_mismatch",
    "already_reversed": "reversed_twice",
    "not_reversible": "reversal_invalid",
    "post_exceeds_hold": "post_mismatch",
    "hold_not_pending": "hold_resolved_twice",
}
RUN: dict[str, int] = {"examples": 0, "transfers": 0, "accepted": 0}
CHECKED: dict[str, int] = {}


@dataclass
class Example:
    base: Base
    folder: Path
    ledger: Ledger
    transfers: list[Transfer] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.folder / "ledger.db"


@pytest.fixture
def copies(base: Base) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(dir=base.path.parent))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def expected_code(step: dict, transfers: list[Transfer]) -> str:
    """``ok`` or the code the writer must refuse the step with, in the writer's order
    (resolutions: the hold's state first, then who may; reversals: who may, then what)."""
    kind, author, postings = step["kind"], step["author"], step["postings"]
    target = step.get("target")
    if kind in ("post_hold", "void_hold"):
        assert target is not None
        if target.status != "pending":
            return "hold_not_pending"
        if not readme_allows(author, kind, postings, hold=target):
            return "not_authorised"
        if kind == "post_hold" and not step["scaled"]:
            return "post_exceeds_hold"
        return "ok"
    if not readme_allows(author, kind, postings, force=step.get("force", False)):
        return "not_authorised"
    # DESIGN.md: "Positions sum to zero" — whoever signs
    if sum(amount for name, _, amount in postings if ACCOUNTS[name].kind == "network_clearing"):
        return "positions_unbalanced"
    if kind == "reversal":
        assert target is not None
        if target.kind in ("hold", "void_hold", "reversal") or target.status != "posted":
            return "not_reversible"
        if target.reversed:
            return "already_reversed"
        if sorted(opposite(target.postings)) != sorted(postings):
            return "reversal_mismatch"
    return "ok"


@st.composite
def steps(draw: st.DrawFn, history: list[Transfer]) -> dict:
    kind = draw(
        st.sampled_from(
            (
                *TRANSFER_KINDS,
                *TRANSFER_KINDS,
                "reversal",
                "reversal",
                "reversal",
                "post_hold",
                "void_hold",
            )
        )
    )
    target = None
    if kind == "reversal":  # a kind of transfer, then one of that kind: rare kinds come up
        kinds = sorted({t.kind for t in history if t.kind != "void_hold"})
        of_kind = draw(st.sampled_from(kinds))
        target = draw(st.sampled_from([t for t in history if t.kind == of_kind]))
    elif kind in ("post_hold", "void_hold"):
        target = draw(st.sampled_from([t for t in history if t.kind == "hold"]))
    # Half the time an author the kind is about: whoever holds a role that might let them,
    # or the target's author; otherwise anyone.
    relevant = [
        h
        for h, roles in ROLES.items()
        if roles and (kind not in ("settlement", "issuance") or h == ADMIN)
    ]
    if target is not None:
        relevant.append(target.author)
    author = draw(st.sampled_from(relevant if draw(st.booleans()) else HANDLES))
    if kind == "reversal":
        assert target is not None
        postings = opposite(target.postings)
        if draw(st.integers(0, 5)) == 0:
            postings = tuple((n, c, 2 * m) for n, c, m in postings)
        return {
            "author": author,
            "kind": kind,
            "postings": postings,
            "target": target,
            "force": draw(st.integers(0, 3)) == 0,
        }
    if kind in ("post_hold", "void_hold"):
        assert target is not None
        postings, scaled = (), True
        if kind == "post_hold":
            how = draw(st.sampled_from(("full", "half", "card-legs", "double")))
            postings = target.postings
            if how == "half":
                postings = tuple((n, c, m // 2) for n, c, m in postings)
            elif how == "double":
                postings, scaled = tuple((n, c, m * 2) for n, c, m in postings), False
            elif how == "card-legs" and len(postings) == 6:
                postings, scaled = postings[2:4], False
        return {
            "author": author,
            "kind": kind,
            "postings": postings,
            "target": target,
            "scaled": scaled,
        }
    return {"author": author, "kind": kind, "postings": draw(plain_postings(author, kind))}


def run_step(example: Example, step: dict) -> str:
    """Hand the step, signed by its author, to the writer: ``ok`` or the refusal's code."""
    base, ledger = example.base, example.ledger
    target = step.get("target")
    refs = {}
    if step["kind"] == "reversal":
        refs = {"reverses": target.id}
    elif step["kind"] in ("post_hold", "void_hold"):
        refs = {"hold": target.id}
    draft = make_draft(
        base,
        step["author"],
        step["kind"],
        step["postings"],
        refs=refs,
        force=step.get("force", False),
    )
    signed = sign(ledger, draft, base.signers[step["author"]])
    try:
        result = post_signed(ledger, signed)
    except MutualCreditError as error:
        written_anyway(example, signed, step, error.code)
        return error.code
    if target is not None and step["kind"] == "reversal":
        target.reversed = True
    if target is not None and step["kind"] in ("post_hold", "void_hold"):
        target.status = "posted" if step["kind"] == "post_hold" else "voided"
    example.transfers.append(
        Transfer(
            result.transfer_id,
            step["kind"],
            step["author"],
            step["postings"],
            "pending" if step["kind"] == "hold" else "posted",
        )
    )
    return "ok"


def written_anyway(example: Example, signed: SignedTransfer, step: dict, code: str) -> None:
    """Write the refused transfer into a copy of the ledger as the file's holder would
    (signed by its author's registered key, chained, totals agreeing): verify names it."""
    copy = example.folder / f"refused-{secrets.token_hex(4)}.db"
    with sqlite3.connect(example.path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    connection = sqlite3.connect(copy, isolation_level=None)
    try:
        insert_raw(connection, signed, step)
    except sqlite3.IntegrityError:
        # The schema itself refuses it (a hold resolved twice, a transfer reversed twice:
        # UNIQUE resolves_id / reverses_id): nothing for verify to find.
        event(f"refused by the schema too: {code}")
        copy.unlink()
        return
    finally:
        connection.close()
    ledger = Ledger.open(str(copy))
    try:
        problems = verify_ledger(ledger, workers=1).problems
    finally:
        ledger.engine.dispose()
        copy.unlink()
    codes = {problem.code for problem in problems}
    assert VERIFY_CODES[code] in codes, (code, [(p.code, p.message) for p in problems])


def insert_raw(connection: sqlite3.Connection, signed: SignedTransfer, step: dict) -> None:
    draft = signed.draft
    kind = draft.kind
    resolution = kind in ("post_hold", "void_hold")
    connection.execute("BEGIN")
    key_id = connection.execute(
        "SELECT id FROM key WHERE public_key = ?", (signed.public_key,)
    ).fetchone()[0]
    transfer_id = connection.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM transfer").fetchone()[0]
    seq, chain = connection.execute("SELECT seq, chain_hash FROM chain_head").fetchone()
    row = transfer_row(
        signed, "pending" if kind == "hold" else "posted", None, transfer_id, seq + 1, key_id
    )
    connection.execute(
        f"INSERT INTO transfer ({', '.join(TRANSFER_COLUMNS)}) VALUES "
        f"({', '.join('?' * len(TRANSFER_COLUMNS))})",
        row,
    )
    for posting in draft.postings:
        connection.execute(
            "INSERT INTO posting (transfer_id, account_id, currency, amount) "
            "SELECT ?, id, ?, ? FROM account WHERE name = ?",
            (transfer_id, posting.currency, posting.amount, posting.account),
        )
    if resolution:
        connection.execute(
            "UPDATE transfer SET status = ?, resolved_at = ? WHERE id = ?",
            ("posted" if kind == "post_hold" else "voided", draft.created_at, step["target"].id),
        )
    events = event_rows(
        seq,
        chain,
        [
            (
                "hold_resolution" if resolution else "transfer",
                transfer_id,
                signed.body_hash,
                draft.created_at,
            )
        ],
    )
    connection.executemany("INSERT INTO event VALUES (?, ?, ?, ?, ?, ?, ?)", events)
    connection.execute(
        "UPDATE chain_head SET seq = ?, chain_hash = ?", (events[-1][0], events[-1][5])
    )
    rebuild_totals(connection)
    connection.execute("COMMIT")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=(Phase.generate, Phase.shrink),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_the_writer_accepts_exactly_what_verify_and_the_readme_allow(
    base: Base, copies: Path, data: st.DataObject
) -> None:
    folder = Path(tempfile.mkdtemp(dir=copies))
    shutil.copy(base.path, folder / "ledger.db")
    example = Example(
        base=base,
        folder=folder,
        ledger=Ledger.open(str(folder / "ledger.db")),
        transfers=[replace(t) for t in base.transfers],
    )
    try:
        for _ in range(data.draw(st.integers(1, STEPS_MAX))):
            step = data.draw(steps(example.transfers))
            expected = expected_code(step, example.transfers)
            note(
                f"{step['author']} signs a {step['kind']}: {step['postings']}"
                f"{' forced' if step.get('force') else ''}; expected {expected}"
            )
            got = run_step(example, step)
            event(f"{step['kind']}: {got}")
            RUN["transfers"] += 1
            RUN["accepted"] += got == "ok"
            assert got == expected, (step["author"], step["kind"], step["postings"], got, expected)
        problems = verify_ledger(example.ledger, workers=1).problems
        assert problems == [], [(p.code, p.message) for p in problems]
    finally:
        example.ledger.engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    RUN["examples"] += 1


# -- every small transfer, without the database: the table against the rule ---------------


def every_small_transfer() -> Iterator[tuple[tuple[str, str, int], ...]]:
    """Every two-leg transfer between accounts of one currency, every route between
    routable accounts of two collectives (exact and bent), and every sale with each way of
    issuing: the shapes the property draws from, in full."""
    for payer in NAMES:
        for payee in NAMES:
            if payer != payee and ACCOUNTS[payer].currency == ACCOUNTS[payee].currency:
                yield (
                    (payer, ACCOUNTS[payer].currency, -400),
                    (payee, ACCOUNTS[payee].currency, 400),
                )
            if (
                payer != payee
                and routable(payer)
                and routable(payee)
                and ACCOUNTS[payer].of != ACCOUNTS[payee].of
            ):
                for how in dict.fromkeys(MUTATIONS):
                    yield mutate(route(payer, payee, 400), how, "massa")
    for income in [n for n in NAMES if ACCOUNTS[n].kind in ("income", "cash")]:
        for target in [n for n in NAMES if ACCOUNTS[n].currency == "BRL" and n != income]:
            sale = ((income, "BRL", -400), (target, "BRL", 400))
            yield sale
            for collective, (_against, rate, into) in ISSUANCE.items():
                card = COLLECTIVES[collective][0]
                issuer = f"collectives:{collective}:issuance"
                for issued, credited in (
                    (int(400 * rate), into),
                    (int(4000 * rate), into),
                    (int(400 * rate), f"members:{handle(collective)}"),
                ):
                    yield (*sale, (issuer, card, -issued), (credited, card, issued))


def handle(collective: str) -> str:
    return next(h for h, (c, _) in MEMBERS.items() if c == collective)


def test_the_readme_table_and_the_rule_agree_on_every_small_transfer() -> None:
    # The same oracle, against the rule itself (transfer_denial) over every author, kind and
    # small transfer: where the property samples, this covers the whole small space.
    from mutualcredit.domain.amounts import Currency
    from mutualcredit.domain.authority import Issuance, Leg, transfer_denial

    currencies = {code: Currency(code=code, scale=2, rate=rate) for code, rate in RATES.items()}
    records = {
        c: Issuance(collective=c, against=a, rate=r, into=i) for c, (a, r, i) in ISSUANCE.items()
    }

    def leg(name: str, currency: str, amount: int) -> Leg:
        account = ACCOUNTS[name]
        owner_kind, _, owner = account.owner.partition(":")
        return Leg(
            SimpleNamespace(
                name=name,
                kind=account.kind,
                owner_kind=owner_kind,
                owner=owner or None,
                collective=account.of,
            ),
            currency,
            amount,
        )

    disagreements, checked = [], 0
    for postings in every_small_transfer():
        legs = [leg(*posting) for posting in postings]
        for author in HANDLES:
            for kind, force in [(kind, False) for kind in TRANSFER_KINDS] + [
                ("reversal", False),
                ("reversal", True),
            ]:
                checked += 1
                allowed = (
                    transfer_denial(
                        author=author,
                        roles=ROLES[author],
                        kind=kind,
                        legs=legs,
                        currencies=currencies,
                        card=currencies[CARD],
                        issuance=records.get,
                        force=force,
                    )
                    is None
                )
                if allowed != readme_allows(author, kind, postings, force=force):
                    disagreements.append((author, kind, force, postings, allowed))
    # post and void: every hold of those shapes, by every author
    from mutualcredit.domain.authority import may_resolve

    for postings in every_small_transfer():
        credited = [leg(*posting).account for posting in postings if posting[2] > 0]
        for placed_by in ("ana", "eli", "net"):  # a coordinator, a member, an importer
            hold = Transfer(0, "hold", placed_by, postings, "pending")
            for author in HANDLES:
                for kind in ("post_hold", "void_hold"):
                    checked += 1
                    allowed = may_resolve(kind, author, placed_by, credited, ROLES[author])
                    if allowed != readme_allows(author, kind, (), hold=hold):
                        disagreements.append((author, kind, placed_by, postings, allowed))
    CHECKED["small transfers"] = checked
    assert checked > 100_000
    assert disagreements == []


# -- the cases the property found, and the kit it relies on, by name ------------------------


def open_example(base: Base, folder: Path) -> Example:
    shutil.copy(base.path, folder / "ledger.db")
    return Example(
        base=base,
        folder=folder,
        ledger=Ledger.open(str(folder / "ledger.db")),
        transfers=[replace(t) for t in base.transfers],
    )


def transfer_count(example: Example) -> int:
    with sqlite3.connect(example.path) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM transfer").fetchone()[0])


def test_the_raw_kit_writes_what_verify_finds_clean(base: Base, copies: Path) -> None:
    # What makes "verify flags it" mean something: a transfer the writer would accept, written
    # in by the kit the property uses for refused ones, verifies clean.
    example = open_example(base, copies)
    example.ledger.engine.dispose()
    draft = make_draft(base, "ana", "payment", route("members:ana", "members:caio", 400))
    with sqlite3.connect(example.path, isolation_level=None) as connection:
        insert_raw(connection, sign(example.ledger, draft, base.signers["ana"]), {})
    ledger = Ledger.open(str(example.path))
    try:
        assert verify_ledger(ledger, workers=1).problems == []
    finally:
        ledger.engine.dispose()


def test_a_payment_routed_to_a_network_account_is_refused(base: Base, copies: Path) -> None:
    # Found by the property: `pay network:fund:card` from a member routes through clearing
    # with one network:clearing leg; the writer took it and verify said "positions".
    from mutualcredit.services.payments import pay

    example = open_example(base, copies)
    try:
        before = transfer_count(example)
        with pytest.raises(MutualCreditError) as refused:
            pay(
                example.ledger,
                base.signers["ana"],
                payer="ana",
                payee="network:fund:card",
                amount=400,
            )
        assert (refused.value.code, refused.value.exit_code) == ("positions_unbalanced", 1)
        assert refused.value.message == (
            "the network:clearing postings of this transfer sum to -4.00 CARD; the "
            "collectives' positions must still sum to zero"
        )
        assert transfer_count(example) == before
    finally:
        example.ledger.engine.dispose()


def test_a_payment_to_a_network_account_is_refused_on_both_backends(net) -> None:  # type: ignore[no-untyped-def]
    # PostgreSQL writes a member's own payment in one statement: it must refuse it too.
    setup.add_account(
        net.ledger,
        net["banco"],
        name="network:fund:card",
        currency=CARD,
        owner="network",
        limit_lower=None,
        limit_upper=None,
    )
    with pytest.raises(MutualCreditError) as refused:
        net.pay("ana", "network:fund:card", "1.00")
    assert refused.value.code == "positions_unbalanced"
    assert net.balance("ana") == "0.00"
    net.assert_consistent()


@pytest.mark.parametrize(
    ("author", "kind", "postings", "code"),
    [
        # the admin's one-sided clearing leg: verify only saw the positions' sum
        (
            ADMIN,
            "payment",
            (("network:clearing:palafita", CARD, -4), ("members:duda", CARD, 4)),
            "positions_unbalanced",
        ),
        (
            ADMIN,
            "hold",
            (("network:clearing:massa", CARD, -4), ("network:fund:card", CARD, 4)),
            "positions_unbalanced",
        ),
    ],
)
def test_unbalanced_positions_are_refused_and_verify_names_them(
    base: Base,
    copies: Path,
    author: str,
    kind: str,
    postings: tuple[tuple[str, str, int], ...],
    code: str,
) -> None:
    example = open_example(base, copies)
    try:
        step = {"author": author, "kind": kind, "postings": postings}
        assert expected_code(step, example.transfers) == code
        assert run_step(example, step) == code  # and verify names it, written in raw
    finally:
        example.ledger.engine.dispose()


def test_a_coordinator_may_not_reverse_the_admins_settlement(base: Base, copies: Path) -> None:
    # Found by the property: ana, a coordinator of cubo, which the settlement touches,
    # reversed it (clearing legs alone) and verify agreed with the writer.
    example = open_example(base, copies)
    try:
        settlement = next(t for t in example.transfers if t.kind == "settlement")
        step = {
            "author": "ana",
            "kind": "reversal",
            "postings": opposite(settlement.postings),
            "target": settlement,
            "force": False,
        }
        assert expected_code(step, example.transfers) == "not_authorised"
        assert run_step(example, step) == "not_authorised"
        step["author"] = ADMIN
        assert run_step(example, step) == "ok"
        assert verify_ledger(example.ledger, workers=1).problems == []
    finally:
        example.ledger.engine.dispose()


def test_a_reversal_of_a_reversal_is_refused_and_verify_names_it(base: Base, copies: Path) -> None:
    # The writer and verify's replay both ask domain.transfers.is_reversible.  run_step
    # writes the refused transfer straight into a copy of the file and asserts verify
    # names it (reversal_invalid).
    example = open_example(base, copies)
    try:
        reversal = next(t for t in example.transfers if t.kind == "reversal")
        step = {
            "author": ADMIN,
            "kind": "reversal",
            "postings": opposite(reversal.postings),
            "target": reversal,
            "force": False,
        }
        assert expected_code(step, example.transfers) == "not_reversible"
        assert run_step(example, step) == "not_reversible"
    finally:
        example.ledger.engine.dispose()


def test_zz_report_the_examples_run() -> None:
    """Print how many examples and transfers the property ran (``-s`` shows it)."""
    print(
        f"\ndifferential property: {RUN['examples']} examples, {RUN['transfers']} transfers "
        f"signed, {RUN['accepted']} accepted; the table against the rule: "
        f"{CHECKED.get('small transfers', 0)} cases"
    )
