"""Helpers for tests that look at database files byte by byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kanta.core.chain import unseal


def strip_seals(data: bytes) -> bytes:
    """A JSON log without the checksum fields we add (what kanta 0.9.x writes)."""
    lines = []
    for line in data.splitlines(keepends=True):
        body = line.rstrip(b"\n")
        sealed = unseal(body)
        lines.append((sealed[0] if sealed else body) + line[len(body) :])
    return b"".join(lines)


def changes_of(path: Path) -> list[dict[str, Any]]:
    """The change records of a JSON log, decoded, in order (snapshots left out)."""
    return [
        json.loads(line)
        for line in path.read_bytes().splitlines()
        if line and not line.startswith(b"SNAPSHOT ")
    ]


def snapshots_of(path: Path) -> list[dict[str, Any]]:
    """The snapshot records of a JSON log, decoded, in order."""
    prefix = b"SNAPSHOT "
    lines = path.read_bytes().splitlines()
    return [json.loads(line[len(prefix) :]) for line in lines if line.startswith(prefix)]
