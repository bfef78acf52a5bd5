"""The demo: deterministic, never touches MUTUALCREDIT_DB, refuses to overwrite without --force."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import run_cli


def demo(cwd: Path, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return run_cli(*args, env={"MUTUALCREDIT_HOME": str(cwd / "home"), **(env or {})}, cwd=str(cwd))


def test_demo_builds_a_network_and_shows_it(tmp_path: Path) -> None:
    real = tmp_path / "real-ledger.db"
    result = demo(tmp_path, "demo", env={"MUTUALCREDIT_DB": str(real)})
    assert result.returncode == 0, result.stderr
    assert not real.exists(), "the demo must never touch MUTUALCREDIT_DB"
    assert (tmp_path / "mutualcredit-demo.db").exists()
    out = result.stdout
    assert "demo network written to mutualcredit-demo.db (seed 7)" in out
    assert (
        "refused as it should be: members:kaue would reach -420.00 MASSA; limit is "
        "-20.00 MASSA" in out
    )
    assert "with passphrase 'demo-pass'" in out
    for command in ("statement ana", "account list", "tx show 1"):
        assert f"mutualcredit --db mutualcredit-demo.db {command}" in out
    # Everything the demo did (payments, bookings, payment requests, imports by Cubo's
    # importer) is what the program allows: verify, authority included, finds it clean.
    checked = demo(tmp_path, "--db", "mutualcredit-demo.db", "verify")
    assert checked.returncode == 0 and checked.stdout.endswith(": clean\n"), checked.stdout
    again = demo(tmp_path, "demo")
    assert again.returncode == 1
    assert again.stderr == "error: mutualcredit-demo.db already exists; use --force to replace it\n"


def test_demo_is_deterministic_and_explorable(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    documents = []
    for folder in (first, second):
        result = demo(folder, "--db", "d.db", "demo", "--seed", "3", "--json")
        assert result.returncode == 0, result.stderr
        documents.append(json.loads(result.stdout))
    strip = [[(b["account"], b["balance"]) for b in d["balances"]] for d in documents]
    assert strip[0] == strip[1]
    assert documents[0]["positions"] == documents[1]["positions"]
    assert any(p["position"] != "0.00" for p in documents[0]["positions"])
    assert sum(int(p["position"].replace(".", "")) for p in documents[0]["positions"]) == 0
    assert len(documents[0]["balances"]) >= 12
    explore = demo(
        first,
        "--db",
        "d.db",
        "pay",
        "ana",
        "caio",
        "10",
        "--memo",
        "roadie",
        env={"MUTUALCREDIT_PASSPHRASE": "demo-pass"},
    )
    assert explore.returncode == 0, explore.stderr
    other_seed = demo(second, "--db", "e.db", "demo", "--seed", "4", "--json")
    assert [
        (b["account"], b["balance"]) for b in json.loads(other_seed.stdout)["balances"]
    ] != strip[0]
