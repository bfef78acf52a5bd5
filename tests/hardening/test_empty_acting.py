"""An empty ``--as``, ``MUTUALCREDIT_AS`` or ``--key`` is refused, not read as "not given".

Read as absent, ``--as ''`` acted as the admin and ``--key ''`` made a payment
with a fresh key, so a retry with the same (empty) key paid twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from mutualcredit.domain.errors import InvalidText
from mutualcredit.schema_files import validate
from mutualcredit.services import payments
from tests.support import make_network, run_cli

PASS = "s3cret-pass"
EMPTY_AS = "error: --as is empty: give the handle of who acts, or leave it out\n"
EMPTY_ENV = "error: MUTUALCREDIT_AS is empty: give the handle of who acts, or leave it out\n"
EMPTY_KEY = "error: idempotency key must be 1 to 200 printable characters\n"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mutualcredit.services.keys import KeyStore

    root = tmp_path_factory.mktemp("acting")
    net = make_network(str(root / "ledger.db"))
    store = KeyStore(root / "home", net.ledger.network.id, kdf_n=2**10)
    for handle in ("banco", "ana"):
        store.write(net[handle], PASS)
    net.ledger.engine.dispose()
    return root


def mc(root: Path, *args: str, **env: str):  # type: ignore[no-untyped-def]
    return run_cli(
        "--db",
        str(root / "ledger.db"),
        *args,
        env={"MUTUALCREDIT_HOME": str(root / "home"), "MUTUALCREDIT_PASSPHRASE": PASS, **env},
    )


def transfers(root: Path) -> int:
    from mutualcredit.services.context import Ledger

    ledger = Ledger.open(str(root / "ledger.db"))
    try:
        with ledger.read() as connection:
            return int(connection.execute(text("SELECT COUNT(*) FROM transfer")).scalar_one())
    finally:
        ledger.engine.dispose()


def test_empty_as_is_usage_on_any_command(home: Path) -> None:
    for args in (("balance",), ("checkpoint", "create"), ("pay", "network:fund", "ana", "1")):
        result = mc(home, "--as", "", *args)
        assert (result.returncode, result.stdout, result.stderr) == (2, "", EMPTY_AS), args


def test_empty_as_with_json_is_the_json_error(home: Path) -> None:
    result = mc(home, "--as", "", "balance", "--json")
    assert result.returncode == 2
    error = json.loads(result.stderr)
    validate(error, "error.schema.json")
    assert error == {"error": {"code": "empty_acting", "message": EMPTY_AS[7:-1], "data": {}}}


def test_empty_mutualcredit_as_is_usage_where_someone_acts(home: Path) -> None:
    refused = mc(home, "checkpoint", "create", MUTUALCREDIT_AS="")
    assert (refused.returncode, refused.stdout, refused.stderr) == (2, "", EMPTY_ENV)
    # --as wins over the variable; and without the variable the admin acts, as documented.
    assert mc(home, "--as", "banco", "checkpoint", "create", MUTUALCREDIT_AS="").returncode == 0
    assert mc(home, "checkpoint", "create").returncode == 0


def test_empty_key_is_usage_and_writes_nothing(home: Path) -> None:
    before = transfers(home)
    result = mc(home, "pay", "ana", "bia", "1.00", "--key", "")
    assert (result.returncode, result.stdout, result.stderr) == (2, "", EMPTY_KEY)
    assert transfers(home) == before
    paid = mc(home, "pay", "ana", "bia", "1.00", "--key", "k-1")
    assert paid.returncode == 0, paid.stderr
    assert transfers(home) == before + 1


def test_the_library_refuses_an_empty_key_too(tmp_path: Path) -> None:
    net = make_network(str(tmp_path / "ledger.db"))
    with pytest.raises(InvalidText, match="idempotency key must be 1 to 200"):
        payments.pay(net.ledger, net["ana"], payer="ana", payee="bia", amount=100, key="")
    result = net.pay("ana", "bia", "1.00", key="k")
    assert (
        payments.pay(
            net.ledger, net["ana"], payer="ana", payee="bia", amount=100, key="k"
        ).transfer_id
        == result.transfer_id
    )  # a real key still replays
