"""A Hypothesis state machine drives the ledger against a plain in-memory model.

Rules: payments (same and cross collective), holds, posts (full and partial),
voids, expiries, reversals, limit changes and replays.  After every step:
zero sum per currency, cached totals equal the sum of postings, no account
beyond its limits, positions sum to zero, and the ledger's balances equal the
model's.  A replay of an earlier write changes nothing.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mutualcredit.domain.errors import Refused
from mutualcredit.services import network as setup
from mutualcredit.services import payments
from mutualcredit.services.queries import list_accounts
from tests.support import drop_postgres_schema, make_network, postgres_schema_url

MEMBERS = {
    "ana": ("cubo", "CUBO", -10000),
    "bia": ("cubo", "CUBO", 0),
    "caio": ("palafita", "PALA", -5000),
}
CLEARING_BOUND = 100_000


class Model:
    """Balances, pending amounts and limits, computed without the database."""

    def __init__(self) -> None:
        self.balance: dict[str, int] = {}
        self.pending_debits: dict[str, int] = {}
        self.pending_credits: dict[str, int] = {}
        self.lower: dict[str, int | None] = {}
        self.upper: dict[str, int | None] = {}
        for handle, (_, _, line) in MEMBERS.items():
            self.lower[f"members:{handle}"] = line
        for slug in ("cubo", "palafita"):
            self.lower[f"network:clearing:{slug}"] = -CLEARING_BOUND
            self.upper[f"network:clearing:{slug}"] = CLEARING_BOUND

    def route(self, payer: str, payee: str, amount: int) -> dict[str, int]:
        home_payer, home_payee = MEMBERS[payer][0], MEMBERS[payee][0]
        if home_payer == home_payee:
            return {f"members:{payer}": -amount, f"members:{payee}": amount}
        return {
            f"members:{payer}": -amount,
            f"collectives:{home_payer}:clearing": amount,
            f"network:clearing:{home_payer}": -amount,
            f"network:clearing:{home_payee}": amount,
            f"collectives:{home_payee}:clearing": -amount,
            f"members:{payee}": amount,
        }

    def allowed(self, postings: dict[str, int]) -> bool:
        for account, amount in postings.items():
            balance = self.balance.get(account, 0)
            lower, upper = self.lower.get(account), self.upper.get(account)
            if (
                amount < 0
                and lower is not None
                and balance - self.pending_debits.get(account, 0) + amount < lower
            ):
                return False
            if (
                amount > 0
                and upper is not None
                and balance + self.pending_credits.get(account, 0) + amount > upper
            ):
                return False
        return True

    def apply(self, postings: dict[str, int], *, pending: bool = False, sign: int = 1) -> None:
        for account, amount in postings.items():
            if not pending:
                self.balance[account] = self.balance.get(account, 0) + sign * amount
            elif amount < 0:
                self.pending_debits[account] = self.pending_debits.get(account, 0) - sign * amount
            else:
                self.pending_credits[account] = self.pending_credits.get(account, 0) + sign * amount


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.net = make_network(self.new_database())
        self.model = Model()
        self.holds: dict[int, dict[str, int]] = {}
        self.posted: dict[int, dict[str, int]] = {}
        self.reversed: set[int] = set()
        self.writes: list[tuple[str, str, int, str, int]] = []
        self.clock = datetime.now(UTC)

    def new_database(self) -> str:
        # tmpfs when there is one: fsync is free there, and this machine runs many examples.
        self.folder = tempfile.TemporaryDirectory(
            dir="/dev/shm" if Path("/dev/shm").is_dir() else None
        )
        return str(Path(self.folder.name) / "ledger.db")

    def drop_database(self) -> None:
        self.folder.cleanup()

    def teardown(self) -> None:
        self.net.ledger.engine.dispose()
        self.drop_database()

    @rule(
        payer=st.sampled_from(sorted(MEMBERS)),
        payee=st.sampled_from(sorted(MEMBERS)),
        amount=st.integers(1, 15_000),
    )
    def pay(self, payer: str, payee: str, amount: int) -> None:
        if payer == payee:
            return
        postings = self.model.route(payer, payee, amount)
        key = f"pay-{len(self.writes)}"
        try:
            result = payments.pay(
                self.net.ledger, self.net[payer], payer=payer, payee=payee, amount=amount, key=key
            )
        except Refused as error:
            assert not self.model.allowed(postings), error
            return
        assert self.model.allowed(postings)
        self.model.apply(postings)
        self.posted[result.transfer_id] = postings
        self.writes.append((payer, payee, amount, key, result.transfer_id))

    @rule(
        payer=st.sampled_from(sorted(MEMBERS)),
        payee=st.sampled_from(sorted(MEMBERS)),
        amount=st.integers(1, 15_000),
    )
    def hold(self, payer: str, payee: str, amount: int) -> None:
        if payer == payee:
            return
        postings = self.model.route(payer, payee, amount)
        try:
            result = payments.hold(
                self.net.ledger,
                self.net[payer],
                payer=payer,
                payee=payee,
                amount=amount,
                expires_at=self.clock + timedelta(hours=1),
            )
        except Refused:
            assert not self.model.allowed(postings)
            return
        assert self.model.allowed(postings)
        self.model.apply(postings, pending=True)
        self.holds[result.transfer_id] = postings

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), action=st.sampled_from(["post", "void", "expire", "partial"]))
    def resolve(self, data: st.DataObject, action: str) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        postings = self.holds.pop(hold_id)
        self.model.apply(postings, pending=True, sign=-1)
        if action in ("post", "partial"):
            base = -next(iter(postings.values()))
            amount = base if action == "post" else data.draw(st.integers(1, base))
            payments.resolve_hold(
                self.net.ledger, self.net["banco"], hold_id=hold_id, action="post", amount=amount
            )
            scaled = {a: v * amount // base for a, v in postings.items()}
            self.model.apply(scaled)
        elif action == "void":
            payments.resolve_hold(
                self.net.ledger, self.net["banco"], hold_id=hold_id, action="void"
            )
        else:
            payments.resolve_hold(
                self.net.ledger,
                self.net["banco"],
                hold_id=hold_id,
                action="expire",
                at=self.clock + timedelta(hours=2),
            )

    @precondition(lambda self: set(self.posted) - self.reversed)
    @rule(data=st.data(), force=st.booleans())
    def reverse(self, data: st.DataObject, force: bool) -> None:
        transfer_id = data.draw(st.sampled_from(sorted(set(self.posted) - self.reversed)))
        opposite = {a: -v for a, v in self.posted[transfer_id].items()}
        try:
            payments.reverse(
                self.net.ledger,
                self.net["banco"],
                transfer_id=transfer_id,
                reason="property test",
                force=force,
            )
        except Refused as error:
            assert not force and not self.model.allowed(opposite), error
            return
        assert force or self.model.allowed(opposite)
        self.model.apply(opposite)
        self.reversed.add(transfer_id)

    @rule(handle=st.sampled_from(sorted(MEMBERS)), line=st.integers(0, 20_000))
    def change_limit(self, handle: str, line: int) -> None:
        account = f"members:{handle}"
        worst = self.model.balance.get(account, 0) - self.model.pending_debits.get(account, 0)
        try:
            setup.set_limit(
                self.net.ledger,
                self.net["banco"],
                account=account,
                reason="property test",
                limit_lower=-line,
            )
        except Refused as error:
            assert error.code == "limit_already_passed" and worst < -line, error
            return
        assert worst >= -line
        self.model.lower[account] = -line

    @precondition(lambda self: self.writes)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        payer, payee, amount, key, transfer_id = data.draw(st.sampled_from(self.writes))
        result = payments.pay(
            self.net.ledger, self.net[payer], payer=payer, payee=payee, amount=amount, key=key
        )
        assert result.replayed and result.transfer_id == transfer_id

    @invariant()
    def ledger_is_consistent(self) -> None:
        self.net.assert_consistent()

    @invariant()
    def balances_match_the_model(self) -> None:
        for row in list_accounts(self.net.ledger):
            scale_free = int(row["balance"].replace(".", "").replace("-", "") or 0)
            expected = self.model.balance.get(row["account"], 0)
            assert (
                scale_free if not row["balance"].startswith("-") else -scale_free
            ) == expected, (row["account"], row["balance"], expected)
            assert int(row["pending_debits"].replace(".", "")) == self.model.pending_debits.get(
                row["account"], 0
            )


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(
    max_examples=80,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class PostgresLedgerMachine(LedgerMachine):
    """The same rules on PostgreSQL, where a lone payment or hold whose payer signs takes
    the one-statement path (``posting._post_one_statement``) and every refusal, replay and
    resolution the full path: the two must keep the same ledger between them."""

    def new_database(self) -> str:
        url, self.schema = postgres_schema_url()
        return url

    def drop_database(self) -> None:
        drop_postgres_schema(self.schema)


TestPostgresLedgerMachine = pytest.mark.postgres(PostgresLedgerMachine.TestCase)
TestPostgresLedgerMachine.settings = settings(
    max_examples=12,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
