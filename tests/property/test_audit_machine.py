"""A Hypothesis state machine: payments, payment requests and checkpoints, verified each step.

Each rule predicts its outcome from a plain model (balances, credit lines,
request statuses, the clock) — the refusal it must meet or the change it must
make — and after every step ``verify`` must find nothing wrong, against every
checkpoint made so far; each new checkpoint must extend the previous one
(consistency proof checked offline) and hold the last transfer (inclusion
proof checked offline).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mutualcredit.domain.amounts import format_amount
from mutualcredit.domain.errors import MutualCreditError
from mutualcredit.services import audit
from mutualcredit.services import requests as rq
from mutualcredit.services.context import Ledger
from mutualcredit.services.payments import pay
from mutualcredit.services.verify import CheckpointInput, verify_ledger
from tests.support import Net, make_network

BASE = datetime(2031, 3, 1, 12, tzinfo=UTC)  # after the real clock: only the model's expires
LINES = {"ana": 10_000, "bia": 0, "caio": 5_000}
MEMBERS = tuple(LINES)
TEMPLATE: dict[str, tuple[Path, Net]] = {}


def template() -> tuple[Path, Net]:
    if not TEMPLATE:
        folder = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
        net = make_network(str(folder / "ledger.db"))
        net.ledger.engine.dispose()
        TEMPLATE["network"] = (folder / "ledger.db", net)
    return TEMPLATE["network"]


@dataclass
class Asked:
    payer: str
    payee: str
    amount: int
    expires_at: datetime | None
    status: str = "open"


class AuditMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        source, built = template()
        self.folder = tempfile.TemporaryDirectory(dir=source.parent)
        target = Path(self.folder.name) / "ledger.db"
        shutil.copy(source, target)
        self.net = Net(ledger=Ledger.open(str(target)), signers=built.signers, url=str(target))
        self.now = BASE
        self.balances = dict.fromkeys(MEMBERS, 0)
        self.requests: dict[int, Asked] = {}
        self.checkpoints: list[dict] = []
        self.last_transfer: int | None = None

    def teardown(self) -> None:
        self.net.ledger.engine.dispose()
        self.folder.cleanup()

    def affordable(self, payer: str, amount: int) -> bool:
        return self.balances[payer] - amount >= -LINES[payer]

    def moved(self, payer: str, payee: str, amount: int, transfer_id: int) -> None:
        self.balances[payer] -= amount
        self.balances[payee] += amount
        self.last_transfer = transfer_id

    # -- rules -------------------------------------------------------------------------------

    @rule(hours=st.integers(1, 48))
    def tick(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule(
        payer=st.sampled_from(MEMBERS), payee=st.sampled_from(MEMBERS), amount=st.integers(1, 8_000)
    )
    def pay(self, payer: str, payee: str, amount: int) -> None:
        expected = (
            "self_payment"
            if payer == payee
            else ("ok" if self.affordable(payer, amount) else "limit_lower_exceeded")
        )
        try:
            result = pay(self.net.ledger, self.net[payer], payer=payer, payee=payee, amount=amount)
        except MutualCreditError as error:
            assert error.code == expected, (error.code, expected, error.message)
            return
        assert expected == "ok", expected
        self.moved(payer, payee, amount, result.transfer_id)

    @rule(
        payer=st.sampled_from(MEMBERS),
        payee=st.sampled_from(MEMBERS),
        amount=st.integers(1, 8_000),
        hours=st.none() | st.integers(1, 72),
    )
    def ask(self, payer: str, payee: str, amount: int, hours: int | None) -> None:
        expires = None if hours is None else timedelta(hours=hours)
        try:
            made = rq.create_request(
                self.net.ledger,
                self.net[payee],
                payer=payer,
                payee=payee,
                amount=amount,
                memo="trabalho",
                expires_in=expires,
                at=self.now,
            )
        except MutualCreditError as error:
            assert payer == payee and error.code == "self_payment", error.message
            return
        assert payer != payee and made.status == "open"
        self.requests[made.id] = Asked(
            payer=payer,
            payee=payee,
            amount=amount,
            expires_at=None if expires is None else self.now + expires,
        )

    def _outcome(self, asked: Asked) -> str:
        if asked.status != "open":
            return "request_not_open"
        if asked.expires_at is not None and self.now >= asked.expires_at:
            return "request_expired"
        return "ok"

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), by_payer=st.booleans())
    def accept(self, data: st.DataObject, by_payer: bool) -> None:
        request_id = data.draw(st.sampled_from(sorted(self.requests)))
        asked = self.requests[request_id]
        signer = asked.payer if by_payer else asked.payee
        expected = self._outcome(asked)
        if expected == "ok" and not by_payer:
            expected = "not_party"
        if expected == "ok" and not self.affordable(asked.payer, asked.amount):
            expected = "limit_lower_exceeded"
        try:
            request, result = rq.accept_request(
                self.net.ledger, self.net[signer], request_id=request_id, at=self.now
            )
        except MutualCreditError as error:
            assert error.code == expected, (error.code, expected, error.message)
            return
        assert expected == "ok" and request.status == "accepted", expected
        asked.status = "accepted"
        self.moved(asked.payer, asked.payee, asked.amount, result.transfer_id)

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), decline=st.booleans())
    def close(self, data: st.DataObject, decline: bool) -> None:
        request_id = data.draw(st.sampled_from(sorted(self.requests)))
        asked = self.requests[request_id]
        expected = self._outcome(asked)
        try:
            if decline:
                rq.decline_request(
                    self.net.ledger,
                    self.net[asked.payer],
                    request_id=request_id,
                    reason="não",
                    at=self.now,
                )
            else:
                rq.withdraw_request(
                    self.net.ledger, self.net[asked.payee], request_id=request_id, at=self.now
                )
        except MutualCreditError as error:
            assert error.code == expected, (error.code, expected, error.message)
            return
        assert expected == "ok", expected
        asked.status = "declined" if decline else "withdrawn"

    @rule()
    def checkpoint(self) -> None:
        made = audit.create_checkpoint(self.net.ledger, self.net["banco"])
        if self.checkpoints:
            previous = self.checkpoints[-1]
            proof = audit.consistency_proof(self.net.ledger, previous, made)
            audit.verify_extension(None, previous, made, proof)
        if self.last_transfer is not None:
            proof = audit.inclusion_proof(self.net.ledger, self.last_transfer, made)
            assert audit.verify_proof_offline(proof, made)["valid"]
        self.checkpoints.append(made)

    # -- after every step ----------------------------------------------------------------------

    @invariant()
    def verified(self) -> None:
        inputs = [
            CheckpointInput(label=f"cp{n}", document=document)
            for n, document in enumerate(self.checkpoints)
        ]
        report = verify_ledger(self.net.ledger, checkpoints=inputs, include_stored=False, workers=1)
        assert report.problems == [], report.problems
        for handle, balance in self.balances.items():
            assert self.net.balance(handle) == format_amount(balance, 2)
        listed = {r.id: r.status for r in rq.list_requests(self.net.ledger)}
        for request_id, asked in self.requests.items():
            if asked.status == "open":
                assert listed[request_id] in ("open", "expired")
            else:
                assert listed[request_id] == asked.status


TestAuditMachine = AuditMachine.TestCase
TestAuditMachine.settings = settings(
    max_examples=30,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
