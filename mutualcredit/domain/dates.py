"""The range of dates the ledger accepts anywhere: on the command line, in files, in reports.

Python's ``date`` runs from year 1 to 9999, but a day at either end cannot be turned
into the UTC instants that periods, bookings and imports work with (the next day, or the
day in another time zone, falls off the calendar).  So every date a user gives is checked
against one range, 1970-01-01 … 9998-12-31, and a date outside it is malformed input
(exit 2), never a traceback.
"""

from __future__ import annotations

from datetime import date, datetime

from mutualcredit.domain.errors import UsageError

DATE_MIN = date(1970, 1, 1)
DATE_MAX = date(9998, 12, 31)


class DateOutOfRange(UsageError):
    code = "date_out_of_range"


def check_date(day: date, what: str) -> date:
    """``day`` if it lies in the accepted range, else :class:`DateOutOfRange`."""
    if isinstance(day, datetime):
        day = day.date()
    if not DATE_MIN <= day <= DATE_MAX:
        raise DateOutOfRange(
            f"{what} {day.isoformat()} is outside the dates the ledger accepts "
            f"({DATE_MIN.isoformat()} to {DATE_MAX.isoformat()})"
        )
    return day


def check_moment(moment: datetime, what: str) -> datetime:
    """``moment`` if its (naive or local) date lies in the accepted range."""
    check_date(moment.date(), what)
    return moment
