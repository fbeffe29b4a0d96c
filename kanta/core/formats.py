"""The two log formats, which one a file is in, and what a crash while creating one leaves."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import DatabaseError
from .jsonlines import JsonSerializer, looks_json
from .logformat import LogFormat
from .msgpackframes import SEED_SIZE, MsgPackSerializer, looks_binary, torn_first_frame

Serializer = LogFormat  # the one interface both formats implement

logger = logging.getLogger("kanta")


def detect(data: bytes, path: str | Path | None = None) -> Serializer:
    """The serializer that reads these file contents (a binary file brings its own seed).

    Raises DatabaseError for contents in neither format: not a kanta database, or one
    whose first bytes are damaged (which is never taken for a torn write).
    """
    if looks_binary(data):
        return MsgPackSerializer().for_file(data)
    if looks_json(data):
        return JsonSerializer()
    raise DatabaseError(
        "not a kanta database: its first bytes are neither a JSON record nor the header "
        "of a binary log (another kind of file, or damage in the first record)",
        db_path=path,
        position=1,
        byte_pos=0,
    )


def serializer_for(data: bytes, preferred: Serializer, path: Path) -> Serializer:
    """The serializer for one file: its own format if it has content, else the preferred one.

    The serializer given to the constructor chooses the format of new files only; an
    existing file is read and extended in the format it is in.
    """
    if not data:
        return fresh(preferred)
    found = detect(data, path)
    if type(found) is not type(preferred):
        logger.info(
            "kanta: %s is in the %s format; reading and extending it as such (not %s)",
            path,
            found.name,
            preferred.name,
        )
    return found


def chosen_format(serializer: object) -> Serializer:
    """The `serializer=` argument, if it names one of the two formats; else a TypeError.

    A kanta file is in one of two formats, which every reader (ours, 0.9.x, the CLI) opens
    knowing nothing of the application; a serializer of kanta 0.9.x's interface
    (`encode(obj) -> bytes`, `decode(payload, *, type)`, `framer_cls`) would make files
    nothing else reads, and one that only looks like ours would be ignored.
    """
    if type(serializer) in (JsonSerializer, MsgPackSerializer):
        return serializer  # type: ignore[return-value]
    named = type(serializer).__qualname__
    legacy = " (kanta 0.9.x's serializer interface)" if hasattr(serializer, "framer_cls") else ""
    raise TypeError(
        f"serializer must be JsonSerializer() or MsgPackSerializer(), not {named}{legacy}: "
        "kanta writes one of these two formats, which any kanta reader opens; custom "
        "serializers are not supported (see docs/format.md, 'Choosing the format'). For "
        "types msgspec does not know, store them as fields msgspec can encode"
    )


def fresh(preferred: Serializer) -> Serializer:
    """A new instance of the preferred format: it follows one new file (seed, chain)."""
    return MsgPackSerializer() if isinstance(preferred, MsgPackSerializer) else JsonSerializer()


def torn_first_write(data: bytes) -> bool:
    """Whether a file holding no whole record is what a crash while creating it leaves.

    That is the start of a first record in a format we write, maybe followed by zeros (a
    block allocated but never written), or zeros alone. Any other content is not taken for
    a torn write: it may be another program's file, so it is never replaced.
    """
    body = data.rstrip(b"\0")
    if len(body) < 2 * SEED_SIZE:
        # Zeros, or fewer than 8 bytes: no record of either format fits, and a binary seed
        # may start like JSON (`{`, `S`), so the format cannot be told either.
        return True
    if looks_json(body):
        return b"\n" not in body and _starts_like_change(body)
    return torn_first_frame(body)


_CHANGE_START = b'{"ts":"'  # every change record we (and 0.9.x) write starts so


def _starts_like_change(body: bytes) -> bool:
    return body.startswith(_CHANGE_START) or _CHANGE_START.startswith(body)
