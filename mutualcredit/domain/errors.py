"""Every user or operating error is a typed exception under one root.

Each error carries a stable ``code`` (shared by the CLI, the JSON error shape
and the docs; registered once in :mod:`mutualcredit.domain.codes`) and an
``exit_code`` from :class:`ExitCode`.  Programmer errors
are assertions and are not listed here.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Process exit codes, the same for every command."""

    OK = 0
    REFUSED = 1  # refused by the ledger's rules: limit, unbalanced, not authorised, conflict…
    USAGE = 2  # malformed input: amounts, handles, options, files
    INTEGRITY = 3  # the ledger, a key file, a checkpoint or a proof is not what it claims
    NOT_FOUND = 4  # an unknown member, account, collective, transfer, …
    UNAVAILABLE = 5  # the database cannot be reached or refuses us: try again later
    INTERRUPTED = 130  # Ctrl-C, or a prompt declined (the shell's 128 + SIGINT)


class MutualCreditError(Exception):
    """Root of every error a user or operator can cause."""

    code: str = "error"
    exit_code: ExitCode = ExitCode.REFUSED

    def __init__(self, message: str, *, code: str | None = None, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.data = data
        assert _codes.allows(self.code, self.exit_code), (
            f"code {self.code!r} with exit {int(self.exit_code)} is not in domain/codes.py"
        )

    def __str__(self) -> str:
        return self.message


class Refused(MutualCreditError):
    """The ledger's rules refuse the operation (exit 1)."""

    code = "refused"
    exit_code = ExitCode.REFUSED


class UsageError(MutualCreditError):
    """Input that is malformed before any rule is consulted (exit 2)."""

    code = "usage"
    exit_code = ExitCode.USAGE


class IntegrityProblem(MutualCreditError):
    """Stored data, a key file or a signed document failed a check (exit 3)."""

    code = "integrity"
    exit_code = ExitCode.INTEGRITY


class NotFound(MutualCreditError):
    """Something named does not exist (exit 4)."""

    code = "not_found"
    exit_code = ExitCode.NOT_FOUND


class Unavailable(MutualCreditError):
    """The database server cannot be reached or refuses the connection (exit 5)."""

    code = "database_unavailable"
    exit_code = ExitCode.UNAVAILABLE


class InvalidAmount(UsageError):
    code = "invalid_amount"


class AmountTooLarge(InvalidAmount):
    """An amount, or an account's total, would pass ``amounts.AMOUNT_MAX`` (exit 2)."""

    code = "amount_too_large"


class InvalidName(UsageError):
    code = "invalid_name"


class InvalidText(UsageError):
    code = "invalid_text"


class InvalidDuration(UsageError):
    code = "invalid_duration"


class InvalidDate(UsageError):
    code = "invalid_date"


# Last: the registry imports ExitCode from here (a module import, so either may load first).
from mutualcredit.domain import codes as _codes  # noqa: E402
