"""The record types and snapshot meta format, under kanta 0.9.x's module path.

`ChangeRecord` and `Snapshot` decode a record's payload (a JSON line without its
`SNAPSHOT ` prefix, or a frame's body) with `msgspec.json.decode(payload, type=...)`.
"""

from .core.records import SNAPSHOT_META_FORMAT as META_FORMAT
from .core.records import Change as ChangeRecord
from .core.records import Snapshot

__all__ = ["META_FORMAT", "ChangeRecord", "Snapshot"]
