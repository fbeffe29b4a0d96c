"""The migrations the compat fixtures were written with (kanta 0.9.4's test suite of files)."""

from typing import Any


def migrate_v1(d: dict[str, Any]) -> None:
    """Rename counter to total."""
    d["total"] = d.pop("counter", 0)


def migrate_v2(d: dict[str, Any]) -> None:
    """Set the language."""
    d["lang"] = "fi"
