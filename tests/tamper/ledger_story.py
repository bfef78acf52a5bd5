"""A small ledger with a row in every table, for the edit-every-column test.

Built through the library, at fixed times (``MUTUALCREDIT_NOW``), in São
Paulo time: the network of :func:`tests.support.make_network`, plus BRL and
the festival accounts with Cubo's signed issuance, an importer, a member who
leaves, payments across collectives in November (with hours), holds posted,
voided and pending, a reversal, requests accepted, declined and open, a
limit change, a role granted and revoked, a key rotated and one revoked, a
small ticket import, a studio with a completed and a pending booking, the
November settlement, the report summaries and a checkpoint (with Merkle
blocks of :data:`CHUNK_LEAVES` events, so a small ledger has cached blocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from mutualcredit.imports.demo import add_festival_accounts
from mutualcredit.imports.examples import RULES_TICKETS, SAMPLE_TICKETS, example
from mutualcredit.imports.service import import_file
from mutualcredit.services import audit, reports, requests
from mutualcredit.services import network as setup
from mutualcredit.services.bookings import add_resource, book, complete_booking
from mutualcredit.services.clock import parse_iso
from mutualcredit.services.key_events import revoke_key, rotate_key
from mutualcredit.services.keys import Signer
from mutualcredit.services.payments import resolve_hold, reverse
from mutualcredit.services.settlement import settle
from tests.support import make_network

CHUNK_LEAVES = 4  # events per cached Merkle block in this ledger (the product's is 1,024)
BUILT_AT = "2026-12-02T12:00:00-03:00"  # the last event's time
AFTER = "2026-12-02T15:00:00-03:00"  # when the cases write


@dataclass
class Story:
    path: Path
    signers: dict[str, Signer]
    pending_hold: int  # a hold still pending
    booking: int  # a booking still held


def build(path: Path, *, url: str | None = None) -> Story:
    """Build the ledger in the new SQLite file ``path`` (or at ``url``, a PostgreSQL schema,
    with ``path`` naming only the folder its files go to)."""
    from mutualcredit.domain.bookings import ResourceRules

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit, "CHUNK_LEAVES", CHUNK_LEAVES)

        def at(moment: str) -> None:
            patch.setenv("MUTUALCREDIT_NOW", moment)

        at("2026-10-01T09:00:00-03:00")
        net = make_network(url or str(path))
        admin = net["banco"]
        add_festival_accounts(net.ledger, admin)
        net.add_member("robo", "cubo")
        setup.change_role(
            net.ledger, admin, handle="robo", role="importer", collective="cubo", grant=True
        )
        net.add_member("dora", "palafita")
        net.add_member("edu", "cubo", "20")
        at("2026-11-02T10:00:00-03:00")
        net.pay("collectives:cubo:fund", "ana", "50.00", memo="produção")
        net.pay("ana", "bia", "30.00", memo="ensaio", meta={"hours": "2.50"})
        net.pay("ana", "caio", "10.00", memo="mixagem", meta={"hours": "1.00"})
        net.pay("caio", "bia", "5.00", memo="café")
        mistake = net.pay("bia", "edu", "2.00", memo="engano").transfer_id
        reverse(net.ledger, net["ana"], transfer_id=mistake, reason="engano")
        posted = net.hold("ana", "bia", "6.00").transfer_id
        resolve_hold(net.ledger, net["ana"], hold_id=posted, action="post", amount=400)
        voided = net.hold("bia", "ana", "1.00").transfer_id
        resolve_hold(net.ledger, net["bia"], hold_id=voided, action="void")
        pending = net.hold("ana", "edu", "3.00", hours=24 * 90).transfer_id
        asked = requests.create_request(
            net.ledger, net["bia"], payer="ana", payee="bia", amount=700, memo="fotos"
        )
        requests.accept_request(net.ledger, net["ana"], request_id=asked.id)
        declined = requests.create_request(
            net.ledger, net["caio"], payer="bia", payee="caio", amount=100, memo="x"
        )
        requests.decline_request(net.ledger, net["bia"], request_id=declined.id, reason="não")
        requests.create_request(
            net.ledger,
            net["edu"],
            payer="ana",
            payee="edu",
            amount=300,
            memo="aberto",
            expires_in=timedelta(days=60),
        )
        setup.set_limit(
            net.ledger, admin, account="members:bia", reason="festival", limit_lower=-2_000
        )
        setup.change_role(
            net.ledger, admin, handle="bia", role="coordinator", collective="cubo", grant=True
        )
        setup.change_role(
            net.ledger, admin, handle="bia", role="coordinator", collective="cubo", grant=False
        )
        new_caio = Signer.generate("caio")
        rotate_key(net.ledger, net["caio"], new_caio)
        net.signers["caio"] = new_caio
        revoke_key(net.ledger, admin, handle="dora")
        setup.close_member(net.ledger, admin, handle="dora")
        tickets = path.parent / "tickets.csv"
        lines = example(SAMPLE_TICKETS).read_text(encoding="utf-8").splitlines()
        tickets.write_text("\n".join(lines[:9]) + "\n", encoding="utf-8")
        assert import_file(net.ledger, net["robo"], tickets, example(RULES_TICKETS)).imported
        studio = add_resource(
            net.ledger,
            net["ana"],
            slug="studio",
            collective="cubo",
            name="Estúdio",
            rules=ResourceRules(
                price=500, per="hour", cancel_window=timedelta(days=2), cancel_fee_percent=30
            ),
        )
        start = parse_iso("2026-11-10T17:00:00Z")
        done = book(
            net.ledger,
            net["bia"],
            resource=studio.slug,
            booker="bia",
            start=start,
            end=start + timedelta(hours=2),
            memo="ensaio",
        )
        at("2026-11-10T20:00:00-03:00")
        complete_booking(net.ledger, net["ana"], booking_id=done.id)
        later = parse_iso("2026-12-20T17:00:00Z")
        held = book(
            net.ledger,
            net["bia"],
            resource=studio.slug,
            booker="bia",
            start=later,
            end=later + timedelta(hours=1),
        )
        at(BUILT_AT)
        settle(net.ledger, admin, reports.parse_period(net.ledger, period="2026-11"))
        net.pay("bia", "ana", "1.00", memo="troco")
        reports.refresh_summaries(net.ledger)
        audit.create_checkpoint(net.ledger, admin)
        net.ledger.engine.dispose()
    return Story(path=path, signers=net.signers, pending_hold=pending, booking=held.id)
