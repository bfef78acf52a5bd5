"""Where the example rules and sample exports are, installed or in a source tree.

A wheel carries the repository's ``examples/`` folder as ``mutualcredit/examples``
(pyproject's force-include); a source checkout has it at the repository root.
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_TICKETS = "samples/tickets-grito-rock-cuiaba-2026.csv"
SAMPLE_BAR = "samples/bar-grito-rock-cuiaba-2026-11-21.jsonl"
RULES_TICKETS = "import-rules/tickets.toml"
RULES_BAR = "import-rules/bar.toml"


def examples_dir() -> Path:
    """The folder holding ``import-rules/`` and ``samples/``."""
    package = Path(__file__).resolve().parents[1]
    for folder in (package / "examples", package.parent / "examples"):
        if (folder / RULES_TICKETS).is_file():
            return folder
    raise AssertionError("the examples folder is not shipped with this installation")


def example(relative: str) -> Path:
    path = examples_dir() / relative
    assert path.is_file(), path
    return path
