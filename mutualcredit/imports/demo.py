"""The demo's festival step: Cubo imports Grito Rock's ticket and bar exports.

It adds what the example rules expect — the Real (BRL, 1:1 with the card),
the festival's income account, Cubo's cash boxes, the network fund, and
``collectives:cubo:issuance`` (Cubo's card issued against the Reais) — and a
member ``cubo-import`` with the importer role of Cubo, whose key signs both
imports, one batch each.
"""

from __future__ import annotations

from fractions import Fraction

from mutualcredit.domain.amounts import format_amount
from mutualcredit.imports.examples import (
    RULES_BAR,
    RULES_TICKETS,
    SAMPLE_BAR,
    SAMPLE_TICKETS,
    example,
)
from mutualcredit.imports.service import import_file
from mutualcredit.services import network as setup
from mutualcredit.services.keys import Signer

IMPORTER = "cubo-import"
# account, currency, owner, lower limit (None: no limit)
ACCOUNTS = (
    ("income:festivals:grito-rock-2026", "BRL", "cubo", None),
    ("collectives:cubo:cash:bilheteria", "BRL", "cubo", 0),
    ("collectives:cubo:cash:plataforma", "BRL", "cubo", 0),
    ("collectives:cubo:cash:caixa-1", "BRL", "cubo", 0),
    ("collectives:cubo:cash:caixa-2", "BRL", "cubo", 0),
    ("network:fund:brl", "BRL", "network", 0),
    ("collectives:cubo:issuance", "CUBO", "cubo", None),
)


def add_festival_accounts(ledger, admin: Signer) -> None:  # type: ignore[no-untyped-def]
    """As the admin: BRL, the accounts the example rules files name, and the signed issuance
    record that lets Cubo's card be issued 1:1 against the bar's Reais (a rules file's
    ``[issuance]`` must say the same, or the import is refused)."""
    if "BRL" not in ledger.currencies:
        setup.add_currency(ledger, admin, code="BRL", scale=2, rate=Fraction(1))
    for name, currency, owner, lower in ACCOUNTS:
        setup.add_account(
            ledger,
            admin,
            name=name,
            currency=currency,
            owner=owner,
            limit_lower=lower,
            limit_upper=None,
        )
    setup.set_issuance(
        ledger,
        admin,
        collective="cubo",
        against="BRL",
        rate=Fraction(1),
        into="collectives:cubo:fund",
    )


def step_imports(demo) -> None:  # type: ignore[no-untyped-def]
    ledger, admin = demo.ledger, demo.signers["banco"]
    add_festival_accounts(ledger, admin)
    importer = Signer.generate(IMPORTER)
    demo.signers[IMPORTER] = importer
    setup.add_member(
        ledger,
        admin,
        handle=IMPORTER,
        name="Cubo's nightly import",
        collective="cubo",
        public_key=importer.public_key,
    )
    setup.change_role(
        ledger, admin, handle=IMPORTER, role="importer", collective="cubo", grant=True
    )
    tickets = import_file(ledger, importer, example(SAMPLE_TICKETS), example(RULES_TICKETS))
    bar = import_file(ledger, importer, example(SAMPLE_BAR), example(RULES_BAR))
    brl = ledger.currency("BRL").scale

    def income(summary) -> str:  # type: ignore[no-untyped-def]
        amount = -summary.totals[("income:festivals:grito-rock-2026", "BRL")]
        return format_amount(amount, brl)

    issued = bar.totals.get(("collectives:cubo:fund", "CUBO"), 0)
    demo.say(
        f"{IMPORTER} imported Grito Rock 2026: {tickets.imported} ticket orders "
        f"({income(tickets)} BRL; {tickets.filtered} not approved) and {bar.imported} bar "
        f"sales ({income(bar)} BRL), issuing {format_amount(issued, brl)} CUBO against "
        "the bar's Reais"
    )
