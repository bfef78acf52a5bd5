"""The command runs with only its declared dependencies.

The test environment carries packages the program does not declare (Click
itself, pulled in by test tools, while Typer vendors its own copy).  Here
``import click`` is made to fail, as on a fresh machine after ``pip install .``,
and the commands that once needed it must still work.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import run_cli


def blocked(tmp_path: Path) -> dict[str, str]:
    stub = tmp_path / "blocked" / "click"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('click is not a declared dependency')\n")
    return {"PYTHONPATH": str(stub.parent), "MUTUALCREDIT_HOME": str(tmp_path / "home")}


def test_commands_work_without_plain_click(tmp_path: Path) -> None:
    env = blocked(tmp_path)
    for args in (("--help",), ("request", "--help"), ("report", "--help"), ("bookings", "--help")):
        result = run_cli(*args, env=env)
        assert result.returncode == 0, (args, result.stderr)
    demo = run_cli("demo", env=env, cwd=str(tmp_path))
    assert demo.returncode == 0, demo.stderr
    bad = run_cli(
        "--db",
        str(tmp_path / "mutualcredit-demo.db"),
        "pay",
        "ana",
        "caio",
        "abc",
        "--json",
        env=env,
    )
    assert bad.returncode == 2 and json.loads(bad.stderr)["error"]["code"] == "invalid_amount"
    usage = run_cli("balance", "--no-such-option", env=env)
    assert usage.returncode == 2 and "No such option" in usage.stderr
