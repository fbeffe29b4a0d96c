"""The two log formats, and which one a file is in."""

from __future__ import annotations

import logging
from pathlib import Path

from .jsonlog import JsonSerializer
from .msgpacklog import MsgPackSerializer, looks_binary

Serializer = JsonSerializer | MsgPackSerializer

logger = logging.getLogger("kanta")


def detect(data: bytes) -> Serializer:
    """The serializer that reads these file contents (a binary file brings its own seed)."""
    if looks_binary(data):
        return MsgPackSerializer().for_file(data)
    return JsonSerializer()


def serializer_for(data: bytes, preferred: Serializer, path: Path) -> Serializer:
    """The serializer for one file: its own format if it has content, else the preferred one.

    The serializer given to the constructor chooses the format of new files only; an
    existing file is read and extended in the format it is in.
    """
    if not data:
        # A fresh instance: it follows this one file (its seed, its checksum chain).
        return MsgPackSerializer() if isinstance(preferred, MsgPackSerializer) else JsonSerializer()
    found = detect(data)
    if type(found) is not type(preferred):
        logger.info(
            "kanta: %s is in the %s format; reading and extending it as such (not %s)",
            path,
            found.name,
            preferred.name,
        )
    return found
