"""Netting: the fewest simple transfers that bring every collective's position to zero.

When members of different collectives pay each other, the payment clears
through the network card: the balance of ``network:clearing:<collective>``
(in ``CARD``) is that collective's **position**.  A negative position means
the collective owes the rest of the network; a positive one means it is
owed.  Mutual credit is zero-sum, so positions always add up to exactly zero.

Settlement nets the positions.  Instead of every debtor paying every
creditor a share, we match them greedily: the largest debtor pays the
largest creditor as much as the smaller of the two can take, which brings at
least one of them to zero.  We repeat with whoever is now largest.  Every
transfer closes at least one position, and the last transfer closes two
(the remaining debtor and creditor must owe exactly what the other is owed,
because the total is zero), so ``n`` non-zero positions need at most
``n - 1`` transfers.

Example: ``cubo -50.00``, ``palafita +30.00``, ``goma +20.00`` nets to
``cubo -> palafita 30.00`` and ``cubo -> goma 20.00``.

The matching is deterministic: when two debtors (or two creditors) are equally
large, the one whose slug sorts first goes first, so the same positions always
give the same transfers, byte for byte.

This module is pure: it receives integers of minor units and returns values.
Executing a settlement (posting ``CARD`` transfers between the
``network:clearing:*`` accounts) belongs to the services.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class NettingTransfer:
    """One settling transfer: ``from_collective`` (a debtor) pays ``to_collective``.

    ``amount`` is a positive integer of minor units of the card.
    """

    from_collective: str
    to_collective: str
    amount: int


def net_positions(positions: Mapping[str, int]) -> list[NettingTransfer]:
    """Return transfers that settle every position exactly, in at most n-1 transfers.

    ``positions`` maps collective slugs to positions in card minor units; they
    must sum to zero (a programmer error otherwise).  Zero positions take part
    in no transfer.  The transfers come in the order the greedy matching
    found them: largest debtor with largest creditor first, ties by slug.
    """
    for slug, position in positions.items():
        assert isinstance(position, int) and not isinstance(position, bool), (slug, position)
    total = sum(positions.values())
    assert total == 0, f"positions must sum to zero, they sum to {total}"

    # Both heaps hold (-size, slug): the largest size pops first, then the smallest slug.
    debtors = [(position, slug) for slug, position in positions.items() if position < 0]
    creditors = [(-position, slug) for slug, position in positions.items() if position > 0]
    heapq.heapify(debtors)
    heapq.heapify(creditors)

    transfers: list[NettingTransfer] = []
    while debtors:
        assert creditors, "a debtor is left without a creditor"
        debt, debtor = heapq.heappop(debtors)
        credit, creditor = heapq.heappop(creditors)
        amount = min(-debt, -credit)
        transfers.append(
            NettingTransfer(from_collective=debtor, to_collective=creditor, amount=amount)
        )
        if debt + amount < 0:
            heapq.heappush(debtors, (debt + amount, debtor))
        if credit + amount < 0:
            heapq.heappush(creditors, (credit + amount, creditor))
    assert not creditors, "a creditor is left without a debtor"

    non_zero = sum(1 for position in positions.values() if position != 0)
    assert len(transfers) <= max(non_zero - 1, 0), (len(transfers), non_zero)
    return transfers


def positions_after(
    positions: Mapping[str, int], transfers: Iterable[NettingTransfer]
) -> dict[str, int]:
    """Return the positions once ``transfers`` are executed (all zero after netting).

    The payer's position rises by the amount (it owes less) and the payee's
    falls (it is owed less).  Services can assert the result before posting.
    """
    after = dict(positions)
    for transfer in transfers:
        assert transfer.amount > 0, transfer
        after[transfer.from_collective] = after.get(transfer.from_collective, 0) + transfer.amount
        after[transfer.to_collective] = after.get(transfer.to_collective, 0) - transfer.amount
    return after
