"""Many writer processes paying on one ledger, each checking every answer against a model.

Used by ``test_pg_concurrency.py`` and ``test_sqlite_concurrency.py``.  The
network has one collective ``fest`` with a festival cash box
``collectives:fest:cash:caixa`` (the hot account: every worker pays into it)
and, per worker, four members with a credit line of 30.00.  A worker's members
pay each other and the cash box; nobody else pays them, so each worker knows
exactly what its members' balances are and which payment the limits must
refuse — "every valid payment accepted, every invalid one refused" is checked
payment by payment, whatever the interleaving with the other workers.  Some
payments are sent twice with the same idempotency key; the second must return
the first's transfer and write nothing.
"""

from __future__ import annotations

import multiprocessing
import random
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import text

HOT = "collectives:fest:cash:caixa"
MEMBERS_PER_WORKER = 4
CREDIT_LINE = 3_000  # 30.00
AMOUNT_MAX = 1_200


@dataclass(frozen=True)
class Outcome:
    key: str
    payer: str
    payee: str
    amount: int
    transfer_id: int | None  # None: refused
    code: str | None


def build(
    url: str, workers: int, *, members: int = MEMBERS_PER_WORKER, credit_line: int = CREDIT_LINE
) -> list[list[tuple[str, bytes]]]:
    """The network; returns each worker's members as (handle, raw private key)."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from mutualcredit.services import network as setup
    from mutualcredit.services.keys import Signer

    admin = Signer.generate("banco")
    ledger = setup.init_network(
        url,
        setup.NetworkSettings(
            name="festival",
            card="CARD",
            admin="banco",
            member_limit_lower=0,
            clearing_limit=100_000,
        ),
        admin,
        setup.new_network_id(),
    )
    setup.add_collective(
        ledger, admin, slug="fest", name="Festival", currency="FEST", rate=Fraction(1)
    )
    setup.add_account(
        ledger, admin, name=HOT, currency="FEST", owner="fest", limit_lower=0, limit_upper=None
    )
    groups = []
    for worker in range(workers):
        group = []
        for index in range(members):
            signer = Signer.generate(f"w{worker}m{index}")
            setup.add_member(
                ledger,
                admin,
                handle=signer.handle,
                collective="fest",
                public_key=signer.public_key,
                limit_lower=-credit_line,
            )
            group.append(
                (
                    signer.handle,
                    signer.private_key.private_bytes(
                        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
                    ),
                )
            )
        groups.append(group)
    ledger.engine.dispose()
    return groups


def worker(url: str, members: list[tuple[str, bytes]], payments: int, seed: int, results) -> None:  # type: ignore[no-untyped-def]
    """Pay ``payments`` times; check each answer against the model; report the outcomes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from mutualcredit.domain.errors import Refused
    from mutualcredit.services.context import Ledger
    from mutualcredit.services.keys import Signer, public_hex
    from mutualcredit.services.payments import pay

    ledger = Ledger.open(url)
    signers = {}
    for handle, raw in members:
        key = Ed25519PrivateKey.from_private_bytes(raw)
        signers[handle] = Signer(handle, key, public_hex(key.public_key()))
    balances = dict.fromkeys(signers, 0)
    rng = random.Random(seed)
    outcomes: list[Outcome] = []
    problems: list[str] = []
    for number in range(payments):
        payer = rng.choice(sorted(signers))
        payee = HOT if rng.random() < 0.5 else rng.choice(sorted(set(signers) - {payer}))
        amount = rng.randint(1, AMOUNT_MAX)
        key = f"{payer}-{number}"
        valid = balances[payer] - amount >= -CREDIT_LINE
        try:
            result = pay(ledger, signers[payer], payer=payer, payee=payee, amount=amount, key=key)
        except Refused as error:
            outcomes.append(Outcome(key, payer, payee, amount, None, error.code))
            if valid or error.code != "limit_lower_exceeded":
                problems.append(f"{key}: refused ({error.code}) but valid={valid}")
            continue
        outcomes.append(Outcome(key, payer, payee, amount, result.transfer_id, None))
        if not valid or result.replayed:
            problems.append(f"{key}: accepted but valid={valid} replayed={result.replayed}")
        balances[payer] -= amount
        if payee != HOT:
            balances[payee] += amount
        if number % 25 == 0:  # a client that did not hear the answer sends it again
            again = pay(ledger, signers[payer], payer=payer, payee=payee, amount=amount, key=key)
            if (again.transfer_id, again.replayed) != (result.transfer_id, True):
                problems.append(
                    f"{key}: the retry gave {again}, not transfer {result.transfer_id} replayed"
                )
    ledger.engine.dispose()
    results.put((outcomes, balances, problems))


def run(url: str, *, workers: int, payments: int) -> tuple[list[Outcome], dict[str, int]]:
    """Build, run the workers in parallel processes, and return (outcomes, model balances)."""
    groups = build(url, workers)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(target=worker, args=(url, group, payments, 1000 + index, results))
        for index, group in enumerate(groups)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0, f"a worker failed with exit code {process.exitcode}"
    problems = [problem for _, _, found in reports for problem in found]
    assert problems == [], problems[:10]
    outcomes = [outcome for found, _, _ in reports for outcome in found]
    balances = {handle: value for _, found, _ in reports for handle, value in found.items()}
    return outcomes, balances


def check_ledger(url: str, outcomes: list[Outcome], balances: dict[str, int]) -> None:
    """Every accepted payment is in the ledger exactly once, nothing else; balances; invariants."""
    from mutualcredit.services.context import Ledger
    from mutualcredit.services.copy import recompute_chain, verify_if_installed
    from mutualcredit.services.invariants import check_invariants

    accepted = {o.key: o for o in outcomes if o.transfer_id is not None}
    refused = [o for o in outcomes if o.transfer_id is None]
    assert accepted and refused, (len(accepted), len(refused))  # both paths were exercised
    ledger = Ledger.open(url)
    with ledger.read() as connection:
        stored = {
            row.idempotency_key: row
            for row in connection.execute(
                text(
                    "SELECT id, idempotency_key, author, body FROM transfer WHERE kind = 'payment'"
                )
            )
        }
        hot = connection.execute(
            text("SELECT posted_credits - posted_debits FROM account WHERE name = :n"), {"n": HOT}
        ).scalar_one()
        found = dict(
            connection.execute(
                text(
                    "SELECT owner, posted_credits - posted_debits FROM account WHERE kind = "
                    "'member' "
                    "AND owner != 'banco'"
                )
            ).all()
        )
        recompute_chain(connection)
    assert set(stored) == set(accepted)  # none lost, none invented
    assert {key: row.id for key, row in stored.items()} == {
        key: outcome.transfer_id for key, outcome in accepted.items()
    }
    assert hot == sum(o.amount for o in accepted.values() if o.payee == HOT)
    assert found == balances
    assert all(value >= -CREDIT_LINE for value in found.values())
    assert check_invariants(ledger) == []
    assert verify_if_installed(ledger)  # raises CopyMismatch naming the first problem
    ledger.engine.dispose()
