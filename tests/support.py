"""Test support: real databases, a small network, and a scenario language.

``make_network(url)`` builds, through the library, a network with:

- admin ``banco``; card ``CARD`` (scale 2); member credit line 0.00; positions
  bounded by 1,000.00;
- collectives ``cubo`` (currency ``CUBO``) and ``palafita`` (``PALA``), both 1:1;
- members ``ana`` (cubo, credit line 100.00, coordinator of cubo), ``bia``
  (cubo, line 0.00), ``caio`` (palafita, line 50.00, coordinator of palafita).

Signers live in memory (no key files, no scrypt) so service tests are fast.
``net.run("ana -> bia 30.00", "hold bia -> ana 5.00")`` runs scenario lines.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from mutualcredit.domain.amounts import parse_amount
from mutualcredit.services import network as setup
from mutualcredit.services import payments
from mutualcredit.services.context import Ledger
from mutualcredit.services.invariants import check_invariants
from mutualcredit.services.keys import Signer

PG_ADMIN_URL = os.environ.get(
    "MUTUALCREDIT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_available() -> bool:
    import psycopg

    try:
        with psycopg.connect(
            PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3
        ):
            return True
    except psycopg.Error:
        return False


def require_postgres() -> None:
    if postgres_available():
        return
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI but {PG_ADMIN_URL} is not reachable")
    pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")


def postgres_schema_url() -> tuple[str, str]:
    """A fresh schema on the test server; returns (url, schema name)."""
    import psycopg

    require_postgres()
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(
        PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    return f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}", schema


def drop_postgres_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(
        PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@dataclass
class Net:
    ledger: Ledger
    signers: dict[str, Signer] = field(default_factory=dict)
    url: str = ""

    def __getitem__(self, handle: str) -> Signer:
        return self.signers[handle]

    def amount(self, text: str, currency: str = "CARD") -> int:
        return parse_amount(text, scale=self.ledger.currency(currency).scale, allow_zero=True)

    def pay(self, payer: str, payee: str, amount: str, *, signer: str | None = None, **kw):  # type: ignore[no-untyped-def]
        author = signer or (payer if ":" not in payer else "banco")
        return payments.pay(
            self.ledger,
            self.signers[author],
            payer=payer,
            payee=payee,
            amount=self.amount(amount),
            **kw,
        )

    def hold(self, payer: str, payee: str, amount: str, *, hours: int = 24, **kw):  # type: ignore[no-untyped-def]
        author = kw.pop("signer", None) or (payer if ":" not in payer else "banco")
        return payments.hold(
            self.ledger,
            self.signers[author],
            payer=payer,
            payee=payee,
            amount=self.amount(amount),
            expires_at=datetime.now(UTC) + timedelta(hours=hours),
            **kw,
        )

    def balance(self, reference: str) -> str:
        from mutualcredit.services.queries import balance

        return str(balance(self.ledger, reference)["balance"])

    def available(self, reference: str) -> str | None:
        from mutualcredit.services.queries import balance

        return balance(self.ledger, reference)["available"]

    def add_member(self, handle: str, collective: str, line: str = "0", **kw) -> Signer:  # type: ignore[no-untyped-def]
        signer = Signer.generate(handle)
        self.signers[handle] = signer
        setup.add_member(
            self.ledger,
            self.signers["banco"],
            handle=handle,
            collective=collective,
            public_key=signer.public_key,
            limit_lower=-self.amount(line),
            **kw,
        )
        return signer

    def run(self, *lines: str) -> list[int]:
        """Scenario lines: ``ana -> bia 30.00`` pays; ``hold ana -> bia 5.00`` holds."""
        ids = []
        for line in lines:
            match = re.fullmatch(r"(hold )?(\S+) -> (\S+) (\S+)(?: CARD)?", line.strip())
            assert match, f"scenario line not understood: {line!r}"
            action = self.hold if match.group(1) else self.pay
            ids.append(action(match.group(2), match.group(3), match.group(4)).transfer_id)
        return ids

    def assert_consistent(self) -> None:
        problems = check_invariants(self.ledger)
        assert problems == [], problems


def make_network(url: str) -> Net:
    admin = Signer.generate("banco")
    ledger = setup.init_network(
        url,
        setup.NetworkSettings(
            name="Rede de teste",
            card="CARD",
            admin="banco",
            member_limit_lower=0,
            clearing_limit=100_000,
        ),
        admin,
        setup.new_network_id(),
    )
    net = Net(ledger=ledger, signers={"banco": admin}, url=url)
    setup.add_collective(
        ledger, admin, slug="cubo", name="Espaço Cubo", currency="CUBO", rate=Fraction(1)
    )
    setup.add_collective(
        ledger, admin, slug="palafita", name="Palafita", currency="PALA", rate=Fraction(1)
    )
    net.add_member("ana", "cubo", "100", coordinator=True)
    net.add_member("bia", "cubo", "0")
    net.add_member("caio", "palafita", "50", coordinator=True)
    return net


def run_cli(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``mutualcredit`` command (end-to-end tests)."""
    import shutil
    import sys

    executable = shutil.which("mutualcredit", path=os.path.dirname(sys.executable)) or shutil.which(
        "mutualcredit"
    )
    assert executable, "the mutualcredit command is not installed"
    full_env = {
        key: value for key, value in os.environ.items() if not key.startswith("MUTUALCREDIT_")
    }
    full_env.update(env or {})
    return subprocess.run(
        [executable, *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        cwd=cwd,
        timeout=120,
    )
