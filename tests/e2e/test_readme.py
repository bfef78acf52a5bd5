"""The README is tested: its Quickstart, its exit codes, its commands and its Python example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from mutualcredit.domain.errors import ExitCode
from tests.support import run_cli

README = Path(__file__).resolve().parents[2] / "README.md"


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def fenced_blocks(text: str, language: str = "") -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def test_quickstart_is_exactly_two_commands() -> None:
    blocks = fenced_blocks(section("Quickstart"))
    assert len(blocks) == 1
    lines = blocks[0].strip().splitlines()
    assert len(lines) == 2
    assert "mutualcredit demo" in lines[0]
    assert "pytest" in lines[1] and "[test]" in lines[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    assert "sed -n 2p" in ci and "Quickstart" in ci


def test_exit_code_table_matches_the_enum() -> None:
    rows = re.findall(r"^\| (\d+) \| ", section("Exit codes"), re.MULTILINE)
    assert [int(code) for code in rows] == [int(code) for code in ExitCode]


def test_every_command_in_the_readme_has_help() -> None:
    commands = set()
    for block in fenced_blocks(README.read_text(encoding="utf-8")):
        for line in block.splitlines():
            if not line.startswith("mutualcredit "):
                continue
            tokens = line.split()[1:]
            while tokens and tokens[0] in ("--as", "--db"):  # global options and their values
                tokens = tokens[2:]
            words = [w for w in tokens if not w.startswith("-")]
            commands.add(tuple(words[:2]))
    assert len(commands) > 10
    for words in sorted(commands):
        result = run_cli(*words[:1], "--help")
        assert result.returncode == 0, words
        if len(words) == 2 and "Commands" in result.stdout and words[1] in result.stdout:
            assert run_cli(*words, "--help").returncode == 0, words


def test_python_example_runs_after_the_demo(tmp_path: Path) -> None:
    env = {"MUTUALCREDIT_HOME": str(tmp_path / "home")}
    assert run_cli("demo", env=env, cwd=str(tmp_path)).returncode == 0
    example = fenced_blocks(section("Daily use"), "python")[0]
    result = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**env, "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    transfer_id, caio = result.stdout.split()
    assert int(transfer_id) > 30
    assert caio.endswith(".00")
