"""Helpers for tests that look at database files byte by byte."""

from __future__ import annotations

from kanta.core.chain import unseal


def strip_seals(data: bytes) -> bytes:
    """A JSON log without the checksum fields we add (what kanta 0.9.x writes)."""
    lines = []
    for line in data.splitlines(keepends=True):
        body = line.rstrip(b"\n")
        sealed = unseal(body)
        lines.append((sealed[0] if sealed else body) + line[len(body) :])
    return b"".join(lines)
