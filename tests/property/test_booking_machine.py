"""A Hypothesis state machine books, completes, cancels and expires against a plain model.

The clock only moves forward (``tick``).  Each rule predicts its outcome from
the model — the refusal it must meet, or the exact booking it must produce —
and after every step the ledger must agree:

- no instant of a resource is covered by more than ``units`` held or
  completed bookings;
- every booking's hold matches its status: held ↔ pending, completed ↔
  posted for what was charged, cancelled ↔ voided (no fee) or posted for the
  fee, expired ↔ expired;
- each booking's status and charge equal the model's, and the whole ledger
  is consistent (zero sum, cached totals, limits, holds resolved once).
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
from sqlalchemy import text

from mutualcredit.domain.bookings import ResourceRules, max_overlap
from mutualcredit.domain.errors import MutualCreditError
from mutualcredit.services import bookings as svc
from mutualcredit.services.clock import parse_iso
from mutualcredit.services.context import Ledger
from tests.support import Net, make_network

BASE = datetime(2026, 12, 1, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
RESOURCES = {
    # slug: (units, price per hour, cancellation window, fee percent, grace)
    "studio": (1, 200, timedelta(hours=24), 50, timedelta(days=1)),
    "rooms": (2, 100, timedelta(0), 0, timedelta(hours=12)),
}
BOOKERS = ("ana", "m1", "m2")  # m2 belongs to palafita: its bookings go through clearing
TEMPLATE: dict[str, tuple[Path, Net]] = {}


def template() -> tuple[Path, Net]:
    """One network with the resources, built once and copied for every example."""
    if not TEMPLATE:
        folder = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
        net = make_network(str(folder / "ledger.db"))
        net.add_member("m1", "cubo", "1000")
        net.add_member("m2", "palafita", "1000")
        for slug, (units, price, window, percent, grace) in RESOURCES.items():
            svc.add_resource(
                net.ledger,
                net["ana"],
                slug=slug,
                collective="cubo",
                name=slug,
                rules=ResourceRules(
                    price=price,
                    per="hour",
                    units=units,
                    cancel_window=window,
                    cancel_fee_percent=percent,
                    grace=grace,
                ),
                at=BASE - timedelta(days=1),
            )
        net.ledger.engine.dispose()
        TEMPLATE["network"] = (folder / "ledger.db", net)
    return TEMPLATE["network"]


@dataclass
class Expected:
    resource: str
    booker: str
    start: datetime
    end: datetime
    price: int
    status: str = "held"
    charged: int | None = None


class BookingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        source, built = template()
        self.folder = tempfile.TemporaryDirectory(dir=source.parent)
        target = Path(self.folder.name) / "ledger.db"
        shutil.copy(source, target)
        self.net = Net(ledger=Ledger.open(str(target)), signers=built.signers, url=str(target))
        self.now = BASE
        self.model: dict[int, Expected] = {}

    def teardown(self) -> None:
        self.net.ledger.engine.dispose()
        self.folder.cleanup()

    def occupying(self, resource: str) -> list[svc.Interval]:
        return [
            svc.Interval(start=b.start, end=b.end)
            for b in self.model.values()
            if b.resource == resource and b.status in ("held", "completed")
        ]

    # -- rules -------------------------------------------------------------------------------

    @rule(hours=st.integers(1, 30))
    def tick(self, hours: int) -> None:
        self.now += hours * HOUR

    @rule(
        resource=st.sampled_from(sorted(RESOURCES)),
        booker=st.sampled_from(BOOKERS),
        start=st.integers(0, 72),
        length=st.integers(1, 8),
    )
    def book(self, resource: str, booker: str, start: int, length: int) -> None:
        begin, end = BASE + start * HOUR, BASE + (start + length) * HOUR
        units, price, _, _, _ = RESOURCES[resource]
        busiest = max_overlap(self.occupying(resource), svc.Interval(start=begin, end=end))
        expected = (
            "booking_in_past"
            if begin < self.now
            else ("booking_unavailable" if busiest >= units else "ok")
        )
        try:
            made = svc.book(
                self.net.ledger,
                self.net[booker],
                resource=resource,
                booker=booker,
                start=begin,
                end=end,
                at=self.now,
            )
        except MutualCreditError as error:
            assert error.code == expected, (error.code, expected, error.message)
            return
        assert expected == "ok", expected
        assert made.price == price * length and made.status == "held"
        self.model[made.id] = Expected(
            resource=resource, booker=booker, start=begin, end=end, price=price * length
        )

    @precondition(lambda self: self.model)
    @rule(data=st.data(), part=st.integers(1, 100))
    def complete(self, data: st.DataObject, part: int) -> None:
        booking_id = data.draw(st.sampled_from(sorted(self.model)))
        expected = self.model[booking_id]
        amount = max(1, expected.price * part // 100)
        outcome = (
            "booking_not_held"
            if expected.status != "held"
            else "booking_not_started"
            if self.now < expected.start
            else "ok"
        )
        try:
            svc.complete_booking(
                self.net.ledger, self.net["ana"], booking_id=booking_id, amount=amount, at=self.now
            )
        except MutualCreditError as error:
            assert error.code == outcome, (error.code, outcome, error.message)
            return
        assert outcome == "ok", outcome
        expected.status, expected.charged = "completed", amount

    @precondition(lambda self: self.model)
    @rule(data=st.data(), by_coordinator=st.booleans())
    def cancel(self, data: st.DataObject, by_coordinator: bool) -> None:
        booking_id = data.draw(st.sampled_from(sorted(self.model)))
        expected = self.model[booking_id]
        signer = self.net["banco" if by_coordinator else expected.booker]
        _, _, window, percent, _ = RESOURCES[expected.resource]
        outcome = (
            "booking_not_held"
            if expected.status != "held"
            else "booking_already_started"
            if self.now >= expected.start
            else "ok"
        )
        try:
            svc.cancel_booking(self.net.ledger, signer, booking_id=booking_id, at=self.now)
        except MutualCreditError as error:
            assert error.code == outcome, (error.code, outcome, error.message)
            return
        assert outcome == "ok", outcome
        fee = expected.price * percent // 100 if expected.start - self.now < window else 0
        expected.status, expected.charged = "cancelled", fee or None

    @rule()
    def expire(self) -> None:
        due = sorted(
            booking_id
            for booking_id, b in self.model.items()
            if b.status == "held" and b.end + RESOURCES[b.resource][4] <= self.now
        )
        expired = svc.expire_bookings(self.net.ledger, self.net["ana"], at=self.now)
        assert sorted(b.id for b in expired) == due
        for booking_id in due:
            self.model[booking_id].status = "expired"

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def no_overlap_beyond_units(self) -> None:
        with self.net.ledger.read() as connection:
            rows = connection.execute(
                text(
                    "SELECT r.slug, b.start_at, b.end_at FROM booking b JOIN resource r "
                    "ON r.id = b.resource_id WHERE b.status IN ('held', 'completed')"
                )
            ).all()
        for resource, (units, *_rest) in RESOURCES.items():
            intervals = [
                svc.Interval(start=parse_iso(s), end=parse_iso(e))
                for slug, s, e in rows
                if slug == resource
            ]
            for interval in intervals:
                others = [other for other in intervals if other is not interval]
                assert max_overlap(others, interval) < units, (resource, interval)

    @invariant()
    def holds_match_statuses_and_the_model(self) -> None:
        with self.net.ledger.read() as connection:
            rows = connection.execute(
                text(
                    "SELECT b.id, b.status, b.charged, h.status AS hold_status, r.kind, "
                    "(SELECT -p.amount FROM posting p WHERE p.transfer_id = r.id "
                    " ORDER BY p.id LIMIT 1) AS posted "
                    "FROM booking b JOIN transfer h ON h.id = b.hold_id "
                    "LEFT JOIN transfer r ON r.id = b.resolution_id ORDER BY b.id"
                )
            ).all()
        assert [row.id for row in rows] == sorted(self.model)
        for row in rows:
            expected = self.model[row.id]
            assert (row.status, row.charged) == (expected.status, expected.charged), row
            wanted = {
                "held": ("pending", None),
                "completed": ("posted", "post_hold"),
                "expired": ("expired", "expire_hold"),
            }.get(row.status)
            if row.status == "cancelled":
                wanted = ("posted", "post_hold") if row.charged else ("voided", "void_hold")
            assert (row.hold_status, row.kind) == wanted, row
            if row.kind == "post_hold":  # all currencies are 1:1: the payer paid the charge
                assert row.posted == row.charged, row

    @invariant()
    def ledger_is_consistent(self) -> None:
        self.net.assert_consistent()


TestBookingMachine = BookingMachine.TestCase
TestBookingMachine.settings = settings(
    max_examples=30,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
