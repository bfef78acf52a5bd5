"""Credit limits and availability.

``balance`` is the sum of posted postings; pending holds do not change it.
A transfer is refused if, counting pending debits, an account would go below
its lower limit, or, counting pending credits, above its upper limit.  So the
worst case low is ``balance - pending_debits - debit`` and the worst case high
``balance + pending_credits + credit``.  Incoming holds never raise spending
power: ``available = balance - pending_debits - limit_lower``.
A limit of ``None`` means no limit on that side.
"""

from __future__ import annotations

from dataclasses import dataclass

from mutualcredit.domain.amounts import AMOUNT_MAX, format_amount
from mutualcredit.domain.errors import AmountTooLarge, Refused


class LimitExceeded(Refused):
    """A movement would take an account past one of its limits.

    ``data`` (the JSON error's) holds ``account``, ``currency``, ``limit``, ``would_be``
    and ``available`` (how much of this movement's direction is left: spending power for
    the lower limit, room to receive for the upper) as decimal strings like the message's;
    ``would_reach`` and ``limit_minor`` keep the minor units for callers.
    """

    would_reach: int = 0
    limit_minor: int = 0


class CreditLimitExceeded(LimitExceeded):
    code = "limit_lower_exceeded"


class UpperLimitExceeded(LimitExceeded):
    code = "limit_upper_exceeded"


def _exceeded(
    kind: type[LimitExceeded],
    message: str,
    state: AccountState,
    *,
    would_reach: int,
    limit: int,
    available: int,
) -> LimitExceeded:
    error = kind(
        message,
        account=state.name,
        currency=state.currency,
        limit=format_amount(limit, state.scale),
        would_be=format_amount(would_reach, state.scale),
        available=format_amount(available, state.scale),
    )
    error.would_reach, error.limit_minor = would_reach, limit
    return error


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountState:
    name: str
    currency: str
    scale: int
    balance: int
    pending_debits: int
    pending_credits: int
    limit_lower: int | None
    limit_upper: int | None

    @property
    def available(self) -> int | None:
        if self.limit_lower is None:
            return None
        return self.balance - self.pending_debits - self.limit_lower


def check_limits(state: AccountState, *, amount: int) -> None:
    """Check one account's movement by ``amount`` (negative: debit), holds included."""

    def shown(minor: int) -> str:
        return f"{format_amount(minor, state.scale)} {state.currency}"

    if amount < 0 and state.limit_lower is not None:
        low = state.balance - state.pending_debits + amount
        if low < state.limit_lower:
            held = ""
            if state.pending_debits:
                held = f" (counting {shown(state.pending_debits)} on hold)"
            raise _exceeded(
                CreditLimitExceeded,
                f"{state.name} would reach {shown(low)}{held}; limit is {shown(state.limit_lower)}",
                state,
                would_reach=low,
                limit=state.limit_lower,
                available=state.balance - state.pending_debits - state.limit_lower,
            )
    if amount > 0 and state.limit_upper is not None:
        high = state.balance + state.pending_credits + amount
        if high > state.limit_upper:
            raise _exceeded(
                UpperLimitExceeded,
                f"{state.name} would reach {shown(high)}; upper limit is "
                f"{shown(state.limit_upper)}",
                state,
                would_reach=high,
                limit=state.limit_upper,
                available=state.limit_upper - state.balance - state.pending_credits,
            )


def check_total(*, account: str, total: int, amount: int, what: str) -> None:
    """Refuse a movement of ``amount`` that would take one of ``account``'s totals (``what``:
    posted or pending, debits or credits, in minor units) past :data:`AMOUNT_MAX`.

    Bounding each total keeps every balance and every sum of balances far inside the
    database's signed 64-bit integers, so an overflow is a refusal, never a crash.
    """
    after = total + abs(amount)
    if after > AMOUNT_MAX:
        raise AmountTooLarge(
            f"{account} would have {after} minor units of {what}; at most {AMOUNT_MAX}",
            account=account,
            would_reach=after,
            limit=AMOUNT_MAX,
        )
