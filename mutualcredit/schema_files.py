"""The JSON Schemas shipped with the package, and validation against them."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

BASE_ID = "https://mutualcredit.example/schemas/"


def schemas_folder() -> Path:
    """Installed wheels carry ``mutualcredit/schemas``; a source tree has ``schemas/``."""
    here = Path(__file__).resolve().parent
    for folder in (here / "schemas", here.parent / "schemas"):
        if folder.is_dir():
            return folder
    raise FileNotFoundError("the JSON Schemas are missing from this installation")


@cache
def load(name: str) -> dict[str, Any]:
    return json.loads((schemas_folder() / name).read_text(encoding="utf-8"))


def validate(document: Any, name: str) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``document`` matches schema ``name``."""
    import jsonschema
    from referencing import Registry, Resource

    registry = Registry().with_resources(
        (BASE_ID + path.name, Resource.from_contents(load(path.name)))
        for path in schemas_folder().glob("*.schema.json")
    )
    validator = jsonschema.Draft202012Validator(
        load(name), registry=registry, format_checker=jsonschema.FormatChecker()
    )
    validator.validate(document)
